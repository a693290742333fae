/**
 * TEXT on the per-message path (items.ts writeText / decodeInto): encoded from (id, text)
 * and decoded to (id, text) with no Item object, ids below 2^53 as numbers with no BigInt
 * made, every id up to 2^64 - 1 exact, the bytes exactly PROTOCOL §6's (those of
 * encodeItems), and every check of decodeItems kept.
 */
import { describe, expect, test } from "bun:test";
import { ContentType } from "../../src/protocol/constants.ts";
import { checkTextId, decodeInto, decodeItems, encodeItems, textIdAt, writeText, type Decoded, type TextId } from "../../src/protocol/items.ts";
import { codeOf } from "./helpers.ts";

/** Ids at every edge: u32, 2^53 (the last exact number), u64. */
const NUMBER_IDS = [0, 1, 255, 0xffffffff, 0x100000000, 2 ** 52 + 1, 2 ** 53 - 1];
const BIG_IDS = [2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 0xfedcba9876543210n, 2n ** 64n - 2n, 2n ** 64n - 1n];

/** Count calls of the global BigInt while `f` runs (the module code looks it up at each call). */
function countBigInt<T>(f: () => T): { calls: number; result: T } {
  const orig = globalThis.BigInt;
  let calls = 0;
  const counting = Object.assign((v: Parameters<typeof BigInt>[0]) => (calls++, orig(v)), { asIntN: orig.asIntN, asUintN: orig.asUintN });
  (globalThis as { BigInt: unknown }).BigInt = counting;
  try {
    const result = f();
    return { calls, result };
  } finally {
    globalThis.BigInt = orig;
  }
}

function encodeAll(entries: [TextId, string][]): { pt: Uint8Array; n: number } {
  const pt = Buffer.alloc(65_536);
  let off = 0;
  for (const [id, text] of entries) {
    off = writeText(pt, off, pt.length, id, text);
    expect(off).toBeGreaterThan(0);
  }
  return { pt, n: off };
}

describe("TEXT from (id, text): writeText", () => {
  test("writes exactly the bytes encodeItems writes, for number and bigint ids at every edge", () => {
    const texts = ["", "d" + "x".repeat(55), "hello ☕ 𝄞 — ok"];
    for (const id of [...NUMBER_IDS, ...BIG_IDS]) {
      for (const text of texts) {
        const { pt, n } = encodeAll([[id, text]]);
        expect(Buffer.from(pt.subarray(0, n))).toEqual(Buffer.from(encodeItems([{ kind: "text", id: BigInt(id), text }])));
      }
    }
  });

  test("a number id and the same id as a bigint write the same u64", () => {
    for (const id of NUMBER_IDS) {
      const a = encodeAll([[id, "same"]]), b = encodeAll([[BigInt(id), "same"]]);
      expect(Buffer.from(a.pt.subarray(0, a.n))).toEqual(Buffer.from(b.pt.subarray(0, b.n)));
    }
  });

  test("reports -1 when the TEXT does not fit before `end`, and writes nothing past it", () => {
    const out = new Uint8Array(20).fill(0xee);
    expect(writeText(out, 0, 10, 1, "x")).toBe(-1); // the id alone needs 11
    expect(writeText(out, 0, 14, 1, "xyzw")).toBe(-1); // 15 bytes needed
    expect(out.subarray(14)).toEqual(new Uint8Array(6).fill(0xee));
    expect(writeText(out, 0, 15, 1, "xyzw")).toBe(15);
  });

  test("checkTextId takes safe non-negative integers and bigints up to 2^64 - 1, nothing else", () => {
    for (const id of [...NUMBER_IDS, ...BIG_IDS, 0n, 5n]) expect(() => checkTextId(id)).not.toThrow();
    for (const id of [-1, 1.5, 2 ** 53, Number.NaN, Infinity, -1n, 2n ** 64n, "7" as unknown as number]) {
      expect(() => checkTextId(id)).toThrow(RangeError);
    }
  });
});

describe("TEXT to (id, text): decodeInto", () => {
  test("ids below 2^53 come back as the same numbers, from 2^53 on as the exact bigints; texts and order kept", () => {
    const ids: TextId[] = [...NUMBER_IDS, ...BIG_IDS, 7n];
    const entries = ids.map((id, i) => [id, `line ${i} ☕`] as [TextId, string]);
    const { pt, n } = encodeAll(entries);
    const out: Decoded[] = [];
    decodeInto(pt, 0, n, out);
    const want: Decoded[] = [];
    for (const [id, text] of entries) want.push(typeof id === "bigint" && id < 2n ** 53n ? Number(id) : id, text);
    expect(out).toEqual(want);
    for (let i = 0; i < out.length; i += 2) expect(typeof out[i]).toBe(i / 2 < NUMBER_IDS.length || i / 2 === ids.length - 1 ? "number" : "bigint");
  });

  test("textIdAt reads 2^53 - 1 as a number and 2^53 as a bigint", () => {
    const b = new Uint8Array(8);
    b.set([0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    expect(textIdAt(b, 0)).toBe(2 ** 53 - 1);
    b.set([0x00, 0x20, 0, 0, 0, 0, 0, 0]);
    expect(textIdAt(b, 0)).toBe(2n ** 53n);
    b.fill(0xff);
    expect(textIdAt(b, 0)).toBe(2n ** 64n - 1n);
  });

  test("a full record of 974 64-byte TEXTs decodes to 1,948 primitive entries (no object) and makes no BigInt", () => {
    const text = "d" + "x".repeat(55);
    const { pt, n } = encodeAll(Array.from({ length: 974 }, (_, i) => [1_000_000 + i, text] as [TextId, string]));
    const out: Decoded[] = [];
    const { calls } = countBigInt(() => decodeInto(pt, 0, n, out));
    expect(calls).toBe(0);
    // The counter sees the BigInts the Item path makes (one per TEXT).
    expect(countBigInt(() => decodeItems(pt.subarray(0, n))).calls).toBe(974);
    expect(out.length).toBe(2 * 974);
    expect(out.filter((e) => typeof e === "object").length).toBe(0);
    expect(out[2 * 973]).toBe(1_000_973);
    expect(out[2 * 973 + 1]).toBe(text);
  });

  test("other items come as their Item objects, in place between TEXTs; decodeItems still gives bigint ids", () => {
    const pt = encodeItems([
      { kind: "text", id: 1n, text: "a" },
      { kind: "ack", id: 2n ** 64n - 1n },
      { kind: "ext", type: 0x90, content: new Uint8Array([1, 2]) },
      { kind: "text", id: 2n ** 64n - 1n, text: "b" },
    ]);
    const out: Decoded[] = [];
    decodeInto(pt, 0, pt.length, out);
    expect(out).toEqual([1, "a", { kind: "ack", id: 2n ** 64n - 1n }, { kind: "ext", type: 0x90, content: new Uint8Array([1, 2]) }, 2n ** 64n - 1n, "b"]);
    expect(decodeItems(pt)).toEqual([
      { kind: "text", id: 1n, text: "a" },
      { kind: "ack", id: 2n ** 64n - 1n },
      { kind: "ext", type: 0x90, content: new Uint8Array([1, 2]) },
      { kind: "text", id: 2n ** 64n - 1n, text: "b" },
    ]);
  });

  test("every check is kept: a TEXT shorter than its id, a cut header, an overlong length, invalid UTF-8, a type below 0x80", () => {
    const cases: [number[], string][] = [
      [[ContentType.TEXT, 0, 7, 0, 0, 0, 0, 0, 0, 0], "bad_item"],
      [[ContentType.TEXT, 0], "bad_item"],
      [[ContentType.TEXT, 0, 20, 0, 0, 0, 0, 0, 0, 0, 1], "bad_item"],
      [[ContentType.TEXT, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1, 0xff], "invalid_utf8"],
      [[0x7f, 0, 0], "bad_item"],
      [[], "bad_item"],
    ];
    for (const [raw, code] of cases) {
      const b = Buffer.from(raw);
      expect(codeOf(() => decodeInto(b, 0, b.length, []))).toBe(code);
    }
  });
});
