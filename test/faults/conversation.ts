/**
 * A two-way conversation between two in-process ChatNodes through the fault proxy, cut
 * again and again; shared by test/faults/cuts.test.ts and bench/soak.ts.
 *
 *   1. alice listens; bob dials alice through the proxy (bob's --connect is the proxy
 *      port), so bob's Dialer does every redial with its own backoff;
 *   2. every connection the proxy accepts, until `cuts` are done, gets one cut, FIN or
 *      reset at random: most once bob's session is ready, half after a random number of
 *      further bytes (mid-record, either direction), half after a random time; every
 *      tenth inside the handshake, at a random byte;
 *   3. both sides send while the cuts happen, spread over them: before cut k, about
 *      k/cuts of each side's messages have been typed;
 *   4. when every cut is done and every message typed, wait until both sides have
 *      received everything and have nothing left unacknowledged;
 *   5. report what each side received against what the other typed: missing, duplicated,
 *      out of order, altered.
 * runBacklog is the other shape: a backlog typed while the link is down, then a link that
 * breaks every few KB. Nothing here asserts on timing: a slow machine only makes a run longer.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChatNode } from "../../src/chat/node.ts";
import type { ChatEvent } from "../../src/chat/events.ts";
import { Group } from "../../src/protocol/constants.ts";
import { FaultProxy, type Faults, type ProxyConnection } from "./proxy.ts";
import { until } from "../support/wait.ts";

/** One conversation: its size, its seed, and how the link misbehaves. */
export interface CutRunOptions {
  /** Messages each side types. */
  messages: number;
  /** Cuts to make. */
  cuts: number;
  /** Seed of the plan (cut points, message padding). */
  seed: number;
  /** Faults on every connection besides the cuts (1-byte splits, delay). */
  faults?: Partial<Faults>;
  /** Once the session is ready, a byte cut comes after this many more bytes (default 1-3000) … */
  cutBytes?: [number, number];
  /** … and a timed cut after this many ms (default 0-60). */
  cutMs?: [number, number];
  /** Every n-th cut is made inside the handshake, at a random byte (default 10; 0: none). */
  handshakeEvery?: number;
  /** Give up (and report what is missing) after this long. */
  timeoutMs?: number;
  /** bob's first redial backoff (ChatOptions.backoffBaseMs; default the Dialer's 250 ms). */
  backoffBaseMs?: number;
  /** Message text: `${side}${i}` and this (default: a little random ASCII and some non-ASCII). */
  text?: (side: "a" | "b", i: number, rnd: () => number) => string;
  /** Status events of both nodes and the proxy's cuts, as lines (for debugging a plan). */
  log?: (line: string) => void;
}

/** What one side received, against what the other typed. */
export interface SideReport {
  /** Messages received, in order. */
  got: number;
  missing: number;
  duplicated: number;
  outOfOrder: number;
  altered: number;
}

/** The outcome of one conversation, with the numbers the soak run prints. */
export interface CutRunResult {
  ok: boolean;
  cuts: number;
  /** Connections the proxy accepted (dials that reached it). */
  connections: number;
  /** Sessions that became ready (bob's "connected" events). */
  sessions: number;
  /** Cut → next session ready, ms (p50, max). */
  redialMs: { p50: number; max: number };
  seconds: number;
  bytes: { up: number; down: number };
  /** Most messages one side had unacknowledged when a session came up (each is re-sent on it). */
  peakUnacked: number;
  /** What alice received from bob, and bob from alice. */
  alice: SideReport;
  bob: SideReport;
  timedOut: boolean;
}

/** mulberry32: a small seeded PRNG, so a failing plan can be replayed by its seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const between = (rnd: () => number, [lo, hi]: [number, number]) => lo + Math.floor(rnd() * (hi - lo + 1));

function defaultText(side: "a" | "b", i: number, rnd: () => number): string {
  const pad = "x".repeat(between(rnd, [0, 40]));
  return `${side}${i} ${pad}${i % 7 === 0 ? " ☕ ünï" : ""}`;
}

/** Compare what arrived with what was typed, in order. */
export function compare(typed: string[], got: string[]): SideReport {
  const index = new Map(typed.map((t, i) => [t, i]));
  const seen = new Set<number>();
  let duplicated = 0, outOfOrder = 0, altered = 0, last = -1;
  for (const g of got) {
    const i = index.get(g);
    if (i === undefined) {
      altered++;
      continue;
    }
    if (seen.has(i)) duplicated++;
    else if (i < last) outOfOrder++;
    seen.add(i);
    last = Math.max(last, i);
  }
  return { got: got.length, missing: typed.length - seen.size, duplicated, outOfOrder, altered };
}

/** Whether `cond` held before the absolute `deadline` (performance.now() time): the run reports, it does not throw. */
const heldBy = (what: string, cond: () => boolean, deadline: number): Promise<boolean> =>
  until(what, cond, Math.max(0, deadline - performance.now())).then(
    () => true,
    () => false,
  );

/** Run one conversation with `cuts` cuts (steps 1-5 of the file comment). @throws only on a setup failure. */
export async function runCuts(o: CutRunOptions): Promise<CutRunResult> {
  const rnd = seeded(o.seed);
  const text = o.text ?? defaultText;
  const cutBytes = o.cutBytes ?? [1, 3000];
  const cutMs = o.cutMs ?? [0, 60];
  const handshakeEvery = o.handshakeEvery ?? 10;
  const t0 = performance.now();
  const deadline = t0 + (o.timeoutMs ?? 120_000);
  const homes = [0, 1].map(() => mkdtempSync(join(tmpdir(), "sotto-cuts-")));
  const aliceEv: ChatEvent[] = [], bobEv: ChatEvent[] = [];
  const aliceGot: string[] = [], bobGot: string[] = [];
  const cutAt: number[] = [], readyAt: number[] = [];
  let peakUnacked = 0;
  let alice: ChatNode | null = null, bob: ChatNode | null = null, proxy: FaultProxy | null = null;
  try {
    // Step 1.
    const log = (who: string, e: ChatEvent) => {
      if (o.log && e.type !== "message" && e.type !== "sent" && e.type !== "ack") o.log(`${Math.round(performance.now() - t0)} ${who} ${JSON.stringify(e).slice(0, 200)}`);
    };
    alice = await ChatNode.start({ home: homes[0]!, name: "alice", group: Group.X25519, strict: false, allowNew: true, listen: { host: "127.0.0.1", port: 0 }, connect: [] }, (e) => {
      log("alice", e);
      aliceEv.push(e);
      if (e.type === "message") aliceGot.push(e.text);
    });
    const port = (aliceEv.find((e) => e.type === "listening") as { port: number }).port;
    // Step 2. A cut waits for bob's "connected" unless it is a handshake cut. (Why so: a
    // cut anywhere before the initiator sees its peer's PROFILE fails the dial, and the
    // Dialer doubles its backoff on every consecutive failure, see the report.)
    let planned = 0;
    const afterReady = new Map<ProxyConnection, () => void>();
    const plan = (c: ProxyConnection) => {
      if (planned >= o.cuts) return;
      planned++;
      const mode = rnd() < 0.5 ? "end" : "reset";
      c.set({ cutMode: mode });
      let timer: ReturnType<typeof setTimeout> | null = null;
      const inHandshake = handshakeEvery > 0 && planned % handshakeEvery === Math.floor(handshakeEvery / 2);
      if (inHandshake) c.set({ cutAfterBytes: between(rnd, [1, 450]) });
      else
        afterReady.set(c, () => {
          // Half by bytes (usually inside the first records: the resends, then the ACKs
          // behind them), half by time (long enough, often, for ACKs to get through).
          if (rnd() < 0.5) {
            c.set({ cutAfterBytes: c.forwarded + between(rnd, cutBytes) });
            timer = setTimeout(() => c.cut(mode), 100); // a quiet link: cut anyway
          } else timer = setTimeout(() => c.cut(mode), between(rnd, cutMs));
        });
      void c.done.then(() => {
        o.log?.(`${Math.round(performance.now() - t0)} proxy conn ${c.id} ${c.how}${inHandshake ? " (handshake plan)" : ""} after ${c.up.forwarded}+${c.down.forwarded} bytes`);
        afterReady.delete(c);
        if (timer !== null) clearTimeout(timer);
        if (c.how === "cut") cutAt.push(performance.now());
        else planned--; // ended another way: the cut is still owed
      });
    };
    const p = (proxy = new FaultProxy({ target: { host: "127.0.0.1", port }, faults: o.faults, onConnection: plan }));
    const onBobReady = () => {
      peakUnacked = Math.max(peakUnacked, alice?.queued() ?? 0, bob?.queued() ?? 0);
      const c = [...p.connections].at(-1);
      const go = c && afterReady.get(c);
      if (c && go) {
        afterReady.delete(c);
        go();
      }
    };
    bob = await ChatNode.start({ home: homes[1]!, name: "bob", group: Group.X25519, strict: false, listen: null, connect: [`127.0.0.1:${p.port}`], backoffBaseMs: o.backoffBaseMs }, (e) => {
      log("bob", e);
      bobEv.push(e);
      if (e.type === "message") bobGot.push(e.text);
      if (e.type === "connected") {
        readyAt.push(performance.now());
        onBobReady();
      }
    });
    // Both sides need one session before sendAll has someone to queue for.
    const connected = (ev: ChatEvent[]) => ev.some((e) => e.type === "connected");
    if (!(await heldBy("the first session", () => connected(aliceEv) && connected(bobEv), deadline))) throw new Error("the first session never came up");

    // Step 3.
    const typed = { a: [] as string[], b: [] as string[] };
    const a = alice, b = bob;
    const type = (upTo: number) => {
      while (typed.a.length < Math.min(upTo, o.messages)) {
        const t = text("a", typed.a.length + 1, rnd);
        typed.a.push(t);
        if (a.sendAll(t) !== 1) throw new Error("alice had no peer to queue for");
      }
      while (typed.b.length < Math.min(upTo, o.messages)) {
        const t = text("b", typed.b.length + 1, rnd);
        typed.b.push(t);
        if (b.sendAll(t) !== 1) throw new Error("bob had no peer to queue for");
      }
    };
    let cutsSeen = p.cuts, lastCut = performance.now();
    while (p.cuts < o.cuts && performance.now() < deadline) {
      // A few messages per tick, not ahead of the cuts' progress, unless a session has
      // been up a while without a cut (a byte-budget cut may be waiting for traffic).
      if (p.cuts !== cutsSeen) [cutsSeen, lastCut] = [p.cuts, performance.now()];
      const quiet = performance.now() - Math.max(lastCut, readyAt.at(-1) ?? 0) > 150 && b.peers().length > 0;
      type(Math.min(typed.a.length + 4, quiet ? o.messages : Math.ceil((o.messages * (p.cuts + 1)) / (o.cuts + 1))));
      await Bun.sleep(2);
    }
    type(o.messages);

    // Step 4.
    const done = () => aliceGot.length >= o.messages && bobGot.length >= o.messages && a.queued() === 0 && b.queued() === 0;
    const finished = await heldBy("every line delivered", done, deadline);
    await Bun.sleep(50); // a late duplicate would show here

    // Step 5.
    const aliceReport = compare(typed.b, aliceGot);
    const bobReport = compare(typed.a, bobGot);
    const clean = (r: SideReport) => r.missing === 0 && r.duplicated === 0 && r.outOfOrder === 0 && r.altered === 0 && r.got === o.messages;
    const redial = cutAt.map((t) => readyAt.find((r) => r > t)).map((r, i) => (r === undefined ? NaN : r - cutAt[i]!)).filter((x) => Number.isFinite(x)).sort((x, y) => x - y);
    return {
      ok: finished && p.cuts >= o.cuts && clean(aliceReport) && clean(bobReport),
      cuts: p.cuts,
      connections: p.accepted,
      sessions: readyAt.length,
      redialMs: { p50: Math.round(redial[Math.floor(redial.length / 2)] ?? NaN), max: Math.round(redial.at(-1) ?? NaN) },
      seconds: (performance.now() - t0) / 1000,
      bytes: p.bytes,
      peakUnacked,
      alice: aliceReport,
      bob: bobReport,
      timedOut: !finished,
    };
  } finally {
    await Promise.all([alice?.close(), bob?.close()]);
    proxy?.close();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  }
}

/**
 * A backlog over a link that breaks every few KB: alice and bob meet once, the link goes
 * down (every dial is cut at its first byte) while each types `messages`, then comes back
 * as a link that carries `linkBytes` per connection before breaking. Returns what each side
 * received (as in runCuts) once both have everything, or at the deadline.
 */
export async function runBacklog(o: { messages: number; linkBytes: [number, number]; seed: number; timeoutMs: number; backoffBaseMs?: number }): Promise<{ alice: SideReport; bob: SideReport; connections: number; sessions: number; timedOut: boolean }> {
  const rnd = seeded(o.seed);
  const deadline = performance.now() + o.timeoutMs;
  const homes = [0, 1].map(() => mkdtempSync(join(tmpdir(), "sotto-backlog-")));
  const got = { alice: [] as string[], bob: [] as string[] };
  let sessions = 0;
  let phase: "up" | "down" | "flaky" = "up";
  let alice: ChatNode | null = null, bob: ChatNode | null = null, proxy: FaultProxy | null = null;
  try {
    let port = 0;
    alice = await ChatNode.start({ home: homes[0]!, name: "alice", group: Group.X25519, strict: false, allowNew: true, listen: { host: "127.0.0.1", port: 0 }, connect: [] }, (e) => {
      if (e.type === "listening") port = e.port;
      if (e.type === "message") got.alice.push(e.text);
    });
    const p = (proxy = new FaultProxy({
      target: { host: "127.0.0.1", port },
      onConnection: (c) => {
        if (phase === "down") c.set({ cutAfterBytes: 1 });
        if (phase === "flaky") c.set({ cutAfterBytes: between(rnd, o.linkBytes) });
      },
    }));
    bob = await ChatNode.start({ home: homes[1]!, name: "bob", group: Group.X25519, strict: false, listen: null, connect: [`127.0.0.1:${p.port}`], backoffBaseMs: o.backoffBaseMs }, (e) => {
      if (e.type === "message") got.bob.push(e.text);
      if (e.type === "connected") sessions++;
    });
    const a = alice, b = bob;
    if (!(await heldBy("the first session", () => a.peers().length > 0 && b.peers().length > 0, deadline))) throw new Error("the first session never came up");
    phase = "down";
    p.cutAll();
    await heldBy("both sides to see the cut", () => a.peers().length === 0 && b.peers().length === 0, deadline);
    const typed = { a: [] as string[], b: [] as string[] };
    for (let i = 1; i <= o.messages; i++) {
      typed.a.push(defaultText("a", i, rnd));
      typed.b.push(defaultText("b", i, rnd));
      a.sendAll(typed.a.at(-1)!);
      b.sendAll(typed.b.at(-1)!);
    }
    phase = "flaky";
    const done = await heldBy("every line delivered", () => got.alice.length >= o.messages && got.bob.length >= o.messages && a.queued() === 0 && b.queued() === 0, deadline);
    return { alice: compare(typed.b, got.alice), bob: compare(typed.a, got.bob), connections: p.accepted, sessions, timedOut: !done };
  } finally {
    await Promise.all([alice?.close(), bob?.close()]);
    proxy?.close();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  }
}
