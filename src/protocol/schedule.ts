/**
 * The key schedule (PROTOCOL §4). Every function is a direct transcription:
 *
 *   th1    = H(HELLO | HELLO_REPLY)
 *   hs     = HKDF-Extract(salt = "sotto/1", ikm = Z)
 *   hk_i2r = HKDF-Expand(hs, "sotto/1 hs i2r" | th1, 64)      enc = 0..31, mac = 32..63
 *   hk_r2i = HKDF-Expand(hs, "sotto/1 hs r2i" | th1, 64)
 *   th2    = H(HELLO | HELLO_REPLY | responder AUTH RECORD)
 *   th3    = H(HELLO | HELLO_REPLY | responder AUTH RECORD | initiator AUTH RECORD)
 *   ts_i2r = HKDF-Expand(hs, "sotto/1 ap i2r" | th3, 32)
 *   ts_r2i = HKDF-Expand(hs, "sotto/1 ap r2i" | th3, 32)
 *   keys(ts) = HKDF-Expand(ts, "sotto/1 key", 64)
 *   next(ts) = HKDF-Expand(ts, "sotto/1 next", 32)
 */
import { hkdfExpand, hkdfExtract } from "../crypto/hash.ts";
import { KEY_BLOCK_LEN, Label, SECRET_LEN } from "./constants.ts";

/** A running transcript hash over whole frames. */
export class Transcript {
  readonly #h = new Bun.CryptoHasher("sha256");
  /** Absorb one whole frame, header included. */
  add(frame: Uint8Array): void {
    this.#h.update(frame);
  }
  /** The hash of everything absorbed so far (the transcript keeps running). */
  hash(): Uint8Array {
    return this.#h.copy().digest();
  }
}

/** hs = HKDF-Extract("sotto/1", Z). */
export function handshakeSecret(z: Uint8Array): Uint8Array {
  return hkdfExtract(Label.salt, z);
}

/** hk_i2r and hk_r2i: 64-byte key blocks (enc | mac) for the two AUTH records. */
export function handshakeKeys(hs: Uint8Array, th1: Uint8Array): { i2r: Uint8Array; r2i: Uint8Array } {
  return {
    i2r: hkdfExpand(hs, Label.hs_i2r, KEY_BLOCK_LEN, th1),
    r2i: hkdfExpand(hs, Label.hs_r2i, KEY_BLOCK_LEN, th1),
  };
}

/** ts_i2r and ts_r2i: the first traffic secrets of each direction. */
export function trafficSecrets(hs: Uint8Array, th3: Uint8Array): { i2r: Uint8Array; r2i: Uint8Array } {
  return {
    i2r: hkdfExpand(hs, Label.ap_i2r, SECRET_LEN, th3),
    r2i: hkdfExpand(hs, Label.ap_r2i, SECRET_LEN, th3),
  };
}

/** keys(ts): the 64-byte key block (enc | mac) of a traffic secret. */
export function trafficKeys(ts: Uint8Array): Uint8Array {
  return hkdfExpand(ts, Label.key, KEY_BLOCK_LEN);
}

/** next(ts): the traffic secret after a KEY_UPDATE. */
export function nextSecret(ts: Uint8Array): Uint8Array {
  return hkdfExpand(ts, Label.next, SECRET_LEN);
}
