/**
 * SHA-256, HMAC-SHA256 and HKDF-SHA256 (RFC 5869), over Bun.CryptoHasher.
 *
 * HKDF is spelled out as RFC 5869 defines it on top of HMAC, because sotto/1 needs
 * Extract and Expand as separate steps and node:crypto only offers them fused.
 */
import { timingSafeEqual } from "node:crypto";

export const HASH_LEN = 32;
/** Where the hot-path MACs are digested (Bun's digest(into) wants room for 64 bytes); read at once, never kept. */
const DIGEST = new Uint8Array(64);
const DIGEST_32 = DIGEST.subarray(0, HASH_LEN);

/** Whether DIGEST's first 32 bytes equal `tag[at..at+32)`, every byte looked at; DIGEST is wiped. */
function sameTag(tag: Uint8Array, at: number): boolean {
  let diff = 0;
  for (let i = 0; i < HASH_LEN; i++) {
    diff |= DIGEST[i]! ^ tag[at + i]!;
    DIGEST[i] = 0;
  }
  return diff === 0;
}

/** SHA-256 of the concatenation of `parts`. */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = new Bun.CryptoHasher("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
}

/** HMAC-SHA256(key, concatenation of `parts`). Any key length is allowed (RFC 2104). */
export function hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = new Bun.CryptoHasher("sha256", key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/**
 * A keyed HMAC-SHA256 state that is reused for many messages: `mac()` copies the
 * keyed state (cheaper than re-keying) and absorbs the parts.
 */
export class HmacKey {
  readonly #base: Bun.CryptoHasher;
  /** One message only (a handshake key's AUTH record): the keyed state itself, not a copy. */
  readonly #once: boolean;
  #used = false;
  /**
   * `once`: the key MACs or verifies one message, with no copy of the keyed state (a
   * second use throws: a handshake key seals or opens one record).
   */
  constructor(key: Uint8Array, once = false) {
    this.#base = new Bun.CryptoHasher("sha256", key);
    this.#once = once;
  }

  /** The state for the next message: a copy of the keyed one, or, once, the keyed one. */
  #take(): Bun.CryptoHasher {
    if (!this.#once) return this.#base.copy();
    if (this.#used) throw new Error("internal: a one-message HMAC key was used twice");
    this.#used = true;
    return this.#base;
  }
  /** HMAC(a | b) written into `out` at `offset`: the record layer's two-part hot path. */
  mac2Into(a: Uint8Array, b: Uint8Array, out: Uint8Array, offset: number): void {
    const h = this.#take();
    h.update(a);
    h.update(b);
    h.digest(DIGEST);
    out.set(DIGEST_32, offset);
  }

  /** HMAC(m) written into `out` at `offset`: the record layer's one-part hot path. */
  macInto(m: Uint8Array, out: Uint8Array, offset: number): void {
    const h = this.#take();
    h.update(m);
    h.digest(DIGEST);
    out.set(DIGEST_32, offset);
  }

  /**
   * HMAC(m) written at the start of `into`, a view of at least 64 bytes (Bun's `digest`
   * wants that much room, and writes the 32 of the tag only): no copy of the tag.
   * @throws RangeError when `into` is shorter than 64 bytes.
   */
  macAt(m: Uint8Array, into: Uint8Array): void {
    if (into.length < 64) throw new RangeError(`macAt: a view of 64 bytes is needed, got ${into.length}`);
    const h = this.#take();
    h.update(m);
    h.digest(into);
  }

  /**
   * Whether HMAC(m) equals `tag[at..at+32)`, compared in constant time (every byte is
   * looked at, no early exit): the record layer's one-part verify of a small record.
   */
  verify(m: Uint8Array, tag: Uint8Array, at: number): boolean {
    if (at < 0 || tag.length - at < HASH_LEN) return false;
    const h = this.#take();
    h.update(m);
    h.digest(DIGEST);
    return sameTag(tag, at);
  }

  /**
   * Whether HMAC(a | b) equals `tag[at..at+32)`, compared in constant time (every byte
   * is looked at, no early exit): the record layer's verify, without a view of the tag.
   */
  verify2(a: Uint8Array, b: Uint8Array, tag: Uint8Array, at: number): boolean {
    if (at < 0 || tag.length - at < HASH_LEN) return false;
    const h = this.#take();
    h.update(a);
    h.update(b);
    h.digest(DIGEST);
    return sameTag(tag, at);
  }

  /** HMAC of the concatenation of `parts`, written into `out` at `offset` when given. */
  mac(parts: Uint8Array[], out?: Uint8Array, offset = 0): Uint8Array {
    const h = this.#take();
    for (const p of parts) h.update(p);
    const d = h.digest();
    if (out === undefined) return d;
    out.set(d, offset);
    return out.subarray(offset, offset + HASH_LEN);
  }
}

/** Constant-time equality of two byte strings; false (not an exception) when lengths differ. */
export function ctEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  return timingSafeEqual(a, b);
}

/** Constant-time check that every byte of `a` is zero. */
export function ctIsZero(a: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc |= a[i]!;
  return acc === 0;
}

/** HKDF-Extract(salt, ikm) = HMAC(salt, ikm); an empty salt means HashLen zero bytes (RFC 5869 §2.2). */
export function hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  const h = new Bun.CryptoHasher("sha256", salt.length === 0 ? new Uint8Array(HASH_LEN) : salt);
  h.update(ikm);
  return h.digest();
}

const COUNTER = new Uint8Array(1);

/**
 * HKDF-Expand(prk, info | info2, length) (RFC 5869 §2.3): `info2`, when given, is
 * absorbed right after `info`, as if the two were one string (the key schedule's label
 * and transcript hash, without a concatenation).
 * @throws RangeError when length exceeds 255 * 32 bytes or prk is shorter than 32 bytes.
 */
export function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number, info2?: Uint8Array): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > 255 * HASH_LEN) {
    throw new RangeError(`"length" expected 0..${255 * HASH_LEN}, got ${length}`);
  }
  if (prk.length < HASH_LEN) throw new RangeError(`"prk" expected at least ${HASH_LEN} bytes, got ${prk.length}`);
  const out = new Uint8Array(length);
  // One keyed hasher per block and no shared base to copy from: the key schedule's expands
  // are one or two blocks, and a handshake makes twelve of them on each side. Each block
  // is digested into the shared scratch (no buffer per block), T(i-1) read back from it,
  // and the scratch wiped before returning (it held key material).
  for (let i = 0, pos = 0; pos < length; i++) {
    COUNTER[0] = i + 1;
    const h = new Bun.CryptoHasher("sha256", prk);
    if (i > 0) h.update(DIGEST_32);
    h.update(info);
    if (info2 !== undefined) h.update(info2);
    h.update(COUNTER);
    h.digest(DIGEST);
    if (length - pos >= HASH_LEN) out.set(DIGEST_32, pos);
    else for (let j = 0; pos + j < length; j++) out[pos + j] = DIGEST[j]!;
    pos += HASH_LEN;
  }
  DIGEST.fill(0);
  return out;
}

/** HKDF(salt, ikm, info, length): Extract then Expand. */
export function hkdf(salt: Uint8Array, ikm: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return hkdfExpand(hkdfExtract(salt, ikm), info, length);
}
