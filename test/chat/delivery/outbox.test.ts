/** Outbox (src/chat/delivery/outbox.ts) over a real state.db in a temporary home, no session: ids, commits, ACKs, restarts. */
import { afterEach, describe, expect, test } from "bun:test";
import { asPid, type Pid } from "../../../src/chat/peer-id.ts";
import { ChatError } from "../../../src/chat/events.ts";
import { ACK_DELETE_BYTES, MAX_TEXT_BYTES, Outbox } from "../../../src/chat/delivery/outbox.ts";
import { ChatStore } from "../../../src/chat/delivery/store.ts";
import { removeHomes, tempHome } from "../../support/home.ts";
import { thrown } from "../../support/thrown.ts";

const ME = asPid("aa".repeat(32));
const BOB = asPid("0b".repeat(32));
const CAROL = asPid("0c".repeat(32));
const stores: ChatStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  removeHomes();
});

function open(home: string): Outbox {
  const store = new ChatStore(home, ME);
  stores.push(store);
  return new Outbox(store, () => "bob");
}

function send(o: Outbox, pid: Pid, text: string): bigint {
  return o.queue(pid, text, o.check([pid], text), 1_764_590_400_000);
}

describe("sending", () => {
  test("ids count from 1 per peer; only committed lines are handed to a session, in order", () => {
    const o = open(tempHome());
    expect([send(o, BOB, "one"), send(o, BOB, "two"), send(o, CAROL, "hi")]).toEqual([1n, 2n, 1n]);
    // Not saved yet: nothing may go out, and an ACK of it would be an ACK of a line never sent.
    expect(o.unsent(BOB, 0n).next).toEqual([]);
    expect(o.highestId(BOB)).toBe(0n);
    expect(o.commit()).toBeNull();
    expect(o.highestId(BOB)).toBe(2n);
    expect(o.unsent(BOB, 0n).next.map((l) => l.text)).toEqual(["one", "two"]);
    // After a session sent id 1: three bytes in flight, "two" still to send.
    expect(o.unsent(BOB, 1n)).toMatchObject({ inflight: 3, next: [{ id: 2n, text: "two" }] });
    expect([o.unackedFor(BOB), o.unackedFor(CAROL), o.total()]).toEqual([2, 1, 3]);
  });

  test("a cumulative ACK lets go of what it covers, once; the rest stays for the next session", () => {
    const o = open(tempHome());
    for (const t of ["a", "b", "c"]) send(o, BOB, t);
    o.commit();
    expect(o.acked(BOB, 2n)).toBe(true);
    expect(o.acked(BOB, 2n)).toBe(false);
    expect(o.unsent(BOB, 0n).next.map((l) => l.id)).toEqual([3n]);
    expect(o.acked(CAROL, 1n)).toBe(false);
  });

  test("an ACK's delete waits until its peer's lines are all acknowledged or ACK_DELETE_BYTES were freed (flushDueAcks); flushAcks writes every one", () => {
    const o = open(tempHome());
    const store = stores.at(-1)!;
    const deletes: [string, bigint][] = [];
    const ack = store.ack.bind(store);
    store.ack = (pid, id) => {
      deletes.push([pid, id]);
      ack(pid, id);
    };
    for (let i = 0; i < 3000; i++) send(o, BOB, "x".repeat(1000));
    for (const t of ["a", "b"]) send(o, CAROL, t);
    o.commit();
    expect(ACK_DELETE_BYTES).toBe(1 << 20);
    // ACKs of 100 lines (100,000 bytes) each: nothing is deleted until 1 MiB was freed, at the 11th.
    for (let id = 100n; id <= 1000n; id += 100n) {
      expect(o.acked(BOB, id)).toBe(true);
      expect(o.flushDueAcks()).toBe(true);
    }
    expect(deletes).toEqual([]);
    o.acked(BOB, 1100n);
    expect(o.flushDueAcks()).toBe(false);
    expect(deletes).toEqual([[BOB, 1100n]]);
    // The ACK of a peer's last line is due at once, whatever it freed.
    o.acked(BOB, 1200n);
    o.acked(CAROL, 2n);
    expect(o.flushDueAcks()).toBe(true);
    expect(deletes).toEqual([[BOB, 1100n], [CAROL, 2n]]);
    // flushAcks (the chat's timer, close, /clear): every one left.
    o.flushAcks();
    expect(deletes).toEqual([[BOB, 1100n], [CAROL, 2n], [BOB, 1200n]]);
    expect(o.flushDueAcks()).toBe(false);
  });

  test("a restart keeps the unacknowledged lines and never reuses an id", () => {
    const home = tempHome();
    const a = open(home);
    for (const t of ["a", "b", "c"]) send(a, BOB, t);
    a.commit();
    a.acked(BOB, 1n);
    a.flushAcks();
    stores.pop()!.close();
    const b = open(home);
    expect(b.unsent(BOB, 0n).next.map((l) => [l.id, l.text])).toEqual([
      [2n, "b"],
      [3n, "c"],
    ]);
    expect(send(b, BOB, "d")).toBe(4n);
  });

  test("a line over one TEXT is refused before it is queued, naming the limit and /send", () => {
    const o = open(tempHome());
    const e = thrown(ChatError, () => o.check([BOB], "x".repeat(MAX_TEXT_BYTES + 1)));
    expect(e.code).toBe("too_long");
    expect(e.message).toContain("/send");
    expect(o.check([BOB], "x".repeat(MAX_TEXT_BYTES))).toBe(MAX_TEXT_BYTES);
    expect(o.total()).toBe(0);
  });
});

describe("sizes counted once", () => {
  test("a line's UTF-8 size is counted by check() alone: its run in state.db reuses it, and a restart reads the line back whole", () => {
    const home = tempHome();
    const o = open(home);
    const texts = Array.from({ length: 50 }, (_, i) => `line ${i} é ✓ ${"x".repeat(i)}`);
    const real = Buffer.byteLength;
    let counted = 0;
    Buffer.byteLength = ((...a: Parameters<typeof real>) => (counted++, real(...a))) as typeof real;
    try {
      for (const t of texts) send(o, BOB, t);
      expect(o.commit()).toBeNull();
    } finally {
      Buffer.byteLength = real;
    }
    expect(counted).toBe(texts.length);
    for (const s of stores.splice(0)) s.close();
    expect(open(home).unsent(BOB, 0n).next.map((l) => l.text)).toEqual(texts);
  });
});

describe("starting early and receiving", () => {
  test("a new session may send at once only while no waiting line was ever put on the wire", () => {
    const o = open(tempHome());
    expect(o.mayStartEarly(BOB)).toBe(true);
    send(o, BOB, "a");
    o.commit();
    expect(o.mayStartEarly(BOB)).toBe(true);
    o.markSent(BOB, 1n);
    // Line 1 may have reached bob before the last session broke: wait for his opening ACK.
    expect(o.mayStartEarly(BOB)).toBe(false);
    o.acked(BOB, 1n);
    expect(o.mayStartEarly(BOB)).toBe(true);
  });

  test("shown ids are kept per peer instance, and survive a restart once recorded", () => {
    const home = tempHome();
    const a = open(home);
    expect(a.lastShown(BOB, "i1")).toBe(0n);
    a.shown(BOB, "i1", 5n);
    a.shown(BOB, "i2", 2n);
    expect([a.lastShown(BOB, "i1"), a.lastShown(BOB, "i2"), a.lastShown(CAROL, "i1")]).toEqual([5n, 2n, 0n]);
    a.recordShown();
    stores.pop()!.close();
    const b = open(home);
    expect([b.lastShown(BOB, "i1"), b.lastShown(BOB, "i2")]).toEqual([5n, 2n]);
  });
});

describe("the backlog's index", () => {
  test("unsent, the bytes in flight, ACKs and failed commits agree with a plain list over thousands of lines (sessions redialled at any point)", () => {
    const home = tempHome();
    const o = open(home);
    // A second connection holding the write lock makes a commit fail for real (SQLITE_BUSY).
    const { Database } = require("bun:sqlite") as typeof import("bun:sqlite");
    const lock = new Database(`${home}/state.db`);
    let seed = 7;
    // mulberry32: a fixed sequence, so a failure can be replayed.
    const rnd = (n: number) => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4_294_967_296) * n);
    };
    // The model: every line queued and not acknowledged, in order, and what is saved.
    const model: { id: bigint; bytes: number }[] = [];
    let committed = 0n;
    let sentUpTo = 0n;
    let failures = 0;
    let acks = 0;
    let longest = 0;
    for (let step = 0; step < 800; step++) {
      const op = rnd(10);
      if (op < 4) {
        for (let k = rnd(40) + 1; k > 0; k--) {
          const text = "é".repeat(rnd(5)) + "x".repeat(rnd(300) + 1);
          model.push({ id: send(o, BOB, text), bytes: Buffer.byteLength(text) });
        }
      } else if (op < 6) {
        const fail = rnd(6) === 0;
        if (fail) lock.exec("BEGIN IMMEDIATE");
        const r = o.commit();
        if (fail) lock.exec("ROLLBACK");
        if (r === null) committed = model.length > 0 ? model[model.length - 1]!.id : committed;
        else {
          failures++;
          // Those lines were never saved: they are handed back, in order, and taken out.
          expect(r.lines.map((l) => l.id)).toEqual(model.filter((l) => l.id > committed).map((l) => l.id));
          while (model.length > 0 && model[model.length - 1]!.id > committed) model.pop();
        }
      } else if (op < 8) {
        if (committed === 0n) continue;
        // Mostly a few lines at a time (the backlog grows long), now and then an old or a whole one.
        const low = model.length > 0 ? Number(model[0]!.id) : 1;
        const id = BigInt(rnd(40) === 0 ? rnd(Number(committed)) + 1 : Math.min(Number(committed), low + rnd(30)));
        const fresh = model.length > 0 && model[0]!.id <= id;
        expect(o.acked(BOB, id)).toBe(fresh);
        if (fresh) acks++;
        while (model.length > 0 && model[0]!.id <= id) model.shift();
        if (sentUpTo < id) sentUpTo = id;
      } else if (op < 9) {
        // A new session: it has sent nothing, or (still the same session) some more.
        sentUpTo = rnd(2) === 0 ? 0n : BigInt(rnd(Number(committed) + 1));
      }
      const u = o.unsent(BOB, sentUpTo);
      expect(u.inflight).toBe(model.filter((l) => l.id <= sentUpTo).reduce((n, l) => n + l.bytes, 0));
      expect(u.next.map((l) => l.id)).toEqual(model.filter((l) => l.id > sentUpTo && l.id <= committed).map((l) => l.id));
      expect([o.unackedFor(BOB), o.total()]).toEqual([model.length, model.length]);
      longest = Math.max(longest, model.length);
    }
    lock.close();
    // The run went through what it is meant to test: failed commits, many ACKs, a long backlog.
    expect(failures).toBeGreaterThan(3);
    expect(acks).toBeGreaterThan(50);
    expect(longest).toBeGreaterThan(2048);
  });
});
