/**
 * bench/files-cpu.ts: the sotto file case alone, each process's CPU counted. Not a timing
 * test: a small transfer finishes, proves its hash, and both processes' CPU is counted.
 */
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import type { CpuRun } from "../../bench/files-cpu.ts";
import { cpuMs, mainThread, reapedCpuMs } from "../../bench/proc.ts";
import { sshMissing } from "../../bench/ssh.ts";
import { run } from "./run.ts";

const linux = existsSync("/proc/self/stat");

test("cpuMs counts this process's CPU as it is used (null where /proc does not exist)", () => {
  if (!linux) return expect(cpuMs(process.pid)).toBeNull();
  const before = cpuMs(process.pid)!;
  // Busy until the counter moves (ticks of 10 ms); bounded, so a broken reading fails instead of hanging.
  // (The counter may move before the first turn, or after the first, where sqrt(0) added
  // nothing: what the loop summed is no measure; it is kept only so the work is not dropped.)
  let x = 0;
  for (let i = 0; i < 2e9 && cpuMs(process.pid)! <= before; i++) x += Math.sqrt(i);
  expect(cpuMs(process.pid)!).toBeGreaterThan(before);
  spent = x;
});
let spent = 0;

test("mainThread counts this thread's time on a CPU as it is used (null where /proc does not exist)", () => {
  if (!linux) return expect(mainThread(process.pid)).toBeNull();
  const before = mainThread(process.pid)!;
  let x = 0;
  for (let i = 0; i < 2e9 && mainThread(process.pid)!.runMs < before.runMs + 20; i++) x += Math.sqrt(i);
  const after = mainThread(process.pid)!;
  expect(after.runMs).toBeGreaterThanOrEqual(before.runMs + 20);
  expect(after.waitMs).toBeGreaterThanOrEqual(before.waitMs);
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
    // The receiver accepts after the offer's hash and before the file is verified.
    expect(x.acceptedMs).toBeGreaterThanOrEqual(x.hashMs);
    expect(x.acceptedMs).toBeLessThanOrEqual(256e6 / 1e3 / x.mbps);
    if (!linux) continue;
    expect(x.cpuMs.sender! + x.cpuMs.receiver!).toBeGreaterThan(0);
    // Each main thread's time on a CPU is within its process's CPU time (two readings in ticks of 10 ms) and within the wall.
    for (const side of ["sender", "receiver"] as const) {
      const m = x.main[side]!;
      expect(m.runMs).toBeGreaterThan(0);
      expect(m.runMs).toBeLessThanOrEqual(x.cpuMs[side]! + 20);
      expect(m.blockedMs).toBeGreaterThanOrEqual(-1);
    }
  }
}, 60_000);

test("reapedCpuMs counts the CPU of a child once it has been reaped (null where /proc does not exist)", () => {
  if (!linux) return expect(reapedCpuMs(process.pid)).toBeNull();
  const before = reapedCpuMs(process.pid)!;
  // A child busy until it has used 100 ms of CPU (its own count, whatever the load), waited for (reaped) by spawnSync.
  const r = Bun.spawnSync([process.execPath, "-e", "const u = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; }; const t = u(); let x = 0; while (u() - t < 100) x += Math.sqrt(x + 1);"]);
  expect(r.exitCode).toBe(0);
  expect(reapedCpuMs(process.pid)!).toBeGreaterThanOrEqual(before + 50);
});

// OpenSSH is optional for the bench (bench/ssh.ts skips its rows without it), so this run is too.
test.skipIf(sshMissing() !== null || !linux)("--ssh: each run followed by OpenSSH's cat of the same file, its MB/s and CPU", async () => {
  const r = await run(["bench/files-cpu.ts", "2", "1", "--ssh"]);
  if (r.code !== 0) console.error(r.err);
  expect(r.code).toBe(0);
  const x = JSON.parse(r.out.trim()) as CpuRun;
  expect(x.ssh!.mbps).toBeGreaterThan(0);
  expect(x.ssh!.cpuMs).toBeGreaterThanOrEqual(0);
}, 60_000);
