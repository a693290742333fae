/**
 * FFDHE (RFC 7919 ffdhe2048 / ffdhe3072) against test/vectors/shared/ffdhe.json: the
 * primes, the generator's order, the public-value accept/reject table, the Jacobi
 * symbol against Euler's criterion, and the derived (unpublished) exchanges.
 *
 * One FfdheContext per group for the whole file (ffdheContext caches it): building one
 * costs ~0.45 s. Reference values come from a plain BigInt square-and-multiply.
 */
import { describe, expect, test } from "bun:test";
import { toHex, utf8 } from "../../src/crypto/bytes.ts";
import {
  bigIntToBytes,
  bytesToBigInt,
  checkFfdheShare,
  FFDHE,
  FFDHE2048_P_HEX,
  FFDHE3072_P_HEX,
  ffdheContext,
  jacobi,
  type FfdheName,
  type ShareFault,
} from "../../src/crypto/ffdhe.ts";
import { sha256 } from "../../src/crypto/hash.ts";
import { hex, loadVectors } from "./vectors.ts";

interface FfdheGroupVector {
  name: string;
  bits: number;
  g: number;
  p: string;
  q: string | null;
  derived_exchange?: {
    published: boolean;
    alice_private: string;
    bob_private: string;
    alice_public: string;
    bob_public: string;
    shared_secret_padded: string;
  };
}
interface FfdheFile {
  groups: FfdheGroupVector[];
  public_value_checks: { cases: { Y: string; range_check: string; subgroup_check: string; note?: string }[] };
}

const file = await loadVectors<FfdheFile>("ffdhe.json");
const NAMES: FfdheName[] = ["ffdhe2048", "ffdhe3072"];

function vectorGroup(name: string): FfdheGroupVector {
  const g = file.groups.find((x) => x.name === name);
  if (g === undefined) throw new Error(`ffdhe.json has no group ${name}`);
  return g;
}

/** b^e mod m by square-and-multiply: the test's independent reference. */
function modPow(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  b %= m;
  for (; e > 0n; e >>= 1n) {
    if ((e & 1n) === 1n) r = (r * b) % m;
    b = (b * b) % m;
  }
  return r;
}

/** `x` left-padded with zero bytes to `len` (the same integer). */
function leftPad(x: Uint8Array, len: number): Uint8Array {
  const out = new Uint8Array(len);
  out.set(x, len - x.length);
  return out;
}

/** The value a public_value_checks row names, for prime p of `bits` bits. */
function rowValue(y: string, p: bigint, bits: number): bigint {
  const table: Record<string, bigint> = { "0": 0n, "1": 1n, "2": 2n, "p-1": p - 1n, p, "p+1": p + 1n, "p-2": p - 2n };
  const v = y.startsWith("2^bits") ? 1n << BigInt(bits) : table[y];
  if (v === undefined) throw new Error(`unknown public_value_checks row ${y}`);
  return v;
}

describe("group parameters", () => {
  test("FFDHE2048_P_HEX / FFDHE3072_P_HEX equal ffdhe.json's p", () => {
    expect(FFDHE2048_P_HEX).toBe(vectorGroup("ffdhe2048").p);
    expect(FFDHE3072_P_HEX).toBe(vectorGroup("ffdhe3072").p);
  });

  for (const name of NAMES) {
    test(`${name}: FFDHE table, q = (p-1)/2, 2^q mod p == 1`, () => {
      const v = vectorGroup(name);
      const g = FFDHE[name];
      expect(v.g).toBe(2);
      expect(g.name).toBe(name);
      expect(g.p).toBe(BigInt("0x" + v.p));
      expect(g.p.toString(2).length).toBe(v.bits);
      expect(g.len).toBe(v.bits / 8);
      expect(g.exponentLen).toBe(name === "ffdhe2048" ? 32 : 40);
      const q = (g.p - 1n) / 2n;
      expect(q.toString(16)).toBe(v.q ?? "");
      expect(g.p % 8n).toBe(7n); // so 2 is a residue and -2 a non-residue
      expect(modPow(2n, q, g.p)).toBe(1n);
    });
  }
});

describe("checkFfdheShare: public_value_checks table", () => {
  const rows = file.public_value_checks.cases;
  test("the table has the eight expected rows", () => {
    expect(rows.map((r) => r.Y.split(" ")[0])).toEqual(["0", "1", "p-1", "p", "p+1", "2^bits", "2", "p-2"]);
  });

  for (const name of NAMES) {
    const g = FFDHE[name];
    for (const row of rows) {
      // range reject -> "range" (or "length" when Y does not fit len(p) bytes);
      // range accept -> null, or "subgroup" when the subgroup check rejects it.
      const y = rowValue(row.Y, g.p, g.len * 8);
      const tooLong = y >> BigInt(g.len * 8) !== 0n;
      const want: ShareFault | null =
        row.range_check === "reject" ? (tooLong ? "length" : "range") : row.subgroup_check.startsWith("reject") ? "subgroup" : null;
      test(`${name} Y = ${row.Y} -> ${want ?? "accept"}`, () => {
        expect(row.range_check === "accept").toBe(y > 1n && y < g.p - 1n);
        const share = bigIntToBytes(y, tooLong ? g.len + 1 : g.len);
        expect(checkFfdheShare(g, share)).toBe(want);
        if (row.range_check === "accept") {
          // The subgroup column, by definition: Y^q mod p == 1.
          expect(modPow(y, (g.p - 1n) / 2n, g.p) === 1n).toBe(want === null);
        }
      });
    }
  }

  test("length is checked first: one byte short or long is a length fault", () => {
    for (const name of NAMES) {
      const g = FFDHE[name];
      const two = bigIntToBytes(2n, g.len);
      expect(checkFfdheShare(g, two.subarray(1))).toBe("length");
      expect(checkFfdheShare(g, leftPad(two, g.len + 1))).toBe("length");
      expect(checkFfdheShare(g, new Uint8Array(0))).toBe("length");
    }
  });
});

describe("jacobi", () => {
  test("agrees with Euler's criterion y^q mod p for 20 pseudo-random y per group", () => {
    for (const name of NAMES) {
      const g = FFDHE[name];
      const q = (g.p - 1n) / 2n;
      const seen = new Set<number>();
      for (let i = 0; i < 20; i++) {
        const parts = Array.from({ length: g.len / 32 }, (_, k) => sha256(utf8(`${name} y ${i}/${k}`)));
        const y = bytesToBigInt(Buffer.concat(parts)) % g.p;
        const e = modPow(y, q, g.p);
        const euler = e === 1n ? 1 : e === g.p - 1n ? -1 : 0;
        const j = jacobi(y, g.p);
        expect(j, `${name} y #${i}`).toBe(euler);
        seen.add(j);
      }
      expect([...seen].sort()).toEqual([-1, 1]); // both residues and non-residues were tried
    }
  });

  test("agrees with a product of Legendre symbols for every odd n < 120 and a in -3..n+3", () => {
    const legendre = (a: bigint, p: bigint): number => {
      const e = modPow(((a % p) + p) % p, (p - 1n) / 2n, p);
      return e === 0n ? 0 : e === 1n ? 1 : -1;
    };
    for (let n = 1n; n < 120n; n += 2n) {
      const factors: bigint[] = [];
      for (let m = n, d = 3n; m > 1n; ) {
        if (m % d === 0n) {
          factors.push(d);
          m /= d;
        } else d += 2n;
      }
      for (let a = -3n; a <= n + 3n; a++) {
        const want = factors.reduce((acc, p) => acc * legendre(a, p), 1) || 0; // no -0
        expect(jacobi(a, n), `(${a}/${n})`).toBe(want);
      }
    }
  });

  test("n must be odd and positive", () => {
    for (const n of [0n, -3n, 2n, 100n]) expect(() => jacobi(3n, n), `n = ${n}`).toThrow(RangeError);
  });
});

describe("FfdheContext: derived exchanges (not published; cross-checked with BigInt)", () => {
  for (const name of NAMES) {
    test(`${name} publicShare / sharedSecret reproduce ffdhe.json`, () => {
      const v = vectorGroup(name).derived_exchange;
      if (v === undefined) throw new Error(`${name} has no derived_exchange`);
      expect(v.published).toBe(false);
      const g = FFDHE[name];
      const ctx = ffdheContext(name);
      expect(ffdheContext(name)).toBe(ctx); // built once, cached
      expect(ctx.group).toBe(g);
      // The stored private keys are 32 bytes; ffdhe3072 wants 40-byte exponents, so
      // left-pad with zeros (the same integer; the stored publics are 2^x for that x).
      const a = leftPad(hex(v.alice_private), g.exponentLen);
      const b = leftPad(hex(v.bob_private), g.exponentLen);
      const A = ctx.publicShare(a);
      const B = ctx.publicShare(b);
      expect(toHex(A)).toBe(v.alice_public);
      expect(toHex(B)).toBe(v.bob_public);
      expect(toHex(A)).toBe(toHex(bigIntToBytes(modPow(2n, bytesToBigInt(a), g.p), g.len)));
      expect(checkFfdheShare(g, A)).toBeNull();
      expect(checkFfdheShare(g, B)).toBeNull();
      const z1 = ctx.sharedSecret(a, hex(v.bob_public));
      const z2 = ctx.sharedSecret(b, hex(v.alice_public));
      expect(z1.length).toBe(g.len);
      expect(z1[0]).toBe(0); // the stored secret needs its leading zero byte (RFC 8446 §7.4.1)
      expect(toHex(z1)).toBe(v.shared_secret_padded);
      expect(toHex(z2)).toBe(v.shared_secret_padded);
      expect(toHex(z1)).toBe(toHex(bigIntToBytes(modPow(bytesToBigInt(B), bytesToBigInt(a), g.p), g.len)));
    });
  }

  test("ffdhe2048: a public share with a leading zero byte is left-padded to len(p)", () => {
    const g = FFDHE.ffdhe2048;
    const ctx = ffdheContext("ffdhe2048");
    let found = false;
    for (let i = 0; i < 4000 && !found; i++) {
      const x = sha256(utf8(`short share ${i}`));
      const y = modPow(2n, bytesToBigInt(x), g.p);
      if (y >> BigInt(g.len * 8 - 8) !== 0n) continue;
      found = true;
      const share = ctx.publicShare(x);
      expect(share.length).toBe(g.len);
      expect(toHex(share)).toBe(toHex(bigIntToBytes(y, g.len)));
      const other = sha256(utf8("other"));
      const z = ctx.sharedSecret(other, share);
      expect(toHex(z)).toBe(toHex(bigIntToBytes(modPow(y, bytesToBigInt(other), g.p), g.len)));
    }
    expect(found).toBe(true);
  });

  test("each call uses its own exponent: interleaved calls give independent results", () => {
    const ctx = ffdheContext("ffdhe2048");
    const x1 = sha256(utf8("x1"));
    const x2 = sha256(utf8("x2"));
    const X1 = ctx.publicShare(x1);
    const X2 = ctx.publicShare(x2);
    expect(toHex(ctx.publicShare(x1))).toBe(toHex(X1));
    const z12 = ctx.sharedSecret(x1, X2);
    expect(toHex(ctx.publicShare(x2))).toBe(toHex(X2));
    expect(toHex(ctx.sharedSecret(x2, X1))).toBe(toHex(z12));
  });

  test("exponents of the wrong size or below 2 throw RangeError", () => {
    for (const name of NAMES) {
      const ctx = ffdheContext(name);
      const n = ctx.group.exponentLen;
      const peer = bigIntToBytes(2n, ctx.group.len);
      for (const x of [new Uint8Array(n - 1), new Uint8Array(n + 1), new Uint8Array(n), bigIntToBytes(1n, n)]) {
        expect(() => ctx.publicShare(x), `${name} publicShare ${x.length}`).toThrow(RangeError);
        expect(() => ctx.sharedSecret(x, peer), `${name} sharedSecret ${x.length}`).toThrow(RangeError);
      }
      expect(toHex(ctx.publicShare(bigIntToBytes(2n, n)))).toBe(toHex(bigIntToBytes(4n, ctx.group.len)));
    }
  });
});

describe("bytesToBigInt / bigIntToBytes", () => {
  test("round trip, left padding, and overflow", () => {
    expect(bytesToBigInt(new Uint8Array(0))).toBe(0n);
    expect(bytesToBigInt(hex("000102"))).toBe(0x102n);
    expect(toHex(bigIntToBytes(0x102n, 4))).toBe("00000102");
    expect(toHex(bigIntToBytes(0n, 2))).toBe("0000");
    expect(() => bigIntToBytes(0x10000n, 2)).toThrow(RangeError);
    expect(() => bigIntToBytes(-1n, 2)).toThrow(RangeError);
    const p = FFDHE.ffdhe3072.p;
    expect(bytesToBigInt(bigIntToBytes(p, 384))).toBe(p);
  });
});
