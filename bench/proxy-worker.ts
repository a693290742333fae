/**
 * test/faults/proxy.ts on a thread of its own (bench/links-proxy.ts starts it, for benches
 * that time sotto through it): on the bench's own event loop, the proxy's shaping timers
 * wait behind the very sealing and opening they are meant to measure, which adds that wait
 * to sotto's figures and not to plain TCP's (its ends cost nothing).
 * In: { target, faults, maxQueueBytes, counters? } then "close". Out: { port }.
 * With `counters` (a SharedArrayBuffer of 3 float64s), the first connection's up direction
 * (received, queued, forwarded bytes) is copied there every millisecond.
 */
import { FaultProxy, type Faults } from "../test/faults/proxy.ts";

declare const self: Worker;
let proxy: FaultProxy | null = null;
type Start = { target: { host: string; port: number }; faults: Partial<Faults>; maxQueueBytes?: number; counters?: SharedArrayBuffer };
self.onmessage = (ev: MessageEvent<Start | "close">) => {
  if (ev.data === "close") {
    proxy?.close();
    process.exit(0);
  }
  const p = new FaultProxy({ target: ev.data.target, faults: ev.data.faults, maxQueueBytes: ev.data.maxQueueBytes });
  proxy = p;
  if (ev.data.counters) {
    const c = new Float64Array(ev.data.counters);
    setInterval(() => {
      const conn = [...p.connections][0];
      if (conn === undefined) return;
      c[0] = conn.up.received;
      c[1] = conn.up.queued;
      c[2] = conn.up.forwarded;
    }, 1);
  }
  self.postMessage({ port: p.port });
};
