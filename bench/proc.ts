/**
 * What Linux /proc says of a process, for the benches that count CPU rather than only wall
 * time (a shared machine's load moves CPU far less): each reader returns null where /proc
 * does not exist.
 */
import { existsSync, readFileSync } from "node:fs";

/** The fields of /proc/PID/stat after the command name (which may hold spaces), or null where /proc does not say. */
function statFields(pid: number): string[] | null {
  const f = `/proc/${pid}/stat`;
  if (!existsSync(f)) return null;
  return readFileSync(f, "utf8").split(") ").at(-1)!.split(" ");
}

/** CPU ms (user + system) of process `pid` so far, or null where /proc does not say. */
export function cpuMs(pid: number): number | null {
  const rest = statFields(pid);
  // utime and stime are the 12th and 13th fields after the name, in clock ticks of 1/100 s
  // (USER_HZ, fixed at 100 for /proc on Linux).
  return rest === null ? null : ((Number(rest[11]) + Number(rest[12])) * 1000) / 100;
}

/** Minor page faults of process `pid` so far (the 8th field after the name), or null. */
export function minorFaults(pid: number): number | null {
  const rest = statFields(pid);
  return rest === null ? null : Number(rest[7]);
}

/**
 * The main thread of process `pid` (its JS thread): ms on a CPU and ms runnable but waiting
 * for one (Linux /proc/PID/schedstat, in ns), or null. Wall time less both is time it was
 * blocked (on the socket, the disk, or nothing to do).
 */
export function mainThread(pid: number): { runMs: number; waitMs: number } | null {
  const f = `/proc/${pid}/schedstat`;
  if (!existsSync(f)) return null;
  const [run, wait] = readFileSync(f, "utf8").split(" ").map(Number);
  return { runMs: run! / 1e6, waitMs: wait! / 1e6 };
}

/** CPU ms (user + system) of the reaped children of process `pid` so far (cutime and cstime, the 14th and 15th fields after the name), or null. */
export function reapedCpuMs(pid: number): number | null {
  const rest = statFields(pid);
  return rest === null ? null : ((Number(rest[13]) + Number(rest[14])) * 1000) / 100;
}
