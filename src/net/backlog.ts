/**
 * The listening socket's accept queue. Bun.listen has no backlog option and asks for 512;
 * a flood that holds the event loop for a moment fills that at once, and the kernel then
 * drops a good peer's SYN (it is retransmitted a second later). Calling listen(2) again on
 * a listening socket only changes its backlog (Linux), so it is raised here through
 * libc, capped by the kernel at net.core.somaxconn (limits.ts listenBacklog).
 */
import { dlopen, FFIType } from "bun:ffi";
import { readFileSync } from "node:fs";

type Listen = (fd: number, backlog: number) => number;
let listenFn: Listen | null | undefined;

/** libc's listen(2), or null where it cannot be had (not Linux, no bun:ffi). */
function libcListen(): Listen | null {
  if (listenFn !== undefined) return listenFn;
  listenFn = null;
  if (process.platform !== "linux") return null;
  try {
    const lib = dlopen("libc.so.6", { listen: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 } });
    listenFn = (fd, n) => lib.symbols.listen(fd, n);
  } catch {
    // No libc.so.6 (musl) or no FFI: Bun's own backlog stays; nothing else depends on it.
    listenFn = null;
  }
  return listenFn;
}

/** The kernel's cap on any backlog (net.core.somaxconn), or null where it cannot be read. */
export function somaxconn(): number | null {
  try {
    return Number.parseInt(readFileSync("/proc/sys/net/core/somaxconn", "utf8"), 10) || null;
  } catch {
    return null;
  }
}

/**
 * Raise the backlog of the listening socket `fd` to `backlog` (best effort: false when
 * it could not be done, and the listener works as before with Bun's 512).
 */
export function raiseBacklog(fd: number | undefined, backlog: number): boolean {
  if (typeof fd !== "number" || fd < 0 || backlog <= 512) return false;
  const listen = libcListen();
  return listen !== null && listen(fd, backlog) === 0;
}
