/**
 * AES-256-CBC + PKCS#7 against NIST SP 800-38A F.2.5/F.2.6 and Wycheproof
 * aes_cbc_pkcs5_test.json, and the long-lived CbcEncryptor / CbcDecryptor contexts
 * against one-shot CBC over many consecutive records.
 */
import { describe, expect, test } from "bun:test";
import { createCipheriv, createDecipheriv } from "node:crypto";
import {
  aesCbcDecrypt,
  aesCbcEncrypt,
  CbcDecryptor,
  CbcEncryptor,
  CbcError,
  pkcs7Pad,
  RELEASE_AT,
  pkcs7Unpad,
} from "../../src/crypto/aes-cbc.ts";
import { concat, toHex } from "../../src/crypto/bytes.ts";
import { sha256 } from "../../src/crypto/hash.ts";
import { caseName, cases, hex, loadVectors, type WycheproofCase, type WycheproofFile } from "./vectors.ts";
import { cipherOutputs } from "../support/cipher-outputs.ts";

interface Sp80038aBlock {
  block: number;
  plaintext: string;
  input_block: string;
  output_block: string;
  ciphertext: string;
}
interface Sp80038aDirection {
  key: string;
  iv: string;
  blocks: Sp80038aBlock[];
  plaintext: string;
  ciphertext: string;
}
interface Sp80038a {
  "F.2.5_encrypt": Sp80038aDirection;
  "F.2.6_decrypt": Sp80038aDirection;
  derived_pkcs7: { published: boolean; key: string; iv: string; plaintext: string; ciphertext: string };
}
interface CbcCase extends WycheproofCase {
  key: string;
  iv: string;
  msg: string;
  ct: string;
}

const sp = await loadVectors<Sp80038a>("sp800_38a_aes256_cbc.json");
const wp = await loadVectors<WycheproofFile<{ keySize: number; ivSize: number }, CbcCase>>("wycheproof/aes_cbc_pkcs5_test.json");

/** Deterministic bytes for the stream tests: SHA-256 in counter mode over a label. */
function detBytes(label: string, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0, pos = 0; pos < n; i++, pos += 32) {
    out.set(sha256(new TextEncoder().encode(`${label}/${i}`)).subarray(0, Math.min(32, n - pos)), pos);
  }
  return out;
}

/** AES-ECB of single blocks (no chaining) for the per-block SP 800-38A tables. */
function ecb(key: Uint8Array, block: Uint8Array, dir: "enc" | "dec"): Uint8Array {
  const c = dir === "enc" ? createCipheriv("aes-256-ecb", key, null) : createDecipheriv("aes-256-ecb", key, null);
  c.setAutoPadding(false);
  return new Uint8Array(Buffer.concat([c.update(block), c.final()]));
}

function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  return a.map((v, i) => v ^ b[i]!);
}

/** The error `fn` throws, or undefined. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe("pkcs7Pad / pkcs7Unpad", () => {
  test("pad adds 1..16 bytes of value n; unpad inverts it for lengths 0..48", () => {
    for (let len = 0; len <= 48; len++) {
      const msg = detBytes(`pad${len}`, len);
      const padded = pkcs7Pad(msg);
      const n = 16 - (len % 16);
      expect(padded.length).toBe(len + n);
      expect(toHex(padded.subarray(0, len))).toBe(toHex(msg));
      expect([...padded.subarray(len)]).toEqual(new Array<number>(n).fill(n));
      expect(pkcs7Unpad(padded)).toBe(len);
    }
  });

  test("malformed padding throws CbcError: n = 0, n > 16, any wrong pad byte, empty, partial block", () => {
    const base = pkcs7Pad(new Uint8Array(4)); // 12 bytes of 0x0c
    for (const last of [0, 17, 0x80, 0xff]) {
      const b = new Uint8Array(base);
      b[15] = last;
      expect(() => pkcs7Unpad(b)).toThrow(CbcError);
    }
    for (let i = 4; i < 15; i++) {
      const b = new Uint8Array(base);
      b[i]! ^= 1;
      expect(() => pkcs7Unpad(b)).toThrow(CbcError);
    }
    const full = pkcs7Pad(new Uint8Array(16)); // a whole block of 0x10
    for (let i = 16; i < 31; i++) {
      const b = new Uint8Array(full);
      b[i] = 0x0f;
      expect(() => pkcs7Unpad(b)).toThrow(CbcError);
    }
    expect(() => pkcs7Unpad(new Uint8Array(0))).toThrow(CbcError);
    expect(() => pkcs7Unpad(new Uint8Array(15).fill(1))).toThrow(CbcError);
    // A byte just before the padding may equal n or not; it is message.
    const edge = new Uint8Array(16).fill(3);
    expect(pkcs7Unpad(edge)).toBe(13);
  });
});

describe("SP 800-38A F.2.5 / F.2.6 (AES-256-CBC, no padding)", () => {
  const enc = sp["F.2.5_encrypt"];
  const dec = sp["F.2.6_decrypt"];
  const key = hex(enc.key);
  const iv = hex(enc.iv);

  test("F.2.5 and F.2.6 describe the same key, IV, plaintext and ciphertext", () => {
    expect([dec.key, dec.iv, dec.plaintext, dec.ciphertext]).toEqual([enc.key, enc.iv, enc.plaintext, enc.ciphertext]);
  });

  test("F.2.5 per-block table: input = P ^ previous, output = AES(input) = C", () => {
    let prev = iv;
    for (const b of enc.blocks) {
      expect(toHex(xor(hex(b.plaintext), prev)), `block ${b.block}`).toBe(b.input_block);
      expect(toHex(ecb(key, hex(b.input_block), "enc")), `block ${b.block}`).toBe(b.output_block);
      expect(b.ciphertext).toBe(b.output_block);
      prev = hex(b.ciphertext);
    }
  });

  test("F.2.6 per-block table: output = AES^-1(C), P = output ^ previous", () => {
    let prev = iv;
    for (const b of dec.blocks) {
      expect(b.input_block).toBe(b.ciphertext);
      expect(toHex(ecb(key, hex(b.input_block), "dec")), `block ${b.block}`).toBe(b.output_block);
      expect(toHex(xor(hex(b.output_block), prev)), `block ${b.block}`).toBe(b.plaintext);
      prev = hex(b.ciphertext);
    }
  });

  test("CbcEncryptor on the raw 64-byte plaintext reproduces the NIST ciphertext", () => {
    const e = new CbcEncryptor(key);
    expect(toHex(e.encrypt(iv, hex(enc.plaintext)))).toBe(enc.ciphertext);
    // Same context again: the carried chaining value must not leak into the next record.
    expect(toHex(e.encrypt(iv, hex(enc.plaintext)))).toBe(enc.ciphertext);
  });

  test("CbcEncryptor.encryptAfterIv writes the NIST ciphertext right after the IV, twice in a row, and refuses a short buffer", () => {
    const e = new CbcEncryptor(key);
    for (let round = 0; round < 2; round++) {
      const buf = new Uint8Array(5 + 16 + 64 + 3).fill(0xcd);
      buf.set(iv, 5);
      e.encryptAfterIv(buf, 5, hex(enc.plaintext));
      expect(toHex(buf.subarray(5, 21))).toBe(toHex(iv));
      expect(toHex(buf.subarray(21, 85))).toBe(enc.ciphertext);
      expect([...buf.subarray(0, 5), ...buf.subarray(85)].every((b) => b === 0xcd)).toBe(true);
    }
    expect(() => e.encryptAfterIv(new Uint8Array(16 + 63), 0, hex(enc.plaintext))).toThrow(TypeError);
    // The refusal left the context untouched: the next record is still exact.
    const buf = concat(iv, new Uint8Array(64));
    e.encryptAfterIv(buf, 0, hex(enc.plaintext));
    expect(toHex(buf.subarray(16))).toBe(enc.ciphertext);
  });

  test("CbcEncryptor block by block, each block a record whose IV is the previous ciphertext block", () => {
    const e = new CbcEncryptor(key);
    let prev = iv;
    for (const b of enc.blocks) {
      const c = e.encrypt(prev, hex(b.plaintext));
      expect(toHex(c), `block ${b.block}`).toBe(b.ciphertext);
      prev = c;
    }
  });

  test("CbcDecryptor(iv | ct) returns the raw NIST plaintext, twice in a row", () => {
    const d = new CbcDecryptor(key);
    const body = concat(iv, hex(dec.ciphertext));
    expect(toHex(d.decrypt(body))).toBe(dec.plaintext);
    expect(toHex(d.decrypt(body))).toBe(dec.plaintext);
  });

  test("derived PKCS#7 case (not published): 80-byte ciphertext; bare 64-byte NIST ciphertext fails unpadding", () => {
    const v = sp.derived_pkcs7;
    expect(v.published).toBe(false);
    const k = hex(v.key);
    const i = hex(v.iv);
    expect(toHex(aesCbcEncrypt(k, i, hex(v.plaintext)))).toBe(v.ciphertext);
    expect(v.ciphertext.startsWith(enc.ciphertext)).toBe(true);
    expect(toHex(aesCbcDecrypt(k, i, hex(v.ciphertext)))).toBe(v.plaintext);
    expect(toHex(new CbcEncryptor(k).encrypt(i, pkcs7Pad(hex(v.plaintext))))).toBe(v.ciphertext);
    const padded = new CbcDecryptor(k).decrypt(concat(i, hex(v.ciphertext)));
    expect(toHex(padded.subarray(0, pkcs7Unpad(padded)))).toBe(v.plaintext);
    expect(() => aesCbcDecrypt(k, i, hex(enc.ciphertext))).toThrow(CbcError);
  });
});

describe("Wycheproof aes_cbc_pkcs5_test.json", () => {
  test("file shape", () => {
    expect(wp.algorithm).toBe("AES-CBC-PKCS5");
    expect(cases(wp).length).toBe(wp.numberOfTests);
    expect(wp.testGroups.map((g) => g.keySize)).toEqual([128, 192, 256]);
  });

  const errors: unknown[] = [];
  for (const { group, t } of cases(wp)) {
    const key = hex(t.key);
    const iv = hex(t.iv);
    const msg = hex(t.msg);
    const ct = hex(t.ct);
    if (group.keySize === 256) {
      // The chat's cipher: every wrapper, one-shot and long-lived.
      test(caseName("aes-256-cbc", t), () => {
        if (t.result === "valid") {
          expect(toHex(aesCbcEncrypt(key, iv, msg))).toBe(t.ct);
          expect(toHex(aesCbcDecrypt(key, iv, ct))).toBe(t.msg);
          expect(toHex(new CbcEncryptor(key).encrypt(iv, pkcs7Pad(msg)))).toBe(t.ct);
          const padded = new CbcDecryptor(key).decrypt(concat(iv, ct));
          expect(toHex(padded)).toBe(toHex(pkcs7Pad(msg)));
          expect(pkcs7Unpad(padded)).toBe(msg.length);
        } else {
          const e1 = thrown(() => aesCbcDecrypt(key, iv, ct));
          const e2 = thrown(() => {
            const padded = new CbcDecryptor(key).decrypt(concat(iv, ct));
            pkcs7Unpad(padded);
          });
          expect(e1).toBeInstanceOf(CbcError);
          expect(e2).toBeInstanceOf(CbcError);
          errors.push(e1, e2);
        }
      });
    } else {
      // AES-128/192: the wrappers are AES-256 only, so exercise the PKCS#7 layer
      // over node:crypto's raw CBC, and check the wrappers refuse the key size.
      test(caseName(`aes-${group.keySize}-cbc (pkcs7 layer)`, t), () => {
        expect(() => aesCbcEncrypt(key, iv, msg)).toThrow(TypeError);
        const raw = createDecipheriv(`aes-${group.keySize}-cbc`, key, iv).setAutoPadding(false);
        const padded = new Uint8Array(Buffer.concat([raw.update(ct), raw.final()]));
        if (t.result === "valid") {
          expect(toHex(padded.subarray(0, pkcs7Unpad(padded)))).toBe(t.msg);
          const c = createCipheriv(`aes-${group.keySize}-cbc`, key, iv).setAutoPadding(false);
          expect(toHex(Buffer.concat([c.update(pkcs7Pad(msg)), c.final()]))).toBe(t.ct);
        } else {
          const e = thrown(() => pkcs7Unpad(padded));
          expect(e).toBeInstanceOf(CbcError);
          errors.push(e);
        }
      });
    }
  }

  test("every invalid case failed with one uniform error", () => {
    expect(errors.length).toBe(2 * 48 + 2 * 48); // 48 invalid per group; 256: two paths, 128/192: one each
    const shapes = new Set(errors.map((e) => `${(e as Error).name}: ${(e as Error).message}`));
    expect([...shapes]).toEqual(["CbcError: decryption failed"]);
  });
});

describe("long-lived CbcEncryptor / CbcDecryptor vs one-shot CBC", () => {
  const key = detBytes("stream key", 32);

  test("300 consecutive records with different IVs and lengths are byte-identical to one-shot CBC", () => {
    const e = new CbcEncryptor(key);
    const d = new CbcDecryptor(key);
    const lens = detBytes("lens", 300);
    for (let r = 0; r < 300; r++) {
      const len = r < 50 ? r : lens[r]! + (r % 3 === 0 ? 256 : 0); // 0..49, then up to 511
      const iv = detBytes(`iv${r}`, 16);
      const msg = detBytes(`msg${r}`, len);
      const want = aesCbcEncrypt(key, iv, msg);
      const got = e.encrypt(iv, pkcs7Pad(msg));
      expect(toHex(got), `record ${r} (len ${len})`).toBe(toHex(want));
      const padded = d.decrypt(concat(iv, got));
      expect(padded.length).toBe(got.length);
      expect(toHex(padded.subarray(0, pkcs7Unpad(padded))), `record ${r}`).toBe(toHex(msg));
    }
  });

  test("a record with bad padding does not disturb the next record", () => {
    const e = new CbcEncryptor(key);
    const d = new CbcDecryptor(key);
    const iv = detBytes("bad iv", 16);
    const unpadded = detBytes("no padding", 48);
    unpadded[47] = 0; // a final byte of 0 is never valid PKCS#7
    const forged = concat(iv, new CbcEncryptor(key).encrypt(iv, unpadded));
    expect(() => pkcs7Unpad(d.decrypt(forged))).toThrow(CbcError);
    const msg = detBytes("after", 21);
    const iv2 = detBytes("iv after", 16);
    const padded = d.decrypt(concat(iv2, e.encrypt(iv2, pkcs7Pad(msg))));
    expect(toHex(padded.subarray(0, pkcs7Unpad(padded)))).toBe(toHex(msg));
  });

  test("malformed record lengths throw CbcError before touching the context (regression)", () => {
    const d = new CbcDecryptor(key);
    const msg = detBytes("m", 20);
    const iv = detBytes("iv", 16);
    const body = concat(iv, aesCbcEncrypt(key, iv, msg));
    for (const n of [0, 8, 16, 17, 31, 40, 47]) {
      const e = thrown(() => d.decrypt(detBytes(`junk${n}`, n)));
      expect(e, `length ${n}`).toBeInstanceOf(CbcError);
      const padded = d.decrypt(body);
      expect(toHex(padded.subarray(0, pkcs7Unpad(padded))), `after length ${n}`).toBe(toHex(msg));
    }
  });

  test("CbcEncryptor refuses a bad IV or a partial block and stays in sync (regression)", () => {
    const e = new CbcEncryptor(key);
    const iv = detBytes("iv", 16);
    const msg = detBytes("m", 33);
    expect(() => e.encrypt(iv.subarray(0, 15), pkcs7Pad(msg))).toThrow(TypeError);
    for (const n of [0, 5, 17]) {
      expect(() => e.encrypt(iv, new Uint8Array(n)), `length ${n}`).toThrow(TypeError);
      expect(toHex(e.encrypt(iv, pkcs7Pad(msg))), `after length ${n}`).toBe(toHex(aesCbcEncrypt(key, iv, msg)));
    }
  });
});

describe("the cipher's output, given back at once (bulk records)", () => {
  const key = detBytes("release key", 32);
  /** Ordinary CBC of `padded` under `iv`, from a context of its own. */
  const oneShot = (iv: Uint8Array, padded: Uint8Array) => {
    const c = createCipheriv("aes-256-cbc", key, iv).setAutoPadding(false);
    return Buffer.concat([c.update(padded), c.final()]);
  };

  test("encryptAfterIv of a file-sized record: one update, its output copied then detached (freed now, not at a later collection); the bytes are ordinary CBC, record after record", () => {
    const e = new CbcEncryptor(key);
    for (const n of [61_456, RELEASE_AT, 65_296, 61_456]) {
      const iv = detBytes(`iv ${n}`, 16);
      const pt = detBytes(`pt ${n}`, n);
      const buf = new Uint8Array(3 + 16 + n + 32).fill(0xee);
      buf.set(iv, 3);
      const seen = cipherOutputs(() => e.encryptAfterIv(buf, 3, new Uint8Array(pt)));
      expect(seen.length, `records of ${n} bytes`).toBe(1);
      expect(seen[0]!.byteLength).toBe(0);
      expect((seen[0]!.buffer as ArrayBuffer).detached).toBe(true);
      expect(toHex(buf.subarray(19, 19 + n))).toBe(toHex(oneShot(iv, pt)));
      expect([...buf.subarray(0, 3), ...buf.subarray(19 + n)]).toEqual(Array(35).fill(0xee));
    }
  });

  test("below RELEASE_AT (chat lines) the output is left to the collector, and the bytes are the same CBC", () => {
    const e = new CbcEncryptor(key);
    for (const n of [16, 64, 1024, RELEASE_AT - 16]) {
      const iv = detBytes(`small iv ${n}`, 16);
      const pt = detBytes(`small pt ${n}`, n);
      const buf = new Uint8Array(16 + n);
      buf.set(iv, 0);
      const seen = cipherOutputs(() => e.encryptAfterIv(buf, 0, new Uint8Array(pt)));
      expect(seen.map((o) => o.byteLength)).toEqual([n]);
      expect(toHex(buf.subarray(16))).toBe(toHex(oneShot(iv, pt)));
    }
  });

  test("encrypt (which returns the output to its caller) never detaches it", () => {
    const e = new CbcEncryptor(key);
    const iv = detBytes("returned iv", 16);
    const pt = detBytes("returned pt", 61_456);
    const got = e.encrypt(iv, new Uint8Array(pt));
    expect(got.byteLength).toBe(61_456);
    expect(toHex(got)).toBe(toHex(oneShot(iv, pt)));
  });
});

describe("argument checks", () => {
  const key = new Uint8Array(32);
  const iv = new Uint8Array(16);
  test("key and IV sizes are TypeErrors", () => {
    expect(() => aesCbcEncrypt(new Uint8Array(16), iv, new Uint8Array(1))).toThrow(TypeError);
    expect(() => aesCbcEncrypt(key, new Uint8Array(12), new Uint8Array(1))).toThrow(TypeError);
    expect(() => aesCbcDecrypt(new Uint8Array(24), iv, new Uint8Array(16))).toThrow(TypeError);
    expect(() => aesCbcDecrypt(key, new Uint8Array(17), new Uint8Array(16))).toThrow(TypeError);
    expect(() => new CbcEncryptor(new Uint8Array(31))).toThrow(TypeError);
    expect(() => new CbcDecryptor(new Uint8Array(33))).toThrow(TypeError);
  });

  test("ciphertext that is empty or not a multiple of 16 is a CbcError", () => {
    for (const n of [0, 1, 15, 17, 31]) expect(() => aesCbcDecrypt(key, iv, new Uint8Array(n)), `length ${n}`).toThrow(CbcError);
  });
});
