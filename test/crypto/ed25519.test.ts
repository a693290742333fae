/**
 * Ed25519 against RFC 8032 §7.1 and Wycheproof ed25519_test.json.
 * Policy: every valid case verifies; every invalid case returns false (never throws).
 */
import { describe, expect, test } from "bun:test";
import { toHex, utf8 } from "../../src/crypto/bytes.ts";
import { ed25519FromSeed, ed25519Generate, ed25519Sign, ed25519Verify } from "../../src/crypto/ed25519.ts";
import { caseName, cases, hex, loadVectors, type WycheproofCase, type WycheproofFile } from "./vectors.ts";

interface Rfc8032 {
  cases: { id: string; comment: string; secret_key: string; public_key: string; message: string; signature: string }[];
}
interface EddsaGroup {
  publicKey: { curve: string; pk: string };
}
interface EddsaCase extends WycheproofCase {
  msg: string;
  sig: string;
}

const rfc = await loadVectors<Rfc8032>("rfc8032_ed25519.json");
const wp = await loadVectors<WycheproofFile<EddsaGroup, EddsaCase>>("wycheproof/ed25519_test.json");

/** ed25519Verify, with any exception turned into a test failure that names it. */
function verifyNoThrow(pub: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean | string {
  try {
    return ed25519Verify(pub, msg, sig);
  } catch (e) {
    return `threw ${String(e)}`;
  }
}

describe("RFC 8032 §7.1", () => {
  for (const c of rfc.cases) {
    test(`${c.id} ${c.comment}`, () => {
      const kp = ed25519FromSeed(hex(c.secret_key));
      const msg = hex(c.message);
      expect(toHex(kp.publicKey)).toBe(c.public_key);
      expect(toHex(ed25519Sign(kp.privateKey, msg))).toBe(c.signature);
      expect(ed25519Verify(hex(c.public_key), msg, hex(c.signature))).toBe(true);
    });
  }

  test("any single flipped bit in signature, message or key fails", () => {
    const c = rfc.cases[2]!; // TEST 3: two-byte message
    const pub = hex(c.public_key);
    const msg = hex(c.message);
    const sig = hex(c.signature);
    const flip = (b: Uint8Array, bit: number) => {
      const x = new Uint8Array(b);
      x[bit >> 3]! ^= 1 << (bit & 7);
      return x;
    };
    for (let bit = 0; bit < 512; bit += 7) expect(verifyNoThrow(pub, msg, flip(sig, bit)), `sig bit ${bit}`).toBe(false);
    for (let bit = 0; bit < 16; bit++) expect(verifyNoThrow(pub, flip(msg, bit), sig), `msg bit ${bit}`).toBe(false);
    for (let bit = 0; bit < 256; bit += 5) expect(verifyNoThrow(flip(pub, bit), msg, sig), `key bit ${bit}`).toBe(false);
  });
});

describe("Wycheproof ed25519_test.json", () => {
  test("file shape", () => {
    expect(wp.algorithm).toBe("EDDSA");
    expect(cases(wp).length).toBe(wp.numberOfTests);
    expect(cases(wp).filter(({ t }) => t.result === "acceptable")).toEqual([]);
  });

  for (const { group, t } of cases(wp)) {
    test(caseName("ed25519", t), () => {
      expect(group.publicKey.curve).toBe("edwards25519");
      expect(verifyNoThrow(hex(group.publicKey.pk), hex(t.msg), hex(t.sig))).toBe(t.result === "valid");
    });
  }
});

describe("keys and malformed input", () => {
  test("ed25519Generate: seed reproduces the key pair; signatures verify", () => {
    const g = ed25519Generate();
    expect(g.seed.length).toBe(32);
    expect(g.publicKey.length).toBe(32);
    const again = ed25519FromSeed(g.seed);
    expect(toHex(again.publicKey)).toBe(toHex(g.publicKey));
    const msg = utf8("hello");
    const sig = ed25519Sign(g.privateKey, msg);
    expect(sig.length).toBe(64);
    expect(toHex(ed25519Sign(again.privateKey, msg))).toBe(toHex(sig)); // deterministic
    expect(ed25519Verify(g.publicKey, msg, sig)).toBe(true);
    expect(ed25519Verify(ed25519Generate().publicKey, msg, sig)).toBe(false);
  });

  test("wrong sizes and undecodable keys are false, never an exception", () => {
    const c = rfc.cases[0]!;
    const pub = hex(c.public_key);
    const sig = hex(c.signature);
    const msg = hex(c.message);
    for (const n of [0, 31, 33, 64]) expect(verifyNoThrow(new Uint8Array(n), msg, sig), `key ${n}`).toBe(false);
    for (const n of [0, 32, 63, 65]) expect(verifyNoThrow(pub, msg, new Uint8Array(n)), `sig ${n}`).toBe(false);
    // y = 2^255 - 1 (>= p) and y = 2 (not on the curve) are not valid encodings.
    expect(verifyNoThrow(new Uint8Array(32).fill(0xff), msg, sig)).toBe(false);
    const two = new Uint8Array(32);
    two[0] = 2;
    expect(verifyNoThrow(two, msg, sig)).toBe(false);
    expect(verifyNoThrow(pub, msg, sig)).toBe(true);
  });

  test("ed25519FromSeed refuses a wrong seed size with TypeError", () => {
    for (const n of [0, 31, 33, 64]) expect(() => ed25519FromSeed(new Uint8Array(n)), `seed ${n}`).toThrow(TypeError);
  });
});
