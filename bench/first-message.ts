/**
 * First message after connecting, through test/faults/proxy.ts with one-way delay
 * (the target: the first line in TLS 1.3's time):
 *   bun bench/first-message.ts [runs]      (also `bun run bench`'s `first` case)
 * sotto: alice has a line queued for bob while the link is down; the timer starts when
 * the proxy accepts alice's redial and stops when bob's chat shows the line. TLS 1.3:
 * from the TCP connect through the same proxy to the server's first application bytes
 * (the client writes as soon as its handshake is done: 1.5 round trips). Both median of
 * `runs`, in the same run; each sotto run first checks the line arrived once.
 */
import { rmSync } from "node:fs";
import tls from "node:tls";
import { ChatNode } from "../src/chat/node.ts";
import type { ChatEvent } from "../src/chat/events.ts";
import { Group } from "../src/protocol/constants.ts";
import { FaultProxy } from "../test/faults/proxy.ts";
import { removeHomes, tempHome } from "../test/support/home.ts";
import { until } from "../test/support/wait.ts";
import { median, type Mode } from "./common.ts";
import { makeCert } from "./wire.ts";

/** One delay's result: the medians, and every run (sotto's and TLS's alternating). */
export interface FirstRow {
  delayMs: number;
  sottoMs: number;
  tlsMs: number;
  sottoRuns: number[];
  tlsRuns: number[];
}

/** Runs per delay in each bench mode. */
const RUNS: Record<Mode, number> = { full: 5, quick: 3, smoke: 1 };
const FIRST_DELAYS = [10, 50] as const;

async function sottoOnce(delayMs: number, i: number): Promise<number> {
  const be: ChatEvent[] = [];
  let shownAt = 0;
  const bob = await ChatNode.start({ home: tempHome(), name: "bob", group: Group.X25519, strict: false, listen: { host: "127.0.0.1", port: 0 }, connect: [] }, (e) => {
    be.push(e);
    if (e.type === "message" && e.text === `first ${i}`) shownAt = performance.now();
  });
  const port = (be.find((e) => e.type === "listening") as { port: number }).port;
  let acceptedAt = 0;
  const proxy = new FaultProxy({ target: { host: "127.0.0.1", port }, faults: { delayMs }, onConnection: () => (acceptedAt = performance.now()) });
  const ae: ChatEvent[] = [];
  const alice = await ChatNode.start({ home: tempHome(), name: "alice", group: Group.X25519, strict: false, listen: null, connect: [`127.0.0.1:${proxy.port}`] }, (e) => ae.push(e));
  await until("connected", () => ae.some((e) => e.type === "connected"));
  proxy.set({ stalled: true });
  proxy.cutAll();
  await until("disconnected", () => ae.some((e) => e.type === "disconnected"));
  alice.sendAll(`first ${i}`);
  proxy.set({ stalled: false });
  await until("shown", () => shownAt > 0, 20_000);
  const n = be.filter((e) => e.type === "message" && e.text === `first ${i}`).length;
  await alice.close();
  await bob.close();
  proxy.close();
  if (n !== 1) throw new Error(`the line was shown ${n} times`);
  return shownAt - acceptedAt;
}

async function tlsOnce(delayMs: number, cert: { key: string; cert: string }): Promise<number> {
  let firstAt = 0;
  const server = tls.createServer({ key: cert.key, cert: cert.cert, minVersion: "TLSv1.3" }, (s) => s.once("data", () => (firstAt = performance.now())));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const proxy = new FaultProxy({ target: { host: "127.0.0.1", port }, faults: { delayMs } });
  const start = performance.now();
  const c = tls.connect({ host: "127.0.0.1", port: proxy.port, ca: cert.cert, servername: "localhost", minVersion: "TLSv1.3" }, () => c.write("first"));
  await until("TLS first data", () => firstAt > 0, 20_000);
  c.destroy();
  proxy.close();
  server.close();
  return firstAt - start;
}

/** Both delays, `runs` times each, TLS and sotto alternating. @throws Error when a line is not shown exactly once. */
export async function runFirstMessage(runs: number, log: (s: string) => void = () => {}): Promise<FirstRow[]> {
  const cert = makeCert();
  const rows: FirstRow[] = [];
  try {
    for (const d of FIRST_DELAYS) {
      const s: number[] = [];
      const t: number[] = [];
      for (let i = 0; i < runs; i++) {
        t.push(await tlsOnce(d, cert));
        s.push(await sottoOnce(d, i));
      }
      const row = { delayMs: d, sottoMs: median(s), tlsMs: median(t), sottoRuns: s, tlsRuns: t };
      log(`  one-way delay ${d} ms: first line shown after ${row.sottoMs.toFixed(1)} ms (sotto), first data after ${row.tlsMs.toFixed(1)} ms (TLS 1.3); sotto/TLS ${(row.sottoMs / row.tlsMs).toFixed(2)}× (target ≤ 1.05)`);
      rows.push(row);
    }
  } finally {
    rmSync(cert.dir, { recursive: true, force: true });
    removeHomes();
  }
  return rows;
}

/** The bench's `first` case. */
export const runFirstCase = (mode: Mode, log: (s: string) => void) => runFirstMessage(RUNS[mode], log);

if (import.meta.main) {
  await runFirstMessage(Number(process.argv[2] ?? 7), (s) => console.log(s.trim()));
  process.exit(0);
}
