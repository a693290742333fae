/**
 * bench/e2e.ts's throughput cases run the contenders interleaved and keep, for sotto, each
 * repeat's own ratio to TLS and TCP; the report's ratio is the median of those. Its
 * handshake case interleaves them too, block by block. Counts and consistency only: no
 * timing is asserted.
 */
import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median } from "../../bench/common.ts";
import type { Report } from "../../bench/main.ts";
import { run } from "./run.ts";

/** `bun bench/main.ts --smoke --only CASE`, its report read back from --json; the process must exit 0. */
async function smokeReport(only: string): Promise<Report> {
  const dir = mkdtempSync(join(tmpdir(), "sotto-e2e-test-"));
  try {
    const file = join(dir, "r.json");
    const r = await run(["bench/main.ts", "--smoke", "--only", only, "--json", file]);
    if (r.code !== 0) console.error(r.err);
    expect(r.code).toBe(0);
    return JSON.parse(readFileSync(file, "utf8")) as Report;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("throughput --smoke: every sotto row has one TLS and one TCP ratio per repeat, and the table's ratio is their median", async () => {
  const rep = await smokeReport("throughput");
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
}, 120_000);

test("handshake --smoke: TCP, TLS and sotto X25519 run interleaved, one block of each per round, the order rotating; FFDHE after them", async () => {
  const rep = await smokeReport("handshake");
  const kinds = ["tcp", "tls", "sotto-x25519"];
  expect(rep.e2e.handshake.map((h): string => h.kind)).toEqual([...kinds, "sotto-ffdhe2048"]);
  // Which kind ran each block: every handshake of a block is one kind's.
  const byBlock = new Map<number, string[]>();
  for (const h of rep.e2e.handshake) {
    expect(h.n).toBe(10);
    expect(h.blocks.length).toBe(10);
    for (const b of h.blocks) byBlock.set(b, [...(byBlock.get(b) ?? []), h.kind]);
  }
  // Smoke: 10 handshakes in blocks of 5, so two rounds of three blocks, then FFDHE's ten.
  expect([...byBlock.keys()].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  for (const [b, ks] of byBlock) {
    expect(new Set(ks).size).toBe(1);
    if (b === 6) {
      expect(ks).toEqual(Array(10).fill("sotto-ffdhe2048"));
      continue;
    }
    expect(ks.length).toBe(5);
    expect(ks[0]).toBe(kinds[(Math.floor(b / 3) + (b % 3)) % 3]!);
  }
  expect(rep.e2e.tlsVersion).toBe("TLSv1.3");
}, 120_000);
