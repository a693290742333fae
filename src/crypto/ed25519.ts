/**
 * Ed25519 (RFC 8032) over node:crypto, with raw 32-byte seeds and public keys and
 * 64-byte signatures. Verification is the library's (it rejects S >= L and
 * non-canonical encodings, as the Wycheproof tests check).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { expectBytes } from "./bytes.ts";

const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export const ED25519_PUBLIC_LEN = 32;
export const ED25519_SEED_LEN = 32;
export const ED25519_SIG_LEN = 64;

/** A peer's public key as DER, built in one scratch buffer read by one options object (x25519.ts does the same). */
const SPKI = Buffer.alloc(SPKI_PREFIX.length + ED25519_PUBLIC_LEN);
SPKI.set(SPKI_PREFIX);
const SPKI_OPTS = { key: SPKI, format: "der", type: "spki" } as const;

/** An identity key pair: the signing key object, its raw public key, and the raw seed. */
export interface Ed25519KeyPair {
  privateKey: KeyObject;
  publicKey: Uint8Array;
}

/** The key pair for a 32-byte seed. @throws TypeError on a wrong seed size. */
export function ed25519FromSeed(seed: Uint8Array): Ed25519KeyPair {
  expectBytes("seed", seed, ED25519_SEED_LEN);
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
  return { privateKey, publicKey: rawPublic(createPublicKey(privateKey)) };
}

/** A fresh key pair and its seed. */
export function ed25519Generate(): Ed25519KeyPair & { seed: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const der = privateKey.export({ format: "der", type: "pkcs8" });
  return { privateKey, publicKey: rawPublic(publicKey), seed: new Uint8Array(der.subarray(der.length - ED25519_SEED_LEN)) };
}

function rawPublic(k: KeyObject): Uint8Array {
  const der = k.export({ format: "der", type: "spki" });
  return new Uint8Array(der.subarray(der.length - ED25519_PUBLIC_LEN));
}

/** Ed25519 signature of `msg`. */
export function ed25519Sign(key: KeyObject, msg: Uint8Array): Uint8Array {
  // A fresh Buffer of its own (not a pooled slice), handed over as is.
  return sign(null, msg, key);
}

/**
 * True iff `sig` is a valid signature of `msg` under raw public key `pub`. Never throws
 * on malformed input: wrong sizes and undecodable keys are simply invalid.
 */
export function ed25519Verify(pub: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  if (pub.length !== ED25519_PUBLIC_LEN || sig.length !== ED25519_SIG_LEN) return false;
  try {
    SPKI.set(pub, SPKI_PREFIX.length);
    return verify(null, msg, createPublicKey(SPKI_OPTS), sig);
  } catch {
    return false;
  }
}
