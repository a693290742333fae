/**
 * bench/placement.ts still runs: it finishes, exits 0, and prints one row per placement and
 * contender (every run checked by FINISH: all n in order). No timing is asserted.
 */
import { expect, test } from "bun:test";
import { run } from "./run.ts";

test("placement --smoke: a row for TLS 1.3 and for sotto under each placement, CPU per message of both sides", async () => {
  const r = await run(["bench/placement.ts", "interactive", "64", "300", "1", "--smoke"]);
  if (r.code !== 0) console.error(r.err);
  expect(r.code).toBe(0);
  expect(r.out).toContain("| round | placement | contender | msg/s | sender µs/msg | server µs/msg |");
  const rows = r.out.split("\n").filter((l) => /^\| 1 \| /.test(l));
  const pinned = !r.out.includes("only the free placement runs");
  const placements = pinned ? ["free", "one core", "two cores"] : ["free"];
  expect(rows.map((l) => l.split("|").slice(2, 4).map((c) => c.trim()))).toEqual(placements.flatMap((p) => [[p, "TLS 1.3"], [p, "sotto"]]));
}, 120_000);
