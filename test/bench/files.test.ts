/**
 * bench/files.ts step 4: each sotto run is paired with an OpenSSH `cat` run in the same
 * minute, and the ratio reported is the median of the pairs' ratios (not a ratio of two
 * medians taken minutes apart).
 */
import { describe, expect, test } from "bun:test";
import { pairedNote, pairedRatio, type FilesResult } from "../../bench/files.ts";

describe("pairedRatio", () => {
  test("each pair's ratio, then their median: a slow minute moves both sides of its own pair only", () => {
    // Three pairs; the second ran while the machine was busy (both halved).
    expect(pairedRatio([200, 100, 210], [250, 125, 300])).toEqual({ ratios: [0.8, 0.8, 0.7], ratio: 0.8 });
    // Medians taken apart would give 200 / 250 = 0.8 here too, but not when the load moves between the cases:
    expect(pairedRatio([100, 110, 120], [100, 220, 240]).ratio).toBe(0.5);
  });

  test("lists of two lengths, or none, are a bug of the bench", () => {
    expect(() => pairedRatio([1, 2], [1])).toThrow(RangeError);
    expect(() => pairedRatio([], [])).toThrow(RangeError);
  });
});

describe("pairedNote", () => {
  const row = { kind: "sotto" as const, bytes: 1, ms: 1, mbps: 1, runs: [1] };
  test("the report names every pair and the median; nothing when the runs were not paired", () => {
    const paired: FilesResult = { size: 1, rows: [{ ...row, paired: { sshCatMbps: [300, 150], ratios: [0.81, 0.79], ratio: 0.79 } }] };
    expect(pairedNote(paired)).toBe(" Each sotto run was followed by one OpenSSH `cat` of the same file (300, 150 MB/s): sotto `/send → verified` against it, pair by pair, 0.81×, 0.79×, median **0.79×**.");
    expect(pairedNote({ size: 1, rows: [row] })).toBe("");
  });

  test("with each pair's CPU, the note gives them pair by pair and OpenSSH's over sotto's median", () => {
    const cpu = { sotto: [2000, 2400], ssh: [1200, 1300], ratio: pairedRatio([1200, 1300], [2000, 2400]).ratio };
    expect(cpu.ratio).toBeCloseTo(0.5417, 3);
    const paired: FilesResult = { size: 1, rows: [{ ...row, paired: { sshCatMbps: [300, 150], ratios: [0.81, 0.79], ratio: 0.79, cpu } }] };
    expect(pairedNote(paired)).toEndWith(" median **0.79×**. CPU of each pair (sotto's two processes from /send to verified; OpenSSH's client, server and `wc`, set-up taken off): 2000 / 1200 ms, 2400 / 1300 ms, OpenSSH's over sotto's median 0.54×.");
  });
});
