/**
 * Bulk text through the fault proxy, shared by test/faults/bulk.test.ts (counts and
 * order) and bench/links.ts (time against plain TCP through the same proxy):
 *
 *   1. bob listens; a FaultProxy with the given faults forwards to bob;
 *   2. alice runs line mode (src/ui/lines.ts, as `sotto chat` does with a pipe) dialling
 *      the proxy, with `lines` lines of `size` characters on its input;
 *   3. line mode reads, queues and sends them, waits for every ACK and closes;
 *   4. the report: what bob showed against what alice typed, the sessions either side
 *      saw dropped, alice's exit code and the time from the first line read to the last
 *      one shown.
 * The plain-TCP baseline writes the same bytes through a proxy with the same faults to a
 * sink that counts them. `via` starts the proxy elsewhere (bench/links-proxy.ts: on a
 * thread of its own); by default it runs here.
 */
import { Readable } from "node:stream";
import type { Socket } from "bun";
import { ChatNode } from "../../src/chat/node.ts";
import type { ChatEvent } from "../../src/chat/events.ts";
import { Group } from "../../src/protocol/constants.ts";
import { LineMode } from "../../src/ui/lines.ts";
import { FaultProxy, type Faults } from "./proxy.ts";
import { tempHome } from "../support/home.ts";
import { until } from "../support/wait.ts";

/** Line `i` of a bulk run: its number, then padding to `size` characters. */
export function bulkLine(i: number, size: number): string {
  const head = `${i.toString().padStart(8, "0")} `;
  return head + "x".repeat(Math.max(0, size - head.length));
}

/** A started proxy to a port: where to dial it, and how to stop it. */
export type Via = (port: number, faults: Partial<Faults>) => Promise<{ port: number; close(): void }>;

/** The proxy on this thread. */
export const here: Via = async (port, faults) => new FaultProxy({ target: { host: "127.0.0.1", port }, faults });

/** What one bulk run showed. */
export interface BulkReport {
  shown: number;
  /** Lines shown that were not the next one expected (a gap, a repeat, a reordering) or not as typed. */
  outOfOrder: number;
  /** Sessions that ended on either side before the end (side: reason). */
  dropped: string[];
  /** Error events on either side. */
  errors: string[];
  exitCode: number;
  ms: number;
}

/** Send `lines` lines of `size` characters from alice's line mode to bob through the proxy. */
export async function runBulk(o: { lines: number; size: number; faults: Partial<Faults>; timeoutMs?: number; via?: Via }): Promise<BulkReport> {
  const bobEvents: ChatEvent[] = [];
  let shown = 0;
  let outOfOrder = 0;
  let lastShownAt = 0;
  const errors: string[] = [];
  const drops: string[] = [];
  let ending = false;
  const bob = await ChatNode.start({ home: tempHome("sotto-bulk-"), name: "bob", group: Group.X25519, strict: false, listen: { host: "127.0.0.1", port: 0 }, connect: [] }, (e) => {
    if (e.type === "message") {
      if (e.text !== bulkLine(shown, o.size)) outOfOrder++;
      shown++;
      lastShownAt = performance.now();
      // Every line is in: the sessions may close from here on.
      if (shown === o.lines) ending = true;
    } else if (e.type === "disconnected" && !ending) drops.push(`bob: ${e.reason}`);
    else if (e.type === "error") errors.push(`bob: ${e.message}`);
    else bobEvents.push(e);
  });
  const port = (bobEvents.find((e) => e.type === "listening") as { port: number }).port;
  const proxy = await (o.via ?? here)(port, o.faults);
  const lm = new LineMode({ output: { write: () => true }, json: true, drainTimeoutMs: o.timeoutMs ?? 60_000, dials: 1, batchOutput: true });
  let aliceConnected = false;
  const alice = await ChatNode.start({ home: tempHome("sotto-bulk-"), name: "alice", group: Group.X25519, strict: false, listen: null, connect: [`127.0.0.1:${proxy.port}`] }, (e) => {
    if (e.type === "connected") aliceConnected = true;
    if (e.type === "disconnected" && !ending) drops.push(`alice: ${e.reason}`);
    if (e.type === "error") errors.push(`alice: ${e.message}`);
    lm.listener(e);
  });
  await until("alice connected", () => aliceConnected, 10_000);
  let started = 0;
  const input = Readable.from(
    (function* () {
      started = performance.now();
      // Chunks of many lines, as a pipe delivers them.
      for (let i = 0; i < o.lines; i += 64) {
        let chunk = "";
        for (let j = i; j < Math.min(o.lines, i + 64); j++) chunk += `${bulkLine(j, o.size)}\n`;
        yield chunk;
      }
    })(),
  );
  const exitCode = await lm.run(alice, input);
  await until("bob showed every line", () => shown >= o.lines, 5000).catch(() => undefined);
  await bob.close();
  proxy.close();
  return { shown, outOfOrder, dropped: drops, errors, exitCode, ms: lastShownAt - started };
}

/** The same bytes (`lines` × (size + 1)) over plain TCP through a proxy with the same faults; ms from first write to last byte in. */
export async function plainTcpBulk(o: { lines: number; size: number; faults: Partial<Faults>; via?: Via }): Promise<number> {
  const total = o.lines * (o.size + 1);
  let got = 0;
  let doneAt = 0;
  const sink = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data: (_s, chunk) => {
        got += chunk.length;
        if (got >= total) doneAt = performance.now();
      },
    },
  });
  const proxy = await (o.via ?? here)(sink.port, o.faults);
  let queue: Uint8Array[] = [];
  for (let i = 0; i < o.lines; i += 64) {
    let chunk = "";
    for (let j = i; j < Math.min(o.lines, i + 64); j++) chunk += `${bulkLine(j, o.size)}\n`;
    queue.push(new TextEncoder().encode(chunk));
  }
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const pump = (s: Socket<undefined>) => {
      while (queue.length > 0) {
        const b = queue[0]!;
        const n = s.write(b);
        if (n < b.length) {
          queue[0] = b.subarray(Math.max(0, n));
          return;
        }
        queue.shift();
      }
      queue = [];
    };
    void Bun.connect({ hostname: "127.0.0.1", port: proxy.port, socket: { open: pump, drain: pump, connectError: (_s, e) => reject(e) } }).then(() => resolve(), reject);
  });
  await until("the sink got every byte", () => got >= total, 60_000, 1);
  proxy.close();
  sink.stop(true);
  return doneAt - started;
}
