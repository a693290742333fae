/**
 * Finite-field Diffie-Hellman over the RFC 7919 groups ffdhe2048 and ffdhe3072 (g = 2).
 *
 * Fast path. Bun's `createDiffieHellman(p)` runs a full safe-prime check on p (about
 * 0.44 s per call on a 2-core machine); the modular exponentiations themselves take
 * about 0.3 ms with BoringSSL's constant-time Montgomery code. So one `FfdheContext`
 * per group is built once per thread and then reused for every exchange:
 * `setPrivateKey(x)` + `generateKeys()` gives g^x, `computeSecret(Y)` gives Y^x.
 * Nothing secret stays in the context between calls that matters: each call sets the
 * fresh exponent first. The edge layer builds the contexts in a worker thread so that
 * the one-off 0.44 s never blocks the event loop (src/net/kex.ts, src/net/ffdhe-worker.ts).
 *
 * Peer values are checked here, before any secret is touched: exactly len(p) bytes,
 * 2 <= Y <= p-2, and Y a quadratic residue mod p (the prime-order subgroup of a safe
 * prime), via the Jacobi symbol: 0.1 to 0.2 ms, where Y^q = 1 would cost a full
 * exponentiation. BoringSSL alone accepts Y = p-2, which lies outside the subgroup.
 */
import { createDiffieHellman, type DiffieHellman } from "node:crypto";

/** RFC 7919 Appendix A.1, ffdhe2048 p (hex, big-endian). */
export const FFDHE2048_P_HEX =
  "ffffffffffffffffadf85458a2bb4a9aafdc5620273d3cf1d8b9c583ce2d3695" +
  "a9e13641146433fbcc939dce249b3ef97d2fe363630c75d8f681b202aec4617a" +
  "d3df1ed5d5fd65612433f51f5f066ed0856365553ded1af3b557135e7f57c935" +
  "984f0c70e0e68b77e2a689daf3efe8721df158a136ade73530acca4f483a797a" +
  "bc0ab182b324fb61d108a94bb2c8e3fbb96adab760d7f4681d4f42a3de394df4" +
  "ae56ede76372bb190b07a7c8ee0a6d709e02fce1cdf7e2ecc03404cd28342f61" +
  "9172fe9ce98583ff8e4f1232eef28183c3fe3b1b4c6fad733bb5fcbc2ec22005" +
  "c58ef1837d1683b2c6f34a26c1b2effa886b423861285c97ffffffffffffffff";

/** RFC 7919 Appendix A.2, ffdhe3072 p (hex, big-endian). */
export const FFDHE3072_P_HEX =
  "ffffffffffffffffadf85458a2bb4a9aafdc5620273d3cf1d8b9c583ce2d3695" +
  "a9e13641146433fbcc939dce249b3ef97d2fe363630c75d8f681b202aec4617a" +
  "d3df1ed5d5fd65612433f51f5f066ed0856365553ded1af3b557135e7f57c935" +
  "984f0c70e0e68b77e2a689daf3efe8721df158a136ade73530acca4f483a797a" +
  "bc0ab182b324fb61d108a94bb2c8e3fbb96adab760d7f4681d4f42a3de394df4" +
  "ae56ede76372bb190b07a7c8ee0a6d709e02fce1cdf7e2ecc03404cd28342f61" +
  "9172fe9ce98583ff8e4f1232eef28183c3fe3b1b4c6fad733bb5fcbc2ec22005" +
  "c58ef1837d1683b2c6f34a26c1b2effa886b4238611fcfdcde355b3b6519035b" +
  "bc34f4def99c023861b46fc9d6e6c9077ad91d2691f7f7ee598cb0fac186d91c" +
  "aefe130985139270b4130c93bc437944f4fd4452e2d74dd364f2e21e71f54bff" +
  "5cae82ab9c9df69ee86d2bc522363a0dabc521979b0deada1dbf9a42d5c4484e" +
  "0abcd06bfa53ddef3c1b20ee3fd59d7c25e41d2b66c62e37ffffffffffffffff";

export type FfdheName = "ffdhe2048" | "ffdhe3072";

/** One group's public parameters. */
export interface FfdheGroup {
  name: FfdheName;
  /** p as a BigInt. */
  p: bigint;
  /** Byte length of p: the length of every share and of Z. */
  len: number;
  /** Private exponent length in bytes (256 / 320 bits: above RFC 7919's 225 / 275). */
  exponentLen: number;
}

export const FFDHE: Record<FfdheName, FfdheGroup> = {
  ffdhe2048: { name: "ffdhe2048", p: BigInt("0x" + FFDHE2048_P_HEX), len: 256, exponentLen: 32 },
  ffdhe3072: { name: "ffdhe3072", p: BigInt("0x" + FFDHE3072_P_HEX), len: 384, exponentLen: 40 },
};

/** Big-endian bytes to BigInt. */
export function bytesToBigInt(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt("0x" + Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex"));
}

/** BigInt to big-endian bytes, left-padded to `len`. @throws RangeError if it does not fit. */
export function bigIntToBytes(n: bigint, len: number): Uint8Array {
  const hex = n.toString(16);
  if (n < 0n || hex.length > len * 2) throw new RangeError(`value does not fit in ${len} bytes`);
  return new Uint8Array(Buffer.from(hex.padStart(len * 2, "0"), "hex"));
}

/** Jacobi symbol (a/n) for odd n > 0: 1, -1 or 0. Public inputs only (not constant time). */
export function jacobi(a: bigint, n: bigint): number {
  if (n <= 0n || (n & 1n) === 0n) throw new RangeError("jacobi: n must be odd and positive");
  a %= n;
  if (a < 0n) a += n;
  let t = 1;
  while (a !== 0n) {
    while ((a & 1n) === 0n) {
      a >>= 1n;
      const r = n & 7n;
      if (r === 3n || r === 5n) t = -t;
    }
    [a, n] = [n, a];
    if ((a & 3n) === 3n && (n & 3n) === 3n) t = -t;
    a %= n;
  }
  return n === 1n ? t : 0;
}

/** Why a peer share was refused. */
export type ShareFault = "length" | "range" | "subgroup";

/**
 * Check a peer's share Y: exactly len(p) bytes, 2 <= Y <= p-2, and (unless `subgroup` is
 * false) a quadratic residue mod p. Returns null when valid, else the fault.
 */
export function checkFfdheShare(group: FfdheGroup, share: Uint8Array, subgroup = true): ShareFault | null {
  if (share.length !== group.len) return "length";
  const y = bytesToBigInt(share);
  if (y < 2n || y > group.p - 2n) return "range";
  if (subgroup && jacobi(y, group.p) !== 1) return "subgroup";
  return null;
}

/**
 * A reusable, synchronous DH context for one group. Building it costs ~0.44 s (Bun
 * checks the prime); each operation afterwards ~0.3 ms.
 */
export class FfdheContext {
  readonly group: FfdheGroup;
  readonly #dh: DiffieHellman;

  constructor(group: FfdheGroup) {
    this.group = group;
    this.#dh = createDiffieHellman(bigIntToBytes(group.p, group.len), new Uint8Array([2]));
  }

  /** g^x mod p, left-padded to len(p). @throws RangeError unless x has exponentLen bytes and x >= 2. */
  publicShare(x: Uint8Array): Uint8Array {
    this.#checkExponent(x);
    this.#dh.setPrivateKey(x);
    this.#dh.generateKeys();
    return leftPad(this.#dh.getPublicKey(), this.group.len);
  }

  /**
   * Z = Y^x mod p, left-padded to len(p) (RFC 8446 §7.4.1). The caller must have
   * checked Y with checkFfdheShare. @throws RangeError on a bad exponent; Error when
   * the library refuses Y.
   */
  sharedSecret(x: Uint8Array, peerShare: Uint8Array): Uint8Array {
    this.#checkExponent(x);
    this.#dh.setPrivateKey(x);
    return leftPad(this.#dh.computeSecret(peerShare), this.group.len);
  }

  #checkExponent(x: Uint8Array): void {
    if (x.length !== this.group.exponentLen) {
      throw new RangeError(`"exponent" expected ${this.group.exponentLen} bytes, got ${x.length}`);
    }
    if (bytesToBigInt(x) < 2n) throw new RangeError(`"exponent" must be at least 2`);
  }
}

function leftPad(b: Uint8Array, len: number): Uint8Array {
  if (b.length === len) return new Uint8Array(b);
  const out = new Uint8Array(len);
  out.set(b, len - b.length);
  return out;
}

const contexts = new Map<FfdheName, FfdheContext>();

/** The thread's shared context for a group, built on first use (~0.44 s, once). */
export function ffdheContext(name: FfdheName): FfdheContext {
  let c = contexts.get(name);
  if (c === undefined) {
    c = new FfdheContext(FFDHE[name]);
    contexts.set(name, c);
  }
  return c;
}
