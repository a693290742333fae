/**
 * Records (PROTOCOL §5): AES-256-CBC + HMAC-SHA256, encrypt-then-MAC, one key set and one
 * implicit sequence number per direction: round trips, handshake keys for one record,
 * KEY_UPDATE, and at most 2^20 records under one key.
 */
import { describe, expect, test } from "bun:test";
import { concat } from "../../src/crypto/bytes.ts";
import type { RandomSource } from "../../src/crypto/random.ts";
import { FrameType, KEY_UPDATE_INTERVAL, MAX_PLAINTEXT } from "../../src/protocol/constants.ts";
import { decodeItems, encodeItems } from "../../src/protocol/items.ts";
import { RecordReader, RecordWriter } from "../../src/protocol/record.ts";
import { codeOf, det, flip, handshake } from "./helpers.ts";
import { craft, keyBlockPair, pad, random, text } from "../support/record.ts";

describe("records round-trip", () => {
  for (const size of [1, 15, 16, 17, 65280]) {
    test(`${size} bytes of plaintext, both directions`, () => {
      const { i, r } = handshake();
      const pt = det(`pt ${size}`, size);
      const ctLen = size + 16 - (size % 16);
      for (const [w, rd] of [[i.writer, r.reader], [r.writer, i.reader]] as const) {
        const f = w.seal(pt);
        expect(f.length).toBe(3 + 16 + ctLen + 32);
        expect((f[0]! << 8) | f[1]!).toBe(f.length - 2);
        expect(f[2]).toBe(FrameType.RECORD);
        expect([...rd.open(f)]).toEqual([...pt]);
      }
    });
  }

  test("many records in a row; sequence numbers advance on both sides", () => {
    const { i, r } = handshake();
    for (let n = 0; n < 50; n++) {
      expect(decodeItems(r.reader.open(i.writer.seal(text(n, `msg ${n}`))))).toEqual([{ kind: "text", id: BigInt(n), text: `msg ${n}` }]);
    }
    expect(i.writer.seq).toBe(50);
    expect(r.reader.seq).toBe(50);
  });

  test("records carry distinct IVs, so equal plaintexts give different ciphertexts", () => {
    const { i } = handshake();
    const pt = text(1, "same");
    const frames = Array.from({ length: 20 }, () => i.writer.seal(pt));
    const ivs = new Set(frames.map((f) => Buffer.from(f.subarray(3, 19)).toString("hex")));
    const cts = new Set(frames.map((f) => Buffer.from(f.subarray(19, f.length - 32)).toString("hex")));
    expect(ivs.size).toBe(20);
    expect(cts.size).toBe(20);
  });

  test("the hand-crafting helper agrees with the record layer (control for the tests below)", () => {
    const { kb, reader } = keyBlockPair();
    const pt = text(9, "crafted");
    expect([...reader.open(craft(kb, 0, pad(pt)))]).toEqual([...pt]);
    expect([...reader.open(craft(kb, 1, pad(pt), det("iv2", 16)))]).toEqual([...pt]);
  });

  test("the writer refuses an empty or over-long plaintext (RangeError: a local bug)", () => {
    const { writer } = keyBlockPair();
    expect(() => writer.seal(new Uint8Array(0))).toThrow(RangeError);
    expect(() => writer.seal(new Uint8Array(MAX_PLAINTEXT + 1))).toThrow(RangeError);
    expect(writer.seq).toBe(0);
  });
});

describe("handshake keys for one record (forOneRecord)", () => {
  test("the record sealed is byte for byte what the hand-crafting helper makes, opens, and a second record throws on both sides", () => {
    const kb = det("one", 64);
    const fixedIv = { fillAt: (b: Uint8Array, at: number, n: number) => b.set(det("one iv", n), at) } as unknown as RandomSource;
    const w = RecordWriter.forOneRecord(new Uint8Array(kb), fixedIv);
    const pt = text(1, "auth");
    const f = w.seal(pt);
    const padded = concat(pt, new Uint8Array(16 - (pt.length % 16)).fill(16 - (pt.length % 16)));
    expect(Buffer.from(f).toString("hex")).toBe(Buffer.from(craft(kb, 0, padded, det("one iv", 16))).toString("hex"));
    expect(() => w.seal(pt)).toThrow("used twice");
    const r = RecordReader.forOneRecord(new Uint8Array(kb));
    expect(decodeItems(r.open(f))).toEqual(decodeItems(pt));
    expect(() => r.open(craft(kb, 1, padded))).toThrow("used twice");
  });

  test("a bad tag is still refused before decryption (bad_record), and the key is then spent", () => {
    const kb = det("one", 64);
    const f = RecordWriter.fromKeyBlock(new Uint8Array(kb), random).seal(text(1, "auth"));
    const r = RecordReader.forOneRecord(new Uint8Array(kb));
    expect(codeOf(() => r.open(flip(f, f.length - 1)))).toBe("bad_record");
    expect(() => r.open(f)).toThrow("used twice");
  });

  test("its key block is wiped, and it cannot be leased", () => {
    const kb = new Uint8Array(det("one", 64));
    const w = RecordWriter.forOneRecord(kb, random);
    expect(kb.every((b) => b === 0)).toBe(true);
    expect(() => w.lease(1)).toThrow("leased");
  });
});

describe("KEY_UPDATE", () => {
  test("writer.seal(pt, true) then reader.update(): both continue under keys(next(ts)) at seq 0", () => {
    const { i, r } = handshake();
    r.reader.open(i.writer.seal(text(1, "before")));
    const ku = encodeItems([{ kind: "text", id: 2n, text: "last under old keys" }, { kind: "key_update" }]);
    const items = decodeItems(r.reader.open(i.writer.seal(ku, true)));
    expect(items.at(-1)).toEqual({ kind: "key_update" });
    expect(i.writer.seq).toBe(0);
    r.reader.update();
    expect(r.reader.seq).toBe(0);
    for (let n = 3; n < 6; n++) {
      expect(decodeItems(r.reader.open(i.writer.seal(text(n, "after"))))).toEqual([{ kind: "text", id: BigInt(n), text: "after" }]);
    }
    // A second update, and the other direction is unaffected.
    r.reader.open(i.writer.seal(encodeItems([{ kind: "key_update" }]), true));
    r.reader.update();
    expect(decodeItems(r.reader.open(i.writer.seal(text(7, "again"))))).toHaveLength(1);
    expect(decodeItems(i.reader.open(r.writer.seal(text(1, "r2i"))))).toHaveLength(1);
  });

  test("without reader.update() the next record fails → bad_record", () => {
    const { i, r } = handshake();
    r.reader.open(i.writer.seal(encodeItems([{ kind: "key_update" }]), true));
    expect(codeOf(() => r.reader.open(i.writer.seal(text(1, "new keys"))))).toBe("bad_record");
  });

  test("a reader that updates without a KEY_UPDATE cannot open the next record → bad_record", () => {
    const { i, r } = handshake();
    r.reader.update();
    expect(codeOf(() => r.reader.open(i.writer.seal(text(1, "old keys"))))).toBe("bad_record");
  });

  test("handshake key blocks cannot be updated (local bug)", () => {
    const { writer, reader } = keyBlockPair();
    expect(() => writer.seal(text(1, "x"), true)).toThrow(Error);
    expect(() => reader.update()).toThrow(Error);
  });
});

describe("key_exhausted: at most 2^20 records under one key", () => {
  // 2^20 seal + open pairs of 16-byte records take about 2 s on an idle 2-core machine (CPU
  // only: the limit is room for a loaded one, not a bound on the time).
  test("the writer demands KEY_UPDATE in record 2^20; a reader refuses record 2^20 + 1 under the same keys", () => {
    const { i, r } = handshake();
    const w = i.writer, rd = r.reader;
    const pt = new Uint8Array([0x80, 0, 0]); // one empty PADDING item
    for (let n = 0; n < KEY_UPDATE_INTERVAL - 1; n++) rd.open(w.seal(pt));
    expect(w.seq).toBe(KEY_UPDATE_INTERVAL - 1);
    expect(w.mustUpdate).toBe(true);
    // The 2^20-th record must carry KEY_UPDATE: the writer will not seal it otherwise.
    expect(() => w.seal(pt)).toThrow(RangeError);
    expect(w.seq).toBe(KEY_UPDATE_INTERVAL - 1);
    rd.open(w.seal(encodeItems([{ kind: "key_update" }]), true));
    expect(rd.seq).toBe(KEY_UPDATE_INTERVAL);
    // A reader that ignores it gets key_exhausted for the next record, before any MAC work.
    const next = w.seal(pt);
    expect(codeOf(() => rd.open(next))).toBe("key_exhausted");
    expect(rd.seq).toBe(KEY_UPDATE_INTERVAL);
    // An honest reader updates and carries on at sequence 0.
    rd.update();
    expect(rd.open(next)).toHaveLength(3);
  }, 60_000);
});
