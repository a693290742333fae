/**
 * Native calls per small record: each one crosses into C++ (≈ 30–400 ns apiece in Bun), so
 * the per-message path keeps to the ones it needs. These tests count calls that a byte
 * loop or a more direct call replaces, and check the bytes are still exactly the
 * protocol's (each record opens, each item decodes to what was sent, as encodeItems writes it).
 */
import { describe, expect, test } from "bun:test";
import { PooledRandom } from "../../src/crypto/random.ts";
import { BLOCK_LEN, MAX_PLAINTEXT } from "../../src/protocol/constants.ts";
import { decodeItems, decodeItemsAt, encodeItems, writeItem, type Item } from "../../src/protocol/items.ts";
import { RecordReader, RecordWriter } from "../../src/protocol/record.ts";
import { det } from "./helpers.ts";

/** Count calls of `name` on the prototypes `protos` while `f` runs. */
function calls<T>(protos: object[], name: string, f: () => T): { n: number; result: T } {
  let n = 0;
  const saved = protos.map((p) => Object.getOwnPropertyDescriptor(p, name));
  const slots = protos as Record<string, unknown>[];
  protos.forEach((p, i) => {
    const orig = (saved[i]?.value ?? (Uint8Array.prototype as unknown as Record<string, unknown>)[name]) as (...a: unknown[]) => unknown;
    const counted = function (this: unknown, ...a: unknown[]) {
      n++;
      return orig.apply(this, a);
    };
    // Bun's CryptoHasher methods are writable but not configurable.
    if (saved[i]?.configurable === false) slots[i]![name] = counted;
    else Object.defineProperty(p, name, { configurable: true, writable: true, value: counted });
  });
  try {
    const result = f();
    return { n, result };
  } finally {
    protos.forEach((p, i) => {
      if (saved[i]?.configurable === false) slots[i]![name] = saved[i]!.value;
      else if (saved[i]) Object.defineProperty(p, name, saved[i]!);
      else delete slots[i]![name];
    });
  }
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

describe("the tag, digested in place", () => {
  test("with room after the frame, the tag is not copied (one `set` per record: the cipher's output) and the bytes after it are left alone", () => {
    const kb = det("tag in place", 64);
    const random = new PooledRandom();
    const w = RecordWriter.fromKeyBlock(new Uint8Array(kb), random);
    const r = RecordReader.fromKeyBlock(new Uint8Array(kb));
    expect(decodeItems(r.open(w.seal(encodeItems([text(99, "warm")]))))).toEqual([text(99, "warm")]);
    const pt = new Uint8Array(MAX_PLAINTEXT + BLOCK_LEN);
    for (let k = 0; k < 4; k++) {
      const items = encodeItems([text(k, "d" + "x".repeat(55))]);
      pt.set(items);
      const out = new Uint8Array(8 + 200).fill(0xee);
      const sealed = calls(arrays, "set", () => w.sealInto(pt, items.length, out, 8));
      expect(sealed.n).toBe(1);
      // Bun's digest asks for a 64-byte view and writes the tag's 32 bytes only.
      expect([...out.subarray(8 + sealed.result)]).toEqual(Array(200 - sealed.result).fill(0xee));
      expect([...out.subarray(0, 8)]).toEqual(Array(8).fill(0xee));
      expect(decodeItems(r.open(out.slice(8, 8 + sealed.result)))).toEqual([text(k, "d" + "x".repeat(55))]);
    }
  });

  test("a frame that ends less than 64 bytes before the buffer's end gets its tag copied, and opens", () => {
    const kb = det("tag at the end", 64);
    const w = RecordWriter.fromKeyBlock(new Uint8Array(kb), random);
    const r = RecordReader.fromKeyBlock(new Uint8Array(kb));
    const pt = new Uint8Array(MAX_PLAINTEXT + BLOCK_LEN);
    for (const room of [0, 1, 31, 32, 63, 64]) {
      const items = encodeItems([text(room, "at the end")]);
      pt.set(items);
      const len = 3 + 16 + items.length + (16 - (items.length % 16)) + 32;
      const out = new Uint8Array(8 + len + room);
      expect(w.sealInto(pt, items.length, out, 8)).toBe(len);
      expect(decodeItems(r.open(out.slice(8, 8 + len)))).toEqual([text(room, "at the end")]);
    }
  });
});

describe("opening in place", () => {
  const kb = det("open in place", 64);
  const hasher = [Bun.CryptoHasher.prototype];

  test("a small record: one MAC update and no view; the plaintext is handed over once (takeOpened), decoded in place", () => {
    const w = RecordWriter.fromKeyBlock(new Uint8Array(kb), random);
    const r = RecordReader.fromKeyBlock(new Uint8Array(kb));
    for (let i = 0; i < 5; i++) {
      const frame = w.seal(encodeItems([text(i, "d" + "x".repeat(55))]));
      const views = calls(arrays, "subarray", () => calls(hasher, "update", () => r.openInPlace(frame)));
      if (i > 0) expect(views.n).toBe(0); // the first one makes the scratch's two cached views
      expect(views.result.n).toBe(1);
      const end = views.result.result;
      const pt = r.takeOpened();
      expect(() => r.takeOpened()).toThrow("no record opened since the last takeOpened"); // handed over once: the reader keeps none
      const decoded = calls(arrays, "subarray", () => decodeItemsAt(pt, BLOCK_LEN, end));
      expect(decoded.n).toBe(0);
      expect(decoded.result).toEqual([text(i, "d" + "x".repeat(55))]);
    }
  });

  test("small and large records open to what was sealed, through `open` and `openInPlace` alike", () => {
    const w = RecordWriter.fromKeyBlock(new Uint8Array(kb), random);
    const r1 = RecordReader.fromKeyBlock(new Uint8Array(kb));
    const r2 = RecordReader.fromKeyBlock(new Uint8Array(kb));
    // 1,990 and 2,000 bytes of plaintext lie either side of the 2 KiB frame bound.
    for (const size of [1, 15, 16, 64, 1990, 2000, 2030, 4096, MAX_PLAINTEXT]) {
      const pt = new Uint8Array(size).map((_, i) => (i * 7 + size) & 0xff);
      const frame = w.seal(pt);
      expect([...r1.open(frame)]).toEqual([...pt]);
      const end = r2.openInPlace(frame);
      expect([...r2.takeOpened().subarray(BLOCK_LEN, end)]).toEqual([...pt]);
    }
  });

  test("any flipped bit of a small or a large frame is refused before decryption, and the reader goes on", () => {
    for (const size of [64, 3000]) {
      const w = RecordWriter.fromKeyBlock(new Uint8Array(kb), random);
      const r = RecordReader.fromKeyBlock(new Uint8Array(kb));
      const frames = [0, 1].map(() => w.seal(new Uint8Array(size).fill(size & 0xff)));
      const f = frames[0]!;
      for (let at = 3; at < f.length; at += at < 40 ? 1 : 97) {
        const bad = new Uint8Array(f);
        bad[at]! ^= 0x10;
        expect(() => r.openInPlace(bad)).toThrow("a record failed authentication");
        expect(r.seq).toBe(0);
      }
      expect(r.openInPlace(f)).toBe(BLOCK_LEN + size);
      expect([...r.open(frames[1]!)]).toEqual([...new Uint8Array(size).fill(size & 0xff)]);
    }
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
