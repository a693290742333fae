/**
 * The bulk pacer (src/net/pacer.ts) under a hostile receiver's PONG timing: every value
 * it derives from the peer's timing stays a number a timer can take. Simulated ms only.
 */
import { expect, test } from "bun:test";
import { BulkPacer, MAX_RELEASE_WAIT_MS } from "../../src/net/pacer.ts";

/** setTimeout's largest delay: a longer one fires after 1 ms (Bun and Node alike). */
const TIMER_MAX = 2 ** 31 - 1;

test("a PONG held back for a day: the pace's wait stays within a timer's range (a longer one would fire every 1 ms)", () => {
  const p = new BulkPacer();
  const first = p.probe(0, 100)!;
  expect(p.onPong(first, 2)).toBe(true); // a 2 ms path: paced
  const held = p.probe(20, 140)!; // 40 bytes later (one PING record)
  const late = 20 + 86_400_000;
  expect(p.onPong(held, late)).toBe(true); // a rate of 40 bytes a day
  expect(p.until(late, 140)).toBe(140);
  // One record of MIN_QUANTUM sealed past the pace (a record may overshoot it).
  const written = 140 + 4096 + 30;
  const wait = p.releaseWaitMs(late, written);
  expect(Number.isFinite(wait)).toBe(true);
  expect(wait).toBeGreaterThan(0);
  expect(wait).toBeLessThanOrEqual(MAX_RELEASE_WAIT_MS);
  expect(MAX_RELEASE_WAIT_MS).toBeLessThanOrEqual(TIMER_MAX);
  expect(p.quantum).toBeGreaterThanOrEqual(4096);
  expect(p.window).toBeGreaterThanOrEqual(4 * 4096);
});
