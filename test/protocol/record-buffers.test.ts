/**
 * Records (PROTOCOL §5) sealed into and opened from buffers: leases for sealing elsewhere,
 * cipher outputs freed once copied, no byte of the caller's buffer borrowed, the one
 * scratch copy for small frames, and frames opened where they lie.
 */
import { describe, expect, test } from "bun:test";
import { createDecipheriv } from "node:crypto";
import { MAX_PLAINTEXT } from "../../src/protocol/constants.ts";
import { decodeItems } from "../../src/protocol/items.ts";
import { RecordSealer } from "../../src/protocol/record.ts";
import { codeOf, det, flip, handshake } from "./helpers.ts";
import { cipherOutputs } from "../support/cipher-outputs.ts";
import { craft, keyBlockPair, pad, random, text } from "../support/record.ts";

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
