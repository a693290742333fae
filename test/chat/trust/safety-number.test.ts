import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { fromHex } from "../../../src/crypto/bytes.ts";
import { ed25519Generate } from "../../../src/crypto/ed25519.ts";
import { SAFETY_NUMBER_LABEL, safetyNumber } from "../../../src/chat/trust/safety-number.ts";

// Known answers, computed independently with Python 3 hashlib from the derivation in
// src/chat/trust/safety-number.ts:
//   lo, hi = sorted([a, b]); L = b"sotto/1 safety number"
//   s = sha256(L + b"\x00" + lo + hi).digest() + sha256(L + b"\x01" + lo + hi).digest()
//   " ".join("%05d" % (int.from_bytes(s[5*i:5*i+5], "big") % 100000) for i in range(12))
const VECTORS = [
  {
    name: "safety_number_01_02",
    a: "01".repeat(32),
    b: "02".repeat(32),
    expect: "28785 22584 76952 78413 69804 37879 68903 74294 14121 56061 91625 04739",
  },
  {
    // RFC 8032 §7.1 TEST 1 and TEST 2 public keys.
    name: "safety_number_rfc8032_test1_test2",
    a: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    b: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    expect: "60349 74379 16845 88086 99059 13652 28223 20028 41518 83607 83188 81121",
  },
];

/** A second, BigInt-based rendering of the same derivation, with node:crypto. */
function reference(a: Uint8Array, b: Uint8Array): string {
  const [lo, hi] = Buffer.compare(a, b) <= 0 ? [a, b] : [b, a];
  const h = (i: number) => createHash("sha256").update(SAFETY_NUMBER_LABEL).update(Uint8Array.of(i)).update(lo).update(hi).digest();
  const s = Buffer.concat([h(0), h(1)]);
  const groups: string[] = [];
  for (let i = 0; i < 12; i++) groups.push((BigInt("0x" + s.subarray(5 * i, 5 * i + 5).toString("hex")) % 100000n).toString().padStart(5, "0"));
  return groups.join(" ");
}

describe("safetyNumber", () => {
  for (const v of VECTORS) {
    test(v.name, () => {
      const a = fromHex(v.a);
      const b = fromHex(v.b);
      expect(safetyNumber(a, b)).toBe(v.expect);
      expect(safetyNumber(b, a)).toBe(v.expect);
    });
  }

  test("both sides compute the same number, and it matches the reference", () => {
    for (let i = 0; i < 50; i++) {
      const alice = ed25519Generate().publicKey;
      const bob = ed25519Generate().publicKey;
      expect(safetyNumber(alice, bob)).toBe(safetyNumber(bob, alice));
      expect(safetyNumber(alice, bob)).toBe(reference(alice, bob));
    }
  });

  test("format: 12 groups of 5 decimal digits, single spaces", () => {
    const n = safetyNumber(ed25519Generate().publicKey, ed25519Generate().publicKey);
    expect(n).toMatch(/^(\d{5} ){11}\d{5}$/);
    expect(n.length).toBe(71);
  });

  test("changes when either key changes, in any single bit", () => {
    const a = fromHex(VECTORS[1]!.a);
    const b = fromHex(VECTORS[1]!.b);
    const base = safetyNumber(a, b);
    const seen = new Set([base]);
    for (const which of [a, b]) {
      for (let bit = 0; bit < 256; bit++) {
        which[bit >> 3]! ^= 1 << (bit & 7);
        const n = safetyNumber(a, b);
        which[bit >> 3]! ^= 1 << (bit & 7);
        expect(n).not.toBe(base);
        seen.add(n);
      }
    }
    expect(seen.size).toBe(1 + 512); // every flip gives a distinct number
    expect(safetyNumber(a, b)).toBe(base); // inputs restored, not modified
  });

  test("equal keys are allowed (a note to self)", () => {
    const k = fromHex(VECTORS[0]!.a);
    expect(safetyNumber(k, k)).toBe(reference(k, k));
  });

  test("rejects keys that are not 32 bytes", () => {
    const k = new Uint8Array(32);
    expect(() => safetyNumber(new Uint8Array(31), k)).toThrow(TypeError);
    expect(() => safetyNumber(k, new Uint8Array(33))).toThrow(TypeError);
  });

  test("well under 5 ms per derivation", () => {
    const a = ed25519Generate().publicKey;
    const b = ed25519Generate().publicKey;
    safetyNumber(a, b);
    const t0 = performance.now();
    for (let i = 0; i < 200; i++) safetyNumber(a, b);
    expect((performance.now() - t0) / 200).toBeLessThan(5);
  });
});
