/**
 * A broken network between two ChatNodes (in process, each with its own home): bob dials
 * alice through the fault proxy, both type all along, and the proxy cuts the connection
 * again and again (test/faults/conversation.ts has the plan). After the redials, each side
 * must have received exactly the other's messages: all of them, once each, in order, and
 * byte for byte. The outcome is asserted, never the timing. Each redial waits the Dialer's
 * first backoff after its 100 ms poll notices the close; at the default 250 ms ± 20 % the
 * 100 cuts took about 32 s, so the cut runs here shorten it (ChatOptions.backoffBaseMs):
 * the same cuts, redialled sooner. Replay a plan with SOTTO_CUT_SEED=<seed>; soak with
 * bench/soak.ts (which keeps the default backoff).
 */
import { describe, expect, test } from "bun:test";
import { runBacklog, runCuts, type CutRunResult } from "./conversation.ts";

const SEED = Number(process.env.SOTTO_CUT_SEED ?? 20_251);
/** bob's first redial backoff in the cut runs (ms), instead of the Dialer's 250. */
const BACKOFF_MS = 25;

function expectClean(r: CutRunResult, messages: number, cuts: number): void {
  const summary = JSON.stringify(r);
  expect(r.timedOut, summary).toBe(false);
  expect(r.cuts, summary).toBeGreaterThanOrEqual(cuts);
  for (const side of [r.alice, r.bob]) expect(side, summary).toEqual({ got: messages, missing: 0, duplicated: 0, outOfOrder: 0, altered: 0 });
  expect(r.ok, summary).toBe(true);
}

describe("cuts during a two-way conversation", () => {
  test(
    "100 random cuts, 2000 messages each way: every message delivered exactly once, in order",
    async () => {
      const r = await runCuts({ messages: 2000, cuts: 100, seed: SEED, backoffBaseMs: BACKOFF_MS, timeoutMs: 100_000 });
      expectClean(r, 2000, 100);
      // Both paths were taken: dials cut in their handshake (every tenth cut) and sessions
      // cut once up (the others).
      expect(r.connections - r.sessions).toBeGreaterThanOrEqual(10);
      expect(r.sessions).toBeGreaterThanOrEqual(90);
    },
    120_000,
  );

  test(
    "1-byte writes, 5 ms delay and 10 cuts: multi-byte text arrives intact, once, in order",
    async () => {
      const text = (side: "a" | "b", i: number, rnd: () => number) => `${side}${i} ${"é☕\u{1F600}x\t".repeat(Math.floor(rnd() * 60))}·`;
      const r = await runCuts({ messages: 500, cuts: 10, seed: SEED + 1, faults: { splitBytes: 1, delayMs: 5 }, text, backoffBaseMs: BACKOFF_MS, timeoutMs: 60_000 });
      expectClean(r, 500, 10);
    },
    90_000,
  );

  // A flaky link must not starve a backlog: PROFILE travels in its own small record,
  // re-sends go out in small records after an ACK of what was already shown.
  test(
    "a backlog of 400 messages each way gets through a link that breaks after every 2-8 KB",
    async () => {
      const r = await runBacklog({ messages: 400, linkBytes: [2000, 8000], seed: SEED + 3, backoffBaseMs: BACKOFF_MS, timeoutMs: 60_000 });
      const summary = JSON.stringify(r);
      expect(r.timedOut, summary).toBe(false);
      for (const side of [r.alice, r.bob]) expect(side, summary).toEqual({ got: 400, missing: 0, duplicated: 0, outOfOrder: 0, altered: 0 });
    },
    90_000,
  );

  test(
    "coalesced writes with 30 ms latency and no cuts: the baseline the cut runs are compared with",
    async () => {
      const r = await runCuts({ messages: 1000, cuts: 0, seed: SEED + 2, faults: { delayMs: 30 }, timeoutMs: 30_000 });
      expectClean(r, 1000, 0);
      expect(r.sessions).toBe(1);
    },
    60_000,
  );
});
