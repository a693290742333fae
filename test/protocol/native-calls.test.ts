/**
 * Native calls per small record: each one crosses into C++ (≈ 30–400 ns apiece in Bun), so
 * the per-message path keeps to the ones it needs. These tests count calls that a byte
 * loop or a more direct call replaces, and check the bytes are still exactly the
 * protocol's (each record opens, each item decodes to what was sent, as encodeItems writes it).
 */
import { describe, expect, test } from "bun:test";
import { PooledRandom } from "../../src/crypto/random.ts";
import { BLOCK_LEN, MAX_PLAINTEXT } from "../../src/protocol/constants.ts";
import { decodeItems, encodeItems, writeItem, type Item } from "../../src/protocol/items.ts";
import { RecordReader, RecordWriter } from "../../src/protocol/record.ts";
import { det } from "./helpers.ts";

/** Count calls of `name` on the prototypes `protos` while `f` runs. */
function calls<T>(protos: object[], name: string, f: () => T): { n: number; result: T } {
  let n = 0;
  let result!: T;
  const saved = protos.map((p) => Object.getOwnPropertyDescriptor(p, name));
  protos.forEach((p, i) => {
    const orig = (saved[i]?.value ?? (Uint8Array.prototype as unknown as Record<string, unknown>)[name]) as (...a: unknown[]) => unknown;
    Object.defineProperty(p, name, { configurable: true, writable: true, value: function (this: unknown, ...a: unknown[]) { n++; return orig.apply(this, a); } });
  });
  try {
    result = f();
  } finally {
    protos.forEach((p, i) => (saved[i] ? Object.defineProperty(p, name, saved[i]!) : delete (p as Record<string, unknown>)[name]));
  }
  return { n, result };
}

const random = new PooledRandom();
const text = (id: number, s: string): Extract<Item, { kind: "text" }> => ({ kind: "text", id: BigInt(id), text: s });
const arrays = [Uint8Array.prototype, Buffer.prototype];

describe("a small record, sealed and opened", () => {
  test("PKCS#7 padding and the wipe of the computed tag are byte loops: no native fill per record", () => {
    const kb = det("native calls", 64);
    const r = RecordReader.fromKeyBlock(new Uint8Array(kb));
    const pt = new Uint8Array(MAX_PLAINTEXT + BLOCK_LEN);
    const out = new Uint8Array(8 + 4096);
    // The random pool fills itself (one native fill per 256 IVs) on the first IV: not counted.
    const random = new PooledRandom();
    const w = RecordWriter.fromKeyBlock(new Uint8Array(kb), random);
    expect(decodeItems(r.open(w.seal(encodeItems([text(99, "warm")]))))).toEqual([text(99, "warm")]);
    // Every padding length 1..16: plaintexts of 75..90 bytes.
    for (let k = 0; k < 16; k++) {
      const items = encodeItems([text(k, "d" + "x".repeat(63 + k))]);
      pt.set(items);
      const sealed = calls(arrays, "fill", () => w.sealInto(pt, items.length, out, 8));
      expect(sealed.n).toBe(0);
      const frame = out.slice(8, 8 + sealed.result);
      expect(frame.length).toBe(3 + 16 + items.length + (16 - (items.length % 16)) + 32);
      const opened = calls(arrays, "fill", () => r.open(frame));
      expect(opened.n).toBe(0);
      expect(decodeItems(opened.result)).toEqual([text(k, "d" + "x".repeat(63 + k))]);
    }
  });

  test("a record with a bad tag is still refused, and the next good one still opens", () => {
    const kb = det("native calls bad tag", 64);
    const w = RecordWriter.fromKeyBlock(new Uint8Array(kb), random);
    const r = RecordReader.fromKeyBlock(new Uint8Array(kb));
    const f = w.seal(encodeItems([text(1, "one")]));
    const bad = new Uint8Array(f);
    bad[bad.length - 1]! ^= 1;
    expect(() => r.open(bad)).toThrow("a record failed authentication");
    expect(decodeItems(r.open(f))).toEqual([text(1, "one")]);
  });
});

describe("writeItem: TEXT", () => {
  const cases = ["", "d" + "x".repeat(55), "héllo wörld", "😀 emoji and ZWJ 👩‍💻", "lone \ud800 surrogate", "\ud83d", "x".repeat(5000)];
  test("goes through Buffer's utf8Write, not write() and its argument parsing; bytes as encodeItems", () => {
    const out = new Uint8Array(MAX_PLAINTEXT);
    for (const [i, s] of cases.entries()) {
      const item = text(i, s);
      const w = calls([Buffer.prototype], "write", () => writeItem(out, 7, MAX_PLAINTEXT - 3, item));
      expect(w.n).toBe(0);
      expect([...out.slice(7, w.result)]).toEqual([...encodeItems([item])]);
    }
  });
});
