/**
 * X25519 (RFC 7748) over node:crypto, with raw 32-byte keys.
 *
 * `x25519` returns the raw shared secret; it is the caller's job to reject the all-zero
 * value (low-order peer keys, RFC 7748 §6.1), which sotto's handshake does.
 */
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from "node:crypto";
import { expectBytes } from "./bytes.ts";

const PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");
const SPKI_PREFIX = Buffer.from("302a300506032b656e032100", "hex");

export const X25519_LEN = 32;

/**
 * The DER of a peer's public key is built in one scratch buffer, read by an options object
 * made once: importing a share makes no buffer or object but the key (a handshake imports
 * one per side). A public value, so nothing secret is left in it.
 */
const SPKI = Buffer.alloc(SPKI_PREFIX.length + X25519_LEN);
SPKI.set(SPKI_PREFIX);
const SPKI_OPTS = { key: SPKI, format: "der", type: "spki" } as const;
/** diffieHellman's options, filled for one call and emptied at once (no key stays referenced). */
const DH: { privateKey: KeyObject | null; publicKey: KeyObject | null } = { privateKey: null, publicKey: null };

/** A private key object from 32 raw bytes (clamped by the library as RFC 7748 requires). */
export function x25519PrivateKey(priv: Uint8Array): KeyObject {
  expectBytes("private key", priv, X25519_LEN);
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, priv]), format: "der", type: "pkcs8" });
}

/** A public key object from 32 raw bytes. Any 32-byte string is a valid u-coordinate. */
export function x25519PublicKey(pub: Uint8Array): KeyObject {
  expectBytes("public key", pub, X25519_LEN);
  SPKI.set(pub, SPKI_PREFIX.length);
  return createPublicKey(SPKI_OPTS);
}

/** Raw public key of a private key object. */
export function x25519RawPublic(key: KeyObject): Uint8Array {
  const der = createPublicKey(key).export({ format: "der", type: "spki" });
  return new Uint8Array(der.subarray(der.length - X25519_LEN));
}

/** The public key (base point multiple) of 32 raw private bytes. */
export function x25519Public(priv: Uint8Array): Uint8Array {
  return x25519RawPublic(x25519PrivateKey(priv));
}

const EXPORT_SPKI = { format: "der", type: "spki" } as const;

/** A fresh key pair: the private key object and the raw 32-byte public key. */
export function x25519Generate(): { privateKey: KeyObject; publicKey: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync("x25519");
  const der = publicKey.export(EXPORT_SPKI);
  return { privateKey, publicKey: new Uint8Array(der.buffer, der.byteOffset + der.length - X25519_LEN, X25519_LEN) };
}

/**
 * X25519(priv, peerPublic): the raw 32-byte shared secret (may be all zero for a
 * low-order peer key; check it). @throws TypeError when peerPublic is not 32 bytes.
 */
export function x25519(priv: KeyObject | Uint8Array, peerPublic: Uint8Array): Uint8Array {
  const privateKey = priv instanceof Uint8Array ? x25519PrivateKey(priv) : priv;
  const publicKey = x25519PublicKey(peerPublic); // outside the try: a wrong size must throw, not read as zero
  DH.privateKey = privateKey;
  DH.publicKey = publicKey;
  try {
    // A fresh Buffer of its own (not a pooled slice): handed over as is, and wiped by the caller.
    return diffieHellman(DH as { privateKey: KeyObject; publicKey: KeyObject });
  } catch {
    // BoringSSL refuses to output an all-zero secret; report it as one so the caller's
    // single zero check covers both behaviours.
    return new Uint8Array(X25519_LEN);
  } finally {
    DH.privateKey = null;
    DH.publicKey = null;
  }
}
