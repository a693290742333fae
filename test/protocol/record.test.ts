/**
 * Records (PROTOCOL §5): AES-256-CBC + HMAC-SHA256, encrypt-then-MAC, one key set and one
 * implicit sequence number per direction. Every fault a peer can put in a record is one
 * uniform bad_record (docs/SECURITY.md §3.D), including bad padding under a valid tag.
 */
import { describe, expect, test } from "bun:test";
import { createCipheriv, createDecipheriv } from "node:crypto";
import { concat } from "../../src/crypto/bytes.ts";
import { hmacSha256 } from "../../src/crypto/hash.ts";
import { PooledRandom, type RandomSource } from "../../src/crypto/random.ts";
import { FrameType, KEY_UPDATE_INTERVAL, MAX_PLAINTEXT } from "../../src/protocol/constants.ts";
import { decodeItems, encodeItems } from "../../src/protocol/items.ts";
import { RecordReader, RecordSealer, RecordWriter } from "../../src/protocol/record.ts";
import { codeOf, det, flip, handshake, handshakeBetween, protocolError } from "./helpers.ts";
import { cipherOutputs } from "../support/cipher-outputs.ts";

const random = new PooledRandom();
const text = (id: number, s: string) => encodeItems([{ kind: "text", id: BigInt(id), text: s }]);

/** A writer and a reader over one known 64-byte key block (enc | mac). */
function keyBlockPair(label = "kb") {
  const kb = det(label, 64);
  return { kb: new Uint8Array(kb), writer: RecordWriter.fromKeyBlock(new Uint8Array(kb), random), reader: RecordReader.fromKeyBlock(new Uint8Array(kb)) };
}

/**
 * A RECORD frame built by hand with one-shot primitives: `padded` is encrypted as is (no
 * padding added), and the tag is a valid HMAC over seq | header | iv | ct.
 */
function craft(kb: Uint8Array, seq: number, padded: Uint8Array, iv = det("craft iv", 16)): Uint8Array {
  const c = createCipheriv("aes-256-cbc", kb.subarray(0, 32), iv).setAutoPadding(false);
  const ct = new Uint8Array(Buffer.concat([c.update(padded), c.final()]));
  const length = 1 + iv.length + ct.length + 32;
  const head = concat(new Uint8Array([length >>> 8, length & 0xff, FrameType.RECORD]), iv, ct);
  const seqBytes = new Uint8Array(8);
  new DataView(seqBytes.buffer).setBigUint64(0, BigInt(seq));
  return concat(head, hmacSha256(kb.subarray(32, 64), seqBytes, head));
}

/** PKCS#7 as the spec defines it, for the control cases. */
const pad = (m: Uint8Array) => {
  const n = 16 - (m.length % 16);
  return concat(m, new Uint8Array(n).fill(n));
};

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

describe("tampered records → bad_record", () => {
  test("a single bit flip at every byte and bit of a record", () => {
    const { i, r } = handshake();
    const good = i.writer.seal(text(1, "hi")); // 3 + 16 + 16 + 32 = 67 bytes
    expect(good.length).toBe(67);
    const tally: Record<string, number> = {};
    for (let at = 0; at < good.length; at++) {
      for (let bit = 0; bit < 8; bit++) {
        const code = codeOf(() => r.reader.open(flip(good, at, bit)));
        // Header bytes (length, type) may fail on the frame check first; IV, ct, tag: bad_record.
        const allowed = at < 3 ? ["frame_length", "bad_record"] : ["bad_record"];
        if (!allowed.includes(code)) throw new Error(`flip of byte ${at} bit ${bit}: ${code}`);
        tally[code] = (tally[code] ?? 0) + 1;
      }
    }
    expect(tally.bad_record).toBeGreaterThanOrEqual(64 * 8);
    // A failed open changes nothing: the genuine record still opens at sequence 0.
    expect(r.reader.seq).toBe(0);
    expect(decodeItems(r.reader.open(good))).toEqual([{ kind: "text", id: 1n, text: "hi" }]);
  });

  test("a truncated tag (last byte dropped, length fixed) fails on its length, not by prefix compare", () => {
    const { i, r } = handshake();
    const good = i.writer.seal(text(1, "hi"));
    const cut = good.slice(0, good.length - 1);
    cut[1] = cut[1]! - 1;
    expect(codeOf(() => r.reader.open(cut))).toBe("frame_length");
    // A whole ciphertext block dropped keeps the size legal: then it is the tag that fails.
    const big = i.writer.seal(text(2, "x".repeat(40)));
    const short = concat(big.subarray(0, big.length - 48), big.subarray(big.length - 32));
    const len = short.length - 2;
    short[0] = len >>> 8;
    short[1] = len & 0xff;
    expect(codeOf(() => r.reader.open(short))).toBe("bad_record");
  });

  test("a frame whose header does not match its size → frame_length", () => {
    const { i, r } = handshake();
    const good = i.writer.seal(text(1, "hi"));
    expect(codeOf(() => r.reader.open(concat(good, new Uint8Array(16))))).toBe("frame_length");
    expect(codeOf(() => r.reader.open(good.subarray(0, 2)))).toBe("frame_length");
    expect(codeOf(() => r.reader.open(new Uint8Array(0)))).toBe("frame_length");
  });

  test("replay of an earlier record", () => {
    const { i, r } = handshake();
    const r0 = i.writer.seal(text(0, "zero"));
    const r1 = i.writer.seal(text(1, "one"));
    r.reader.open(r0);
    expect(codeOf(() => r.reader.open(r0))).toBe("bad_record");
    expect(codeOf(() => new Uint8Array(r.reader.open(r1)))).toBe("ok");
    expect(codeOf(() => r.reader.open(r0))).toBe("bad_record");
    expect(codeOf(() => r.reader.open(r1))).toBe("bad_record");
  });

  test("reordering: record 2 before record 1, and a dropped record", () => {
    const { i, r } = handshake();
    const r0 = i.writer.seal(text(0, "zero"));
    const r1 = i.writer.seal(text(1, "one"));
    const r2 = i.writer.seal(text(2, "two"));
    expect(codeOf(() => r.reader.open(r1))).toBe("bad_record");
    expect(codeOf(() => r.reader.open(r2))).toBe("bad_record");
    r.reader.open(r0);
    expect(codeOf(() => r.reader.open(r2))).toBe("bad_record");
  });

  test("reflection: our own outbound record fed to our reader", () => {
    const { i, r } = handshake();
    expect(codeOf(() => i.reader.open(i.writer.seal(text(0, "echo"))))).toBe("bad_record");
    expect(codeOf(() => r.reader.open(r.writer.seal(text(0, "echo"))))).toBe("bad_record");
  });

  test("cross-session injection: a record from session A opened in session B", () => {
    const a = handshakeBetween("alice", "bob");
    const b = handshakeBetween("carol", "bob");
    expect(a.i.th3).not.toEqual(b.i.th3);
    expect(codeOf(() => b.r.reader.open(a.i.writer.seal(text(0, "from A"))))).toBe("bad_record");
    expect(codeOf(() => b.i.reader.open(a.r.writer.seal(text(0, "from A"))))).toBe("bad_record");
    // Same parties, same seq 0, fresh session: still fails.
    const c = handshakeBetween("alice", "dave");
    expect(codeOf(() => c.r.reader.open(a.i.writer.seal(text(1, "from A"))))).toBe("bad_record");
  });
});

describe("bad padding under a valid tag: the same error as a tag failure", () => {
  const m = text(3, "abcd"); // 15 bytes: with one byte of padding, exactly one block
  const body = m.length;
  const cases: [string, Uint8Array][] = [
    ["last byte 0", concat(m, new Uint8Array([0]))],
    ["last byte 17", concat(m, new Uint8Array([17]))],
    ["last byte 0xff", concat(m, new Uint8Array([0xff]))],
    ["pad 2 with one wrong byte", concat(m.subarray(0, body - 1), new Uint8Array([9, 2]))],
    ["a full pad block 16 with one wrong byte", concat(pad(m).subarray(0, 16), new Uint8Array(16).fill(16).fill(15, 0, 1))],
    ["a full pad block 16 with the last byte wrong", concat(pad(m).subarray(0, 16), new Uint8Array(16).fill(16).fill(15, 15))],
    ["pad 16 claimed by a data block", concat(m, new Uint8Array([16]))],
  ];

  test("a tag failure's error, for reference", () => {
    const { kb, reader } = keyBlockPair();
    expect(codeOf(() => reader.open(flip(craft(kb, 0, pad(m)), 40)))).toBe("bad_record");
  });

  for (const [name, padded] of cases) {
    test(name, () => {
      expect(padded.length % 16).toBe(0);
      const tagFail = (() => {
        const { kb, reader } = keyBlockPair();
        return protocolError(() => reader.open(flip(craft(kb, 0, padded), 40)));
      })();
      const { kb, reader } = keyBlockPair();
      const e = protocolError(() => reader.open(craft(kb, 0, padded)));
      expect(e.code).toBe("bad_record");
      expect(e.message).toBe(tagFail.message);
      expect(e.alertCode).toBe(tagFail.alertCode);
      expect(reader.seq).toBe(0);
    });
  }
});

describe("oversized plaintext under a valid tag → oversized", () => {
  // The largest legal ciphertext (65,296 bytes) can hold 65,281..65,295 bytes of
  // plaintext with 15..1 bytes of padding: more than any record may carry.
  for (const n of [65281, 65282, 65288, 65295]) {
    test(`${n} bytes`, () => {
      const { kb, reader } = keyBlockPair();
      const padded = pad(new Uint8Array(n).fill(0x80));
      expect(padded.length).toBe(65296);
      expect(codeOf(() => reader.open(craft(kb, 0, padded)))).toBe("oversized");
    });
  }
  test("65,280 bytes with a full block of padding is the largest accepted", () => {
    const { kb, reader } = keyBlockPair();
    const padded = pad(new Uint8Array(MAX_PLAINTEXT).fill(0x80));
    expect(padded.length).toBe(65296);
    expect(reader.open(craft(kb, 0, padded))).toHaveLength(MAX_PLAINTEXT);
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

describe("leases for sealing elsewhere (RecordSealer)", () => {
  test("a lease hands out the next sequence numbers; records sealed at them open in order, others do not", () => {
    const { kb, writer, reader } = keyBlockPair("lease");
    expect([...reader.open(writer.seal(text(1, "a")))]).toEqual([...text(1, "a")]);
    const lease = writer.lease(3);
    expect([lease.seq, lease.count, writer.seq]).toEqual([1, 3, 4]);
    expect([...lease.keyBlock]).toEqual([...kb]);
    const sealer = new RecordSealer(lease.keyBlock, random);
    const frames = [0, 1, 2].map((i) => {
      const pt = new Uint8Array(text(10 + i, "b").length + 16);
      pt.set(text(10 + i, "b"));
      const out = new Uint8Array(256);
      return out.subarray(0, sealer.sealInto(lease.seq + i, pt, text(10 + i, "b").length, out, 0));
    });
    // Out of order: the reader expects seq 1, the frame was sealed at seq 2.
    const other = keyBlockPair("lease").reader;
    other.open(craft(kb, 0, pad(text(1, "a"))));
    expect(codeOf(() => other.open(frames[1]!))).toBe("bad_record");
    for (let i = 0; i < 3; i++) expect([...reader.open(frames[i]!)]).toEqual([...text(10 + i, "b")]);
    expect([...reader.open(writer.seal(text(2, "c")))]).toEqual([...text(2, "c")]);
  });

  test("a lease is refused a count that is not a positive integer", () => {
    const { writer } = keyBlockPair("lease2");
    for (const n of [0, -1, 1.5]) expect(() => writer.lease(n)).toThrow(RangeError);
  });
});

describe("full records: the cipher's output is freed as soon as it is copied into the frame", () => {
  test("RecordWriter.sealInto and RecordSealer.sealInto: one cipher output per record, detached after the seal; every frame opens to its plaintext", () => {
    const { writer, reader } = keyBlockPair("release");
    const frames: Uint8Array[] = [];
    const body = (i: number) => new Uint8Array(61_440).fill(i + 1);
    const seen = cipherOutputs(() => {
      const lease = writer.lease(2);
      const sealer = new RecordSealer(lease.keyBlock, random);
      for (let i = 0; i < 4; i++) {
        const pt = new Uint8Array(MAX_PLAINTEXT + 16);
        pt.set(body(i));
        const out = new Uint8Array(8 + 65_536);
        const len = i < 2 ? sealer.sealInto(lease.seq + i, pt, 61_440, out, 8) : writer.sealInto(pt, 61_440, out, 8);
        frames.push(out.slice(8, 8 + len));
      }
    });
    expect(seen.map((o) => [o.byteLength, (o.buffer as ArrayBuffer).detached])).toEqual(Array(4).fill([0, true]));
    for (let i = 0; i < 4; i++) expect(Buffer.compare(reader.open(frames[i]!), body(i))).toBe(0);
  });
});

describe("sealInto borrows no byte of the caller's buffer", () => {
  test("the bytes before and after the frame are the caller's, at every offset, and each frame opens", () => {
    const { writer, reader } = keyBlockPair("borrow");
    for (const off of [0, 1, 7, 8, 9, 100]) {
      const out = new Uint8Array(off + 200).fill(0xab);
      const pt = new Uint8Array(64 + 16);
      pt.set(text(off, "x".repeat(40)));
      const n = text(off, "x".repeat(40)).length;
      const len = writer.sealInto(pt, n, out, off);
      expect(out.subarray(0, off).every((b) => b === 0xab)).toBe(true);
      expect(out.subarray(off + len).every((b) => b === 0xab)).toBe(true);
      expect([...reader.open(out.subarray(off, off + len))]).toEqual([...text(off, "x".repeat(40))]);
    }
  });
});

describe("records at the small-frame boundary (frames up to 2,048 bytes are opened from one shared scratch copy)", () => {
  // A frame is 3 + 16 + ct + 32 bytes: 2,035 is the largest opened from the scratch, 2,051 the smallest not.
  const sizes = [1967, 1983, 1984, 1999];
  test("each side of the boundary: round trip; a bit flip in any byte is bad_record and advances nothing, and the next good record opens", () => {
    const { i, r } = handshake();
    const seen = new Set<number>();
    for (const size of sizes) {
      const pt = det(`edge ${size}`, size);
      const f = i.writer.seal(pt);
      seen.add(f.length);
      for (let at = 0; at < f.length; at += 7) {
        const before = r.reader.seq;
        const code = codeOf(() => r.reader.open(flip(f, at, at % 8)));
        // The frame's header bytes are judged first (length, type); every other byte is the tag's to catch.
        if (at >= 3) expect(code).toBe("bad_record");
        else expect(code).not.toBeUndefined();
        expect(r.reader.seq).toBe(before);
      }
      expect(Buffer.from(r.reader.open(f))).toEqual(Buffer.from(pt));
    }
    expect([...seen].sort((a, b) => a - b)).toEqual([2019, 2035, 2051]);
  });

  test("sessions interleaved over the one scratch: a small record of one never shows in another's plaintext, and a returned plaintext is not overwritten by the next record opened", () => {
    const a = handshake();
    const b = handshake();
    // A third session's record, always bad (one bit flipped), through the scratch between the others'.
    const c = handshake();
    const bad = c.i.writer.seal(det("x", 1900));
    const outs: { got: Uint8Array; want: Uint8Array }[] = [];
    for (let n = 0; n < 40; n++) {
      const [s, label] = n % 2 === 0 ? [a, "A"] : [b, "B"];
      // Lengths that shrink and grow, so a shorter frame follows a longer one in the scratch.
      const want = det(`${label}${n}`, n % 3 === 0 ? 1500 : 20 + n);
      outs.push({ got: s.r.reader.open(s.i.writer.seal(want)), want });
      expect(codeOf(() => c.r.reader.open(flip(bad, 100 + n, n % 8)))).toBe("bad_record");
    }
    for (const { got, want } of outs) expect(Buffer.from(got)).toEqual(Buffer.from(want));
  });
});

describe("openFrom: a frame read where it lies in a larger buffer", () => {
  test("small and large frames at an offset, in a Buffer and in a Uint8Array, open to what was sealed, in order", () => {
    const { writer, reader } = keyBlockPair("open from");
    const pts = [text(1, "a"), text(2, "b".repeat(2000)), text(3, "c".repeat(30000)), text(4, "d")];
    const frames = pts.map((p) => writer.seal(p));
    for (const make of [(n: number) => Buffer.alloc(n), (n: number) => new Uint8Array(n)]) {
      const { writer: w, reader: r } = keyBlockPair("open from");
      const fs = pts.map((p) => w.seal(p));
      const buf = make(5 + fs.reduce((n, f) => n + f.length, 0));
      let at = 5;
      const where: [number, number][] = [];
      for (const f of fs) (buf.set(f, at), where.push([at, f.length]), (at += f.length));
      where.forEach(([off, size], i) => {
        const end = r.openFrom(buf, off, size);
        expect(decodeItems(r.takeOpened().subarray(16, end))).toEqual(decodeItems(pts[i]!));
      });
      expect(r.seq).toBe(4);
    }
    expect(frames.map((f) => decodeItems(reader.open(f)))).toEqual(pts.map((p) => decodeItems(p)));
  });

  test("a flipped tag byte at an offset is bad_record before anything is decrypted; the range must lie inside the buffer", () => {
    const { writer, reader } = keyBlockPair("open from bad");
    const f = writer.seal(text(1, "hello"));
    const buf = new Uint8Array(7 + f.length);
    buf.set(f, 7);
    buf[buf.length - 1]! ^= 1;
    const proto = Object.getPrototypeOf(createDecipheriv("aes-256-cbc", new Uint8Array(32), new Uint8Array(16))) as { update: (...a: unknown[]) => unknown };
    let updates = 0;
    const orig = proto.update;
    proto.update = function (this: unknown, ...a: unknown[]) {
      updates++;
      return orig.apply(this, a);
    };
    try {
      expect(codeOf(() => reader.openFrom(buf, 7, f.length))).toBe("bad_record");
      expect(updates).toBe(0);
      // The count sees a decryption: the same record with its tag put back is decrypted once.
      buf[buf.length - 1]! ^= 1;
      const { writer: w2, reader: r2 } = keyBlockPair("open from bad");
      expect(w2.seq).toBe(0);
      r2.openFrom(buf, 7, f.length);
      expect(updates).toBe(1);
      buf[buf.length - 1]! ^= 1;
    } finally {
      proto.update = orig;
    }
    expect(() => reader.openFrom(buf, 8, f.length)).toThrow(RangeError);
    expect(() => reader.openFrom(buf, -1, 10)).toThrow(RangeError);
    // A size that is not the frame's own length: frame_length, as openInPlace says it.
    buf[buf.length - 1]! ^= 1;
    expect(codeOf(() => reader.openFrom(buf, 7, f.length - 1))).toBe("frame_length");
    expect(decodeItems(reader.open(buf.subarray(7)))).toEqual(decodeItems(text(1, "hello")));
  });
});
