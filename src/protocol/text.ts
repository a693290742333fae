/**
 * TEXT on the per-message path (PROTOCOL §6: TEXT is id:u64 | UTF-8), and the UTF-8 of
 * every text a peer sends: encoded from (id, text) straight into a record's plaintext and
 * decoded without a view, ids below 2^53 as numbers (no BigInt), exact bigints beyond.
 */
import { ContentType, ID_LEN, ITEM_HEADER_LEN } from "./constants.ts";
import { fail } from "./errors.ts";
import { putHiLo, putU64Number } from "../crypto/bytes.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Decode UTF-8 text a peer sent. @throws ProtocolError invalid_utf8, naming `what`. */
export function text(b: Uint8Array, what: string): string {
  try {
    return decoder.decode(b);
  } catch {
    throw fail("invalid_utf8", `${what} is not valid UTF-8`);
  }
}

/**
 * Decode `b[start..end)` as `text` does, without a view when `b` is a Buffer (what the
 * cipher returns): Buffer's UTF-8 decoding puts U+FFFD for every invalid sequence, so a
 * result without U+FFFD came from valid UTF-8 and is what the fatal decoder returns; one
 * with U+FFFD (invalid input, or a U+FFFD the peer sent) goes to the fatal decoder, which
 * decides. One native pass instead of a JS loop over every byte (1 KiB: ≈ 0.3 µs, not 1.8).
 * @throws ProtocolError invalid_utf8, naming `what`.
 */
export function textAt(b: Uint8Array, start: number, end: number, what: string): string {
  const s = sliceable(b);
  if (s !== null) return textInBuffer(s, start, end, what);
  return end === start ? "" : text(b.subarray(start, end), what);
}

/** Buffer's own UTF-8 slice (what `toString("utf8", …)` ends in, without its encoding lookup: ≈ 0.1 µs less per TEXT). */
export type Utf8Sliced = Buffer & { utf8Slice(start: number, end: number): string };
const HAS_UTF8_SLICE = typeof (Buffer.prototype as Partial<Utf8Sliced>).utf8Slice === "function";

/** `b` as a Buffer whose texts textInBuffer reads (what the decipher returns), or null: asked once per record, not per TEXT. */
export function sliceable(b: Uint8Array): Utf8Sliced | null {
  return HAS_UTF8_SLICE && b instanceof Buffer ? (b as Utf8Sliced) : null;
}

/**
 * textAt for a Buffer that `sliceable` gave: one native call per text, the fatal decoder
 * only when the result holds U+FFFD (see textAt). @throws ProtocolError invalid_utf8, naming `what`.
 */
export function textInBuffer(b: Utf8Sliced, start: number, end: number, what: string): string {
  if (end === start) return "";
  const s = b.utf8Slice(start, end);
  return s.indexOf("\uFFFD") === -1 ? s : text(b.subarray(start, end), what);
}

/** Buffer's own UTF-8 write (what `write(string, offset)` ends in, without its argument parsing: ≈ 20 ns less per TEXT). */
type Utf8Written = Buffer & { utf8Write(s: string, offset: number): number };
const HAS_UTF8_WRITE = typeof (Buffer.prototype as Partial<Utf8Written>).utf8Write === "function";

/**
 * A TEXT id as the fast path carries it: a number below 2^53 (exact), a bigint at or
 * above it (the wire's u64, PROTOCOL §6.2, up to 2^64 - 1).
 */
export type TextId = number | bigint;

/**
 * Read a TEXT id (big-endian u64): a number when below 2^53 (hi below 2^21), with no
 * BigInt made; the exact bigint from there up to 2^64 - 1.
 */
export function textIdAt(b: Uint8Array, i: number): TextId {
  const hi = ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
  const lo = ((b[i + 4]! << 24) | (b[i + 5]! << 16) | (b[i + 6]! << 8) | b[i + 7]!) >>> 0;
  if (hi < 0x200000) return hi * 0x100000000 + lo;
  return (BigInt(hi) << 32n) | BigInt(lo);
}


/**
 * Check a TEXT id from our own caller: a safe non-negative integer, or a bigint in
 * 0..2^64 - 1. @throws RangeError otherwise (a local bug).
 */
export function checkTextId(id: TextId): void {
  if (typeof id === "number" ? Number.isSafeInteger(id) && id >= 0 : typeof id === "bigint" && id >= 0n && id <= 0xffffffffffffffffn) return;
  throw new RangeError(`a TEXT id must be an integer in 0..2^64 - 1 (a number only below 2^53), got ${String(id)}`);
}

/**
 * Encode TEXT `id`, `text` into `out` at `off` without writing at or past `end`, straight
 * from its parts (no Item object; a number id takes no BigInt). Returns the offset after
 * the item, or -1 when it does not fit. The id is trusted to pass checkTextId.
 */
export function writeText(out: Uint8Array, off: number, end: number, id: TextId, text: string): number {
  const c = off + ITEM_HEADER_LEN;
  const at = c + ID_LEN;
  if (at > end) return -1;
  if (typeof id === "number") putU64Number(out, c, id);
  else putU64(out, c, id);
  const n = text.length;
  let written = 0;
  if (n * 3 <= end - at && HAS_UTF8_WRITE) {
    // Room for the worst case: Buffer's own utf8Write encodes in place, with no view per
    // item (the same bytes as encodeInto, lone surrogates as U+FFFD included); called
    // here directly, not through a wrapper (≈ 15 ns a TEXT).
    if (n > 0) written = (out === bufferOf ? bufferView! : bufferOver(out)).utf8Write(text, at);
  } else if (n > 0) {
    const r = encoder.encodeInto(text, out.subarray(at, end));
    if (r.read !== n) return -1;
    written = r.written;
  }
  const len = ID_LEN + written;
  out[off] = ContentType.TEXT;
  out[off + 1] = len >>> 8;
  out[off + 2] = len & 0xff;
  return at + written;
}

/** Upper bound of a TEXT's encoded size (as itemSizeBound). */
export function textSizeBound(text: string): number {
  return ITEM_HEADER_LEN + ID_LEN + text.length * 3;
}

/** Write a big-endian u64. */
export function putU64(b: Uint8Array, i: number, n: bigint): void {
  // Ids below 2^32 (every id in practice) take one BigInt conversion, no BigInt arithmetic.
  let lo = Number(n);
  let hi = 0;
  if (!(lo >= 0 && lo <= 0xffffffff)) {
    lo = Number(n & 0xffffffffn);
    hi = Number((n >> 32n) & 0xffffffffn);
  }
  putHiLo(b, i, hi, lo);
}

let bufferOf: Uint8Array | null = null;
let bufferView: Utf8Written | null = null;

/** A Buffer over the same bytes as `out` (kept for the next call: the record buffer is reused). */
function bufferOver(out: Uint8Array): Utf8Written {
  if (out !== bufferOf) {
    bufferOf = out;
    bufferView = Buffer.from(out.buffer, out.byteOffset, out.length) as Utf8Written;
  }
  return bufferView!;
}
