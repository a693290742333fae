/**
 * Process-wide budgets (docs/SECURITY.md §10): each numbered flood of the budgets work,
 * scaled to run in CI, against a listener in its own process (bench/attack-listener.ts)
 * whose RSS is read from /proc, or in memory where the property is a count. Every case
 * asserts bounds and counts (RSS growth, sessions cut, good handshakes served), never
 * elapsed time; `bun run stress --attack …` prints the latencies at full scale.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import net from "node:net";
import { somaxconn } from "../../src/net/backlog.ts";
import { ed25519Generate } from "../../src/crypto/ed25519.ts";
import { x25519Generate } from "../../src/crypto/x25519.ts";
import { addressPrefix, capPeerString, descriptorLimit, sessionsFor } from "../../src/net/limits.ts";
import { Peer } from "../../src/net/peer.ts";
import { ConnectError } from "../../src/net/route.ts";
import { kexQueueDepth, kexQueuePeak, warmFfdhe } from "../../src/net/kex.ts";
import { AlertCode, FrameType, Group } from "../../src/protocol/constants.ts";
import { encodeAlertFrame, encodeHello } from "../../src/protocol/handshake.ts";
import type { Item } from "../../src/protocol/items.ts";
import { ffdheHello, halfOpenFlood, kexFlood, pingRecord, preAuthFlood, rawConnect, startListener, type ListenerProcess } from "../../bench/attacks.ts";
import { removeHomes } from "../support/home.ts";
import { startNode } from "../support/node.ts";
import { until } from "../support/wait.ts";
import { Evil, EvilResponder, GoodPeer, Scene } from "./harness.ts";
import { of } from "../support/events.ts";

const MiB = 1024 * 1024;
afterAll(() => removeHomes());

/** A dialling Peer that runs whole handshakes in `group`; counts those that succeed. */
async function goodHandshakes(port: number, group: Group, n: number): Promise<number> {
  const p = new Peer({ identity: ed25519Generate(), profile: { instance: randomBytes(8), name: "good" } });
  let ok = 0;
  for (let i = 0; i < n; i++) {
    try {
      const s = await p.connect("127.0.0.1", port, group);
      ok++;
      s.close("bye");
    } catch (e) {
      if (!(e instanceof ConnectError)) throw e;
    }
  }
  await p.close("bye", 100);
  return ok;
}

describe("the budgets as functions", () => {
  test("descriptor limit: read from /proc/self/limits; maxSessions leaves headroom under it", () => {
    expect(descriptorLimit("Max open files            1024                 4096                 files     \n")).toBe(1024);
    expect(descriptorLimit("Max open files            unlimited            unlimited            files\n")).toBeNull();
    expect(sessionsFor(20_000, 20_000)).toBe(18_000);
    expect(sessionsFor(1024, 20_000)).toBe(768);
    expect(sessionsFor(null, 20_000)).toBe(20_000);
    const live = descriptorLimit();
    if (live !== null) expect(sessionsFor(live, 20_000)).toBeLessThan(live);
  });
  test("address prefixes: /24 for IPv4 (and mapped), /64 for IPv6", () => {
    expect(addressPrefix("192.0.2.77")).toBe("192.0.2.0/24");
    expect(addressPrefix("::ffff:192.0.2.77")).toBe("192.0.2.0/24");
    expect(addressPrefix("2001:db8:1:2:3:4:5:6")).toBe("2001:db8:1:2::/64");
    expect(addressPrefix("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(addressPrefix("::1")).toBe("0:0:0:0::/64");
  });
  test("a peer string is cut to its cap, saying how much was left out", () => {
    expect(capPeerString("short", 10)).toBe("short");
    expect(capPeerString("x".repeat(65_000), 256)).toBe(`${"x".repeat(256)}… (64744 more characters)`);
  });
});

describe("attacks against a listener process with default limits", () => {
  let L: ListenerProcess;
  beforeAll(async () => {
    // Its floods send ffdhe3072 HELLOs; the good peers use X25519. Set-up only: a listener
    // process that builds its ffdhe3072 context took over 20 s on a loaded machine.
    L = await startListener({ warm: [Group.FFDHE3072] });
  }, 60_000);
  afterAll(() => L.stop());

  test("1. 512 connections × (ffdhe3072 HELLO + 4 largest RECORDs): peak RSS grows < 64 MiB; all are closed; a good X25519 peer chats", async () => {
    const good = await GoodPeer.connect(L.port);
    await good.roundTrip();
    const base = L.peak();
    const socks = await preAuthFlood(L.port, 512);
    // Each is refused (bad_record, busy, or unexpected_message for frames held past maxHeldBytes).
    await until("every flood connection closed by the listener", () => socks.every((s) => s.destroyed || s.readyState === "closed" || s.readableEnded), 20_000);
    const grown = L.peak() - base;
    if (process.env.HOSTILE_DEBUG) console.log(`pre-auth flood: peak RSS +${(grown / MiB).toFixed(1)} MiB`);
    expect(grown).toBeLessThan(64 * MiB);
    await good.roundTrip();
    await good.peer.close("bye", 100);
    for (const s of socks) s.destroy();
  }, 30_000);

  test("2. 4 sessions that never read and send 130 records of PINGs (770,000 each): each is cut with busy; peak RSS grows < 96 MiB; a good peer chats", async () => {
    const good = await GoodPeer.connect(L.port);
    const base = L.peak();
    const plain = pingRecord();
    const evils = await Promise.all(Array.from({ length: 4 }, () => Evil.open(L.port, { node: true })));
    for (const e of evils) e.a.pause();
    await Promise.all(
      evils.map(async (e) => {
        for (let i = 0; i < 130 && !e.a.closed; i++) {
          e.a.write(e.sealPlain(plain));
          await Bun.sleep(1);
        }
      }),
    );
    for (const e of evils) e.a.resume();
    await until("every PING flooder cut off", () => evils.every((e) => e.a.closed), 20_000);
    const grown = L.peak() - base;
    if (process.env.HOSTILE_DEBUG) console.log(`ping flood: peak RSS +${(grown / MiB).toFixed(1)} MiB`);
    expect(grown).toBeLessThan(96 * MiB);
    // At most one alert each, busy (it may be lost: a socket whose peer never reads gets 2 s to drain).
    for (const e of evils) expect([[], [AlertCode.busy as number]]).toContainEqual(e.alerts());
    await good.roundTrip();
    await good.peer.close("bye", 100);
  }, 40_000);
});

describe("2. the process-wide output budget (in memory)", () => {
  let sc: Scene;
  beforeAll(async () => {
    sc = await Scene.start({ limits: { maxSendQueueBytes: 8 * MiB, maxOutputBytes: 2 * MiB } });
  });
  afterAll(() => sc.stop());

  test("3 sessions that never read, under one 2 MiB budget: the largest queues are cut with busy, the total stays within a record of the budget, the good peer chats", async () => {
    // The scene's listener echoes each TEXT: 60 KB in, 60 KB queued back.
    let id = 0n;
    const evils = await Promise.all(Array.from({ length: 3 }, () => Evil.open(sc.port, { node: true })));
    for (const e of evils) e.a.pause();
    let peak = 0;
    for (let i = 0; i < 200 && evils.some((e) => sc.closed(e) === undefined); i++) {
      for (const e of evils) if (sc.closed(e) === undefined) e.a.write(e.seal([{ kind: "text", id: ++id, text: "x".repeat(60_000) }]));
      await Bun.sleep(2);
      peak = Math.max(peak, sc.listener.outputBudget.total);
    }
    const cut = evils.map((e) => sc.closed(e)).filter((c) => c?.code === "busy" && c.error!.message.includes("maxOutputBytes"));
    expect(cut.length).toBeGreaterThanOrEqual(1);
    // Checked as each reply is queued: at most one reply past the budget.
    expect(peak).toBeLessThan(2 * MiB + 128 * 1024);
    for (const e of evils) e.a.destroy();
    await sc.good.roundTrip();
    await sc.settled(5000);
    expect(sc.listener.outputBudget.total).toBeLessThan(64 * 1024);
  }, 20_000);
});

describe("3. an FFDHE HELLO flood from one address", () => {
  let L: ListenerProcess;
  // A 2 s handshake deadline: a good handshake slower than that counts as refused.
  beforeAll(async () => {
    // The listener process and the good peer's own worker build their contexts at once.
    [L] = await Promise.all([startListener({ limits: { handshakeTimeoutMs: 2000 }, warm: [Group.FFDHE3072] }), warmFfdhe(Group.FFDHE3072)]);
    // Set-up only (a listener process and a warm worker): on a loaded machine it took over 20 s.
  }, 90_000);
  afterAll(() => L.stop());

  test("1,000 ffdhe3072 HELLOs a second, each closed at once: every good ffdhe3072 handshake (a known address) completes within the deadline, during and after", async () => {
    expect(await goodHandshakes(L.port, Group.FFDHE3072, 1)).toBe(1);
    let during = 0;
    const flood = kexFlood(L.port, 1000, 2500, undefined, 1001);
    await Bun.sleep(500);
    during = await goodHandshakes(L.port, Group.FFDHE3072, 3);
    const sent = await flood;
    expect(sent).toBeGreaterThan(1000);
    expect(during).toBe(3);
    // Right after the flood: the queue held no backlog to work through.
    expect(await goodHandshakes(L.port, Group.FFDHE3072, 2)).toBe(2);
  }, 30_000);
});

describe("3. queued key exchanges are dropped with their connection (in memory)", () => {
  let sc: Scene;
  beforeAll(async () => {
    await warmFfdhe(Group.FFDHE3072);
    // No per-prefix rate here: this case is about the queue and cancellation alone.
    sc = await Scene.start({ limits: { ffdhePerPrefixPerSecond: 1e6, maxKexQueue: 10_000 } });
  }, 20_000);
  afterAll(() => sc.stop());

  test("300 ffdhe3072 HELLOs closed at once: once their sessions are gone, at most the 2 exchanges inside the worker are left", async () => {
    const hello = ffdheHello(Group.FFDHE3072);
    kexQueuePeak(); // reset the high-water mark
    const socks = await Promise.all(Array.from({ length: 300 }, () => rawConnect(sc.port, "127.0.0.2")));
    for (const s of socks) s?.end(hello);
    await until("the listener to drop the 300 sessions", () => sc.others === 0 && sc.listener.halfOpen === 0, 10_000);
    // The flood did queue work (read from the queue's own high-water mark: polling could miss a short peak).
    expect(kexQueuePeak()).toBeGreaterThan(2);
    expect(kexQueueDepth()).toBeLessThanOrEqual(2);
    await sc.good.roundTrip();
  }, 20_000);
});

describe("5. half-open slots by prefix", () => {
  let L: ListenerProcess;
  // Scaled: maxHalfOpen 1024 (default 4096) with the default ratios (a prefix may hold a quarter).
  beforeAll(async () => {
    // Silent connections and X25519 handshakes only: no FFDHE context to build.
    L = await startListener({ limits: { maxHalfOpen: 1024, maxHalfOpenPerAddress: 64, maxHalfOpenPerPrefix: 256 }, warm: [] });
  }, 60_000);
  afterAll(() => L.stop());

  test("17 addresses of one /24 × 64 silent connections, re-opened as reaped: 12 good handshakes from another prefix all complete", async () => {
    const flood = halfOpenFlood(L.port, 17, 64);
    try {
      await until("the flood connections to be open", () => flood.open() >= 17 * 64, 10_000);
      await Bun.sleep(200);
      expect(await goodHandshakes(L.port, Group.X25519, 12)).toBe(12);
    } finally {
      flood.stop();
    }
  }, 30_000);
});

describe("5. refusals past preAuthAlertsPerPrefixPerSecond are resets, without an alert", () => {
  let L: ListenerProcess;
  // One half-open slot per address and 8 alerts a second per prefix (a burst of 16).
  beforeAll(async () => {
    L = await startListener({ limits: { maxHalfOpenPerAddress: 1, preAuthAlertsPerPrefixPerSecond: 8 } });
  }, 60_000); // a listener process warms its FFDHE groups first: 5–15 s on a loaded machine
  afterAll(() => L.stop());

  /**
   * Connect from `from` (writing `send` once connected) and resolve with what came back
   * before the close: "busy" (exactly the ALERT busy frame, then a FIN), "reset" (an RST,
   * no byte), or the bytes in hex.
   */
  const outcome = (from: string, send?: Uint8Array) =>
    new Promise<string>((resolve) => {
      const got: Buffer[] = [];
      let reset = false;
      const s = net.connect({ host: "127.0.0.1", port: L.port, localAddress: from });
      s.once("connect", () => send && s.write(send));
      s.on("data", (b: Buffer) => got.push(b));
      s.on("error", (e: Error & { code?: string }) => (reset = e.code === "ECONNRESET"));
      s.on("close", () => {
        const bytes = Buffer.concat(got);
        if (reset && bytes.length === 0) resolve("reset");
        else resolve(bytes.equals(Buffer.from(encodeAlertFrame(AlertCode.busy))) ? "busy" : bytes.toString("hex"));
      });
    });

  test("200 connections refused at once from one /24: the first 16 (and what refills) get ALERT busy, the others a reset; another /24 still gets its busy", async () => {
    const holder = await rawConnect(L.port, "127.0.3.1");
    const got = await Promise.all(Array.from({ length: 200 }, () => outcome("127.0.3.1")));
    if (process.env.HOSTILE_DEBUG) console.log(Object.groupBy(got, (g) => g));
    const busy = got.filter((g) => g === "busy").length;
    const reset = got.filter((g) => g === "reset").length;
    expect(busy + reset).toBe(200);
    expect(busy).toBeGreaterThanOrEqual(16);
    expect(busy).toBeLessThan(40); // the burst, plus 8 a second while the test runs
    // Another prefix has its own budget: a peer there that hits a cap gets the sentence.
    const other = await rawConnect(L.port, "127.0.4.1");
    expect(await outcome("127.0.4.1")).toBe("busy");
    holder?.destroy();
    other?.destroy();
  }, 30_000);

  test("a run of refusals just past the alert budget (its 16 alerts, then 4 resets) is no flood: a stranger of that /24 still gets its HELLO_REPLY", async () => {
    const holder = await rawConnect(L.port, "127.0.9.1");
    const got: string[] = [];
    for (let i = 0; i < 20; i++) got.push(await outcome("127.0.9.1"));
    expect(got.filter((g) => g === "busy").length).toBeGreaterThanOrEqual(16);
    expect(got.filter((g) => g === "reset").length).toBeGreaterThanOrEqual(1);
    // A stranger of the same /24: its HELLO is read and answered (before: reset unread).
    const answer = await new Promise<string>((resolve) => {
      const s = net.connect({ host: "127.0.0.1", port: L.port, localAddress: "127.0.9.2" });
      s.once("connect", () => s.write(encodeHello(FrameType.HELLO, Group.X25519, randomBytes(32), x25519Generate().publicKey)));
      s.once("data", (b: Buffer) => {
        resolve(b[2] === FrameType.HELLO_REPLY ? "HELLO_REPLY" : b.toString("hex"));
        s.destroy();
      });
      s.on("error", (e: Error & { code?: string }) => resolve(e.code ?? "error"));
      s.on("close", () => resolve("closed"));
    });
    expect(answer).toBe("HELLO_REPLY");
    holder?.destroy();
  }, 30_000);

  test("handshake faults count too: 200 HELLOs of version 2 from one /24 get at most the burst of ALERT unsupported_version, the rest a reset", async () => {
    // HELLO version 2 (PROTOCOL §3): ALERT unsupported_version, while the budget lasts.
    const bad = Buffer.from(encodeHello(FrameType.HELLO, Group.X25519, randomBytes(32), randomBytes(32)));
    bad[3] = 2;
    const got = await Promise.all(Array.from({ length: 200 }, (_, i) => outcome(`127.0.5.${1 + i}`, bad)));
    if (process.env.HOSTILE_DEBUG) console.log(Object.groupBy(got, (g) => g));
    const alerts = got.filter((g) => g === "00020402").length;
    const reset = got.filter((g) => g === "reset").length;
    expect(alerts + reset).toBe(200);
    expect(alerts).toBeGreaterThanOrEqual(16);
    expect(alerts).toBeLessThan(40);
  }, 30_000);
});

describe("5. a prefix whose refusals are a flood: its strangers are reset at accept", () => {
  let L: ListenerProcess;
  // One half-open slot per address; one alert a second per prefix (a burst of 2), so the
  // budget stays spent while the test runs, even on a loaded machine.
  beforeAll(async () => {
    L = await startListener({ limits: { maxHalfOpenPerAddress: 1, preAuthAlertsPerPrefixPerSecond: 1 }, warm: [] });
  }, 60_000);
  afterAll(() => L.stop());

  /** What a connection from `from` that sends `send` gets back: "reset" (an RST, no byte), or the bytes' count. */
  const outcome = (from: string, send?: Uint8Array) =>
    new Promise<string>((resolve) => {
      let got = 0;
      let reset = false;
      const s = net.connect({ host: "127.0.0.1", port: L.port, localAddress: from });
      s.once("connect", () => send && s.write(send));
      s.on("data", (b: Buffer) => {
        got += b.length;
        if (got >= 32) s.destroy(); // a HELLO_REPLY: the handshake went ahead
      });
      s.on("error", (e: Error & { code?: string }) => (reset = e.code === "ECONNRESET"));
      s.on("close", () => resolve(reset && got === 0 ? "reset" : `${got} bytes`));
    });

  test("past the prefix's alert budget, a stranger's X25519 HELLO from that /24 is never read (a reset, no HELLO_REPLY); an address that authenticated before still opens a session", async () => {
    const x25519Hello = () => encodeHello(FrameType.HELLO, Group.X25519, randomBytes(32), x25519Generate().publicKey);
    // Control, before any flood: a stranger of the /24 gets its HELLO_REPLY.
    expect(await outcome("127.0.8.2", x25519Hello())).not.toBe("reset");
    const known = await Evil.open(L.port, { node: true, localAddress: "127.0.8.3" });
    known.a.destroy();
    // Strangers of the /24 that connect before the flood and send their HELLO during it.
    const early = await Promise.all(Array.from({ length: 5 }, (_, i) => rawConnect(L.port, `127.0.8.${20 + i}`)));
    const earlyOutcome = early.map(
      (s) =>
        new Promise<string>((resolve) => {
          let got = 0;
          let reset = false;
          s!.on("data", (b: Buffer) => void (got += b.length));
          s!.on("error", (e: Error & { code?: string }) => (reset = e.code === "ECONNRESET"));
          s!.on("close", () => resolve(reset && got === 0 ? "reset" : `${got} bytes`));
        }),
    );
    // The flood: one address holds its one half-open slot; its other connections are refused.
    const holder = await rawConnect(L.port, "127.0.8.1");
    const flood = await Promise.all(Array.from({ length: 40 }, () => outcome("127.0.8.1")));
    expect(flood.filter((o) => o === "reset").length).toBeGreaterThanOrEqual(30);
    // A stranger from the same /24 is reset without its HELLO being read (before: a HELLO_REPLY).
    const strangers = await Promise.all(Array.from({ length: 5 }, (_, i) => outcome(`127.0.8.${10 + i}`, x25519Hello())));
    expect(strangers.filter((o) => o === "reset").length).toBeGreaterThanOrEqual(4);
    // … and so is one accepted before the flood: its HELLO, sent now, is not answered.
    for (const s of early) s!.write(x25519Hello());
    const late = await Promise.all(earlyOutcome);
    expect(late.filter((o) => o === "reset").length).toBeGreaterThanOrEqual(4);
    // The address that authenticated before is no stranger: its handshake goes through.
    const again = await Evil.open(L.port, { node: true, localAddress: "127.0.8.3" });
    expect(again.items.some((i) => i.kind === "profile")).toBe(true);
    again.a.destroy();
    holder?.destroy();
  }, 30_000);
});

describe("5. the accept queue", () => {
  test("while the listener's loop is held, the kernel completes 1,500 TCP handshakes (Bun's own backlog of 512 took 513)", async () => {
    const L = await startListener({ limits: { maxHalfOpen: 4096, maxHalfOpenPerAddress: 4096, maxHalfOpenPerPrefix: 4096 } });
    const cap = somaxconn();
    try {
      if (cap === null || cap < 1600) {
        // Skipped: the kernel caps every backlog at net.core.somaxconn, here under 1,600.
        console.warn(`skipped: net.core.somaxconn is ${cap}`);
        return;
      }
      L.block!(4000);
      await Bun.sleep(200);
      let connected = 0;
      const socks = Array.from({ length: 1500 }, (_, i) => {
        const s = net.connect({ host: "127.0.0.1", port: L.port, localAddress: `127.0.6.${1 + (i % 50)}` });
        s.on("error", () => {});
        s.once("connect", () => connected++);
        return s;
      });
      // Counted while the loop is still held (its 4 s run from before the first SYN).
      await Bun.sleep(1500);
      const during = connected;
      for (const s of socks) s.destroy();
      expect(during).toBe(1500);
    } finally {
      await L.stop();
    }
  }, 30_000);
});

describe("4. descriptors", () => {
  test("under `ulimit -n 400` maxSessions is 144; 300 silent connections: those past it get ALERT busy, and after they go a good peer chats", async () => {
    const L = await startListener({ fdLimit: 400, warm: [] }); // silent connections and an X25519 peer
    try {
      expect(L.maxSessions).toBe(sessionsFor(400, 20_000));
      const busy = encodeAlertFrame(AlertCode.busy);
      const got: boolean[] = [];
      const socks = await Promise.all(
        Array.from({ length: 300 }, async (_, i) => {
          // Ten /24s: 156 refusals stay within each prefix's alert burst (preAuthAlertsPerPrefixPerSecond).
          const s = await rawConnect(L.port, `127.0.${20 + (i % 10)}.1`);
          s?.on("data", (b: Buffer) => {
            if (Buffer.compare(b.subarray(0, busy.length), Buffer.from(busy)) === 0) got[i] = true;
          });
          return s;
        }),
      );
      await until("the refusals", () => got.filter(Boolean).length >= 300 - L.maxSessions, 10_000);
      expect(got.filter(Boolean).length).toBe(300 - L.maxSessions);
      for (const s of socks) s?.destroy();
      await Bun.sleep(200);
      const good = await GoodPeer.connect(L.port);
      await good.roundTrip();
      await good.peer.close("bye", 100);
    } finally {
      await L.stop();
    }
  }, 30_000);
});

describe("6. events have a rate per identity; peer strings one cap", () => {
  // Each test closes its node itself.
  const node = (o: { textPerSecond?: number } = {}) => startNode("alice", { ...o, cleanup: false });

  test("2,000 PROFILE name changes: at most the burst becomes nick events, then the session ends with busy", async () => {
    const a = await node();
    try {
      const e = await Evil.open(a.port);
      await until("connected", () => of(a.events, "connected").length === 1);
      for (let r = 0; r < 20 && !e.a.closed; r++) e.a.write(e.seal(Array.from({ length: 100 }, (_, i): Item => ({ kind: "profile", instance: e.instance, name: `m${r}-${i}` }))));
      await until("the session to end", () => of(a.events, "disconnected").length === 1, 5000);
      expect(of(a.events, "nick").length).toBeLessThanOrEqual(11);
      expect(of(a.events, "disconnected")[0]!.code).toBe("busy");
    } finally {
      await a.n.close();
    }
  });

  test("TEXT is counted per identity: 4 sessions in turn of one identity, 50 messages each, with textPerSecond 5: at most the burst (50) and what refills are shown", async () => {
    const a = await node({ textPerSecond: 5 });
    try {
      const identity = ed25519Generate();
      const t0 = performance.now();
      for (let k = 0; k < 4; k++) {
        const e = await Evil.open(a.port, { identity });
        await until("connected", () => of(a.events, "connected").length === k + 1);
        e.send(Array.from({ length: 50 }, (_, i): Item => ({ kind: "text", id: BigInt(i + 1), text: `t${k}-${i}` })));
        await until("the session to end or the messages to show", () => e.a.closed || of(a.events, "message").length >= 50 * (k + 1), 3000).catch(() => {});
        e.send([{ kind: "close", reason: "" }]);
        await until("the close", () => of(a.events, "disconnected").length === k + 1, 3000);
      }
      const refill = Math.ceil(((performance.now() - t0) / 1000) * 5);
      expect(of(a.events, "message").length).toBeLessThanOrEqual(50 + refill);
    } finally {
      await a.n.close();
    }
  }, 20_000);

  test("turns: a session that brought 20,000 TEXTs at once is handled a slice at a time; a second peer's line, sent after them, is shown before 2,000 of them", async () => {
    const a = await node();
    try {
      const flood = await Evil.open(a.port);
      const good = await Evil.open(a.port);
      await until("connected", () => of(a.events, "connected").length === 2);
      const N = 20_000;
      const records: Uint8Array[] = [];
      for (let id = 1; id <= N; id += 2000) records.push(flood.seal(Array.from({ length: 2000 }, (_, i): Item => ({ kind: "text", id: BigInt(id + i), text: `f${id + i}` }))));
      for (const r of records) flood.a.write(r);
      good.send([{ kind: "text", id: 1n, text: "good" }]);
      await until("every line shown", () => of(a.events, "message").length === N + 1, 20_000);
      const shown = of(a.events, "message").map((m) => m.text);
      // docs/SECURITY.md §7 R6: before turns, all 20,000 (one socket read) came first.
      expect(shown.indexOf("good")).toBeLessThan(2000);
      expect(shown.filter((t) => t !== "good")).toEqual(Array.from({ length: N }, (_, i) => `f${i + 1}`));
    } finally {
      await a.n.close();
    }
  }, 30_000);

  test("a CLOSE reason of 65,000 bytes reaches the disconnected event cut to 256 characters", async () => {
    const a = await node();
    try {
      const e = await Evil.open(a.port);
      await until("connected", () => of(a.events, "connected").length === 1);
      e.send([{ kind: "close", reason: "r".repeat(65_000) }]);
      await until("disconnected", () => of(a.events, "disconnected").length === 1);
      const reason = of(a.events, "disconnected")[0]!.reason;
      expect(reason.length).toBeLessThan(320);
      expect(reason).toContain("more characters");
    } finally {
      await a.n.close();
    }
  });

  test("connected events name the key-exchange group of the session", async () => {
    const a = await node();
    try {
      await Evil.open(a.port);
      await until("connected", () => of(a.events, "connected").length === 1);
      expect(of(a.events, "connected")[0]!.group).toBe("x25519");
      expect(a.n.peers()[0]!.group).toBe("x25519");
    } finally {
      await a.n.close();
    }
  });
});

describe("7. --group is a minimum", () => {
  test("dialling ffdhe3072, a forged unsupported_group naming ffdhe2048 and X25519 ends the dial: one connection, no lower group", async () => {
    const evil = new EvilResponder(() => encodeAlertFrame(AlertCode.unsupported_group, new Uint8Array([Group.X25519, Group.FFDHE2048])));
    const p = new Peer({ identity: ed25519Generate(), profile: { instance: randomBytes(8), name: "victim" }, group: Group.FFDHE3072 });
    try {
      const err = await p.connect("127.0.0.1", evil.port).then(() => null, (e: Error) => e);
      expect(err).toBeInstanceOf(ConnectError);
      await Bun.sleep(100);
      expect(evil.conns.map((c) => c.hello.body[1])).toEqual([Group.FFDHE3072]);
    } finally {
      await p.close("bye", 100);
      evil.stop();
    }
  });
});
