/**
 * bench/files-cpu.ts: the sotto file case alone, each process's CPU counted. Not a timing
 * test: a small transfer finishes, proves its hash, and both processes' CPU is counted.
 */
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { cpuMs, type CpuRun } from "../../bench/files-cpu.ts";
import { run } from "./run.ts";

const linux = existsSync("/proc/self/stat");

test("cpuMs counts this process's CPU as it is used (null where /proc does not exist)", () => {
  if (!linux) return expect(cpuMs(process.pid)).toBeNull();
  const before = cpuMs(process.pid)!;
  // Busy until the counter moves (ticks of 10 ms); bounded, so a broken reading fails instead of hanging.
  let x = 0;
  for (let i = 0; i < 2e9 && cpuMs(process.pid)! <= before; i++) x += Math.sqrt(i);
  expect(cpuMs(process.pid)!).toBeGreaterThan(before);
  expect(x).toBeGreaterThan(0);
});

test("two runs of a 2 MB file: one JSON line each, the transfer verified, both processes' CPU counted", async () => {
  const r = await run(["bench/files-cpu.ts", "2", "2"]);
  if (r.code !== 0) console.error(r.err);
  expect(r.code).toBe(0);
  const runs = r.out.trim().split("\n").map((l) => JSON.parse(l) as CpuRun);
  expect(runs).toHaveLength(2);
  for (const x of runs) {
    expect(x.mbps).toBeGreaterThan(0);
    expect(x.hashMs).toBeGreaterThan(0);
    if (linux) expect(x.cpuMs.sender! + x.cpuMs.receiver!).toBeGreaterThan(0);
  }
}, 60_000);
