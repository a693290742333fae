/**
 * test/faults/proxy.ts on a thread of its own (bench/proxy-worker.ts), for the benches that
 * time sotto through it (bench/real-links.ts, bench/links.ts): on the bench's own event
 * loop the proxy's shaping timers wait behind the very sealing and opening they measure,
 * which slows the link for sotto and not for plain TCP (whose ends cost nothing). A real
 * link does not run on sotto's thread.
 */
import type { Faults } from "../test/faults/proxy.ts";

/** A proxy to `port` with `faults`, on its own thread; `counters` (optional) gets its up-direction counts. */
export async function threadProxy(port: number, faults: Partial<Faults>, maxQueueBytes?: number, counters?: SharedArrayBuffer): Promise<{ port: number; close(): void }> {
  const w = new Worker(new URL("./proxy-worker.ts", import.meta.url));
  const ready = new Promise<number>((resolve) => (w.onmessage = (ev: MessageEvent<{ port: number }>) => resolve(ev.data.port)));
  w.postMessage({ target: { host: "127.0.0.1", port }, faults, maxQueueBytes, counters });
  return { port: await ready, close: () => w.postMessage("close") };
}

/** Slots of the counters: bytes the proxy read from the client, holds now, wrote to the server. */
export const UP_RECEIVED = 0;
export const UP_QUEUED = 1;
export const UP_FORWARDED = 2;
