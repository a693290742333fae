/**
 * test/faults/proxy.ts on a thread of its own, for benches that time sotto through it
 * (bench/real-links.ts): on the bench's own event loop, the proxy's shaping timers wait
 * behind the very sealing and opening they are meant to measure, which adds that wait to
 * sotto's figures and not to plain TCP's (its ends cost nothing).
 * In: { target, faults, maxQueueBytes } then "close". Out: { port }.
 */
import { FaultProxy, type Faults } from "../test/faults/proxy.ts";

declare const self: Worker;
let proxy: FaultProxy | null = null;
self.onmessage = (ev: MessageEvent<{ target: { host: string; port: number }; faults: Partial<Faults>; maxQueueBytes: number } | "close">) => {
  if (ev.data === "close") {
    proxy?.close();
    process.exit(0);
  }
  proxy = new FaultProxy({ target: ev.data.target, faults: ev.data.faults, maxQueueBytes: ev.data.maxQueueBytes });
  self.postMessage({ port: proxy.port });
};
