/**
 * How much garbage one X25519 handshake makes, both sides together: JavaScript heap cells
 * (objects, arrays, typed arrays, closures, hashers, ...) counted by JSC's heap statistics
 * over many handshakes between two Sessions on a fake transport, with no collection in
 * between. Each cell is ≈ 50–250 bytes of the eden space, so the count is what decides how
 * often a burst of handshakes stops for a collection (BENCHMARKS.md, "Burst round 2": the
 * handshake's p99 was where those pauses land).
 */
import { gcAndSweep, heapStats } from "bun:jsc";
import { expect, test } from "bun:test";
import { Group } from "../../src/protocol/constants.ts";
import { Session } from "../../src/net/session.ts";
import { config, FakeTransport } from "./fake-transport.ts";

const alice = config("alice"), bob = config("bob");

/** One handshake to both PROFILEs, then both sides closed. */
async function handshake(): Promise<void> {
  let ready = 0;
  const at = new FakeTransport(), bt = new FakeTransport();
  const ev = { onReady: () => void ready++, onItem: () => {}, onClose: () => {} };
  const a = new Session(at, alice, "initiator", "fake:1", Group.X25519, ev);
  const b = new Session(bt, bob, "responder", "fake:2", undefined, ev);
  at.self = a;
  at.other = b;
  bt.self = b;
  bt.other = a;
  await Promise.all([a.start(), b.start()]);
  while (ready < 2) await new Promise((r) => setImmediate(r));
  if (a.state !== "open" || b.state !== "open") throw new Error("the handshake did not open both sessions");
  a.close();
  b.close();
}

/** Cells allocated per handshake over `n` of them, by type; null when a collection ran meanwhile (it freed some). */
async function cellsPerHandshake(n: number): Promise<Record<string, number> | null> {
  gcAndSweep();
  // A collection during the count would free cells and make it too low: a canary tells.
  let canary: object | null = { canary: true };
  const weak = new WeakRef(canary);
  canary = null;
  const before = heapStats().objectTypeCounts;
  for (let i = 0; i < n; i++) await handshake();
  const after = heapStats().objectTypeCounts;
  if (weak.deref() === undefined) return null;
  const per: Record<string, number> = {};
  for (const k in after) {
    const d = (after[k]! - (before[k] ?? 0)) / n;
    if (d > 0) per[k] = d;
  }
  return per;
}

test("an X25519 handshake, both sides, makes at most 415 heap cells (it made 751, then 556)", async () => {
  for (let i = 0; i < 300; i++) await handshake(); // past the JIT's tiers
  // Other work of the process (a parallel test file's timers) can only add cells: the least of three counts is the handshake's.
  let per: Record<string, number> | null = null;
  let total = Infinity;
  for (let tries = 0, valid = 0; tries < 8 && valid < 3; tries++) {
    const p = await cellsPerHandshake(50);
    if (p === null) continue;
    valid++;
    const t = Object.values(p).reduce((s, v) => s + v, 0);
    if (t < total) [per, total] = [p, t];
  }
  expect(per).not.toBeNull();
  const top = Object.entries(per!).sort((x, y) => y[1] - x[1]).slice(0, 8).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", ");
  if (total > 415) console.log(`${Math.round(total)} cells per handshake, the most: ${top}`);
  expect(Math.round(total)).toBeLessThanOrEqual(415);
  // The key exchange, signatures and record keys are still all there: the count is of garbage, not of work skipped.
  expect(per!["Cipher"]).toBe(8);
  expect(per!["PublicKeyObject"]).toBeGreaterThanOrEqual(4);
}, 60_000);

test("over loopback with two Peers (sockets, dials, admission), an X25519 handshake makes at most 415 heap cells (it made 730, then 505)", async () => {
  const { Peer } = await import("../../src/net/peer.ts");
  const { identity } = await import("../protocol/helpers.ts");
  const limits = { maxSessions: 100_000, maxHalfOpen: 100_000, maxHalfOpenPerAddress: 100_000, keepaliveMs: 0, idleTimeoutMs: 0 };
  // Both sides' onReady resolve the dial's one promise: a wait that polled each turn would
  // count its own garbage, more of it the more loaded the machine.
  let ready = 0;
  let want = 0;
  let wake: (() => void) | null = null;
  const onReady = () => {
    if (++ready === want) wake?.();
  };
  const server = new Peer({ identity: identity("server"), profile: { instance: new Uint8Array(8).fill(1), name: "s" }, accept: [Group.X25519], limits, events: { onReady } });
  const client = new Peer({ identity: identity("client"), profile: { instance: new Uint8Array(8).fill(2), name: "c" }, limits, events: { onReady } });
  const port = server.listen("127.0.0.1", 0);
  const dial = async () => {
    want = ready + 2;
    const both = new Promise<void>((r) => (wake = r));
    const s = await client.connect("127.0.0.1", port, Group.X25519);
    if (ready < want) await both;
    wake = null;
    s.close();
  };
  try {
    for (let i = 0; i < 300; i++) await dial();
    // As above: the least of three counts (other work of the process only adds cells).
    let per: number | null = null;
    for (let tries = 0, valid = 0; tries < 8 && valid < 3; tries++) {
      gcAndSweep();
      let canary: object | null = { canary: true };
      const weak = new WeakRef(canary);
      canary = null;
      const a = heapStats().objectTypeCounts;
      for (let i = 0; i < 40; i++) await dial();
      const b = heapStats().objectTypeCounts;
      if (weak.deref() === undefined) continue;
      valid++;
      let t = 0;
      for (const k in b) t += Math.max(0, b[k]! - (a[k] ?? 0));
      per = Math.min(per ?? Infinity, t / 40);
    }
    expect(per).not.toBeNull();
    expect(Math.round(per!)).toBeLessThanOrEqual(415);
  } finally {
    await client.close("done", 100);
    await server.close("done", 100);
  }
}, 60_000);
