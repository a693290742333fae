/**
 * CPU per message on each side of one sotto connection, for profiling and A/B runs:
 *   bun bench/profile-pair.ts [interactive|streaming|burst|handshake] [size] [n]
 *   1. a sotto bench server in a child process (this file with `serve`; it exits by
 *      itself once its clients are gone, so `SOTTO_PROF=DIR` gets its profile written);
 *   2. this process streams n DATA messages of `size` bytes (interactive: one record and
 *      one write each), or opens 200 connections then n at once (`burst`), or n one after
 *      another (`handshake`, with p50/p99), each echoed;
 *   3. FINISH must report all n in order; then both sides' user+system CPU is printed, and
 *      on Linux how it splits between the JavaScript thread, the JIT, the GC helpers and the rest.
 * Profile this side with `bun --cpu-prof-md bench/profile-pair.ts …`, the server with SOTTO_PROF.
 */
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { ed25519Generate } from "../src/crypto/ed25519.ts";
import { stopKexWorker } from "../src/net/kex.ts";
import { Peer } from "../src/net/peer.ts";
import type { Session } from "../src/net/session.ts";
import { Group } from "../src/protocol/constants.ts";
import { closeSottoClient, SottoConn } from "./clients.ts";
import { bunChild } from "./common.ts";
import { Lines, Op } from "./wire.ts";

const cpuMs = () => {
  const u = process.cpuUsage();
  return Math.round((u.user + u.system) / 1000);
};

/**
 * This process's CPU by thread (Linux: /proc/self/task/TID/stat, user + system ticks):
 * the JavaScript thread, JSC's JIT compiler threads, its GC helpers, the rest; null elsewhere.
 */
function cpuByThread(): { main: number; jit: number; gc: number; other: number } | null {
  let tids: string[];
  try {
    tids = readdirSync("/proc/self/task");
  } catch {
    return null;
  }
  const tick = 1000 / 100; // USER_HZ
  const out = { main: 0, jit: 0, gc: 0, other: 0 };
  for (const tid of tids) {
    let st: string;
    try {
      st = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
    } catch {
      continue; // the thread ended meanwhile
    }
    const name = st.slice(st.indexOf("(") + 1, st.lastIndexOf(")"));
    const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
    const ms = (Number(f[11]) + Number(f[12])) * tick;
    if (Number(tid) === process.pid) out.main += ms;
    else if (name.startsWith("JITWorker")) out.jit += ms;
    else if (name.startsWith("HeapHelper")) out.gc += ms;
    else out.other += ms;
  }
  return out;
}

function fmtThreads(t: ReturnType<typeof cpuByThread>): string {
  return t === null ? "" : ` (JavaScript thread ${t.main} ms, JIT ${t.jit} ms, GC helpers ${t.gc} ms, other ${t.other} ms)`;
}

/** The server: as bench/child.ts's sotto one; exits once `expect` sessions came and went. */
function serve(expect: number): void {
  const state = new Map<Session, { next: number; bad: number }>();
  let lastS: Session | null = null;
  let lastC: { next: number; bad: number } | null = null;
  let readies = 0;
  const peer = new Peer({
    identity: ed25519Generate(),
    profile: { instance: randomBytes(8), name: "bench-server" },
    accept: [Group.X25519],
    limits: { maxSessions: 1_000_000, maxHalfOpen: 100_000, maxHalfOpenPerAddress: 100_000, maxSendQueueBytes: 64 * 1024 * 1024, keepaliveMs: 0, idleTimeoutMs: 0, handshakeTimeoutMs: 120_000 },
    events: {
      onReady(s) {
        readies++;
        state.set(s, { next: 0, bad: 0 });
      },
      onText(s, id, text) {
        // The session's count, looked up once per run of TEXTs from one session (the raw
        // servers hold theirs in the socket's closure: no map lookup per message either).
        if (s !== lastS) [lastS, lastC] = [s, state.get(s)!];
        const c = lastC!;
        const op = text.charCodeAt(0);
        if (op === Op.DATA) {
          if (Number(id) !== c.next) c.bad++;
          c.next++;
        } else if (op === Op.ECHO) s.sendText(id, text);
        else if (op === Op.FINISH) {
          s.sendText(c.next, c.bad === 0 ? "fok" : "fbad");
          c.next = 0;
          c.bad = 0;
        }
      },
      onClose(s) {
        if (s === lastS) [lastS, lastC] = [null, null];
        state.delete(s);
        if (state.size > 0 || readies < expect) return;
        console.log(JSON.stringify({ cpuMs: cpuMs(), threads: cpuByThread() }));
        setTimeout(async () => {
          await peer.close("done", 100);
          stopKexWorker();
        }, 50);
      },
    },
  });
  console.log(JSON.stringify({ port: peer.listen("127.0.0.1", 0) }));
}

async function main(): Promise<void> {
  const mode = process.argv[2] ?? "interactive";
  const size = Number(process.argv[3] ?? 64);
  const n = Number(process.argv[4] ?? (mode === "streaming" ? 1_500_000 : mode === "burst" || mode === "handshake" ? 1000 : 150_000));
  const expect = mode === "burst" ? 200 + n : mode === "handshake" ? n : 1;
  const child = bunChild(import.meta.path, ["serve", String(expect)], { stdin: "ignore", stdout: "pipe", stderr: "inherit" });
  const lines = new Lines(child.stdout);
  const { port } = await lines.next<{ port: number }>();
  const t0 = performance.now();
  if (mode === "handshake") {
    // As the bench's handshake→echo case: one connection at a time, each echoed once, then closed.
    const ms: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      const c = await SottoConn.open(port, Group.X25519);
      await c.echo(64, i);
      ms.push(performance.now() - t);
      c.close();
    }
    const q = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]!.toFixed(3);
    const late = ms.slice(n >> 1).sort((a, b) => a - b);
    ms.sort((a, b) => a - b);
    console.log(`${n} handshakes one after another, each echoed: p50 ${q(ms, 0.5)} ms, p99 ${q(ms, 0.99)} ms; the last ${late.length}: p50 ${q(late, 0.5)} ms, p99 ${q(late, 0.99)} ms`);
  } else if (mode === "burst") {
    for (let i = 0; i < 200; i++) {
      const c = await SottoConn.open(port, Group.X25519);
      await c.echo(64, i);
      c.close();
    }
    const t1 = performance.now();
    const conns = await Promise.all(Array.from({ length: n }, async (_, i) => {
      const c = await SottoConn.open(port, Group.X25519);
      await c.echo(64, i);
      return c;
    }));
    console.log(`${n} clients at once, all echoed: ${(performance.now() - t1).toFixed(0)} ms`);
    for (const c of conns) c.close();
  } else {
    const c = await SottoConn.open(port, Group.X25519);
    await c.stream(size, n, mode === "interactive");
    const r = await c.finish();
    if (r.counter !== n || !r.ok) throw new Error(`receiver got ${r.counter} of ${n} messages${r.ok ? "" : ", some out of order"}`);
    console.log(`${mode} ${size} B × ${n}: ${Math.round(n / ((performance.now() - t0) / 1000))} msg/s`);
    c.close();
  }
  const sender = cpuMs();
  const senderThreads = cpuByThread();
  const { cpuMs: server, threads } = await lines.next<{ cpuMs: number; threads: ReturnType<typeof cpuByThread> }>();
  console.log(`CPU: this side ${sender} ms${fmtThreads(senderThreads)}, server ${server} ms${fmtThreads(threads)} (whole processes, start-up included)`);
  await closeSottoClient();
  await child.exited;
}

if (import.meta.main) {
  if (process.argv[2] === "serve") serve(Number(process.argv[3] ?? 1));
  else await main();
}
