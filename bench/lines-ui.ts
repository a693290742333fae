/**
 * Line mode's own cost for the sender's --json output, with no chat under it:
 *   bun bench/lines-ui.ts [lines] [--runs=N] [--fresh=N] [--hash]
 * LineMode (batchOutput, json, as `sotto chat --json` runs piped) reads `lines` lines of
 * 1 KiB (test/faults/bulk.ts bulkLine) as bytes in chunks of 64 KiB, as a pipe gives them, and a
 * fake api emits what the chat emits for one recipient: a `sent` per line with the chat's
 * keys in its order (node/delivery.ts), and an `ack` every 256 lines (a later turn, as
 * ACKs come from the wire). Output goes to a sink. Prints the CPU time of each run
 * (process.cpuUsage, user + system) as min and median: `--runs` runs in this process
 * (the first with cold code), and `--fresh` runs one each in a fresh process (what the
 * real bench sees: bun bench/links-processes.ts starts a new process per run).
 * --root=DIR: LineMode from the sotto tree at DIR (an A/B of two trees with one bench).
 * --hash: also print a hash of the whole output (the same bytes on two trees: the same hash;
 * the hashing is then in the CPU times).
 * Every run is in sotto's runtime environment (src/cli/runtime.ts), as `sotto chat` runs:
 * without it, this script starts itself again in it.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import type { ChatApi, ChatError, ChatEvent } from "../src/chat/events.ts";
import { RUNTIME_ENV, sottoEnv } from "../src/cli/runtime.ts";
import { bulkLine } from "../test/faults/bulk.ts";
import { fakeApi } from "../test/support/lines.ts";
import { median } from "./common.ts";

if (Object.entries(RUNTIME_ENV).some(([k, v]) => process.env[k] !== v)) {
  const p = Bun.spawnSync([process.execPath, import.meta.path, ...process.argv.slice(2)], { env: sottoEnv(), stdio: ["inherit", "inherit", "inherit"] });
  process.exit(p.exitCode ?? 1);
}

const args = process.argv.slice(2);
const opt = (name: string, d: number) => Number(args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? d);
const lines = Number(args.find((a) => !a.startsWith("--")) ?? 20_000);
const runs = opt("runs", 5);
const fresh = opt("fresh", 5);
const hash = args.includes("--hash");
const child = args.includes("--child");
const rootArg = args.find((a) => a.startsWith("--root="));
const root = rootArg === undefined ? join(import.meta.dir, "..") : rootArg.slice("--root=".length);
const { LineMode } = (await import(join(root, "src", "ui", "lines.ts"))) as typeof import("../src/ui/lines.ts");
const ACK_EVERY = 256;
const CHUNK = 64 * 1024;

/** The CPU time of this process's main thread (ms; Linux schedstat, in ns), NaN elsewhere. */
function threadMs(): number {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, "utf8").split(" ")[0]) / 1e6;
  } catch {
    return NaN;
  }
}

/** One run: CPU ms of LineMode.run over the piped lines, and the output's hash when asked. */
async function once(): Promise<{ cpuMs: number; threadMs: number; bytes: number; digest: string }> {
  const h = hash ? createHash("sha256") : null;
  let bytes = 0;
  const ui = new LineMode({
    output: {
      write: (s: string) => {
        bytes += s.length;
        h?.update(s);
        return true;
      },
    },
    json: true,
    drainTimeoutMs: 10_000,
    batchOutput: true,
  });
  let id = 0;
  let unacked = 0;
  const time = 1_770_000_000_000;
  const api: ChatApi = {
    ...fakeApi(1).api,
    name: "alice",
    sendAll: () => 1,
    sendAllMany: (texts: readonly string[], each: (r: number | ChatError) => void) => {
      for (const text of texts) {
        id++;
        unacked++;
        // The chat's own key order (delivery.ts #queue).
        const e: ChatEvent = { type: "sent", peer: "bob", id: id.toString(), text, private: false, time: time + id };
        ui.listener(e);
        each(1);
        if (id % ACK_EVERY === 0) {
          const upTo = id;
          setImmediate(() => {
            unacked -= ACK_EVERY;
            ui.listener({ type: "ack", peer: "bob", id: upTo.toString() });
          });
        }
      }
    },
    queued: () => unacked,
    drain: async () => {
      if (unacked > 0) ui.listener({ type: "ack", peer: "bob", id: id.toString() });
      unacked = 0;
      return true;
    },
    close: async () => {},
  };
  // Bytes, as a pipe gives them (line mode decodes them itself), CHUNK at a time.
  let all = "";
  for (let i = 0; i < lines; i++) all += `${bulkLine(i, 1024)}\n`;
  const bytes8 = new TextEncoder().encode(all);
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < bytes8.length; at += CHUNK) chunks.push(bytes8.subarray(at, at + CHUNK));
  async function* input() {
    for (const c of chunks) yield c;
  }
  const before = process.cpuUsage();
  const threadBefore = threadMs();
  const code = await ui.run(api, input() as unknown as NodeJS.ReadableStream);
  const thread = threadMs() - threadBefore;
  const cpu = process.cpuUsage(before);
  if (code !== 0) throw new Error(`exit code ${code}`);
  return { cpuMs: (cpu.user + cpu.system) / 1000, threadMs: thread, bytes, digest: h?.digest("hex").slice(0, 16) ?? "" };
}

if (child) {
  const r = await once();
  console.log(JSON.stringify(r));
  process.exit(0);
}

const fmt = (xs: number[]) => `min ${Math.min(...xs).toFixed(1)} ms, median ${median(xs).toFixed(1)} ms`;
const report = (rs: { cpuMs: number; threadMs: number }[]) => `process CPU ${fmt(rs.map((r) => r.cpuMs))}; main thread ${fmt(rs.map((r) => r.threadMs))}`;
console.log(`line mode --json (${root}), ${lines} lines of 1 KiB to one recipient (load average ${loadavg().map((l) => l.toFixed(2)).join(" ")})`);
if (runs > 0) {
  const rs: Awaited<ReturnType<typeof once>>[] = [];
  for (let i = 0; i < runs; i++) rs.push(await once());
  const last = rs.at(-1)!;
  console.log(`in one process, ${runs} runs: first ${rs[0]!.cpuMs.toFixed(1)} ms (main thread ${rs[0]!.threadMs.toFixed(1)} ms), ${report(rs)}; ${last.bytes} characters out${hash ? `, sha256 ${last.digest}` : ""}`);
}
if (fresh > 0) {
  const rs: { cpuMs: number; threadMs: number }[] = [];
  for (let i = 0; i < fresh; i++) {
    const p = Bun.spawnSync([process.execPath, import.meta.path, String(lines), "--child", `--root=${root}`, ...(hash ? ["--hash"] : [])], { env: sottoEnv(), stdout: "pipe", stderr: "inherit" });
    if (p.exitCode !== 0) throw new Error(`child exited ${p.exitCode}`);
    rs.push(JSON.parse(p.stdout.toString()) as { cpuMs: number; threadMs: number });
  }
  console.log(`fresh process per run, ${fresh} runs: ${report(rs)}`);
}
