/**
 * X25519 against RFC 7748 (§5.2 function and iterated vectors, §6.1 DH example) and
 * Wycheproof x25519_test.json.
 *
 * Policy (test/vectors/shared/README.md): the 31 ZeroSharedSecret cases give an
 * all-zero secret, which the handshake refuses via ctIsZero (RFC 7748 §6.1); every
 * other case, including the acceptable twist and non-canonical ones, gives exactly
 * `shared`.
 */
import { describe, expect, test } from "bun:test";
import { toHex } from "../../src/crypto/bytes.ts";
import { ctIsZero } from "../../src/crypto/hash.ts";
import { x25519, x25519Generate, x25519PrivateKey, x25519Public, x25519PublicKey, x25519RawPublic } from "../../src/crypto/x25519.ts";
import { caseName, cases, hex, loadVectors, type WycheproofCase, type WycheproofFile } from "./vectors.ts";

interface Rfc7748 {
  scalar_mult: { id: string; scalar: string; u: string; output: string }[];
  iterated: { initial_k: string; initial_u: string; results: { iterations: number; k: string; slow?: boolean }[] };
  diffie_hellman: { alice_private: string; alice_public: string; bob_private: string; bob_public: string; shared: string };
}
interface XdhCase extends WycheproofCase {
  public: string;
  private: string;
  shared: string;
}

const rfc = await loadVectors<Rfc7748>("rfc7748_x25519.json");
const wp = await loadVectors<WycheproofFile<{ curve: string }, XdhCase>>("wycheproof/x25519_test.json");

/** tcIds of the ZeroSharedSecret cases, as listed in test/vectors/shared/README.md. */
const ZERO_SHARED_TCIDS = [32, 33, ...Array.from({ length: 24 }, (_, i) => 63 + i), 117, 118, 154, 165, 166];

describe("RFC 7748 §5.2 function vectors", () => {
  for (const v of rfc.scalar_mult) {
    test(v.id, () => {
      expect(toHex(x25519(hex(v.scalar), hex(v.u)))).toBe(v.output);
      expect(toHex(x25519(x25519PrivateKey(hex(v.scalar)), hex(v.u)))).toBe(v.output);
    });
  }

  test("vector 2: the top bit of u is masked (same result with it cleared)", () => {
    const v = rfc.scalar_mult[1]!;
    const u = hex(v.u);
    expect(u[31]! & 0x80).toBe(0x80);
    u[31]! &= 0x7f;
    expect(toHex(x25519(hex(v.scalar), u))).toBe(v.output);
  });

  test("clamping: the 3 low bits, bit 254 and bit 255 of the scalar do not matter", () => {
    const v = rfc.scalar_mult[0]!;
    const s = hex(v.scalar);
    s[0] = s[0]! ^ 0x07;
    s[31] = (s[31]! ^ 0x80) & 0xbf;
    expect(toHex(x25519(s, hex(v.u)))).toBe(v.output);
  });
});

describe("RFC 7748 §5.2 iterated vector", () => {
  const fast = rfc.iterated.results.filter((r) => r.slow !== true);
  test("1 and 1,000 iterations (the 1,000,000 one is skipped: minutes)", () => {
    expect(fast.map((r) => r.iterations)).toEqual([1, 1000]);
    let k = hex(rfc.iterated.initial_k);
    let u = hex(rfc.iterated.initial_u);
    let done = 0;
    for (const r of fast) {
      for (; done < r.iterations; done++) [k, u] = [x25519(k, u), k];
      expect(toHex(k), `after ${r.iterations} iterations`).toBe(r.k);
    }
  });
});

describe("RFC 7748 §6.1 Diffie-Hellman", () => {
  const v = rfc.diffie_hellman;
  test("public keys and the shared secret", () => {
    expect(toHex(x25519Public(hex(v.alice_private)))).toBe(v.alice_public);
    expect(toHex(x25519Public(hex(v.bob_private)))).toBe(v.bob_public);
    expect(toHex(x25519RawPublic(x25519PrivateKey(hex(v.alice_private))))).toBe(v.alice_public);
    expect(toHex(x25519(hex(v.alice_private), hex(v.bob_public)))).toBe(v.shared);
    expect(toHex(x25519(hex(v.bob_private), hex(v.alice_public)))).toBe(v.shared);
  });
});

describe("Wycheproof x25519_test.json", () => {
  test("file shape and the ZeroSharedSecret set", () => {
    expect(wp.algorithm).toBe("XDH");
    expect(wp.testGroups.map((g) => g.curve)).toEqual(["curve25519"]);
    const all = cases(wp).map(({ t }) => t);
    expect(all.length).toBe(wp.numberOfTests);
    expect(all.filter((t) => t.flags.includes("ZeroSharedSecret")).map((t) => t.tcId)).toEqual(ZERO_SHARED_TCIDS);
    expect(all.filter((t) => t.result === "invalid")).toEqual([]);
  });

  for (const { t } of cases(wp)) {
    test(caseName("x25519", t), () => {
      const z = x25519(hex(t.private), hex(t.public));
      expect(z.length).toBe(32);
      expect(toHex(z)).toBe(t.shared);
      // ctIsZero is what the handshake uses to refuse a low-order peer key.
      expect(ctIsZero(z)).toBe(t.flags.includes("ZeroSharedSecret"));
    });
  }
});

describe("keys and argument checks", () => {
  test("x25519Generate: the raw public key matches the key object, and both sides agree", () => {
    const a = x25519Generate();
    const b = x25519Generate();
    expect(a.publicKey.length).toBe(32);
    expect(toHex(x25519RawPublic(a.privateKey))).toBe(toHex(a.publicKey));
    expect(toHex(a.publicKey)).not.toBe(toHex(b.publicKey));
    const z1 = x25519(a.privateKey, b.publicKey);
    expect(ctIsZero(z1)).toBe(false);
    expect(toHex(z1)).toBe(toHex(x25519(b.privateKey, a.publicKey)));
  });

  test("wrong sizes throw TypeError (peer key too: it must not read as an all-zero secret)", () => {
    const priv = hex(rfc.diffie_hellman.alice_private);
    for (const n of [0, 31, 33]) {
      expect(() => x25519PrivateKey(new Uint8Array(n)), `private ${n}`).toThrow(TypeError);
      expect(() => x25519PublicKey(new Uint8Array(n)), `public ${n}`).toThrow(TypeError);
      expect(() => x25519(priv, new Uint8Array(n)), `peer ${n}`).toThrow(TypeError);
      expect(() => x25519(new Uint8Array(n), hex(rfc.diffie_hellman.bob_public)), `own ${n}`).toThrow(TypeError);
    }
  });
});
