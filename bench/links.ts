/**
 * Bulk text over a real-ish link: 20,000 piped lines of 1 KiB from line mode to a peer,
 * against plain TCP moving the same bytes, both through test/faults/proxy.ts with the
 * same faults, in the same run (line mode at wire speed).
 *   bun bench/links.ts [lines]
 * Cases: loopback (no faults: lines a second) and shaped (100 Mbit/s, 25 ms each way:
 * the ratio plain TCP time / sotto time, ≥ 0.9 is the target). Each sotto run first
 * proves what it times: every line shown once, in order, no session dropped. The proxy
 * runs on a thread of its own (bench/links-proxy.ts), as a real link is not on sotto's
 * event loop; `--proxy-here` runs it on the bench's thread (as the tests do).
 */
import { mbit } from "../test/faults/proxy.ts";
import { plainTcpBulk, runBulk, type Via } from "../test/faults/bulk.ts";
import { threadProxy } from "./links-proxy.ts";
import { removeHomes } from "../test/support/home.ts";

const lines = Number(process.argv.slice(2).find((a) => !a.startsWith("--")) ?? 20_000);
const via: Via | undefined = process.argv.includes("--proxy-here") ? undefined : (port, faults) => threadProxy(port, faults);
const SIZE = 1024;
const cases = [
  { name: "loopback", faults: {} },
  { name: "100 Mbit/s, 50 ms RTT", faults: { rateBytesPerSec: mbit(100), delayMs: 25 } },
];

for (const c of cases) {
  const tcpMs = await plainTcpBulk({ lines, size: SIZE, faults: c.faults, via });
  const r = await runBulk({ lines, size: SIZE, faults: c.faults, via });
  if (r.shown !== lines || r.outOfOrder !== 0 || r.dropped.length > 0 || r.exitCode !== 0) {
    console.error(`${c.name}: not a clean run (${JSON.stringify({ ...r, errors: r.errors.slice(0, 3) })}); not timed`);
    process.exitCode = 1;
    continue;
  }
  const perSec = Math.round((lines / r.ms) * 1000);
  console.log(`${c.name}: sotto ${r.ms.toFixed(0)} ms (${perSec.toLocaleString("en-US")} lines/s), plain TCP ${tcpMs.toFixed(0)} ms, ratio TCP/sotto ${(tcpMs / r.ms).toFixed(2)}×`);
}
removeHomes();
