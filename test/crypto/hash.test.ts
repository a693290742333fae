/**
 * SHA-256, HMAC-SHA256 and HKDF-SHA256 against RFC 4231, RFC 5869 and Wycheproof
 * (hmac_sha256_test.json, hkdf_sha256_test.json), plus node:crypto cross-checks.
 */
import { describe, expect, test } from "bun:test";
import { createHash, createHmac, hkdfSync } from "node:crypto";
import { toHex, utf8 } from "../../src/crypto/bytes.ts";
import { ctEqual, ctIsZero, hkdf, hkdfExpand, hkdfExtract, HmacKey, hmacSha256, sha256 } from "../../src/crypto/hash.ts";
import { caseName, cases, hex, loadVectors, type WycheproofCase, type WycheproofFile } from "./vectors.ts";

interface Rfc4231 {
  cases: { id: string; comment: string; key: string; data: string; hmac_sha256: string; truncated_to_bits?: number }[];
}
interface Rfc5869 {
  cases: { id: string; comment: string; ikm: string; salt: string; info: string; length: number; prk: string; okm: string }[];
}
interface MacCase extends WycheproofCase {
  key: string;
  msg: string;
  tag: string;
}
interface HkdfCase extends WycheproofCase {
  ikm: string;
  salt: string;
  info: string;
  size: number;
  okm: string;
}

const rfc4231 = await loadVectors<Rfc4231>("rfc4231_hmac_sha256.json");
const rfc5869 = await loadVectors<Rfc5869>("rfc5869_hkdf_sha256.json");
const wpHmac = await loadVectors<WycheproofFile<{ keySize: number; tagSize: number }, MacCase>>("wycheproof/hmac_sha256_test.json");
const wpHkdf = await loadVectors<WycheproofFile<{ keySize: number }, HkdfCase>>("wycheproof/hkdf_sha256_test.json");

describe("sha256", () => {
  // FIPS 180-4 examples (NIST CSRC "SHA256.pdf"): "", "abc", and the 448-bit message.
  const kats: [string, string][] = [
    ["", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
    ["abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
    ["abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"],
  ];
  for (const [msg, digest] of kats) {
    test(`FIPS 180-4 "${msg.slice(0, 12)}${msg.length > 12 ? "…" : ""}"`, () => {
      const d = sha256(utf8(msg));
      expect(d.length).toBe(32);
      expect(toHex(d)).toBe(digest);
    });
  }

  test("parts are concatenated; 1,000,000 x 'a' (FIPS 180-4)", () => {
    const a = utf8("a".repeat(1000));
    const parts = Array.from({ length: 1000 }, () => a);
    expect(toHex(sha256(...parts))).toBe("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  });

  test("agrees with node:crypto for lengths 0..200 split at every point", () => {
    const msg = new Uint8Array(200).map((_, i) => (i * 31 + 7) & 0xff);
    for (let n = 0; n <= 200; n += 13) {
      const m = msg.subarray(0, n);
      const want = createHash("sha256").update(m).digest("hex");
      for (let cut = 0; cut <= n; cut += 5) expect(toHex(sha256(m.subarray(0, cut), m.subarray(cut)))).toBe(want);
    }
  });
});

describe("hmacSha256 / HmacKey: RFC 4231", () => {
  for (const c of rfc4231.cases) {
    test(`${c.id} ${c.comment}`, () => {
      const key = hex(c.key);
      const data = hex(c.data);
      const n = (c.truncated_to_bits ?? 256) / 8;
      expect(toHex(hmacSha256(key, data).subarray(0, n))).toBe(c.hmac_sha256);
      expect(toHex(new HmacKey(key).mac([data]).subarray(0, n))).toBe(c.hmac_sha256);
      const half = data.length >> 1;
      expect(toHex(hmacSha256(key, data.subarray(0, half), data.subarray(half)).subarray(0, n))).toBe(c.hmac_sha256);
    });
  }
});

describe("hmacSha256 / HmacKey: Wycheproof hmac_sha256_test.json", () => {
  test("file shape", () => {
    expect(wpHmac.algorithm).toBe("HMACSHA256");
    expect(cases(wpHmac).length).toBe(wpHmac.numberOfTests);
  });
  for (const { group, t } of cases(wpHmac)) {
    test(caseName(`hmac k${group.keySize} t${group.tagSize}`, t), () => {
      const key = hex(t.key);
      const msg = hex(t.msg);
      const tag = hex(t.tag);
      expect(key.length * 8).toBe(group.keySize);
      expect(tag.length * 8).toBe(group.tagSize); // tagSize 128: the leftmost 16 bytes
      const full = hmacSha256(key, msg);
      const computed = full.subarray(0, group.tagSize / 8);
      expect(toHex(new HmacKey(key).mac([msg]))).toBe(toHex(full));
      expect(ctEqual(computed, tag)).toBe(t.result === "valid");
    });
  }
});

describe("HmacKey", () => {
  test("reuse: many messages from one keyed state equal fresh one-shot HMACs", () => {
    const key = utf8("a key that is reused for many messages");
    const k = new HmacKey(key);
    for (let i = 0; i < 50; i++) {
      const msg = new Uint8Array(i * 7).fill(i);
      expect(toHex(k.mac([msg, utf8(`#${i}`)]))).toBe(createHmac("sha256", key).update(msg).update(`#${i}`).digest("hex"));
    }
  });

  test("writes into `out` at `offset` and returns that 32-byte view", () => {
    const k = new HmacKey(utf8("k"));
    const out = new Uint8Array(40).fill(0xee);
    const r = k.mac([utf8("m")], out, 5);
    expect(r.length).toBe(32);
    expect(r.buffer).toBe(out.buffer);
    expect(r.byteOffset).toBe(5);
    expect(toHex(r)).toBe(toHex(hmacSha256(utf8("k"), utf8("m"))));
    expect(out[4]).toBe(0xee);
    expect(out[37]).toBe(0xee);
  });
});

describe("ctEqual / ctIsZero", () => {
  test("ctEqual: equal, one bit flipped at each position, different lengths", () => {
    const a = sha256(utf8("x"));
    expect(ctEqual(a, new Uint8Array(a))).toBe(true);
    for (let i = 0; i < a.length; i++) {
      const b = new Uint8Array(a);
      b[i]! ^= 0x80;
      expect(ctEqual(a, b)).toBe(false);
    }
    expect(ctEqual(a, a.subarray(0, 31))).toBe(false);
    expect(ctEqual(a.subarray(0, 16), a)).toBe(false);
    expect(ctEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
  });

  test("ctIsZero: all-zero, any single non-zero byte, empty", () => {
    expect(ctIsZero(new Uint8Array(32))).toBe(true);
    expect(ctIsZero(new Uint8Array(0))).toBe(true);
    for (let i = 0; i < 32; i++) {
      for (const v of [1, 0x80, 0xff]) {
        const b = new Uint8Array(32);
        b[i] = v;
        expect(ctIsZero(b)).toBe(false);
      }
    }
  });
});

describe("HKDF: RFC 5869", () => {
  for (const c of rfc5869.cases) {
    test(`${c.id} ${c.comment}`, () => {
      const prk = hkdfExtract(hex(c.salt), hex(c.ikm));
      expect(toHex(prk)).toBe(c.prk);
      expect(toHex(hkdfExpand(prk, hex(c.info), c.length))).toBe(c.okm);
      expect(toHex(hkdf(hex(c.salt), hex(c.ikm), hex(c.info), c.length))).toBe(c.okm);
    });
  }
});

describe("HKDF: Wycheproof hkdf_sha256_test.json", () => {
  test("file shape", () => {
    expect(wpHkdf.algorithm).toBe("HKDF-SHA-256");
    expect(cases(wpHkdf).length).toBe(wpHkdf.numberOfTests);
  });
  for (const { t } of cases(wpHkdf)) {
    test(caseName("hkdf", t), () => {
      const run = () => hkdf(hex(t.salt), hex(t.ikm), hex(t.info), t.size);
      if (t.result === "valid") {
        // EmptySalt: salt "" is treated as 32 zero bytes (RFC 5869 §2.2).
        expect(toHex(run())).toBe(t.okm);
      } else {
        expect(t.flags).toContain("SizeTooLarge");
        expect(run).toThrow(RangeError);
      }
    });
  }

  test("a few valid cases agree with node:crypto hkdfSync", () => {
    const picked = cases(wpHkdf)
      .map(({ t }) => t)
      .filter((t) => t.result === "valid")
      .filter((_, i) => i % 9 === 0);
    expect(picked.length).toBeGreaterThanOrEqual(5);
    for (const t of picked) {
      const ref = new Uint8Array(hkdfSync("sha256", hex(t.ikm), hex(t.salt), hex(t.info), t.size));
      expect(toHex(ref), `tcId ${t.tcId}`).toBe(t.okm);
      expect(toHex(hkdf(hex(t.salt), hex(t.ikm), hex(t.info), t.size)), `tcId ${t.tcId}`).toBe(toHex(ref));
    }
  });
});

describe("HKDF bounds", () => {
  const prk = sha256(utf8("prk"));
  test("length 0 and 255*32 are allowed, 8161, -1, 1.5, NaN are not", () => {
    expect(hkdfExpand(prk, new Uint8Array(0), 0).length).toBe(0);
    const max = hkdfExpand(prk, utf8("i"), 255 * 32);
    expect(max.length).toBe(8160);
    expect(toHex(max.subarray(0, 100))).toBe(toHex(hkdfExpand(prk, utf8("i"), 100)));
    for (const bad of [8161, -1, 1.5, Number.NaN]) expect(() => hkdfExpand(prk, utf8("i"), bad)).toThrow(RangeError);
  });

  test("a PRK shorter than HashLen is refused", () => {
    expect(() => hkdfExpand(prk.subarray(0, 31), new Uint8Array(0), 32)).toThrow(RangeError);
  });

  test("Expand output is a prefix-stable stream across block boundaries", () => {
    const long = hkdfExpand(prk, utf8("info"), 200);
    for (const n of [1, 31, 32, 33, 64, 65, 199]) expect(toHex(hkdfExpand(prk, utf8("info"), n))).toBe(toHex(long.subarray(0, n)));
    const ref = new Uint8Array(hkdfSync("sha256", utf8("ikm"), new Uint8Array(0), utf8("info"), 200));
    expect(toHex(hkdf(new Uint8Array(0), utf8("ikm"), utf8("info"), 200))).toBe(toHex(ref));
    expect(toHex(hkdfExtract(new Uint8Array(0), utf8("ikm")))).toBe(toHex(hkdfExtract(new Uint8Array(32), utf8("ikm"))));
  });
});

describe("HKDF-Expand with its info in two parts", () => {
  test("info | info2 gives what the concatenated info gives, for one, two and a partial block, against node:crypto", () => {
    const ikm = utf8("two-part ikm"), salt = utf8("two-part salt");
    const prk = hkdfExtract(salt, ikm);
    for (const len of [1, 31, 32, 33, 64, 65, 200]) {
      const a = utf8("sotto/1 hs i2r"), b = new Uint8Array(32).map((_, i) => i * 7);
      const joined = new Uint8Array([...a, ...b]);
      const want = toHex(new Uint8Array(hkdfSync("sha256", ikm, salt, joined, len)));
      expect(toHex(hkdfExpand(prk, a, len, b))).toBe(want);
      expect(toHex(hkdfExpand(prk, joined, len))).toBe(want);
      // The split point does not matter either.
      expect(toHex(hkdfExpand(prk, joined.subarray(0, 5), len, joined.subarray(5)))).toBe(want);
    }
  });
});
