/**
 * Flow control between honest peers (delivery): 20,000 lines of 1 KiB piped into line
 * mode, through a 100 Mbit/s path with 25 ms each way (≈ 50 ms round trip). Every line
 * arrives once and in order, no session is cut with `busy`, nothing is refused, and line
 * mode exits 0. The time against plain TCP is bench/links.ts's job.
 */
import { afterAll, expect, test } from "bun:test";
import { mbit } from "./proxy.ts";
import { runBulk } from "./bulk.ts";
import { removeHomes } from "../support/home.ts";

afterAll(removeHomes);

test("20,000 lines of 1 KiB through 100 Mbit/s and 50 ms RTT: all shown once, in order, no session dropped", async () => {
  const r = await runBulk({ lines: 20_000, size: 1024, faults: { rateBytesPerSec: mbit(100), delayMs: 25 } });
  expect(r.errors).toEqual([]);
  expect(r.dropped).toEqual([]);
  expect(r.shown).toBe(20_000);
  expect(r.outOfOrder).toBe(0);
  expect(r.exitCode).toBe(0);
}, 60_000);
