/**
 * Loopback end-to-end cases, the sender here and the receiver in a child process
 * (bench/child.ts), the same harness for plain TCP, TLS 1.3 and sotto:
 *   1. streaming: N DATA messages as fast as backpressure allows (TCP/TLS: ~64 KiB writes
 *      of many frames; sotto: ~256 KiB of items per flush, coalesced into full records);
 *   2. interactive: one message per write (sotto: one record and one write per message),
 *      no waiting for an echo: the per-message cost of a chat that sends as it types;
 *   3. handshake: connect → first echoed message over sequential connections (p50/p90/p99),
 *      TCP, TLS and sotto X25519 interleaved in blocks of plan.hsBlock handshakes (50 in full
 *      and quick runs), the order rotating, FFDHE after them;
 *   4. concurrent: C clients connect at once, each gets one echo; wall time and the
 *      server's RSS per connection.
 * Every DATA message carries its counter; the receiver checks each one is the next, and
 * the run fails unless FINISH reports all N in order. Echoes are compared on the spot.
 * Throughput runs the contenders interleaved (every contender once per repeat, the order
 * rotating), and sotto's rows keep each repeat's ratios to TLS and TCP. Handshakes are
 * interleaved too: a p99 of one contender's 1000 taken a minute before another's compares
 * two minutes of a shared machine (its host's steal moved TLS's own p99 from 1.0 to 3.0 ms
 * between runs a minute apart), not the two contenders.
 */
import { rmSync } from "node:fs";
import { RUNTIME_ENV } from "../src/cli/runtime.ts";
import { stopKexWorker } from "../src/net/kex.ts";
import { Group } from "../src/protocol/constants.ts";
import { closeSottoClient, RawConn, SottoConn, type Conn } from "./clients.ts";
import { bunChild, median, parseMode, type Mode } from "./common.ts";
import { Lines, makeCert, pct, reap, type Cert, type Kind } from "./wire.ts";

export const SIZES = [64, 1024, 16384] as const;

export interface ThroughputRow {
  case: "streaming" | "interactive";
  size: number;
  kind: Kind;
  n: number;
  msgsPerSec: number;
  mbps: number;
  runs: number[];
  /** sotto's rows: its rate ÷ TLS's and ÷ TCP's in each repeat (the contenders interleaved, repeat by repeat). */
  paired?: { tls: number[]; tcp: number[] };
}
export type HsKind = "sotto-x25519" | "sotto-ffdhe2048" | "tls" | "tcp";
export interface HandshakeRow {
  kind: HsKind;
  n: number;
  firstMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  meanMs: number;
  /** The block of the run each handshake came from (the contenders interleaved block by block). */
  blocks: number[];
}
export interface ConcurrentRow {
  kind: Kind;
  clients: number;
  ms: number;
  rssPerConnKiB: number;
  failures: number;
}
export interface E2EResult {
  tlsVersion: string | null;
  throughput: ThroughputRow[];
  handshake: HandshakeRow[];
  concurrent: ConcurrentRow[];
}

interface Plan {
  streamBytes: number;
  streamMaxMsgs: number;
  interactive: Record<number, number>;
  repeats: number;
  handshakes: number;
  warmup: number;
  /** Handshakes per contender per block (handshake case, interleaved). */
  hsBlock: number;
  concurrent: number;
}

const PLANS: Record<Mode, Plan> = {
  full: { streamBytes: 96 << 20, streamMaxMsgs: 1_500_000, interactive: { 64: 100_000, 1024: 100_000, 16384: 20_000 }, repeats: 3, handshakes: 1000, warmup: 200, hsBlock: 50, concurrent: 1000 },
  quick: { streamBytes: 24 << 20, streamMaxMsgs: 400_000, interactive: { 64: 40_000, 1024: 30_000, 16384: 6_000 }, repeats: 3, handshakes: 400, warmup: 100, hsBlock: 50, concurrent: 1000 },
  smoke: { streamBytes: 256 << 10, streamMaxMsgs: 2_000, interactive: { 64: 200, 1024: 200, 16384: 50 }, repeats: 1, handshakes: 10, warmup: 1, hsBlock: 5, concurrent: 20 },
};

/** A bench server in its own process. */
export class Server {
  private constructor(
    readonly proc: Bun.Subprocess<"pipe", "pipe", "inherit">,
    readonly lines: Lines,
    readonly port: number,
  ) {}

  static async start(kind: Kind, cert: Cert | null): Promise<Server> {
    const proc = bunChild(new URL("./child.ts", import.meta.url).pathname, [kind, cert?.dir ?? ""], { stdin: "pipe", stdout: "pipe", stderr: "inherit", ...(kind === "sotto" ? { env: { ...RUNTIME_ENV } } : {}) });
    const lines = new Lines(proc.stdout);
    const hello = await lines.next<{ port: number }>();
    return new Server(proc, lines, hello.port);
  }

  async rss(): Promise<{ rss: number; peakRss: number; conns: number }> {
    this.proc.stdin.write("rss\n");
    this.proc.stdin.flush();
    return this.lines.next();
  }

  async stop(): Promise<void> {
    this.proc.stdin.write("quit\n");
    this.proc.stdin.flush();
    await reap(this.proc, 2000);
  }
}

function opener(kind: Kind, port: number, cert: Cert | null, group: Group = Group.X25519): () => Promise<Conn> {
  if (kind === "sotto") return () => SottoConn.open(port, group);
  return () => RawConn.open(port, kind === "tls" ? { ca: cert!.cert } : undefined);
}

async function timeStream(conn: Conn, size: number, n: number, perWrite: boolean): Promise<number> {
  const t0 = performance.now();
  await conn.stream(size, n, perWrite);
  const r = await conn.finish();
  const ms = performance.now() - t0;
  if (r.counter !== n || !r.ok) throw new Error(`receiver got ${r.counter} of ${n} messages${r.ok ? "" : ", some out of order"}`);
  return ms;
}

const KINDS: Kind[] = ["tcp", "tls", "sotto"];

/**
 * The throughput cases with the contenders interleaved: one server and one connection per
 * contender, open together; each case runs repeat by repeat, every contender once per
 * repeat (the order rotating), so that the runs compared saw the same minutes of a shared
 * machine (run one after another, a case's TLS and sotto runs were minutes apart). sotto's
 * rows keep its rate ÷ TLS's and ÷ TCP's of each repeat (`paired`).
 */
async function throughput(cert: Cert, plan: Plan, log: (s: string) => void, tlsVersion: (v: string | null) => void): Promise<ThroughputRow[]> {
  const rows: ThroughputRow[] = [];
  const servers: Server[] = [];
  const conns = new Map<Kind, Conn>();
  try {
    for (const kind of KINDS) {
      const server = await Server.start(kind, cert);
      servers.push(server);
      const conn = await opener(kind, server.port, cert)();
      if (kind === "tls") tlsVersion((conn as RawConn).tlsVersion);
      conns.set(kind, conn);
      await timeStream(conn, 64, Math.min(2000, plan.streamMaxMsgs), false); // warm the JIT on both sides
    }
    for (const c of ["streaming", "interactive"] as const) {
      for (const size of SIZES) {
        const n = c === "streaming" ? Math.min(plan.streamMaxMsgs, Math.ceil(plan.streamBytes / size)) : plan.interactive[size]!;
        const runs = new Map<Kind, number[]>(KINDS.map((k) => [k, []]));
        for (let r = 0; r < plan.repeats; r++) {
          for (let j = 0; j < KINDS.length; j++) {
            const kind = KINDS[(r + j) % KINDS.length]!;
            runs.get(kind)!.push(await timeStream(conns.get(kind)!, size, n, c === "interactive"));
          }
        }
        for (const kind of KINDS) {
          const ms = median(runs.get(kind)!);
          const msgsPerSec = n / (ms / 1000);
          const row: ThroughputRow = { case: c, size, kind, n, msgsPerSec, mbps: (msgsPerSec * size) / 1e6, runs: runs.get(kind)! };
          if (kind === "sotto") {
            const mine = runs.get("sotto")!;
            // Throughput ratio of one repeat = the other's time ÷ sotto's time (same n).
            row.paired = { tls: mine.map((t, i) => runs.get("tls")![i]! / t), tcp: mine.map((t, i) => runs.get("tcp")![i]! / t) };
          }
          rows.push(row);
          log(`  ${c} ${size} B ${kind}: ${fmtRate(msgsPerSec)} msg/s (${((msgsPerSec * size) / 1e6).toFixed(0)} MB/s)`);
        }
      }
    }
  } finally {
    for (const conn of conns.values()) conn.close();
    for (const server of servers) await server.stop();
  }
  return rows;
}

/**
 * Interleaved. FFDHE runs after them, alone: its worker threads make shares for their pools
 * after each block, which would take the CPU from the next contender's block.
 */
const HS_KINDS: HsKind[] = ["tcp", "tls", "sotto-x25519"];
const ALL_HS: HsKind[] = [...HS_KINDS, "sotto-ffdhe2048"];

/** One connect → first echo, timed; the connection closed after. */
async function handshakeOnce(open: () => Promise<Conn>, i: number): Promise<number> {
  const t0 = performance.now();
  const c = await open();
  await c.echo(64, i);
  const ms = performance.now() - t0;
  c.close();
  return ms;
}

/**
 * The handshake case: every contender's warm-up first (plan.warmup each), then
 * plan.handshakes each in blocks of plan.hsBlock, one block per contender per round and the
 * order rotating, so each contender's p99 comes from the same minutes as the others'; then
 * sotto with FFDHE-2048, its warm-up and its handshakes as one block.
 */
async function handshakes(cert: Cert, plan: Plan, log: (s: string) => void, tlsVersion: (v: string | null) => void): Promise<HandshakeRow[]> {
  const servers = new Map<Kind, Server>();
  try {
    for (const kind of KINDS) servers.set(kind, await Server.start(kind, cert));
    const tls = await RawConn.open(servers.get("tls")!.port, { ca: cert.cert });
    tlsVersion(tls.tlsVersion);
    tls.close();
    const open = new Map<HsKind, () => Promise<Conn>>();
    const first = new Map<HsKind, number>();
    const lat = new Map<HsKind, number[]>();
    const blocks = new Map<HsKind, number[]>();
    for (const k of ALL_HS) {
      const base: Kind = k.startsWith("sotto") ? "sotto" : (k as Kind);
      open.set(k, opener(base, servers.get(base)!.port, cert, k === "sotto-ffdhe2048" ? Group.FFDHE2048 : Group.X25519));
      lat.set(k, []);
      blocks.set(k, []);
    }
    const warm = async (k: HsKind) => {
      for (let i = 0; i < plan.warmup; i++) {
        const ms = await handshakeOnce(open.get(k)!, i);
        if (i === 0) first.set(k, ms);
      }
    };
    /** `n` more of `k`'s handshakes, counted as block `b`. */
    const block = async (k: HsKind, n: number, b: number) => {
      const mine = lat.get(k)!;
      for (let i = 0; i < n; i++) {
        mine.push(await handshakeOnce(open.get(k)!, plan.warmup + mine.length));
        blocks.get(k)!.push(b);
      }
    };
    for (const k of HS_KINDS) await warm(k);
    const rounds = Math.ceil(plan.handshakes / plan.hsBlock);
    for (let r = 0, b = 0; r < rounds; r++) {
      for (let j = 0; j < HS_KINDS.length; j++, b++) {
        const k = HS_KINDS[(r + j) % HS_KINDS.length]!;
        await block(k, Math.min(plan.hsBlock, plan.handshakes - lat.get(k)!.length), b);
      }
    }
    await warm("sotto-ffdhe2048");
    await block("sotto-ffdhe2048", plan.handshakes, rounds * HS_KINDS.length);
    return ALL_HS.map((kind) => {
      const sorted = [...lat.get(kind)!].sort((a, b) => a - b);
      const row: HandshakeRow = { kind, n: sorted.length, firstMs: first.get(kind) ?? 0, p50Ms: pct(sorted, 50), p90Ms: pct(sorted, 90), p99Ms: pct(sorted, 99), meanMs: sorted.reduce((a, b) => a + b, 0) / sorted.length, blocks: blocks.get(kind)! };
      log(`  handshake ${kind}: p50 ${row.p50Ms.toFixed(3)} ms, p99 ${row.p99Ms.toFixed(3)} ms (first ${row.firstMs.toFixed(1)} ms)`);
      return row;
    });
  } finally {
    for (const server of servers.values()) await server.stop();
  }
}

/** Connections opened and closed before the burst's RSS baseline is read. */
const WARM = 200;

/** Wait (at most 5 s) until the server counts `n` open connections. */
async function waitConns(server: Server, n: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await server.rss()).conns === n) return;
    await Bun.sleep(50);
  }
}

async function concurrent(kind: Kind, cert: Cert | null, clients: number, log: (s: string) => void): Promise<ConcurrentRow> {
  const server = await Server.start(kind, cert);
  try {
    const open = opener(kind, server.port, cert);
    // Warm-up, the same for every contender: WARM connections opened, echoed and closed, so
    // that what is measured below is the cost of a connection, not the first one's code
    // (JIT, crypto initialisation, pools filled once per process).
    const warm = await Promise.all(Array.from({ length: Math.min(WARM, clients) }, async (_, i) => {
      const c = await open();
      await c.echo(64, i);
      return c;
    }));
    for (const c of warm) c.close();
    await waitConns(server, 0);
    const before = await server.rss();
    let failures = 0;
    const t0 = performance.now();
    const conns = await Promise.all(
      Array.from({ length: clients }, async (_, i) => {
        try {
          const c = await open();
          await c.echo(64, i);
          return c;
        } catch {
          failures++;
          return null;
        }
      }),
    );
    const ms = performance.now() - t0;
    const after = await server.rss();
    for (const c of conns) c?.close();
    const row = { kind, clients, ms, rssPerConnKiB: (after.rss - before.rss) / 1024 / Math.max(1, after.conns), failures };
    log(`  ${clients} concurrent ${kind}: ${ms.toFixed(0)} ms, ${row.rssPerConnKiB.toFixed(1)} KiB/conn, ${failures} failures`);
    return row;
  } finally {
    await server.stop();
  }
}

/** Run every end-to-end case. @throws Error when a message is lost, damaged or out of order. */
export async function runE2E(mode: Mode, log: (s: string) => void = () => {}, only?: Set<string>): Promise<E2EResult> {
  const plan = PLANS[mode];
  const want = (c: string) => only === undefined || only.has(c);
  const cert = makeCert();
  const res: E2EResult = { tlsVersion: null, throughput: [], handshake: [], concurrent: [] };
  try {
    if (want("throughput")) res.throughput.push(...(await throughput(cert, plan, log, (v) => (res.tlsVersion = v))));
    if (want("handshake")) res.handshake.push(...(await handshakes(cert, plan, log, (v) => (res.tlsVersion ??= v))));
    if (want("concurrent")) for (const kind of ["tcp", "tls", "sotto"] as Kind[]) res.concurrent.push(await concurrent(kind, cert, plan.concurrent, log));
  } finally {
    rmSync(cert.dir, { recursive: true, force: true });
    await closeSottoClient();
    stopKexWorker();
  }
  return res;
}

export function fmtRate(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)} k`;
  return x.toFixed(0);
}

if (import.meta.main) {
  const mode = parseMode();
  console.log(JSON.stringify(await runE2E(mode, (s) => console.error(s)), null, 2));
}
