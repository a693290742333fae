/**
 * The line-mode case of `bun run bench` (issue 15: line mode at wire speed): runs
 * bench/links-processes.ts, two real `sotto chat --json` processes in sotto's runtime
 * environment with 20,000 piped lines of 1 KiB, on loopback and through the fault proxy at
 * 100 Mbit/s and 25 ms each way against plain TCP through the same proxy. Each run checks
 * that bob showed every line once and in order and that alice exited 0 (every line
 * acknowledged), or it fails and so does this case. Smoke mode: 2,000 lines, one run each.
 */
import { bunChild, type Mode } from "./common.ts";

export interface LineModeResult {
  lines: number;
  /** Loopback, each run's lines a second. */
  loopback: number[];
  /** Shaped, each run: plain TCP's time, sotto's, and TCP / sotto (≥ 0.9 the target). */
  shaped: { tcpMs: number; ms: number; ratio: number }[];
}

const SCRIPT = new URL("./links-processes.ts", import.meta.url).pathname;

/** One run of links-processes.ts; its printed line. @throws Error when the run was not clean */
async function once(args: string[]): Promise<string> {
  const p = bunChild(SCRIPT, args, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`bench/links-processes.ts ${args.join(" ")} failed (${code}): ${err.trim() || out.trim()}`);
  const line = out.split("\n").find((l) => l.startsWith("real processes"));
  if (line === undefined) throw new Error(`bench/links-processes.ts ${args.join(" ")} printed no result`);
  return line;
}

export async function runLineMode(mode: Mode, log: (s: string) => void): Promise<LineModeResult> {
  const lines = mode === "smoke" ? 2000 : 20_000;
  const runs = mode === "full" ? 5 : 1;
  const r: LineModeResult = { lines, loopback: [], shaped: [] };
  for (let i = 0; i < runs; i++) {
    const l = await once([String(lines)]);
    const m = /= ([\d,]+) lines\/s/.exec(l);
    if (m === null) throw new Error(`unreadable line-mode result: ${l}`);
    r.loopback.push(Number(m[1]!.replaceAll(",", "")));
    log(`  loopback run ${i + 1}: ${m[1]} lines/s`);
  }
  for (let i = 0; i < runs; i++) {
    const l = await once([String(lines), "--shaped"]);
    const m = /plain TCP (\d+) ms, ratio TCP\/sotto ([\d.]+)×[^:]*: \d+ lines of 1 KiB in (\d+) ms/.exec(l);
    if (m === null) throw new Error(`unreadable line-mode result: ${l}`);
    // The ratio from the two times (the printed one is rounded to two decimals).
    r.shaped.push({ tcpMs: Number(m[1]), ms: Number(m[3]), ratio: Number(m[1]) / Number(m[3]) });
    log(`  shaped run ${i + 1}: TCP ${m[1]} ms, sotto ${m[3]} ms, ${m[2]}×`);
  }
  return r;
}

/** The case's sentence for latest.md. */
export function lineModeNote(r: LineModeResult): string {
  const sorted = [...r.loopback].sort((a, b) => a - b);
  const med = sorted[Math.floor((sorted.length - 1) / 2)]!;
  const met = r.loopback.filter((v) => v >= 50_000).length;
  const shapedMet = r.shaped.filter((s) => s.ratio >= 0.9).length;
  // The targets are for 20,000 lines (smoke mode runs fewer: its start is most of the run).
  const full = r.lines === 20_000;
  return (
    `Line mode (bench/links-processes.ts: two \`sotto chat --json\` processes, ${r.lines.toLocaleString("en-US")} piped lines of 1 KiB, every line checked shown once and in order and acknowledged): ` +
    `loopback ${r.loopback.map((v) => v.toLocaleString("en-US")).join(", ")} lines/s, median ${med.toLocaleString("en-US")}${full ? ` (target ≥ 50,000: ${met} of ${r.loopback.length} runs)` : ""}; ` +
    `through 100 Mbit/s and 25 ms each way, plain TCP's time / sotto's ${r.shaped.map((s) => `${s.tcpMs} / ${s.ms} ms = ${s.ratio.toFixed(2)}×`).join(", ")}${full ? ` (target ≥ 0.9×: ${shapedMet} of ${r.shaped.length})` : " (targets: 20,000 lines, a full run)"}.`
  );
}
