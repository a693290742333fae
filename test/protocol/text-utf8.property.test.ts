/**
 * TEXT decoding (textAt) refuses exactly what a fatal UTF-8 decoder refuses and returns
 * exactly what it returns, whether the record plaintext is a Buffer (Buffer's decoder,
 * then the fatal one on U+FFFD) or a plain Uint8Array: random bytes biased towards
 * lead/continuation bytes and the classic invalid forms, at every offset in the record.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ContentType } from "../../src/protocol/constants.ts";
import { decodeItems } from "../../src/protocol/items.ts";
import { codeOf } from "./helpers.ts";

const fatal = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const forms = [
  [0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0x80], [0xe0, 0x9f, 0xbf], [0xf0, 0x80, 0x80, 0x80], [0xf0, 0x8f, 0xbf, 0xbf],
  [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80], [0xfc, 0x84, 0x80, 0x80, 0x80, 0x80], [0x80], [0xbf], [0xfe], [0xff],
  [0xe2, 0x82], [0xf0, 0x9d, 0x84], [0xc3], [0xef, 0xbb, 0xbf], [0xef, 0xbf, 0xbd], [0xf4, 0x8f, 0xbf, 0xbf], [0xe2, 0x82, 0xac],
];
const chunk = fc.oneof(
  fc.constantFrom(...forms),
  fc.array(fc.integer({ min: 0x80, max: 0xff }), { maxLength: 6 }),
  fc.array(fc.integer({ min: 0, max: 0xff }), { maxLength: 6 }),
  fc.array(fc.constant(0x61), { minLength: 1, maxLength: 70 }),
);
const body = fc.array(chunk, { maxLength: 40 }).map((cs) => cs.flat());

/** A record: a leading ACK (so TEXT sits at an offset), then TEXT id | body. */
function record(b: number[]): number[] {
  return [ContentType.ACK, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1, ContentType.TEXT, (b.length + 8) >>> 8, (b.length + 8) & 0xff, 0, 0, 0, 0, 0, 0, 0, 2, ...b];
}
function expected(b: number[]): string | null {
  try {
    return fatal.decode(new Uint8Array(b));
  } catch {
    return null;
  }
}
function got(pt: Uint8Array): string | null {
  if (codeOf(() => decodeItems(pt)) === "invalid_utf8") return null;
  const it = decodeItems(pt)[1]!;
  return it.kind === "text" ? it.text : "not text";
}

describe("TEXT: textAt agrees with the fatal decoder on random bytes", () => {
  for (const [carrier, make] of [
    ["Buffer", (r: number[]) => Buffer.from(r)],
    ["Buffer view at an odd offset", (r: number[]) => Buffer.from([9, 9, 9, ...r]).subarray(3)],
    ["Uint8Array", (r: number[]) => new Uint8Array(r)],
  ] as const) {
    test(carrier, () => {
      fc.assert(fc.property(body, (b) => got(make(record(b))) === expected(b)), { numRuns: 3000 });
    });
  }
  test("every listed invalid form is refused in a Buffer and in a Uint8Array, also after 60,000 ASCII bytes", () => {
    for (const f of forms) {
      const want = expected(f) === null ? "invalid_utf8" : "ok";
      for (const b of [f, [...new Array(60_000).fill(0x61), ...f, 0x62]]) {
        expect([f, codeOf(() => decodeItems(Buffer.from(record(b))))]).toEqual([f, want]);
        expect([f, codeOf(() => decodeItems(new Uint8Array(record(b))))]).toEqual([f, want]);
      }
    }
  });
});
