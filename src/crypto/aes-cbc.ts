/**
 * AES-256-CBC with PKCS#7 padding, over node:crypto.
 *
 * CBC without authentication is malleable and, if padding errors can be observed, a
 * padding oracle (Vaudenay 2002). sotto only ever decrypts after the HMAC tag has been
 * verified (PROTOCOL §5), and reports a padding failure exactly like a tag failure.
 *
 * The record layer keeps one cipher context per key for the life of the key
 * (`CbcEncryptor` / `CbcDecryptor`), instead of creating one per record: CBC's chaining
 * value is carried across calls and folded into the next record's first block, so the
 * output is byte-for-byte ordinary CBC under the record's own IV.
 */
import { createCipheriv, createDecipheriv, type Cipheriv, type Decipheriv } from "node:crypto";
import { expectBytes } from "./bytes.ts";

export const BLOCK = 16;
export const KEY_LEN = 32;

/** Thrown for any CBC decryption failure; deliberately carries no detail. */
export class CbcError extends Error {
  constructor() {
    super("decryption failed");
    this.name = "CbcError";
  }
}

/** PKCS#7-pad `msg` to a multiple of 16 bytes (always 1 to 16 bytes of padding). */
export function pkcs7Pad(msg: Uint8Array): Uint8Array {
  const n = BLOCK - (msg.length % BLOCK);
  const out = new Uint8Array(msg.length + n);
  out.set(msg);
  out.fill(n, msg.length);
  return out;
}

/**
 * Length of the message inside PKCS#7-padded `buf`, checked without branching on the
 * padding bytes. @throws CbcError when the padding is malformed or `buf` is empty.
 */
export function pkcs7Unpad(buf: Uint8Array): number {
  const len = buf.length;
  if (len === 0 || len % BLOCK !== 0) throw new CbcError();
  const n = buf[len - 1]!;
  // bad != 0 iff n is 0, n > 16, or one of the last n bytes differs from n.
  let bad = ((n - 1) >>> 31) | ((16 - n) >>> 31);
  for (let i = 1; i <= BLOCK; i++) {
    const inPad = ((i - n - 1) >>> 31) & 1; // 1 when i <= n
    bad |= inPad & (buf[len - i]! ^ n ? 1 : 0);
  }
  if (bad !== 0) throw new CbcError();
  return len - n;
}

/** One-shot AES-256-CBC encryption with PKCS#7 padding. @throws TypeError on a bad key or IV size. */
export function aesCbcEncrypt(key: Uint8Array, iv: Uint8Array, msg: Uint8Array): Uint8Array {
  expectBytes("key", key, KEY_LEN);
  expectBytes("iv", iv, BLOCK);
  const c = createCipheriv("aes-256-cbc", key, iv);
  return new Uint8Array(Buffer.concat([c.update(msg), c.final()]));
}

/** One-shot AES-256-CBC decryption and PKCS#7 unpadding. @throws CbcError on bad length or padding. */
export function aesCbcDecrypt(key: Uint8Array, iv: Uint8Array, ct: Uint8Array): Uint8Array {
  expectBytes("key", key, KEY_LEN);
  expectBytes("iv", iv, BLOCK);
  if (ct.length === 0 || ct.length % BLOCK !== 0) throw new CbcError();
  const d = createDecipheriv("aes-256-cbc", key, iv).setAutoPadding(false);
  const pt = d.update(ct);
  d.final();
  const u = new Uint8Array(pt.buffer, pt.byteOffset, pt.byteLength);
  return u.subarray(0, pkcs7Unpad(u));
}

/** A long-lived AES-256-CBC encryption context for one key. */
export class CbcEncryptor {
  readonly #cipher: Cipheriv;
  readonly #chain = new Uint8Array(BLOCK); // last ciphertext block the context produced

  /** @throws TypeError unless key is 32 bytes. */
  constructor(key: Uint8Array) {
    expectBytes("key", key, KEY_LEN);
    this.#cipher = createCipheriv("aes-256-cbc", key, this.#chain).setAutoPadding(false);
  }

  /**
   * CBC-encrypt `padded` (a multiple of 16 bytes, already padded) under `iv`.
   * `padded` is used as scratch and left modified. Returns the ciphertext, same length.
   * @throws TypeError unless iv is 16 bytes and padded a non-zero multiple of 16 bytes
   * (checked first: a partial block would stay buffered and desynchronize the context).
   */
  encrypt(iv: Uint8Array, padded: Uint8Array): Uint8Array {
    expectBytes("iv", iv, BLOCK);
    if (padded.length === 0 || padded.length % BLOCK !== 0) {
      throw new TypeError(`"padded" expected a non-zero multiple of ${BLOCK} bytes, got ${padded.length}`);
    }
    const chain = this.#chain;
    // The context will XOR block 0 with `chain`; pre-XOR with iv ^ chain so that the
    // block cipher sees P0 ^ iv, exactly as CBC under `iv` requires.
    for (let i = 0; i < BLOCK; i++) padded[i] = padded[i]! ^ iv[i]! ^ chain[i]!;
    const out = this.#cipher.update(padded);
    for (let i = 0, j = out.length - BLOCK; i < BLOCK; i++, j++) chain[i] = out[j]!;
    return out;
  }
  /**
   * The record layer's hot path: CBC-encrypt `padded` under the IV at `buf[ivAt..ivAt+16)`
   * and write the ciphertext right after the IV, at `buf[ivAt+16..)`. `padded` is used as
   * scratch and left modified.
   * @throws TypeError unless padded is a non-zero multiple of 16 bytes and buf has room
   * (checked first, as in `encrypt`).
   */
  encryptAfterIv(buf: Uint8Array, ivAt: number, padded: Uint8Array): void {
    const n = padded.length;
    if (n === 0 || n % BLOCK !== 0) throw new TypeError(`"padded" expected a non-zero multiple of ${BLOCK} bytes, got ${n}`);
    if (ivAt < 0 || buf.length - ivAt < BLOCK + n) throw new TypeError(`"buf" expected room for an IV and ${n} bytes at ${ivAt}, got ${buf.length} bytes`);
    const chain = this.#chain;
    for (let i = 0; i < BLOCK; i++) padded[i] = padded[i]! ^ buf[ivAt + i]! ^ chain[i]!;
    const out = this.#cipher.update(padded);
    for (let i = 0, j = n - BLOCK; i < BLOCK; i++, j++) chain[i] = out[j]!;
    buf.set(out, ivAt + BLOCK);
    if (n >= RELEASE_AT) release(out);
  }
}

/**
 * Ciphertexts from this size on are copied out of the cipher's output and its memory given
 * back at once (`release`). node:crypto's `update` returns a new buffer for every call (no
 * form writes into a given one); left to the collector, a bulk sender's 64 KiB outputs are
 * freed in batches, the allocator returns their pages to the system before it reuses them,
 * and every record's output is written into fresh pages (≈ 10,000–12,000 page faults per
 * 256 MB of file records, `perf record -e minor-faults`: the AES code writing its output).
 * Freed at once, the next record's output takes the same memory, still mapped. Smaller
 * records (chat lines) come from small size classes the allocator keeps, and skip the call.
 */
export const RELEASE_AT = 8192;

/**
 * Give back the memory of `out`, a cipher's output that nothing else refers to: detach its
 * ArrayBuffer (ES2024 `transfer(0)`), which frees the bytes now instead of at a later
 * collection. Only when the ArrayBuffer is `out`'s own (its output, plus at most the one
 * block of room `update` allocates): a view into a shared pool is left alone.
 */
function release(out: Uint8Array): void {
  const ab = out.buffer;
  if (out.byteOffset === 0 && ab.byteLength - out.byteLength <= BLOCK && ab instanceof ArrayBuffer) ab.transfer(0);
}

/** The decryptor's starting IV (read once by createDecipheriv, never written): every record brings its own. */
const ZERO_IV = new Uint8Array(BLOCK);

/** A long-lived AES-256-CBC decryption context for one key. */
export class CbcDecryptor {
  readonly #decipher: Decipheriv;

  /** @throws TypeError unless key is 32 bytes. */
  constructor(key: Uint8Array) {
    expectBytes("key", key, KEY_LEN);
    this.#decipher = createDecipheriv("aes-256-cbc", key, ZERO_IV).setAutoPadding(false);
  }

  /**
   * Decrypt `ivAndCt` (IV followed by ciphertext, contiguous, as a RECORD body carries
   * them). Feeding the IV block through the running context makes it the chaining value
   * for the first real block; the first output block is discarded. Returns the padded
   * plaintext (length of ivAndCt minus 16). No unpadding here.
   * @throws CbcError unless ivAndCt is at least 32 bytes and a multiple of 16 (checked
   * before the context is touched: a partial block would desynchronize it for good).
   */
  decrypt(ivAndCt: Uint8Array): Uint8Array {
    return this.decryptWithIvBlock(ivAndCt).subarray(BLOCK);
  }

  /**
   * As `decrypt`, but the first 16 bytes of the result are the discarded block (the
   * record layer's hot path makes one view, of the unpadded plaintext, instead of two).
   * @throws CbcError as `decrypt`.
   */
  decryptWithIvBlock(ivAndCt: Uint8Array): Uint8Array {
    if (ivAndCt.length < 2 * BLOCK || ivAndCt.length % BLOCK !== 0) throw new CbcError();
    return this.#decipher.update(ivAndCt);
  }
}
