/**
 * The receiver side of PROTOCOL §11 over a fake session (fake-session.ts): who may offer,
 * a lost session, the disk and descriptor budgets, and the bare /accept.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { ChatError } from "../../../src/chat/events.ts";
import { FileCode, MAX_OPEN_TRANSFERS } from "../../../src/protocol/constants.ts";
import { removeHomes, tempHome } from "../../support/home.ts";
import { until } from "../../support/wait.ts";
import { MAX_PENDING_PER_PEER, MAX_PENDING_TOTAL, OFFER_BURST } from "../../../src/chat/files/state.ts";
import { sha } from "./fake-hosts.ts";
import { pidOf } from "./fake-session.ts";
import { bytes, harness, harnesses } from "./receiver-support.ts";

afterEach(() => {
  for (const h of harnesses.splice(0)) h.close();
  removeHomes();
});

describe("who may offer", () => {
  test("an offer from a key that is not a contact is refused, and nothing is shown or written", async () => {
    const h = harness({ autoAccept: true });
    h.allContacts = false;
    const s = h.open();
    h.deliver(s, { kind: "file_offer", id: 1n, size: 5, sha256: sha("hello"), name: "a.txt" });
    expect(s.of("file_reject", 1n)).toHaveLength(1);
    expect(s.of("file_reject", 1n)[0]!.code).toBe(FileCode.declined);
    expect(s.of("file_accept")).toHaveLength(0);
    expect(h.transfers("offered")).toHaveLength(0);
    h.deliver(s, { kind: "file_chunk", id: 1n, offset: 0, data: new TextEncoder().encode("hello") });
    expect(existsSync(join(h.home, "downloads", "a.txt"))).toBe(false);
    h.contacts.add(pidOf(s));
    h.deliver(s, { kind: "file_offer", id: 2n, size: 5, sha256: sha("hello"), name: "a.txt" });
    expect(s.of("file_accept", 2n)).toHaveLength(1);
  });
});

describe("a lost session", () => {
  test("what the person accepted stays accepted (the next offer goes on without asking); what waited for an answer is dropped", async () => {
    const h = harness();
    const s1 = h.open();
    h.deliver(s1, { kind: "file_offer", id: 1n, size: 10, sha256: sha("k"), name: "keep.bin" });
    h.deliver(s1, { kind: "file_offer", id: 2n, size: 10, sha256: sha("d"), name: "drop.bin" });
    h.ft.accept(h.ft.list().find((t) => t.name === "keep.bin")!.id);
    await until("accept", () => s1.of("file_accept", 1n)[0]);
    h.lose(s1);
    expect(h.ft.list().map((t) => t.name)).toEqual(["keep.bin"]);
    expect(h.transfers("cancelled").map((e) => e.name)).toEqual(["drop.bin"]);
    const s2 = h.open(s1);
    h.deliver(s2, { kind: "file_offer", id: 7n, size: 10, sha256: sha("k"), name: "keep.bin" });
    expect((await until("accept", () => s2.of("file_accept", 7n)[0])).offset).toBe(0);
    expect(h.transfers("offered")).toHaveLength(2);
  });
});

describe("disk", () => {
  test("the sum of accepted sizes is checked against free space with a margin, not each offer alone", async () => {
    const MiB = 1 << 20;
    const h = harness({ autoAccept: true, freeSpace: () => 100 * MiB });
    const s = h.open();
    for (let i = 1n; i <= 3n; i++) h.deliver(s, { kind: "file_offer", id: i, size: 30 * MiB, sha256: sha(`${i}`), name: `f${i}` });
    await until("three answers", () => s.sent.length >= 3);
    expect(s.of("file_accept").map((a) => a.id)).toEqual([1n]);
    expect(s.of("file_reject").map((r) => [r.id, r.code])).toEqual([
      [2n, FileCode.too_large],
      [3n, FileCode.too_large],
    ]);
  });

  test("abandoned partials are listed by /transfers and removed on /cancel", async () => {
    const home = tempHome("sotto-recv-");
    const h1 = harness({ autoAccept: true }, home);
    const s = h1.open();
    h1.deliver(s, { kind: "file_offer", id: 1n, size: 1000, sha256: sha("x"), name: "left.bin" });
    await until("accept", () => s.of("file_accept", 1n)[0]);
    h1.deliver(s, { kind: "file_chunk", id: 1n, offset: 0, data: bytes(500) });
    h1.close();
    const h2 = harness({}, home);
    const list = h2.ft.list();
    expect(list.map((t) => [t.name, t.bytes, t.state])).toEqual([["left.bin", 500, "paused"]]);
    expect(h2.ft.cancel(list[0]!.id)).toBe(1);
    expect(readdirSync(join(home, "partials")).filter((n) => n.endsWith(".part"))).toEqual([]);
    expect(h2.ft.list()).toEqual([]);
  });

  test("a partial older than the bounded age is removed at start", async () => {
    const home = tempHome("sotto-recv-");
    const h1 = harness({ autoAccept: true }, home);
    const s = h1.open();
    h1.deliver(s, { kind: "file_offer", id: 1n, size: 1000, sha256: sha("y"), name: "old.bin" });
    await until("accept", () => s.of("file_accept", 1n)[0]);
    h1.deliver(s, { kind: "file_chunk", id: 1n, offset: 0, data: bytes(500) });
    h1.close();
    const dir = join(home, "partials");
    const old = new Date(Date.now() - 8 * 24 * 3_600_000);
    for (const n of readdirSync(dir).filter((n) => n.endsWith(".part"))) utimesSync(join(dir, n), old, old);
    const h2 = harness({}, home);
    expect(h2.ft.list()).toEqual([]);
    expect(readdirSync(dir).filter((n) => n.endsWith(".part"))).toEqual([]);
  });

  test("a paused partial whose sender does not come back within the bounded age is deleted while the chat runs", async () => {
    const h = harness({ autoAccept: true, partialMaxAgeMs: 200 });
    const s = h.open();
    h.deliver(s, { kind: "file_offer", id: 1n, size: 1000, sha256: sha("z"), name: "gone.bin" });
    await until("accept", () => s.of("file_accept", 1n)[0]);
    h.deliver(s, { kind: "file_chunk", id: 1n, offset: 0, data: bytes(500) });
    h.lose(s);
    expect(h.ft.list().map((t) => t.state)).toEqual(["paused"]);
    const cancelled = await until("swept", () => h.transfers("cancelled")[0]);
    expect(cancelled.reason).toContain("partial file was deleted");
    expect(h.ft.list()).toEqual([]);
    expect(readdirSync(join(h.home, "partials")).filter((n) => n.endsWith(".part"))).toEqual([]);
  });

  test("an offer never accepted leaves no partial behind", async () => {
    const h = harness({ autoAccept: true });
    const s = h.open();
    for (let i = 1n; i <= 10n; i++) h.deliver(s, { kind: "file_offer", id: i, size: 100, sha256: sha(`${i}`), name: `e${i}` });
    await until("accepts", () => s.of("file_accept").length === 10);
    h.lose(s);
    const dir = (d: string) => (existsSync(join(h.home, d)) ? readdirSync(join(h.home, d)).filter((n) => n.endsWith(".part")) : []);
    expect([...dir("partials"), ...dir("downloads")]).toEqual([]);
  });
});

describe("/accept and /reject without an id", () => {
  test("accepts only when exactly one offer waits; otherwise says how many and asks for an id", () => {
    const h = harness();
    const s = h.open();
    h.deliver(s, { kind: "file_offer", id: 1n, size: 1, sha256: sha("1"), name: "one" });
    h.deliver(s, { kind: "file_offer", id: 2n, size: 1, sha256: sha("2"), name: "two" });
    let err: unknown;
    try {
      h.ft.accept();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ChatError);
    expect((err as Error).message).toContain("2 offers are waiting");
    expect(() => h.ft.reject()).toThrow(ChatError);
    expect(s.of("file_accept")).toHaveLength(0);
    expect(s.of("file_reject")).toHaveLength(0);
    h.ft.reject(h.ft.list()[0]!.id);
    expect(h.ft.accept()).toBe(1);
    expect(s.of("file_accept", 2n)).toHaveLength(1);
  });
});

describe("budgets", () => {
  test(`pending offers are counted per identity across its sessions (${MAX_OPEN_TRANSFERS}) and dropped with their session`, () => {
    const h = harness();
    const a = h.open();
    const b = h.open(a);
    for (let i = 1; i <= MAX_OPEN_TRANSFERS; i++) h.deliver(a, { kind: "file_offer", id: BigInt(i), size: 1, sha256: sha(`a${i}`), name: `a${i}` });
    for (let i = 1; i <= 10; i++) h.deliver(b, { kind: "file_offer", id: BigInt(i), size: 1, sha256: sha(`b${i}`), name: `b${i}` });
    expect(a.of("file_pending")).toHaveLength(MAX_OPEN_TRANSFERS);
    expect(b.of("file_reject").every((r) => r.code === FileCode.busy)).toBe(true);
    expect(b.of("file_reject")).toHaveLength(10);
    h.lose(a);
    expect(h.ft.list()).toEqual([]);
    h.deliver(b, { kind: "file_offer", id: 11n, size: 1, sha256: sha("b11"), name: "b11" });
    expect(b.of("file_pending", 11n)).toHaveLength(1);
  });

  test(`offers waiting for the person are bounded over every peer too (${MAX_PENDING_TOTAL})`, () => {
    const h = harness();
    const peers = Array.from({ length: Math.ceil(MAX_PENDING_TOTAL / MAX_PENDING_PER_PEER) + 1 }, () => h.open());
    for (const p of peers) for (let i = 1; i <= MAX_PENDING_PER_PEER; i++) h.deliver(p, { kind: "file_offer", id: BigInt(i), size: 1, sha256: sha(`${pidOf(p)}${i}`), name: `t${i}` });
    const pending = peers.reduce((n, p) => n + p.of("file_pending").length, 0);
    expect(pending).toBe(MAX_PENDING_TOTAL);
    expect(peers.at(-1)!.of("file_reject").every((r) => r.code === FileCode.busy)).toBe(true);
    expect(h.ft.list()).toHaveLength(MAX_PENDING_TOTAL);
  });

  test("offers from one identity have a rate: churn beyond the burst is refused busy, without events", () => {
    const h = harness({ now: () => 1000 });
    const a = h.open();
    const b = h.open(a);
    for (let i = 1; i <= 1500; i++) {
      const s = i % 2 === 0 ? a : b;
      h.deliver(s, { kind: "file_offer", id: BigInt(i), size: 1, sha256: sha(`${i}`), name: `c${i}` });
      h.deliver(s, { kind: "file_cancel", id: BigInt(i), code: FileCode.declined, reason: "" });
    }
    const offered = h.transfers("offered").length;
    expect(offered).toBeLessThan(1500);
    expect(offered).toBe(a.of("file_pending").length + b.of("file_pending").length);
    const busy = [...a.of("file_reject"), ...b.of("file_reject")].filter((r) => r.code === FileCode.busy);
    expect(busy.length + offered).toBe(1500);
  });

  test("a session that keeps offering past the rate is ended with busy; another identity's session goes on", () => {
    const h = harness({ now: () => 1000 });
    const flood = h.open();
    const good = h.open();
    for (let i = 1; i <= 2 * OFFER_BURST + 10 && flood.state === "open"; i++) {
      h.deliver(flood, { kind: "file_offer", id: BigInt(i), size: 1, sha256: sha(`${i}`), name: `c${i}` });
      h.deliver(flood, { kind: "file_cancel", id: BigInt(i), code: FileCode.declined, reason: "" });
    }
    expect(flood.state).toBe("closed");
    expect(flood.of("file_reject").filter((r) => r.code === FileCode.busy)).toHaveLength(OFFER_BURST);
    h.deliver(good, { kind: "file_offer", id: 1n, size: 1, sha256: sha("g"), name: "g" });
    expect(good.of("file_pending", 1n)).toHaveLength(1);
    expect(good.state).toBe("open");
  });

  test("partial files are open only while being written, within a per-process descriptor budget", async () => {
    const fds = () => readdirSync("/proc/self/fd").length;
    const h = harness({ autoAccept: true });
    const s = h.open();
    const before = fds();
    for (let i = 1; i <= MAX_OPEN_TRANSFERS; i++) h.deliver(s, { kind: "file_offer", id: BigInt(i), size: 1000, sha256: sha(`${i}`), name: `d${i}` });
    await until("accepts", () => s.of("file_accept").length === MAX_OPEN_TRANSFERS);
    for (let i = 1; i <= MAX_OPEN_TRANSFERS; i++) h.deliver(s, { kind: "file_chunk", id: BigInt(i), offset: 0, data: bytes(10) });
    expect(h.ft.list().filter((t) => t.bytes === 10)).toHaveLength(MAX_OPEN_TRANSFERS);
    expect(fds() - before).toBeLessThanOrEqual(16);
    h.lose(s);
    expect(fds()).toBeLessThanOrEqual(before);
  });
});
