/**
 * The bulk pacer (src/net/pacer.ts) on a simulated link and clock (pacer-sim.ts): the link
 * stays busy and a line typed during the transfer waits behind little bulk, with PONGs
 * that come back late (a busy thread on the way). Counts of simulated bytes and ms only.
 */
import { describe, expect, test } from "bun:test";
import { simulate } from "./pacer-sim.ts";

/** Every 3rd PONG 40 ms late, every 50th 60 ms late. */
const late = (i: number) => (i % 50 === 0 ? 60 : i % 3 === 0 ? 40 : 0);

describe("bulk paced by the measured rate", () => {
  for (const [name, rateBytesPerMs] of [
    ["10 Mbit/s", 1250],
    ["100 Mbit/s", 12_500],
  ] as const) {
    test(`${name}, 25 ms each way, 20 s with late PONGs: the link carries ≥ 85 % of what it could, and no line waits more than 40 ms behind bulk`, () => {
      const r = simulate({ rateBytesPerMs, delayMs: 25, ms: 20_000, ackJitterMs: late });
      // Lines from the second second on (the first round trips measure the path).
      const waits = r.waits.slice(10);
      expect(waits.length).toBeGreaterThan(150);
      expect(r.delivered / r.capacity).toBeGreaterThanOrEqual(0.85);
      expect(Math.max(...waits)).toBeLessThanOrEqual(40);
    });
  }
});
