/**
 * Deadlines that measure the right thing, through the fault proxy (counts and order only;
 * the `until` bounds only say how long a broken build may hang):
 *   1. a dial into a blackhole is abandoned at the connect deadline and retried;
 *   2. a dead peer (a stalled path) ends the session after one unanswered PING, while an
 *      idle healthy session lives through many keepalive intervals;
 *   7. a steady stream slower than one frame per partial-frame deadline is never cut, and
 *      a stalled one still is.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { ed25519Generate } from "../../src/crypto/ed25519.ts";
import { Peer } from "../../src/net/peer.ts";
import { ConnectError } from "../../src/net/route.ts";
import type { Session } from "../../src/net/session.ts";
import type { CloseInfo } from "../../src/net/types.ts";
import type { Limits } from "../../src/net/limits.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";
import { until } from "../support/wait.ts";
import { FaultProxy, mbit, type Faults } from "./proxy.ts";

const open: { peers: Peer[]; proxies: FaultProxy[] } = { peers: [], proxies: [] };
afterEach(async () => {
  for (const p of open.proxies.splice(0)) p.close();
  await Promise.all(open.peers.splice(0).map((p) => p.close("bye", 100)));
});

/** A raw peer that records what it receives and how its sessions end. */
function peer(name: string, limits: Partial<Limits> = {}) {
  const got: { texts: number; closes: CloseInfo[]; pongs: number } = { texts: 0, closes: [], pongs: 0 };
  const p = new Peer({
    identity: ed25519Generate(),
    profile: { instance: new Uint8Array(randomBytes(8)), name },
    limits,
    events: {
      onItem: (_s, it) => {
        if (it.kind === "text") got.texts++;
        if (it.kind === "pong") got.pongs++;
      },
      onClose: (_s, info) => void got.closes.push(info),
    },
  });
  open.peers.push(p);
  return { p, got };
}

function proxyTo(port: number, faults: Partial<Faults> = {}, maxQueueBytes?: number): FaultProxy {
  const x = new FaultProxy({ target: { host: "127.0.0.1", port }, faults, maxQueueBytes });
  open.proxies.push(x);
  return x;
}

const code = (i: CloseInfo | undefined) => (i?.error instanceof ProtocolError ? i.error.code : i?.error?.message ?? "clean");

describe("connect deadline (item 1)", () => {
  test("a dial into a blackhole is given up at connectTimeoutMs, long before the handshake deadline", async () => {
    const b = peer("bob");
    const port = b.p.listen("127.0.0.1", 0);
    const x = proxyTo(port, { blackhole: true });
    const a = peer("alice", { connectTimeoutMs: 300, handshakeTimeoutMs: 60_000 });
    let err: unknown = null;
    await a.p.connect("127.0.0.1", x.port).catch((e) => (err = e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe("ETIMEDOUT");
    expect((err as Error).message).toContain("no answer within 0.3 s");
    expect((err as Error).message).not.toContain("refused");
    // The abandoned attempt leaves no session behind, and the next one gets through.
    await until("the abandoned session to end", () => a.p.sessions.size === 0, 5000);
    x.set({ blackhole: false });
    const s = await a.p.connect("127.0.0.1", x.port);
    expect(s.state).toBe("open");
    expect(x.accepted).toBe(2);
  }, 20_000);
});

describe("dead-peer detection from the keepalive (item 2)", () => {
  test("an idle healthy session lives through many PING intervals; a stalled path ends it after one unanswered PING", async () => {
    const limits = { keepaliveMs: 150, idleTimeoutMs: 60_000 };
    const b = peer("bob", limits);
    const port = b.p.listen("127.0.0.1", 0);
    const x = proxyTo(port);
    const a = peer("alice", limits);
    const s: Session = await a.p.connect("127.0.0.1", x.port);
    // Idle: PINGs are answered, nothing ends.
    await until("six PONGs on an idle session", () => a.got.pongs + b.got.pongs >= 6, 10_000);
    expect(a.got.closes).toEqual([]);
    expect(b.got.closes).toEqual([]);
    // The path dies (nothing forwarded either way): the next PING goes unanswered.
    const before = a.got.pongs;
    x.stall();
    await until("alice to end the dead session", () => a.got.closes.length > 0, 10_000);
    expect(s.state).toBe("closed");
    expect(code(a.got.closes[0])).toBe("timeout");
    expect(a.got.closes[0]!.error!.message).toMatch(/^no answer from the peer for \d+ s$/);
    expect(a.got.pongs).toBe(before);
  }, 30_000);

  test("typing to a dead peer does not hide it: the PING goes out while we send", async () => {
    const limits = { keepaliveMs: 150, idleTimeoutMs: 60_000 };
    const b = peer("bob", limits);
    const x = proxyTo(b.p.listen("127.0.0.1", 0));
    const a = peer("alice", limits);
    const s = await a.p.connect("127.0.0.1", x.port);
    x.stall();
    let sent = 0;
    const typing = setInterval(() => {
      if (s.state === "open") {
        s.send({ kind: "text", id: BigInt(++sent), text: "still typing" });
      }
    }, 20);
    try {
      await until("alice to end the dead session while typing", () => a.got.closes.length > 0, 10_000);
    } finally {
      clearInterval(typing);
    }
    expect(code(a.got.closes[0])).toBe("timeout");
    expect(sent).toBeGreaterThan(0);
  }, 30_000);
});

describe("partial-frame clock (item 7)", () => {
  // 60 KB records at 4 Mbit/s take ~125 ms each, well under the 700 ms partial-frame
  // deadline (a loaded machine's late timers stay inside it); the stream of 16 takes ~2 s,
  // about 3 deadlines, and its chunks never end on a frame boundary.
  test("a steady stream slower than the deadline per buffer, but not per frame, is never cut", async () => {
    const limits = { partialFrameTimeoutMs: 700 };
    const b = peer("bob", limits);
    const x = proxyTo(b.p.listen("127.0.0.1", 0), {}, 16 * 1024);
    const a = peer("alice", limits);
    const s = await a.p.connect("127.0.0.1", x.port);
    await until("bob's session open", () => [...b.p.sessions].some((t) => t.state === "open"), 5000);
    x.set({ rateBytesPerSec: mbit(4) });
    const n = 16;
    for (let i = 1; i <= n; i++) s.send({ kind: "text", id: BigInt(i), text: "x".repeat(60_000) });
    await until(`bob to receive ${n} large texts`, () => b.got.texts === n || b.got.closes.length > 0, 30_000);
    expect(b.got.closes.map(code)).toEqual([]);
    expect(b.got.texts).toBe(n);
  }, 40_000);

  test("a frame that stops arriving half way is still cut at the deadline", async () => {
    const limits = { partialFrameTimeoutMs: 300, keepaliveMs: 0 };
    const b = peer("bob", limits);
    const x = proxyTo(b.p.listen("127.0.0.1", 0));
    const a = peer("alice", limits);
    const s = await a.p.connect("127.0.0.1", x.port);
    await until("bob's session open", () => [...b.p.sessions].some((t) => t.state === "open"), 5000);
    const conn = [...x.connections][0]!;
    const start = conn.up.forwarded;
    x.set({ rateBytesPerSec: 50_000, splitBytes: 1000 });
    s.send({ kind: "text", id: 1n, text: "y".repeat(60_000) });
    await until("some of the frame to arrive", () => conn.up.forwarded - start > 5000, 5000);
    x.stall();
    await until("bob to cut the stalled frame", () => b.got.closes.length > 0, 10_000);
    expect(code(b.got.closes[0])).toBe("timeout");
    expect(b.got.closes[0]!.error!.message).toContain("frame stayed incomplete");
    expect(b.got.texts).toBe(0);
  }, 30_000);
});
