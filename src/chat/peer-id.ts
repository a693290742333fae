/**
 * The names of a peer's identity, as types that do not mix (shared by the chat's concerns).
 *
 *   PublicKey    its Ed25519 public key, 32 bytes (what the handshake proved);
 *   Pid          the same key as 64 lowercase hex digits: the key of every per-peer map
 *                (outbox, links, rates, requests) and of state.db rows;
 *   Fingerprint  SHA-256 of the key in 16 groups of 4 hex digits: what users compare;
 *   a pin name   (known_peers) is a plain string, and so is never any of the above.
 *
 * Each is made only by a constructor that checks its shape, so a fingerprint or a name
 * passed where a Pid is wanted is a type error, and a malformed one a TypeError at once.
 */
import { fromHex, toHex } from "../crypto/bytes.ts";

declare const brand: unique symbol;
export type PublicKey = Uint8Array & { readonly [brand]: "PublicKey" };
export type Pid = string & { readonly [brand]: "Pid" };
export type Fingerprint = string & { readonly [brand]: "Fingerprint" };

const KEY_LEN = 32;
const PID_RE = /^[0-9a-f]{64}$/;
const FINGERPRINT_RE = /^[0-9a-f]{4}( [0-9a-f]{4}){15}$/;

/** A public key: 32 bytes. @throws TypeError otherwise. */
export function asPublicKey(b: Uint8Array): PublicKey {
  if (!(b instanceof Uint8Array) || b.length !== KEY_LEN) throw new TypeError(`a peer's public key is ${KEY_LEN} bytes, not ${b instanceof Uint8Array ? b.length : typeof b}`);
  return b as PublicKey;
}

/** The Pid of a public key. @throws TypeError when `key` is not 32 bytes. */
export function pidOf(key: Uint8Array): Pid {
  return toHex(asPublicKey(key)) as Pid;
}

/** The public key a Pid names. */
export function publicKeyOf(pid: Pid): PublicKey {
  return asPublicKey(fromHex(pid));
}

/** A Pid read back as text (state.db, a map's key): 64 lowercase hex digits. @throws TypeError otherwise. */
export function asPid(s: string): Pid {
  if (typeof s !== "string" || !PID_RE.test(s)) throw new TypeError("a peer id is 64 lowercase hex digits (its public key)");
  return s as Pid;
}

/** True when `s` has a Pid's shape. */
export function isPid(s: string): s is Pid {
  return PID_RE.test(s);
}

/** A fingerprint as shown: 16 groups of 4 lowercase hex digits. @throws TypeError otherwise. */
export function asFingerprint(s: string): Fingerprint {
  if (typeof s !== "string" || !FINGERPRINT_RE.test(s)) throw new TypeError("a fingerprint is 16 groups of 4 hex digits, separated by spaces");
  return s as Fingerprint;
}
