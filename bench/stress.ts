/**
 * `bun run stress [--peers N] [--messages M] [--size S] [--group x25519|ffdhe2048|ffdhe3072]
 *                 [--concurrency C] [--workers W] [--timeout MS] [--hold] [--json]`
 *   1. raise the file-descriptor limit for the children (sh `ulimit -n <hard>`), and say
 *      so when the limit still bounds C;
 *   2. start one listening sotto peer (bench/child.ts sotto) that echoes TEXT items;
 *   3. start W worker processes (bench/stress-worker.ts), N clients split among them;
 *   4. draw a progress bar (stderr, TTY only); collect every worker's summary;
 *   5. print handshakes/s, messages/s, latency p50/p99, server peak RSS and RSS per
 *      session, failures by cause. Exit 1 if anything was lost, corrupted or failed.
 * --hold keeps every session open once its echoes are checked; when all N are open at
 * once the server's RSS is read after a GC (the bench's way) and the RSS per held session
 * printed, then the sessions are closed.
 * `bun run stress --attack ping|kex|x25519|halfopen|fds|preauth|text [--seconds S]` runs bench/attack.ts instead.
 */
import { sottoEnv } from "../src/cli/runtime.ts";
import { DEFAULT_LIMITS, sessionsFor } from "../src/net/limits.ts";
import { Group } from "../src/protocol/constants.ts";
import type { WorkerConfig, WorkerSummary } from "./stress-worker.ts";
import { Lines, pct, reap } from "./wire.ts";

const GROUPS: Record<string, Group> = { x25519: Group.X25519, ffdhe2048: Group.FFDHE2048, ffdhe3072: Group.FFDHE3072 };

export interface StressOptions {
  peers: number;
  messages: number;
  size: number;
  group: string;
  concurrency: number;
  workers: number;
  timeoutMs: number;
  json: boolean;
  hold: boolean;
}

export interface StressResult {
  options: StressOptions;
  fdLimit: { soft: number | null; hard: number | null; bound: boolean };
  seconds: number;
  handshakes: number;
  handshakesPerSec: number;
  completed: number;
  messages: number;
  messagesPerSec: number;
  latencyMs: { p50: number; p99: number };
  handshakeMs: { p50: number; p99: number };
  server: { startRssMiB: number; peakRssMiB: number; peakSessions: number; rssPerSessionKiB: number };
  failures: Record<string, number>;
  ok: boolean;
  /** --hold: the server after a GC with every session open. */
  held?: { sessions: number; rssMiB: number; rssPerSessionKiB: number };
}

function parse(argv: string[]): StressOptions {
  const get = (name: string, def: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : def;
  };
  const int = (name: string, def: number, min: number) => {
    const v = Number.parseInt(get(name, String(def)), 10);
    if (!Number.isFinite(v) || v < min) throw new Error(`--${name} expects an integer ≥ ${min}`);
    return v;
  };
  const peers = int("peers", 1000, 1);
  const group = get("group", "x25519");
  if (!(group in GROUPS)) throw new Error(`--group expects one of ${Object.keys(GROUPS).join(", ")}`);
  const size = int("size", 64, 16);
  if (size > 60_000) throw new Error("--size expects at most 60000 bytes (one TEXT item)");
  return { peers, messages: int("messages", 10, 0), size, group, concurrency: int("concurrency", Math.min(peers, 2000), 1), workers: int("workers", 2, 1), timeoutMs: int("timeout", 30_000, 100), json: argv.includes("--json"), hold: argv.includes("--hold") };
}

function limit(flag: "-n" | "-Hn"): number | null {
  const v = Bun.spawnSync(["sh", "-c", `ulimit ${flag}`], { stdout: "pipe" }).stdout.toString().trim();
  return v === "unlimited" ? 1 << 20 : Number.parseInt(v, 10) || null;
}

/** Spawn `cmd` under a shell that first lifts the soft fd limit to `fds` (best effort), in `env`. */
function spawnRaised(fds: number | null, cmd: string[], env: Record<string, string | undefined> = process.env): Bun.Subprocess<"pipe", "pipe", "inherit"> {
  const argv = fds === null ? cmd : ["sh", "-c", 'ulimit -n "$0" 2>/dev/null; exec "$@"', String(fds), ...cmd];
  return Bun.spawn(argv, { stdin: "pipe", stdout: "pipe", stderr: "inherit", env });
}

function bar(done: number, total: number, extra: string): void {
  if (!process.stderr.isTTY) return;
  const w = 30, f = total === 0 ? w : Math.round((done / total) * w);
  process.stderr.write(`\r[${"#".repeat(f)}${".".repeat(w - f)}] ${done}/${total} peers ${extra}   `);
}

/** Run a stress test; never exits the process. */
export async function runStress(o: StressOptions, log: (s: string) => void): Promise<StressResult> {
  const soft = limit("-n"), hard = limit("-Hn");
  const target = hard === null ? null : Math.min(hard, 1 << 20);
  const usable = (target ?? soft ?? 1024) - 64;
  let bound = false;
  const perWorker = Math.ceil(o.concurrency / o.workers);
  if (o.concurrency > usable || perWorker > usable) {
    bound = true;
    log(`fd limit: soft ${soft}, hard ${hard}: the server can hold at most ~${usable} sessions, so the limit bounds --concurrency ${o.concurrency}; running with ${usable}. Raise it with \`ulimit -n\` (hard limit: /etc/security/limits.conf) to go higher.`);
    o = { ...o, concurrency: usable };
  }
  // --hold needs one descriptor per held session in the one listening process, whose
  // maxSessions is fitted under its descriptor limit with headroom (net/limits.ts sessionsFor):
  // past that cap it answers busy, by design, so --hold asks for no more than the cap.
  const room = Math.min(usable, sessionsFor(target ?? soft, DEFAULT_LIMITS.maxSessions));
  if (o.hold && o.peers > room) {
    bound = true;
    log(`fd limit: soft ${soft}, hard ${hard}: the listener takes at most ${room} sessions at once under it (its maxSessions, fitted with headroom for files and sockets, beyond which it answers busy), so --hold runs with ${room} peers instead of ${o.peers}. Raise the hard limit (/etc/security/limits.conf, or a container's --ulimit nofile) to hold more.`);
    o = { ...o, peers: room, concurrency: Math.min(o.concurrency, room) };
  }
  const bun = process.execPath;
  const dir = new URL(".", import.meta.url).pathname;
  // The listener runs as the `sotto` command does (src/cli/runtime.ts); the load generators as they are.
  const server = spawnRaised(target, [bun, `${dir}child.ts`, "sotto"], sottoEnv());
  const lines = new Lines(server.stdout);
  const { port } = await lines.next<{ port: number }>();
  const ask = async () => {
    server.stdin.write("rss\n");
    server.stdin.flush();
    return lines.next<{ rss: number; peakRss: number; conns: number; peakConns: number }>();
  };
  const MiB = 1024 * 1024;
  const start = await ask();
  const w = Math.min(o.workers, o.peers);
  const progress = new Array<{ completed: number; failed: number; messages: number }>(w).fill({ completed: 0, failed: 0, messages: 0 });
  // Workers start, make their peers' identities (a peer has one before it dials), say
  // "ready", and all start dialling together on "go": the clock runs from "go".
  const workers = Array.from({ length: w }, (_, k) => {
    const first = Math.floor((o.peers * k) / w), count = Math.floor((o.peers * (k + 1)) / w) - first;
    const cfg: WorkerConfig = { port, first, count, messages: o.messages, size: o.size, group: GROUPS[o.group]!, concurrency: Math.ceil(o.concurrency / w), timeoutMs: o.timeoutMs, hold: o.hold };
    const p = spawnRaised(target, [bun, `${dir}stress-worker.ts`, JSON.stringify(cfg)]);
    return { k, count, p, wl: new Lines(p.stdout) };
  });
  for (const wk of workers) await wk.wl.next();
  const t0 = performance.now();
  for (const wk of workers) {
    wk.p.stdin.write("go\n");
    wk.p.stdin.flush();
  }
  let heldWorkers = 0;
  let held: StressResult["held"];
  const summaries = await Promise.all(
    workers.map(async ({ k, count, p, wl }) => {
      for (;;) {
        let m: { t: string } & Record<string, unknown>;
        try {
          m = await wl.next();
        } catch {
          return { t: "done", handshakes: 0, completed: 0, messages: 0, failures: { [`worker ${k} died (exit ${await p.exited})`]: count }, handshakeMs: [], latencyMs: [] } satisfies WorkerSummary;
        }
        if (m.t === "done") return m as unknown as WorkerSummary;
        if (m.t === "held") {
          if (++heldWorkers === w) {
            const r = await ask(); // after a GC, every session open
            held = { sessions: r.conns, rssMiB: r.rss / MiB, rssPerSessionKiB: (r.rss - start.rss) / 1024 / Math.max(1, r.conns) };
            for (const x of workers) {
              x.p.stdin.write("release\n");
              x.p.stdin.flush();
            }
          }
          continue;
        }
        progress[k] = m as never;
        const sum = progress.reduce((a, b) => ({ completed: a.completed + b.completed, failed: a.failed + b.failed, messages: a.messages + b.messages }), { completed: 0, failed: 0, messages: 0 });
        bar(sum.completed + sum.failed, o.peers, `${sum.messages} echoes, ${sum.failed} failed`);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  if (process.stderr.isTTY) process.stderr.write("\n");
  const end = await ask();
  server.stdin.write("quit\n");
  server.stdin.flush();
  await reap(server, 3000);

  const failures: Record<string, number> = {};
  for (const s of summaries) for (const [k, v] of Object.entries(s.failures)) failures[k] = (failures[k] ?? 0) + v;
  const handshakes = summaries.reduce((a, s) => a + s.handshakes, 0);
  const completed = summaries.reduce((a, s) => a + s.completed, 0);
  const messages = summaries.reduce((a, s) => a + s.messages, 0);
  const lat = summaries.flatMap((s) => s.latencyMs).sort((a, b) => a - b);
  const hs = summaries.flatMap((s) => s.handshakeMs).sort((a, b) => a - b);
  if (completed !== o.peers) failures["peers that did not complete"] = o.peers - completed;
  if (messages !== o.peers * o.messages) failures["echoes missing"] = o.peers * o.messages - messages;
  if (held !== undefined && held.sessions < completed) failures["sessions not open while held"] = completed - held.sessions;
  return {
    options: o,
    fdLimit: { soft, hard, bound },
    seconds,
    handshakes,
    handshakesPerSec: handshakes / seconds,
    completed,
    messages,
    messagesPerSec: messages / seconds,
    latencyMs: { p50: pct(lat, 50), p99: pct(lat, 99) },
    handshakeMs: { p50: pct(hs, 50), p99: pct(hs, 99) },
    server: { startRssMiB: start.rss / MiB, peakRssMiB: end.peakRss / MiB, peakSessions: end.peakConns, rssPerSessionKiB: (end.peakRss - start.rss) / 1024 / Math.max(1, end.peakConns) },
    failures,
    ok: Object.keys(failures).length === 0,
    ...(held ? { held } : {}),
  };
}

function report(r: StressResult): string {
  const o = r.options;
  const f = Object.entries(r.failures);
  return [
    `sotto stress: ${o.peers} peers × ${o.messages} messages of ${o.size} B, group ${o.group}, concurrency ${o.concurrency}, ${o.workers} workers`,
    `  time            ${r.seconds.toFixed(2)} s`,
    `  handshakes      ${r.handshakes} (${r.handshakesPerSec.toFixed(0)}/s; connect→ready p50 ${r.handshakeMs.p50.toFixed(2)} ms, p99 ${r.handshakeMs.p99.toFixed(2)} ms)`,
    `  messages        ${r.messages} echoed (${r.messagesPerSec.toFixed(0)}/s; round trip p50 ${r.latencyMs.p50.toFixed(3)} ms, p99 ${r.latencyMs.p99.toFixed(3)} ms)`,
    `  server RSS      ${r.server.startRssMiB.toFixed(1)} MiB at start, peak ${r.server.peakRssMiB.toFixed(1)} MiB with ${r.server.peakSessions} sessions open at most: ${r.server.rssPerSessionKiB.toFixed(1)} KiB per session`,
    ...(r.held ? [`  held            ${r.held.sessions} sessions open at once: server RSS ${r.held.rssMiB.toFixed(1)} MiB after a GC, ${r.held.rssPerSessionKiB.toFixed(1)} KiB per session`] : []),
    `  fd limit        soft ${r.fdLimit.soft}, hard ${r.fdLimit.hard}${r.fdLimit.bound ? " — it bounded the concurrency" : ""}`,
    `  failures        ${f.length === 0 ? "none" : f.map(([k, v]) => `\n    ${v} × ${k}`).join("")}`,
    r.ok ? "OK" : "FAILED",
  ].join("\n");
}

if (import.meta.main && process.argv.includes("--attack")) {
  // bench/attack.ts: a good peer's latencies and the listener's RSS during one flood.
  const { ATTACKS, attackReport, runAttack } = await import("./attack.ts");
  const argv = process.argv.slice(2);
  const kind = argv[argv.indexOf("--attack") + 1] as (typeof ATTACKS)[number];
  if (!ATTACKS.includes(kind)) {
    process.stderr.write(`stress: --attack expects one of ${ATTACKS.join(", ")}\n`);
    process.exit(2);
  }
  const si = argv.indexOf("--seconds");
  const r = await runAttack(kind, si >= 0 ? Number(argv[si + 1]) : 5);
  console.log(argv.includes("--json") ? JSON.stringify(r, null, 2) : attackReport(r));
  process.exit(0);
} else if (import.meta.main) {
  let o: StressOptions;
  try {
    o = parse(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`stress: ${(e as Error).message}\n`);
    process.exit(2);
  }
  const r = await runStress(o, (s) => process.stderr.write(s + "\n"));
  console.log(o.json ? JSON.stringify(r, null, 2) : report(r));
  process.exitCode = r.ok ? 0 : 1;
}
