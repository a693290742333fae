/**
 * bench/e2e.ts's throughput cases run the contenders interleaved and keep, for sotto, each
 * repeat's own ratio to TLS and TCP; the report's ratio is the median of those. Counts and
 * consistency only: no timing is asserted.
 */
import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median } from "../../bench/common.ts";
import type { Report } from "../../bench/main.ts";
import { run } from "./run.ts";

test("throughput --smoke: every sotto row has one TLS and one TCP ratio per repeat, and the table's ratio is their median", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sotto-e2e-test-"));
  try {
    const file = join(dir, "r.json");
    const r = await run(["bench/main.ts", "--smoke", "--only", "throughput", "--json", file]);
    if (r.code !== 0) console.error(r.err);
    expect(r.code).toBe(0);
    const rep = JSON.parse(readFileSync(file, "utf8")) as Report;
    const sotto = rep.e2e.throughput.filter((t) => t.kind === "sotto");
    expect(sotto.length).toBe(6);
    for (const s of sotto) {
      expect(s.paired!.tls.length).toBe(s.runs.length);
      expect(s.paired!.tcp.length).toBe(s.runs.length);
      const tls = rep.e2e.throughput.find((t) => t.kind === "tls" && t.case === s.case && t.size === s.size)!;
      // Each pair is the same repeat: TLS's time of that repeat ÷ sotto's.
      expect(s.paired!.tls).toEqual(s.runs.map((ms, i) => tls.runs[i]! / ms));
      const row = rep.ratios.find((x) => x.case === `${s.case} ${s.size === 64 ? "64 B" : s.size === 1024 ? "1 KiB" : "16 KiB"}`)!;
      expect(row.vsTls).toBe(median(s.paired!.tls));
      expect(row.vsTcp).toBe(median(s.paired!.tcp!));
    }
    expect(rep.e2e.tlsVersion).toBe("TLSv1.3");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
