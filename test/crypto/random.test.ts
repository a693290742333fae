/** PooledRandom (CSPRNG pool) and FixedRandom (replay for vectors). */
import { describe, expect, test } from "bun:test";
import { toHex } from "../../src/crypto/bytes.ts";
import { FixedRandom, PooledRandom, systemRandom } from "../../src/crypto/random.ts";

/** Hex of each 16-byte block of `b`. */
function blocks(b: Uint8Array): string[] {
  const out: string[] = [];
  for (let i = 0; i + 16 <= b.length; i += 16) out.push(toHex(b.subarray(i, i + 16)));
  return out;
}

describe("PooledRandom", () => {
  test("1,000 IVs from the default 4 KiB pool (several refills) are distinct and non-zero", () => {
    const r = new PooledRandom();
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const iv = new Uint8Array(16);
      r.fill(iv);
      expect(iv.some((b) => b !== 0), `IV ${i} is all zero`).toBe(true);
      seen.add(toHex(iv));
    }
    expect(seen.size).toBe(1000);
  });

  test("a pool the size of one draw is refilled every time and never repeats", () => {
    const r = new PooledRandom(16);
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const iv = new Uint8Array(16);
      r.fill(iv);
      seen.add(toHex(iv));
    }
    expect(seen.size).toBe(200);
    expect(seen.has("00".repeat(16))).toBe(false);
  });

  test("draws that straddle refills (pool of 10, sizes 1..40) are fully written and distinct", () => {
    const r = new PooledRandom(10);
    const all: Uint8Array[] = [];
    for (let n = 1; n <= 40; n++) {
      const out = new Uint8Array(n);
      r.fill(out);
      all.push(out);
    }
    const joined = Buffer.concat(all);
    expect(joined.length).toBe(820);
    const bs = blocks(joined);
    expect(new Set(bs).size).toBe(bs.length);
    // Zero bytes at about the 1/256 rate: a refill that copied a wiped pool would show up here.
    const zeros = joined.reduce((n, b) => n + (b === 0 ? 1 : 0), 0);
    expect(zeros).toBeLessThan(20);
  });

  test("a large draw (3 pools' worth at once) has no all-zero 16-byte block", () => {
    const r = new PooledRandom(64);
    const out = new Uint8Array(192 + 5);
    r.fill(out);
    const bs = blocks(out);
    expect(bs).not.toContain("00".repeat(16));
    expect(new Set(bs).size).toBe(bs.length);
  });

  test("filling an empty buffer is a no-op; systemRandom works", () => {
    new PooledRandom().fill(new Uint8Array(0));
    const a = new Uint8Array(32);
    const b = new Uint8Array(32);
    systemRandom.fill(a);
    systemRandom.fill(b);
    expect(toHex(a)).not.toBe(toHex(b));
    expect(systemRandom).toBeInstanceOf(PooledRandom);
  });
});

describe("FixedRandom", () => {
  test("replays the chunks in order, then throws when exhausted", () => {
    const chunks = [new Uint8Array(16).fill(1), new Uint8Array(3).fill(2), new Uint8Array(16).fill(3)];
    const r = new FixedRandom(chunks);
    chunks.push(new Uint8Array(16).fill(9)); // the queue is a copy of the list
    for (const want of ["01".repeat(16), "02".repeat(3), "03".repeat(16)]) {
      const out = new Uint8Array(want.length / 2);
      r.fill(out);
      expect(toHex(out)).toBe(want);
    }
    expect(() => r.fill(new Uint8Array(16))).toThrow(Error);
  });

  test("a chunk of the wrong length is an error", () => {
    const r = new FixedRandom([new Uint8Array(16)]);
    expect(() => r.fill(new Uint8Array(12))).toThrow("FixedRandom: expected a 12-byte chunk");
  });

  test("two FixedRandoms over the same chunks give the same bytes", () => {
    const chunks = [new Uint8Array([1, 2, 3, 4]), new Uint8Array([5, 6])];
    const take = (r: FixedRandom) => {
      const a = new Uint8Array(4);
      const b = new Uint8Array(2);
      r.fill(a);
      r.fill(b);
      return toHex(a) + toHex(b);
    };
    expect(take(new FixedRandom(chunks))).toBe("010203040506");
    expect(take(new FixedRandom(chunks))).toBe("010203040506");
  });
});
