/**
 * `bun bench/real-links.ts [--mb N] [--rate MBIT] [--delay MS] [--deadlines]`: sotto on a
 * real-looking link (test/faults/proxy.ts: a bandwidth cap per direction and a delay),
 * against plain TCP through the same proxy, in the same run.
 *
 *   1. idle path: one line every 100 ms, one way, over plain TCP and over sotto;
 *   2. the same lines while N MB of file items stream on the same sotto session (the
 *      file sender's way: keep DEFAULT_HIGH_WATER queued, refill on drain), and the
 *      transfer's rate against plain TCP's bulk rate through the proxy;
 *   3. with --deadlines, default limits: how long a blackholed dial takes to be given
 *      up, and how long a dead (stalled) peer takes to be found.
 * Prints p50/p99 line latencies and the transfer's timeouts (sessions cut while it ran).
 * The proxy of steps 1 and 2 runs on a thread of its own (bench/proxy-worker.ts).
 */
import { randomBytes } from "node:crypto";
import type { Socket } from "bun";
import { ed25519Generate } from "../src/crypto/ed25519.ts";
import { DEFAULT_HIGH_WATER } from "../src/chat/files/state.ts";
import { Peer } from "../src/net/peer.ts";
import { FileType } from "../src/protocol/constants.ts";
import type { Session } from "../src/net/session.ts";
import { FaultProxy, mbit } from "../test/faults/proxy.ts";
import { threadProxy as startThreadProxy } from "./links-proxy.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const MB = arg("mb", 100);
const RATE = arg("rate", 10);
const DELAY = arg("delay", 25);
const LINE_EVERY_MS = 100;
const BULK_TYPE = FileType.FILE_CHUNK; // PROTOCOL §11: the bulk priority
const CHUNK = 60 * 1024;
/** The proxy models a router with one path's worth of buffer (rate × delay) plus 16 KiB. */
const ROUTER_QUEUE = 16 * 1024;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}
const fmt = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms (n=${xs.length})`;

/** The same proxy on its own thread (bench/links-proxy.ts), for the timed line runs. */
function threadProxy(port: number, counters?: SharedArrayBuffer): Promise<{ port: number; close(): void }> {
  return startThreadProxy(port, { rateBytesPerSec: mbit(RATE), delayMs: DELAY }, ROUTER_QUEUE, counters);
}

/** Plain TCP through the proxy: one-way line latency while idle, and a bulk rate. */
async function plainTcp(lines: number, bulkBytes: number): Promise<{ idle: number[]; bulkMBps: number }> {
  const sent = new Map<number, number>();
  const idle: number[] = [];
  let got = 0;
  let buf = "";
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(_s, chunk) {
        if (bulkMode) {
          got += chunk.length;
          return;
        }
        buf += chunk.toString();
        let i: number;
        while ((i = buf.indexOf("\n")) >= 0) {
          const n = Number(buf.slice(0, i));
          buf = buf.slice(i + 1);
          idle.push(performance.now() - sent.get(n)!);
        }
      },
    },
  });
  let bulkMode = false;
  const x = await threadProxy(server.port);
  const c: Socket = await Bun.connect({ hostname: "127.0.0.1", port: x.port, socket: { data() {}, drain() { pump(); } } });
  for (let n = 0; n < lines; n++) {
    sent.set(n, performance.now());
    c.write(`${n}\n`);
    await Bun.sleep(LINE_EVERY_MS);
  }
  await Bun.sleep(200);
  bulkMode = true;
  const block = new Uint8Array(CHUNK);
  let written = 0;
  const t0 = performance.now();
  const pump = () => {
    while (written < bulkBytes) {
      const n = c.write(block);
      written += n;
      if (n < block.length) return;
    }
  };
  pump();
  while (got < bulkBytes) await Bun.sleep(20);
  const bulkMBps = bulkBytes / 1e6 / ((performance.now() - t0) / 1000);
  c.end();
  server.stop(true);
  x.close();
  return { idle, bulkMBps };
}

async function pair(limits = {}) {
  const seen = new Map<bigint, number>();
  const lat: number[] = [];
  let bulk = 0;
  const closes: string[] = [];
  const bob = new Peer({
    identity: ed25519Generate(),
    profile: { instance: new Uint8Array(randomBytes(8)), name: "bob" },
    limits,
    events: {
      onItem: (_s, it) => {
        if (it.kind === "text") lat.push(performance.now() - seen.get(it.id)!);
        else if (it.kind === "ext") bulk += it.content.length;
      },
      onClose: (_s, info) => void closes.push(info.error?.message ?? "clean"),
    },
  });
  const x = await threadProxy(bob.listen("127.0.0.1", 0));
  const alice = new Peer({ identity: ed25519Generate(), profile: { instance: new Uint8Array(randomBytes(8)), name: "alice" }, limits, events: { onDrain: () => pumpRef.f() } });
  const pumpRef = { f: () => {} };
  const s: Session = await alice.connect("127.0.0.1", x.port);
  let id = 0n;
  const line = () => {
    if (s.state !== "open") return;
    id++;
    seen.set(id, performance.now());
    s.send({ kind: "text", id, text: `line ${id}` });
  };
  return { bob, alice, x, s, lat, line, bulkGot: () => bulk, closes, pumpRef };
}

async function sottoRun(lines: number, bulkBytes: number) {
  const p = await pair();
  for (let n = 0; n < lines; n++) {
    p.line();
    await Bun.sleep(LINE_EVERY_MS);
  }
  await Bun.sleep(200);
  const idle = p.lat.splice(0);
  // The file sender's way (src/chat/files/sender.ts): refill while under the high-water.
  let queued = 0;
  const chunk = new Uint8Array(CHUNK);
  const pump = () => {
    while (queued < bulkBytes && p.s.state === "open" && p.s.bufferedAmount < DEFAULT_HIGH_WATER) {
      // As the sender cuts them: no larger than one paced bulk record of the path.
      const n = Math.min(CHUNK, p.s.bulkItemBytes);
      p.s.send({ kind: "ext", type: BULK_TYPE, content: chunk.subarray(0, n) });
      queued += n;
    }
    if (queued < bulkBytes) setImmediate(pump);
  };
  p.pumpRef.f = pump;
  const t0 = performance.now();
  pump();
  const ticker = setInterval(p.line, LINE_EVERY_MS);
  while (p.bulkGot() < bulkBytes && p.closes.length === 0) await Bun.sleep(20);
  clearInterval(ticker);
  const bulkMBps = p.bulkGot() / 1e6 / ((performance.now() - t0) / 1000);
  const during = p.lat.splice(0);
  const timeouts = p.closes.length;
  for (const c of p.closes) console.log(`session cut during the transfer: ${c}`);
  await p.alice.close("bye", 200);
  await p.bob.close("bye", 200);
  p.x.close();
  return { idle, during, bulkMBps, timeouts };
}

async function deadlines() {
  // Blackholed dial, default limits.
  const bob = new Peer({ identity: ed25519Generate(), profile: { instance: new Uint8Array(randomBytes(8)), name: "bob" } });
  const x = new FaultProxy({ target: { host: "127.0.0.1", port: bob.listen("127.0.0.1", 0) }, faults: { blackhole: true } });
  const alice = new Peer({ identity: ed25519Generate(), profile: { instance: new Uint8Array(randomBytes(8)), name: "alice" } });
  let t0 = performance.now();
  await alice.connect("127.0.0.1", x.port).catch(() => {});
  const dialMs = performance.now() - t0;
  x.set({ blackhole: false });
  const s = await alice.connect("127.0.0.1", x.port);
  let endedAt = 0;
  const wait = new Promise<void>((r) => {
    const poll = setInterval(() => {
      if (s.state === "closed") {
        endedAt = performance.now();
        clearInterval(poll);
        r();
      }
    }, 10);
  });
  x.stall();
  t0 = performance.now();
  await wait;
  const deadMs = endedAt - t0;
  await alice.close("bye", 100);
  await bob.close("bye", 100);
  x.close();
  return { dialMs, deadMs };
}

const lines = 50;
console.log(`link: ${RATE} Mbit/s each way, ${DELAY} ms delay each way, router queue ${ROUTER_QUEUE / 1024} KiB + rate×delay; transfer ${MB} MB`);
const tcp = await plainTcp(lines, Math.min(MB, 20) * 1e6);
console.log(`plain TCP   idle line: ${fmt(tcp.idle)}; bulk ${tcp.bulkMBps.toFixed(2)} MB/s`);
const sotto = await sottoRun(lines, MB * 1e6);
console.log(`sotto       idle line: ${fmt(sotto.idle)}`);
console.log(`sotto       line during the transfer: ${fmt(sotto.during)}; transfer ${sotto.bulkMBps.toFixed(2)} MB/s (${(sotto.bulkMBps / tcp.bulkMBps).toFixed(2)}× plain TCP); sessions cut: ${sotto.timeouts}`);
console.log(`p99 during − p99 idle (TCP): ${(pct(sotto.during, 99) - pct(tcp.idle, 99)).toFixed(1)} ms`);
if (process.argv.includes("--deadlines")) {
  const d = await deadlines();
  console.log(`default limits: blackholed dial given up after ${(d.dialMs / 1000).toFixed(2)} s; dead peer found after ${(d.deadMs / 1000).toFixed(2)} s`);
}
process.exit(0);
