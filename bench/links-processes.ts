/**
 * Line mode at wire speed, with real processes:
 *   bun bench/links-processes.ts [lines] [--shaped]
 * bob: `sotto chat --json` listening on 127.0.0.1; alice: `sotto chat --no-listen
 * --connect` with `lines` lines of 1 KiB piped on stdin. Timed from bob's "connected"
 * event to his last "message" event (so process start-up and the handshake are not in
 * it); before printing, checks that bob showed every line once and in order, and that
 * alice exited 0 (every line acknowledged).
 * --pipe: alice's stdin is a pipe the bench writes the lines into (64 KiB reads), not the file (512 KiB reads).
 * Both processes run in sotto's runtime environment (src/cli/runtime.ts: JavaScriptCore's
 * top tier off, as `bun run chat` and the `sotto` command run); --ftl: with it on, for comparison.
 * --stamps: also print when each 1,000th line was shown (ms after bob's "connected").
 * --shaped: alice dials bob through test/faults/proxy.ts at 100 Mbit/s with 25 ms each
 * way (run in this process), and plain TCP moves the same bytes through a proxy with the
 * same faults in the same run: the ratio TCP time / sotto time, ≥ 0.9 the target.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { RUNTIME_ENV } from "../src/cli/runtime.ts";
import { spawnChild } from "./common.ts";
import { bulkLine, plainTcpBulk } from "../test/faults/bulk.ts";
import { FaultProxy, mbit } from "../test/faults/proxy.ts";

const args = process.argv.slice(2);
const shaped = args.includes("--shaped");
// Both processes run as `bun run chat` starts sotto (src/cli/runtime.ts), or with --ftl with the top tier on.
const ftl = args.includes("--ftl");
const env: Record<string, string> = { ...RUNTIME_ENV, ...(ftl ? { BUN_JSC_useFTLJIT: "1" } : {}) };
const lines = Number(args.find((a) => !a.startsWith("--")) ?? 20_000);
const faults = shaped ? { rateBytesPerSec: mbit(100), delayMs: 25 } : {};
const SIZE = 1024;
const MAIN = join(import.meta.dir, "..", "src", "cli", "main.ts");
const dir = mkdtempSync(join(tmpdir(), "sotto-links-"));
const input = join(dir, "input.txt");
let text = "";
for (let i = 0; i < lines; i++) text += `${bulkLine(i, SIZE)}\n`;
writeFileSync(input, text);

// SOTTO_PROF=dir: a --cpu-prof profile of each process there (SOTTO_PROF_MD=1: markdown, SOTTO_PROF_INTERVAL=µs).
const prof = process.env.SOTTO_PROF
  ? [process.env.SOTTO_PROF_MD === "1" ? "--cpu-prof-md" : "--cpu-prof", `--cpu-prof-dir=${process.env.SOTTO_PROF}`, ...(process.env.SOTTO_PROF_INTERVAL ? [`--cpu-prof-interval=${process.env.SOTTO_PROF_INTERVAL}`] : [])]
  : [];
const bob = spawnChild([process.execPath, ...prof, MAIN, "chat", "--json", "--home", join(dir, "bob"), "--name", "bob", "--host", "127.0.0.1", "--port", "0"], { stdin: "pipe", stdout: "pipe", stderr: "inherit", env });
let port = 0;
let connectedAt = 0;
let lastAt = 0;
/** CPU ms a process has used so far (Linux /proc, 10 ms ticks), or NaN elsewhere. */
const cpuNow = (pid: number): number => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8");
    const v = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return ((Number(v[11]) + Number(v[12])) * 1000) / 100;
  } catch {
    return Number.NaN;
  }
};
let alicePid = 0;
/** Each thread's run time so far (ns, /proc/<pid>/task/<tid>/schedstat), keyed "comm/tid"; empty elsewhere. */
const threadsNow = (pid: number): Map<string, number> => {
  const out = new Map<string, number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
      out.set(`${comm}/${tid}`, Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]));
    }
  } catch {
    // the process ended, or no /proc
  }
  return out;
};
/** Per thread of each side, the run time at bob's "connected" and at his last line. */
const threads = { alice: [new Map<string, number>(), new Map<string, number>()], bob: [new Map<string, number>(), new Map<string, number>()] };
/** Each side's CPU at bob's "connected" and at his last "message": what the timed part cost. */
const window = { alice: [0, 0], bob: [0, 0] };
let firstAt = 0;
/** With --stamps: "n:ms" for each 1,000th line shown. */
const stamps: string[] = [];
let shown = 0;
let bad = 0;
let allShown: () => void = () => {};
const done = new Promise<void>((r) => (allShown = r));
// Bob's stdout is read to its end (a closed pipe would fail bob's next write).
void (async () => {
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of bob.stdout) {
    buf += dec.decode(chunk, { stream: true });
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (l.startsWith('{"type":"message"')) {
        // The line's number (bulkLine's first 8 characters), without parsing the JSON:
        // this reader must not be what limits the rate.
        const at = l.indexOf('"text":"') + 8;
        if (Number(l.slice(at, at + 8)) !== shown || l.indexOf('x"', at + 8 + SIZE - 10) < 0) bad++;
        if (shown === 0) firstAt = performance.now();
        shown++;
        lastAt = performance.now();
        if (shown % 1000 === 0) stamps.push(`${shown}:${(lastAt - connectedAt).toFixed(0)}`);
        if (shown === lines) {
          window.alice[1] = cpuNow(alicePid);
          window.bob[1] = cpuNow(bob.pid);
          threads.alice[1] = threadsNow(alicePid);
          threads.bob[1] = threadsNow(bob.pid);
          allShown();
        }
      } else if (l.startsWith('{"type":"listening"')) port = (JSON.parse(l) as { port: number }).port;
      else if (l.startsWith('{"type":"connected"')) {
        connectedAt = performance.now();
        window.alice[0] = cpuNow(alicePid);
        window.bob[0] = cpuNow(bob.pid);
        threads.alice[0] = threadsNow(alicePid);
        threads.bob[0] = threadsNow(bob.pid);
      }
    }
  }
})();
while (port === 0) await Bun.sleep(5);
const proxy = shaped ? new FaultProxy({ target: { host: "127.0.0.1", port }, faults }) : null;
const dialPort = proxy?.port ?? port;
const alice = spawnChild([process.execPath, ...prof, MAIN, "chat", "--json", "--home", join(dir, "alice"), "--name", "alice", "--no-listen", "--connect", `127.0.0.1:${dialPort}`, ...(process.env.SOTTO_ALICE_ARGS?.split(" ").filter((a) => a !== "") ?? [])], { stdin: args.includes("--pipe") ? "pipe" : Bun.file(input), stdout: "ignore", stderr: "inherit", env });
if (args.includes("--pipe")) {
  const w = alice.stdin as import("bun").FileSink;
  void (async () => {
    for (let at = 0; at < text.length; at += 1 << 16) {
      w.write(text.slice(at, at + (1 << 16)));
      await w.flush();
    }
    await w.end();
  })();
}
alicePid = alice.pid;
await done;
const code = await alice.exited;
bob.kill("SIGINT");
await bob.exited;
proxy?.close();
rmSync(dir, { recursive: true, force: true });
if (shown !== lines || bad !== 0 || code !== 0) {
  console.error(`not a clean run: shown ${shown}/${lines}, ${bad} out of order, alice exited ${code}; not timed`);
  process.exit(1);
}
const ms = lastAt - connectedAt;
// CPU each side used over its whole life (start-up included): on a shared machine the
// wall time above waits for other work, the CPU time does not.
const cpu = (p: typeof bob) => {
  const u = p.resourceUsage()?.cpuTime;
  return u === undefined ? "?" : `${Math.round(Number(u.user + u.system) / 1000)} ms`;
};
const tcp = shaped ? await plainTcpBulk({ lines, size: SIZE, faults }) : null;
const path = shaped ? "100 Mbit/s, 25 ms each way" : "loopback";
const vsTcp = tcp === null ? "" : `; plain TCP ${tcp.toFixed(0)} ms, ratio TCP/sotto ${(tcp / ms).toFixed(2)}× (target ≥ 0.9×)`;
console.log(`real processes${ftl ? " (FTL on)" : ""}, ${path}${vsTcp}: ${lines} lines of 1 KiB in ${ms.toFixed(0)} ms = ${Math.round((lines / ms) * 1000).toLocaleString("en-US")} lines/s${shaped ? "" : " (target ≥ 50,000)"} (the first shown ${(firstAt - connectedAt).toFixed(0)} ms after "connected"); CPU alice ${cpu(alice as unknown as typeof bob)}, bob ${cpu(bob)} (of which from "connected" to the last line: alice ${window.alice[1]! - window.alice[0]!} ms, bob ${window.bob[1]! - window.bob[0]!} ms); load average ${loadavg()[0]!.toFixed(2)} (a shared machine: compare runs side by side)`);
if (args.includes("--stamps")) console.log(`  shown (lines:ms after "connected"): ${stamps.join(" ")}`);
// Where the window's CPU went, per thread (ms run between bob's "connected" and his last line; threads under 5 ms left out).
for (const side of ["alice", "bob"] as const) {
  const [a, b] = threads[side];
  const ran = [...b!].map(([k, v]) => [k.startsWith("Worker/") ? k : k.replace(/\/\d+$/, "").replace(/\.exe$/, ""), (v - (a!.get(k) ?? 0)) / 1e6] as const).filter(([, ms]) => ms >= 5);
  const byName = new Map<string, number>();
  for (const [k, ms] of ran) byName.set(k, (byName.get(k) ?? 0) + ms);
  if (byName.size > 0) console.log(`  ${side} threads: ${[...byName].sort((x, y) => y[1] - x[1]).map(([k, ms]) => `${k} ${ms.toFixed(0)}`).join(", ")} ms`);
}
