/**
 * Tampered records (PROTOCOL §5): every fault a peer can put in a record is one uniform
 * bad_record (docs/SECURITY.md §3.D), including bad padding under a valid tag, and a
 * plaintext over the limit under a valid tag is oversized.
 */
import { describe, expect, test } from "bun:test";
import { concat } from "../../src/crypto/bytes.ts";
import { MAX_PLAINTEXT } from "../../src/protocol/constants.ts";
import { decodeItems } from "../../src/protocol/items.ts";
import { codeOf, flip, handshake, handshakeBetween, protocolError } from "./helpers.ts";
import { craft, keyBlockPair, pad, text } from "../support/record.ts";

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
