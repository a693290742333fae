/**
 * The safety number two users read to each other (in person, or over a channel they
 * already trust) to check that each sees the other's real identity key, and no one in
 * the middle. It depends only on the two Ed25519 public keys, not on who is who, so
 * both screens show the same 60 digits.
 *
 * Derivation (sotto/1; an independent implementation must reproduce it exactly):
 *
 *   1. lower, higher = the two 32-byte raw Ed25519 public keys, sorted bytewise
 *      (lexicographic order of unsigned bytes; equal keys are allowed)
 *   2. label = the 21 ASCII bytes "sotto/1 safety number" (no terminator)
 *   3. h0 = SHA-256(label || 0x00 || lower || higher)
 *      h1 = SHA-256(label || 0x01 || lower || higher)
 *      stream = h0 || h1 (64 bytes)
 *   4. for i = 0 .. 11: chunk_i = stream[5i .. 5i+5) read as a big-endian 40-bit
 *      unsigned integer; group_i = chunk_i mod 100000, written as 5 decimal digits with
 *      leading zeros (as Signal renders its fingerprint chunks; the bias of 2^40 mod
 *      10^5 is below 10^-7 per group)
 *   5. the safety number is group_0 .. group_11 joined by single spaces (71 characters)
 *
 * The 60 digits carry about 199 bits, so a second preimage against one contact is out
 * of reach without Signal's thousands of hash iterations; one derivation costs two
 * SHA-256 calls (microseconds). Users should compare all 12 groups.
 * Vectors (recomputed with Python's hashlib) are in test/chat/trust/safety-number.test.ts.
 */
import { concat, expectBytes, utf8 } from "../../crypto/bytes.ts";
import { ED25519_PUBLIC_LEN } from "../../crypto/ed25519.ts";
import { sha256 } from "../../crypto/hash.ts";

/** Domain-separation label of the derivation (step 2). */
export const SAFETY_NUMBER_LABEL = "sotto/1 safety number";
/** Number of 5-digit groups (step 4). */
export const SAFETY_NUMBER_GROUPS = 12;

const LABEL = utf8(SAFETY_NUMBER_LABEL);
const GROUP_BYTES = 5;
const GROUP_MOD = 100_000;

/** Bytewise (unsigned, lexicographic) comparison: negative, zero or positive. */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/**
 * The safety number of two identity keys: 12 groups of 5 decimal digits separated by
 * spaces, the same whichever key comes first. @throws TypeError unless both keys are 32 bytes.
 */
export function safetyNumber(pubA: Uint8Array, pubB: Uint8Array): string {
  expectBytes("pubA", pubA, ED25519_PUBLIC_LEN);
  expectBytes("pubB", pubB, ED25519_PUBLIC_LEN);
  // Step 1: order-independent input.
  const [lower, higher] = compareBytes(pubA, pubB) <= 0 ? [pubA, pubB] : [pubB, pubA];
  // Steps 2-3: two domain-separated hashes give 64 bytes, enough for 12 x 5.
  const stream = concat(sha256(LABEL, Uint8Array.of(0), lower, higher), sha256(LABEL, Uint8Array.of(1), lower, higher));
  // Step 4: each 5-byte chunk as a 40-bit integer (exact in a double), mod 10^5.
  const groups: string[] = [];
  for (let i = 0; i < SAFETY_NUMBER_GROUPS; i++) {
    let chunk = 0;
    for (let j = 0; j < GROUP_BYTES; j++) chunk = chunk * 256 + stream[i * GROUP_BYTES + j]!;
    groups.push(String(chunk % GROUP_MOD).padStart(5, "0"));
  }
  // Step 5.
  return groups.join(" ");
}
