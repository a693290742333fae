/** Outbox (src/chat/delivery/outbox.ts) over a real state.db in a temporary home, no session: ids, commits, ACKs, restarts. */
import { afterEach, describe, expect, test } from "bun:test";
import { asPid, type Pid } from "../../../src/chat/peer-id.ts";
import { ChatError } from "../../../src/chat/events.ts";
import { MAX_TEXT_BYTES, Outbox } from "../../../src/chat/delivery/outbox.ts";
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
