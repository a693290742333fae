/**
 * FrameAssembler (PROTOCOL §2): the frames it returns must not depend on how the byte
 * stream was split; lengths are checked as soon as a header is complete, before any body
 * byte is buffered; after an error the assembler stays dead.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { concat } from "../../src/crypto/bytes.ts";
import { FrameType, Group, MAX_RECORD_BODY, MAX_SHARE_LEN, HELLO_FIXED_LEN, MIN_RECORD_BODY, MAX_PLAINTEXT } from "../../src/protocol/constants.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";
import { encodeFrame, FrameAssembler, checkFrameHeader, type Frame } from "../../src/protocol/frame.ts";
import { encodeAlertFrame } from "../../src/protocol/handshake.ts";
import { encodeItems } from "../../src/protocol/items.ts";
import { codeOf, handshake } from "./helpers.ts";

// A real exchange: HELLO, HELLO_REPLY, both AUTH records, application records of a few
// sizes and plaintext ALERT frames.
const pair = handshake(Group.X25519);
const text = (n: number) => encodeItems([{ kind: "text", id: BigInt(n), text: "x".repeat(n) }]);
const small: Uint8Array[] = [
  pair.wire.hello,
  pair.wire.reply,
  pair.wire.authR,
  pair.wire.authI,
  pair.i.writer.seal(text(1)),
  pair.r.writer.seal(text(100)),
  encodeAlertFrame(3, new Uint8Array([1, 2])),
  pair.i.writer.seal(text(300)),
  encodeAlertFrame(9),
];
// The same plus the largest record a peer can send (65,347 bytes on the wire).
const large: Uint8Array[] = [...small.slice(0, 5), pair.i.writer.seal(new Uint8Array(MAX_PLAINTEXT).fill(0x80 /* PADDING type */)), ...small.slice(5)];
const smallStream = concat(...small);
const largeStream = concat(...large);

/** Feed `chunks` and return every frame's bytes as plain arrays (copies, for comparison). */
function run(chunks: Uint8Array[]): { frames: Frame[]; bytes: number[][] } {
  const a = new FrameAssembler();
  const frames = chunks.flatMap((c) => a.push(c));
  a.end();
  return { frames, bytes: frames.map((f) => [...f.bytes]) };
}

/** Cut `stream` at the given (sorted, distinct) offsets; every chunk gets its own buffer. */
function cut(stream: Uint8Array, cuts: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of [...cuts, stream.length]) {
    out.push(stream.slice(prev, c));
    prev = c;
  }
  return out;
}

describe("FrameAssembler splits a stream into the same frames however it is chunked", () => {
  const want = (list: Uint8Array[]) => list.map((f) => [...f]);

  test("frame types and bodies as sent: HELLO, HELLO_REPLY, RECORD, ALERT", () => {
    const { frames } = run([smallStream]);
    expect(frames.map((f) => f.type)).toEqual([1, 2, 3, 3, 3, 3, 4, 3, 4]);
    frames.forEach((f, i) => expect([...f.body]).toEqual([...small[i]!.subarray(3)]));
  });

  test("(a) whole: one chunk", () => {
    expect(run([smallStream]).bytes).toEqual(want(small));
    expect(run([largeStream]).bytes).toEqual(want(large));
  });

  test("(b) 1-byte chunks", () => {
    const ones = (s: Uint8Array) => Array.from({ length: s.length }, (_, i) => s.slice(i, i + 1));
    expect(run(ones(smallStream)).bytes).toEqual(want(small));
    expect(run(ones(largeStream)).bytes).toEqual(want(large));
  });

  test("(c) two chunks, split at every offset (empty chunks included)", () => {
    const expected = want(small);
    for (let k = 0; k <= smallStream.length; k++) {
      const got = run([smallStream.slice(0, k), smallStream.slice(k)]).bytes;
      if (got.length !== expected.length) throw new Error(`split at ${k}: ${got.length} frames`);
      expect(got).toEqual(expected);
    }
  });

  test("(d) random splits (property): same bytes, views exactly when a frame lies in one chunk, buffered = partial frame", () => {
    for (const [list, runs] of [[small, 300], [large, 40]] as const) {
      const stream = concat(...list);
      const ends = list.reduce<number[]>((acc, f) => [...acc, (acc.at(-1) ?? 0) + f.length], []);
      const starts = [0, ...ends.slice(0, -1)];
      fc.assert(
        fc.property(fc.uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 60 }), (raw) => {
          const cuts = [...raw].sort((x, y) => x - y);
          const chunks = cut(stream, cuts);
          const a = new FrameAssembler();
          const frames: { f: Frame; chunk: Uint8Array }[] = [];
          let consumed = 0;
          for (const c of chunks) {
            for (const f of a.push(c)) frames.push({ f, chunk: c });
            consumed += c.length;
            const lastEnd = ends.filter((e) => e <= consumed).at(-1) ?? 0;
            expect(a.buffered).toBe(consumed - lastEnd);
            expect(a.buffered).toBeLessThanOrEqual(65538);
          }
          a.end();
          expect(frames.map(({ f }) => [...f.bytes])).toEqual(want(list));
          frames.forEach(({ f, chunk }, i) => {
            const inOne = !cuts.some((c) => c > starts[i]! && c < ends[i]!);
            expect(f.bytes.buffer === chunk.buffer).toBe(inOne);
            expect(f.body.buffer).toBe(f.bytes.buffer);
            expect(f.body.byteOffset).toBe(f.bytes.byteOffset + 3);
          });
        }),
        { numRuns: runs },
      );
    }
  });

  test("a frame inside one chunk is a view of it; a straddling frame is a copy of exactly its size", () => {
    const hello = small[0]!, reply = small[1]!;
    const chunk = concat(hello, reply.subarray(0, 10));
    const a = new FrameAssembler();
    const [f] = a.push(chunk);
    expect(f!.bytes.buffer).toBe(chunk.buffer);
    expect(f!.bytes.byteOffset).toBe(0);
    const rest = reply.slice(10);
    const [g] = a.push(rest);
    expect(g!.bytes.buffer).not.toBe(chunk.buffer);
    expect(g!.bytes.buffer).not.toBe(rest.buffer);
    expect(g!.bytes.buffer.byteLength).toBe(reply.length);
    expect([...g!.bytes]).toEqual([...reply]);
  });

  test("several frames coalesced into one chunk come back in order, all views", () => {
    const a = new FrameAssembler();
    const got = a.push(smallStream);
    expect(got).toHaveLength(small.length);
    for (const f of got) expect(f.bytes.buffer).toBe(smallStream.buffer);
    expect(a.buffered).toBe(0);
  });

  test("buffered never exceeds one frame, even for the largest frames fed byte by byte", () => {
    // Largest record, then the largest ALERT frame the u16 length allows (65,537 bytes).
    const bigAlert = encodeFrame(FrameType.ALERT, new Uint8Array(0xfffe).fill(7));
    const stream = concat(large[5]!, bigAlert);
    const a = new FrameAssembler();
    let max = 0, n = 0;
    for (let i = 0; i < stream.length; i++) {
      n += a.push(stream.subarray(i, i + 1)).length;
      max = Math.max(max, a.buffered);
    }
    expect(n).toBe(2);
    expect(max).toBe(bigAlert.length - 1);
    expect(max).toBeLessThanOrEqual(65538);
    expect(a.buffered).toBe(0);
  });
});

describe("FrameAssembler with deferTail: the frame a chunk ends with is copied by settle()", () => {
  test("split at every offset, each chunk zeroed right after settle(): the same frames (settle took what it needed)", () => {
    const expected = large.map((f) => [...f]);
    for (let k = 0; k <= largeStream.length; k += 997) {
      const a = new FrameAssembler({ deferTail: true });
      const got: number[][] = [];
      for (const c of [largeStream.slice(0, k), largeStream.slice(k)]) {
        got.push(...a.push(c).map((f) => [...f.bytes]));
        a.settle();
        c.fill(0);
      }
      a.end();
      if (got.length !== expected.length) throw new Error(`split at ${k}: ${got.length} frames`);
      expect(got).toEqual(expected);
    }
  });

  test("before settle() the incomplete frame is a view of the chunk (nothing copied, nor allocated); its declared size is still what allocated reports", () => {
    const big = large[5]!; // the largest record, 65,347 bytes
    const a = new FrameAssembler({ deferTail: true });
    const chunk = concat(small[0]!, big.subarray(0, 1000));
    expect(a.push(chunk).map((f) => f.type)).toEqual([FrameType.HELLO]);
    expect([a.buffered, a.allocated]).toEqual([1000, big.length]);
    chunk[small[0]!.length + 500]! ^= 1; // changed before settle: the view sees it
    a.settle();
    chunk.fill(0); // changed after settle: the copy does not
    const [f] = a.push(big.subarray(1000));
    const want = new Uint8Array(big);
    want[500]! ^= 1;
    expect([...f!.bytes]).toEqual([...want]);
  });

  test("push() settles what the last chunk left, so a caller that keeps its chunks needs no settle()", () => {
    const a = new FrameAssembler({ deferTail: true });
    const got = cut(largeStream, [7, 3000, 40_000, 70_000]).flatMap((c) => a.push(c)).map((f) => [...f.bytes]);
    a.end();
    expect(got).toEqual(large.map((f) => [...f]));
  });

  test("end() inside a deferred frame is truncated, as without deferTail", () => {
    const a = new FrameAssembler({ deferTail: true });
    a.push(large[5]!.subarray(0, 100));
    expect(codeOf(() => a.end())).toBe("truncated");
  });
});

describe("FrameAssembler rejects a bad header as soon as it is complete", () => {
  const hdr = (length: number, type: number) => new Uint8Array([length >>> 8, length & 0xff, type]);
  const cases: [string, Uint8Array, "frame_length" | "frame_type"][] = [
    ["length 0", hdr(0, FrameType.RECORD), "frame_length"],
    ["length 0, HELLO", hdr(0, FrameType.HELLO), "frame_length"],
    ["unknown type 0x00", hdr(40, 0x00), "frame_type"],
    ["unknown type 0x05", hdr(40, 0x05), "frame_type"],
    ["unknown type 0xff", hdr(0xffff, 0xff), "frame_type"],
    ["RECORD with empty body", hdr(1, FrameType.RECORD), "frame_length"],
    ["RECORD body 63 (< iv + block + tag)", hdr(1 + MIN_RECORD_BODY - 1, FrameType.RECORD), "frame_length"],
    ["RECORD body 65: (body - 48) % 16 != 0", hdr(1 + 65, FrameType.RECORD), "frame_length"],
    ["RECORD body 72: (body - 48) % 16 != 0", hdr(1 + 72, FrameType.RECORD), "frame_length"],
    ["RECORD body MAX_RECORD_BODY + 16", hdr(1 + MAX_RECORD_BODY + 16, FrameType.RECORD), "frame_length"],
    ["RECORD with the largest u16 length", hdr(0xffff, FrameType.RECORD), "frame_length"],
    ["HELLO body 33 (too short)", hdr(1 + HELLO_FIXED_LEN - 1, FrameType.HELLO), "frame_length"],
    ["HELLO body 419 (too long)", hdr(1 + HELLO_FIXED_LEN + MAX_SHARE_LEN + 1, FrameType.HELLO), "frame_length"],
    ["HELLO_REPLY body 33", hdr(1 + HELLO_FIXED_LEN - 1, FrameType.HELLO_REPLY), "frame_length"],
    ["HELLO_REPLY body 419", hdr(1 + HELLO_FIXED_LEN + MAX_SHARE_LEN + 1, FrameType.HELLO_REPLY), "frame_length"],
    ["ALERT with empty body", hdr(1, FrameType.ALERT), "frame_length"],
  ];

  for (const [name, header, code] of cases) {
    test(`${name} → ${code}, from the 3 header bytes alone`, () => {
      // Whole header in one chunk.
      const a = new FrameAssembler();
      const e = (() => {
        try {
          a.push(header);
        } catch (err) {
          return err;
        }
      })();
      expect(e).toBeInstanceOf(ProtocolError);
      expect((e as ProtocolError).code).toBe(code);
      expect(a.buffered).toBe(0);
      // Dead: every later push rethrows the same error, whatever it is fed.
      for (const more of [new Uint8Array(0), new Uint8Array(100), smallStream]) {
        try {
          a.push(more);
          throw new Error("push after an error returned");
        } catch (err) {
          expect(err).toBe(e);
        }
      }
      // Header arriving byte by byte: the third byte raises it.
      const b = new FrameAssembler();
      expect(b.push(header.subarray(0, 1))).toEqual([]);
      expect(b.push(header.subarray(1, 2))).toEqual([]);
      expect(codeOf(() => b.push(header.subarray(2, 3)))).toBe(code);
      expect(codeOf(() => b.push(new Uint8Array([1])))).toBe(code);
      // After a valid frame in the same chunk: that frame is delivered (as it would be
      // if the bytes were split after it), the error is set, and the next push throws.
      const after = new FrameAssembler();
      expect(after.push(concat(small[0]!, header)).map((f) => [...f.bytes])).toEqual([[...small[0]!]]);
      expect(after.error?.code).toBe(code);
      expect(codeOf(() => after.push(new Uint8Array([1])))).toBe(code);
      // Header straddling chunks after a valid frame.
      const c = new FrameAssembler();
      expect(c.push(concat(small[0]!, header.subarray(0, 2)))).toHaveLength(1);
      expect(codeOf(() => c.push(header.subarray(2)))).toBe(code);
      // checkFrameHeader agrees.
      expect(codeOf(() => checkFrameHeader(header[2]!, (header[0]! << 8) | header[1]!))).toBe(code);
    });
  }

  test("the limits themselves are accepted: only the header is buffered", () => {
    const ok: [number, number][] = [
      [FrameType.RECORD, MIN_RECORD_BODY],
      [FrameType.RECORD, MIN_RECORD_BODY + 16],
      [FrameType.RECORD, MAX_RECORD_BODY],
      [FrameType.HELLO, HELLO_FIXED_LEN],
      [FrameType.HELLO, HELLO_FIXED_LEN + MAX_SHARE_LEN],
      [FrameType.HELLO_REPLY, HELLO_FIXED_LEN + 32],
      [FrameType.ALERT, 1],
      [FrameType.ALERT, 0xfffe],
    ];
    for (const [type, body] of ok) {
      const a = new FrameAssembler();
      expect(a.push(hdr(1 + body, type))).toEqual([]);
      expect(a.buffered).toBe(3);
    }
  });
});

describe("FrameAssembler.end", () => {
  const hello = small[0]!;

  test("mid-frame → truncated, and nothing of the partial frame is delivered", () => {
    for (const prefix of [hello.subarray(0, 1), hello.subarray(0, 2), hello.subarray(0, 3), hello.subarray(0, hello.length >> 1), hello.subarray(0, hello.length - 1)]) {
      const a = new FrameAssembler();
      expect(a.push(prefix.slice())).toEqual([]);
      expect(codeOf(() => a.end())).toBe("truncated");
      expect(codeOf(() => a.push(hello))).toBe("truncated");
    }
  });

  test("mid-frame after whole frames → truncated", () => {
    const a = new FrameAssembler();
    expect(a.push(concat(hello, small[1]!.subarray(0, 40)))).toHaveLength(1);
    expect(codeOf(() => a.end())).toBe("truncated");
  });

  test("at a frame boundary, or before any byte, does not throw", () => {
    expect(() => new FrameAssembler().end()).not.toThrow();
    const a = new FrameAssembler();
    expect(a.push(smallStream)).toHaveLength(small.length);
    expect(() => a.end()).not.toThrow();
    const b = new FrameAssembler();
    b.push(hello.subarray(0, 5));
    expect(b.push(hello.subarray(5))).toHaveLength(1);
    expect(() => b.end()).not.toThrow();
  });
});

describe("encodeFrame", () => {
  test("writes length = 1 + len(body), then the type", () => {
    expect([...encodeFrame(FrameType.ALERT, new Uint8Array([9, 8]))]).toEqual([0, 3, 4, 9, 8]);
  });
  test("refuses a body that does not fit the u16 length (RangeError: a local bug)", () => {
    expect(() => encodeFrame(FrameType.ALERT, new Uint8Array(0xffff))).toThrow(RangeError);
    expect(encodeFrame(FrameType.ALERT, new Uint8Array(0xfffe))).toHaveLength(0x10001);
  });
});
