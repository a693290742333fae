/**
 * Property tests (fast-check) for the parsers a hostile peer reaches first: nothing but
 * the documented ProtocolErrors may escape, nothing hangs, and nothing grows past one frame.
 *   - FrameAssembler on random bytes, split at random: only frame_length / frame_type
 *     (then dead), truncated at EOF inside a frame; `buffered` never exceeds the frame it
 *     is gathering; every frame handed out has a header the size rules allow.
 *   - RecordReader.open on random single-bit flips of valid records: bad_record or
 *     frame_length, never a plaintext.
 *   - A random single-bit flip anywhere in an initiator's whole transcript (HELLO, AUTH,
 *     an application record), split at random: the responder refuses with a documented
 *     code and never delivers the record's items.
 *   - decodeItems on random bytes: only bad_item / invalid_utf8; valid items round-trip.
 * numRuns are modest so the suite stays fast on 2 cores.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { concat } from "../../src/crypto/bytes.ts";
import { PooledRandom } from "../../src/crypto/random.ts";
import { FRAME_HEADER_LEN, FrameType, Group, MAX_PLAINTEXT } from "../../src/protocol/constants.ts";
import { ProtocolError, type ErrorCode } from "../../src/protocol/errors.ts";
import { checkFrameHeader, FrameAssembler, type Frame } from "../../src/protocol/frame.ts";
import type { KexRequest, Done } from "../../src/protocol/machine.ts";
import { decodeItems, encodeItems, type Item } from "../../src/protocol/items.ts";
import { RecordReader, RecordWriter } from "../../src/protocol/record.ts";
import { exchange, parties, shared } from "../protocol/helpers.ts";

/** The ProtocolError code `fn` throws, "ok" when it returns; anything else thrown fails the property. */
function codeOf(fn: () => unknown): ErrorCode | "ok" {
  try {
    fn();
  } catch (e) {
    if (e instanceof ProtocolError) return e.code;
    throw new Error(`not a ProtocolError: ${String(e)}`);
  }
  return "ok";
}

/** Cut `b` at the sorted offsets `cuts` (duplicates give empty chunks). */
function split(b: Uint8Array, cuts: number[]): Uint8Array[] {
  const at = [...cuts].map((c) => c % (b.length + 1)).sort((x, y) => x - y);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of at) {
    out.push(b.subarray(prev, c));
    prev = c;
  }
  out.push(b.subarray(prev));
  return out;
}

/** Byte streams an attacker might send: pure noise, or frame-shaped pieces with random headers. */
const header = fc.record({ length: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 500 })), type: fc.integer({ min: 0, max: 6 }) });
const piece = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.tuple(header, fc.uint8Array({ maxLength: 500 })).map(([h, body]) => concat(new Uint8Array([h.length >>> 8, h.length & 0xff, h.type]), body)),
);
const stream = fc.array(piece, { maxLength: 8 }).map((ps) => concat(...ps));

describe("FrameAssembler on hostile bytes", () => {
  test("random bytes, random splits: only frame_length / frame_type, dead afterwards; truncated at EOF mid-frame; bounded buffer", () => {
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 12 }), (bytes, cuts) => {
        const a = new FrameAssembler();
        let dead: ProtocolError | null = null;
        let fed = 0;
        for (const chunk of split(bytes, cuts)) {
          let got: Frame[] = [];
          try {
            got = a.push(chunk);
          } catch (e) {
            if (!(e instanceof ProtocolError)) throw e;
            if (dead === null) expect(["frame_length", "frame_type"]).toContain(e.code);
            else expect(e).toBe(dead); // no resync: every later push rethrows the same error
            dead = e;
            continue;
          }
          expect(dead).toBeNull();
          // A bad header after whole frames: the frames come back, the error is kept.
          if (a.error !== null) {
            expect(["frame_length", "frame_type"]).toContain(a.error.code);
            dead = a.error;
          }
          fed += chunk.length;
          for (const f of got) {
            const length = (f.bytes[0]! << 8) | f.bytes[1]!;
            expect(() => checkFrameHeader(f.type, length)).not.toThrow();
            expect(f.bytes.length).toBe(length + 2);
            expect(f.body.length).toBe(length - 1);
          }
          // At most one partial frame: never more than the largest frame, never more than was fed.
          expect(a.buffered).toBeLessThanOrEqual(0xffff + 2);
          expect(a.buffered).toBeLessThanOrEqual(fed);
        }
        const inside = a.buffered > 0;
        const end = codeOf(() => a.end());
        if (dead !== null || !inside) expect(end).toBe("ok");
        else expect(end).toBe("truncated");
        expect(a.buffered).toBe(0);
      }),
      { numRuns: 1500 },
    );
  });

  /** Frames delivered and the final code when `chunks` are fed in order, then EOF. */
  const run = (chunks: Uint8Array[]) => {
    const a = new FrameAssembler();
    const frames: number[][] = [];
    for (const c of chunks) {
      try {
        for (const f of a.push(c)) frames.push([...f.bytes]);
      } catch (e) {
        return { frames, code: (e as ProtocolError).code as string };
      }
      if (a.error !== null) return { frames, code: a.error.code as string };
    }
    return { frames, code: codeOf(() => a.end()) as string };
  };

  test("however the bytes are split: the same final error, and the coalesced run delivers a prefix of the split run's frames", () => {
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 12 }), (bytes, cuts) => {
        const whole = run([bytes]);
        const parts = run(split(bytes, cuts));
        expect(parts.code).toBe(whole.code);
        expect(parts.frames.slice(0, whole.frames.length)).toEqual(whole.frames);
        if (whole.code === "ok" || whole.code === "truncated") expect(parts.frames).toEqual(whole.frames);
      }),
      { numRuns: 400 },
    );
  });

  // PROTOCOL §2.2: "The result must not depend on how the bytes were split."
  test("however the bytes are split: exactly the same frames before the error", () => {
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 12 }), (bytes, cuts) => {
        expect(run(split(bytes, cuts))).toEqual(run([bytes]));
      }),
      { numRuns: 400 },
    );
  });
});

describe("RecordReader.open on single-bit flips of valid records", () => {
  const plaintext = fc.uint8Array({ minLength: 1, maxLength: 200 });
  test("any single flipped bit → bad_record or frame_length; the unflipped record opens", () => {
    const random = new PooledRandom();
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.array(plaintext, { minLength: 1, maxLength: 3 }), fc.nat(), fc.nat({ max: 7 }), (ts, pts, at, bit) => {
        const w = RecordWriter.fromSecret(new Uint8Array(ts), random);
        const r = RecordReader.fromSecret(new Uint8Array(ts));
        const good = RecordReader.fromSecret(new Uint8Array(ts));
        const records = pts.map((pt) => w.seal(pt));
        // Every record but the last opens on both readers; the last is flipped on `r`.
        for (const rec of records.slice(0, -1)) {
          r.open(rec);
          good.open(rec);
        }
        const last = records.at(-1)!;
        const bad = new Uint8Array(last);
        const i = at % bad.length;
        bad[i]! ^= 1 << bit;
        const code = codeOf(() => r.open(bad));
        expect(i < FRAME_HEADER_LEN ? ["frame_length", "bad_record"] : ["bad_record"]).toContain(code);
        expect([...good.open(last)]).toEqual([...pts.at(-1)!]);
      }),
      { numRuns: 400 },
    );
  });
});

describe("a flipped bit anywhere in an initiator's transcript", () => {
  // The honest stream (HELLO | AUTH_i | one application record), replayed byte for byte by parties().
  const ref = (() => {
    const p = parties();
    const w = exchange(p);
    const app = w.doneI.result.writer.seal(encodeItems([{ kind: "text", id: 1n, text: "secret" }]));
    return concat(w.hello, w.authI, app);
  })();
  // Codes a tampered transcript may end in: framing, hello, share, record and item faults.
  const allowed = new Set<string>(["frame_length", "frame_type", "truncated", "unexpected_message", "unsupported_version", "unsupported_group", "bad_hello", "bad_share", "bad_record", "bad_item", "invalid_utf8", "auth_failed", "reflection"]);

  /** Feed `bytes` (split at `cuts`) to a fresh responder; the code it fails with, or "ok" with the delivered items. */
  function respond(bytes: Uint8Array, cuts: number[]): { code: string; items: Item[] } {
    const p = parties();
    const a = new FrameAssembler();
    let reader: RecordReader | null = null;
    const items: Item[] = [];
    const code = codeOf(() => {
      for (const chunk of split(bytes, cuts)) {
        for (const f of a.push(chunk)) {
          if (reader !== null) {
            if (f.type !== FrameType.RECORD) throw new ProtocolError("unexpected_message", "not a record");
            items.push(...decodeItems(reader.open(f.bytes)));
            continue;
          }
          const r = p.res.recv(f);
          if (r.kind === "kex") p.res.completeKex(p.er.share, shared(Group.X25519, p.er.priv, (r as KexRequest).peerShare));
          else reader = (r as Done).result.reader;
        }
        if (a.error !== null) throw a.error; // as Session does after the frames before it
      }
      a.end();
    });
    return { code, items };
  }

  test("control: the untouched stream delivers the TEXT", () => {
    const { code, items } = respond(ref, [5, 80, 200]);
    expect(code).toBe("ok");
    expect(items).toEqual([{ kind: "text", id: 1n, text: "secret" }]);
  });

  test("every flip ends in a documented error and delivers nothing", () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(fc.nat({ max: ref.length * 8 - 1 }), fc.array(fc.nat(), { maxLength: 6 }), (pos, cuts) => {
        const bytes = new Uint8Array(ref);
        bytes[pos >> 3]! ^= 1 << (pos & 7);
        const { code, items } = respond(bytes, cuts);
        seen.add(code);
        expect(allowed.has(code)).toBe(true);
        expect(items).toEqual([]);
      }),
      { numRuns: 500 },
    );
    // Flips were spread over all three frames.
    expect(seen.has("bad_record")).toBe(true);
  });
});

describe("decodeItems on hostile plaintexts", () => {
  const itemish = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc
      .tuple(fc.oneof(fc.integer({ min: 0, max: 0x0a }), fc.integer({ min: 0, max: 0xff })), fc.integer({ min: 0, max: 120 }), fc.uint8Array({ maxLength: 120 }))
      .map(([t, len, c]) => concat(new Uint8Array([t, len >>> 8, len & 0xff]), c)),
  );
  test("random bytes: only bad_item / invalid_utf8 escape", () => {
    fc.assert(
      fc.property(fc.array(itemish, { maxLength: 6 }), (parts) => {
        const pt = concat(...parts);
        const code = codeOf(() => decodeItems(pt));
        expect(["ok", "bad_item", "invalid_utf8"]).toContain(code);
      }),
      { numRuns: 1000 },
    );
  });

  const item: fc.Arbitrary<Item> = fc.oneof(
    fc.record({ kind: fc.constant("text" as const), id: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), text: fc.string({ maxLength: 40 }) }),
    fc.record({ kind: fc.constant("ack" as const), id: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }),
    fc.record({ kind: fc.constant("ping" as const), data: fc.uint8Array({ minLength: 8, maxLength: 8 }) }),
    fc.record({ kind: fc.constant("close" as const), reason: fc.string({ maxLength: 20 }) }),
    fc.record({ kind: fc.constant("profile" as const), instance: fc.uint8Array({ minLength: 8, maxLength: 8 }), name: fc.string({ maxLength: 16 }) }),
    fc.record({ kind: fc.constant("alert" as const), code: fc.integer({ min: 0, max: 255 }), reason: fc.string({ maxLength: 20 }) }),
  );
  test("valid items round-trip (lone surrogates excluded: they are not UTF-8)", () => {
    fc.assert(
      fc.property(fc.array(item, { minLength: 1, maxLength: 8 }), (items) => {
        const clean = items.filter((i) => !("text" in i && /[\ud800-\udfff]/.test(i.text)) && !("reason" in i && /[\ud800-\udfff]/.test(i.reason)) && !("name" in i && /[\ud800-\udfff]/.test(i.name)));
        if (clean.length === 0) return;
        const pt = encodeItems(clean);
        expect(pt.length).toBeLessThanOrEqual(MAX_PLAINTEXT);
        const back = decodeItems(pt).map((i) => ("data" in i ? { ...i, data: new Uint8Array(i.data) } : "instance" in i ? { ...i, instance: new Uint8Array(i.instance) } : i));
        expect(back as unknown[]).toEqual(clean);
      }),
      { numRuns: 300 },
    );
  });
});
