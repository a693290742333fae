/**
 * segments.ts: the CRC-32 of each segment, written down while a file is hashed for its
 * offer, and the check of the same bytes read again for the chunks, however the reads
 * cut them.
 */
import { describe, expect, test } from "bun:test";
import { MAX_SEGMENTS, SEGMENT_MIN, SegmentPrints, segmentSize } from "../../../src/chat/files/segments.ts";

const bytes = (n: number, seed = 1) => new Uint8Array(n).map((_, i) => (i * 31 + seed + (i >>> 11)) & 0xff);

/** `b` cut into pieces of the sizes `cuts` gives, in turn (the last piece takes the rest). */
function pieces(b: Uint8Array, cuts: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0, k = 0; at < b.length; k++) {
    const n = Math.min(cuts[k % cuts.length]!, b.length - at);
    out.push(b.subarray(at, at + n));
    at += n;
  }
  return out;
}

function recorded(b: Uint8Array, cuts = [SEGMENT_MIN]): SegmentPrints {
  const p = new SegmentPrints(b.length);
  for (const piece of pieces(b, cuts)) p.record(piece);
  return p;
}

describe("segment sizes", () => {
  test("1 MiB up to MAX_SEGMENTS MiB; larger files get larger segments, never more than MAX_SEGMENTS of them", () => {
    expect(segmentSize(0)).toBe(SEGMENT_MIN);
    expect(segmentSize(MAX_SEGMENTS * SEGMENT_MIN)).toBe(SEGMENT_MIN);
    expect(segmentSize(MAX_SEGMENTS * SEGMENT_MIN + 1)).toBe(2 * SEGMENT_MIN);
    for (const size of [1, 5e9, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER]) {
      const seg = segmentSize(size);
      expect(Math.ceil(size / seg)).toBeLessThanOrEqual(MAX_SEGMENTS);
      expect(seg % SEGMENT_MIN).toBe(0);
    }
    expect(new SegmentPrints(3 * SEGMENT_MIN + 1).crcs).toHaveLength(4);
    expect(new SegmentPrints(0).crcs).toHaveLength(0);
  });
});

describe("record, then check", () => {
  const data = bytes(3 * SEGMENT_MIN + 12_345);

  test("each segment's CRC-32 is that of its bytes, however the hash's reads cut the file", () => {
    const want = [0, 1, 2, 3].map((i) => Bun.hash.crc32(data.subarray(i * SEGMENT_MIN, Math.min((i + 1) * SEGMENT_MIN, data.length))));
    for (const cuts of [[SEGMENT_MIN], [1, 65_536, 999_999], [7 * SEGMENT_MIN]]) {
      const p = recorded(data, cuts);
      expect(p.complete).toBe(true);
      expect([...p.crcs]).toEqual(want);
    }
  });

  test("the same bytes read again pass, in chunks of any size; the check ends whole only at the last byte", () => {
    const p = recorded(data);
    for (const cuts of [[61_440], [1, 2, 3, 65_258], [data.length]]) {
      const c = p.check();
      const all = pieces(data, cuts);
      all.forEach((piece, i) => {
        expect(c.feed(piece)).toBe(true);
        expect(c.whole).toBe(i === all.length - 1);
      });
      expect(c.at).toBe(data.length);
    }
  });

  test("one byte changed: the check fails at the end of its segment, not before, and stays failed", () => {
    const p = recorded(data);
    const changed = new Uint8Array(data);
    changed[SEGMENT_MIN + 500_000]! ^= 0x01;
    const c = p.check();
    const fed: number[] = [];
    for (const piece of pieces(changed, [65_536])) {
      if (!c.feed(piece)) break;
      fed.push(c.at);
    }
    // Every chunk of segments 0 and 1 but the one that ends segment 1 passed.
    expect(fed.at(-1)).toBe(2 * SEGMENT_MIN - 65_536);
    expect(c.ok).toBe(false);
    expect(c.feed(data.subarray(2 * SEGMENT_MIN, 2 * SEGMENT_MIN + 10))).toBe(false);
    expect(c.whole).toBe(false);
  });

  test("a change in the last, short segment is found at the last byte; bytes past the size fail", () => {
    const p = recorded(data);
    const changed = new Uint8Array(data);
    changed[data.length - 1]! ^= 0x80;
    const c = p.check();
    expect(c.feed(changed.subarray(0, data.length - 1))).toBe(true);
    expect(c.feed(changed.subarray(data.length - 1))).toBe(false);
    const longer = p.check();
    expect(longer.feed(data)).toBe(true);
    expect(longer.feed(new Uint8Array(1))).toBe(false);
    expect(longer.whole).toBe(false);
  });

  test("a file not recorded to its end cannot be checked (an internal error, not a silent pass)", () => {
    const p = new SegmentPrints(data.length);
    p.record(data.subarray(0, 100));
    expect(p.complete).toBe(false);
    expect(() => p.check()).toThrow("were not all recorded");
  });
});
