/**
 * The file-transfer items (PROTOCOL §11): nine optional content types, 0xA0..0xA8,
 * carried as `ext` items (src/protocol/items.ts) so that a sotto/1 peer without the
 * extension skips them. Pure: bytes in, typed objects out, and back.
 *
 * `decodeFileItem` checks every size rule of §11.3 before it reads, and every text with
 * a fatal UTF-8 decoder; `encodeFileItem` refuses (RangeError) what a correct sender
 * never produces, as encodeItems does for core items.
 */
import {
  ACCEPT_LEN,
  CHUNK_HEADER_LEN,
  FILE_SET_FIXED_LEN,
  FILE_SHA256_LEN,
  FileCode,
  FileType,
  MAX_CHUNK_DATA,
  MAX_FILE_NAME_BYTES,
  MAX_FILE_REASON_BYTES,
  MAX_FILE_SIZE,
  MAX_SET_LABEL_BYTES,
  OFFER_FIXED_LEN,
  RECEIVED_LEN,
  TRANSFER_ID_LEN,
} from "./constants.ts";

import { fail } from "./errors.ts";
import { text, type Item } from "./items.ts";

export type FileCodeName = keyof typeof FileCode;
const CODE_NAMES = new Map<number, FileCodeName>(Object.entries(FileCode).map(([k, v]) => [v, k as FileCodeName]));

/** The name of a CANCEL/REJECT code, or `code N` for one this version does not know. */
export function fileCodeName(code: number): string {
  return CODE_NAMES.get(code) ?? `code ${code}`;
}

/** One decoded file item. Ids are u64 (bigint); sizes and offsets are ≤ 2^53 − 1 (number). */
export type FileItem =
  | { kind: "file_offer"; id: bigint; size: number; sha256: Uint8Array; name: string }
  | { kind: "file_accept"; id: bigint; offset: number; prefix: Uint8Array }
  | { kind: "file_chunk"; id: bigint; offset: number; data: Uint8Array }
  | { kind: "file_done"; id: bigint }
  | { kind: "file_cancel"; id: bigint; code: number; reason: string }
  | { kind: "file_reject"; id: bigint; code: number; reason: string }
  | { kind: "file_pending"; id: bigint }
  | { kind: "file_received"; id: bigint; sha256: Uint8Array }
  | { kind: "file_set"; id: bigint; count: number; total: number; label: string };

const TYPE_OF: Record<FileItem["kind"], FileType> = {
  file_offer: FileType.FILE_OFFER,
  file_accept: FileType.FILE_ACCEPT,
  file_chunk: FileType.FILE_CHUNK,
  file_done: FileType.FILE_DONE,
  file_cancel: FileType.FILE_CANCEL,
  file_reject: FileType.FILE_REJECT,
  file_pending: FileType.FILE_PENDING,
  file_received: FileType.FILE_RECEIVED,
  file_set: FileType.FILE_SET,
};

const LABEL = /^[0-9A-Za-z]{1,16}$/;

/** Is `type` one of the extension's content types? */
export function isFileType(type: number): type is FileType {
  return type >= FileType.FILE_OFFER && type <= FileType.FILE_SET;
}

const encoder = new TextEncoder();

function size(c: Uint8Array, what: string, min: number, max: number): void {
  if (c.length < min || c.length > max) {
    const want = min === max ? `${min}` : `${min} to ${max}`;
    throw fail("bad_item", `${what} item has ${c.length} bytes, expected ${want}`);
  }
}

function u53(dv: DataView, off: number, what: string): number {
  const v = dv.getBigUint64(off);
  if (v > BigInt(MAX_FILE_SIZE)) throw fail("bad_item", `${what} ${v} is over 2^53 - 1`);
  return Number(v);
}

/** The transfer id at the start of a file item's content, or null when it is too short to hold one. */
export function peekTransferId(content: Uint8Array): bigint | null {
  if (content.length < TRANSFER_ID_LEN) return null;
  return new DataView(content.buffer, content.byteOffset, TRANSFER_ID_LEN).getBigUint64(0);
}

/**
 * Decode one file item (PROTOCOL §11.3). Views into `content` are returned for sha256,
 * prefix and data: copy them to keep them past the record.
 * @throws ProtocolError bad_item (a size rule, a size or offset over 2^53 − 1, a type
 * outside 0xA0..0xA8, a FILE_SET with count 0 or a label not 1 to 16 letters and digits)
 * / invalid_utf8 (name or reason). A FILE_SET that fails is ignored by its receiver (§11.11).
 */
export function decodeFileItem(type: number, content: Uint8Array): FileItem {
  const c = content;
  const dv = new DataView(c.buffer, c.byteOffset, c.byteLength);
  const id = () => dv.getBigUint64(0);
  switch (type) {
    case FileType.FILE_OFFER:
      size(c, "FILE_OFFER", OFFER_FIXED_LEN + 1, OFFER_FIXED_LEN + MAX_FILE_NAME_BYTES);
      return { kind: "file_offer", id: id(), size: u53(dv, 8, "FILE_OFFER size"), sha256: c.subarray(16, 48), name: text(c.subarray(OFFER_FIXED_LEN), "FILE_OFFER name") };
    case FileType.FILE_ACCEPT:
      size(c, "FILE_ACCEPT", ACCEPT_LEN, ACCEPT_LEN);
      return { kind: "file_accept", id: id(), offset: u53(dv, 8, "FILE_ACCEPT offset"), prefix: c.subarray(16, 48) };
    case FileType.FILE_CHUNK:
      size(c, "FILE_CHUNK", CHUNK_HEADER_LEN + 1, CHUNK_HEADER_LEN + MAX_CHUNK_DATA);
      return { kind: "file_chunk", id: id(), offset: u53(dv, 8, "FILE_CHUNK offset"), data: c.subarray(CHUNK_HEADER_LEN) };
    case FileType.FILE_DONE:
    case FileType.FILE_PENDING:
      size(c, type === FileType.FILE_DONE ? "FILE_DONE" : "FILE_PENDING", TRANSFER_ID_LEN, TRANSFER_ID_LEN);
      return { kind: type === FileType.FILE_DONE ? "file_done" : "file_pending", id: id() };
    case FileType.FILE_CANCEL:
    case FileType.FILE_REJECT: {
      const what = type === FileType.FILE_CANCEL ? "FILE_CANCEL" : "FILE_REJECT";
      size(c, what, TRANSFER_ID_LEN + 1, TRANSFER_ID_LEN + 1 + MAX_FILE_REASON_BYTES);
      return { kind: type === FileType.FILE_CANCEL ? "file_cancel" : "file_reject", id: id(), code: c[8]!, reason: text(c.subarray(9), `${what} reason`) };
    }
    case FileType.FILE_RECEIVED:
      size(c, "FILE_RECEIVED", RECEIVED_LEN, RECEIVED_LEN);
      return { kind: "file_received", id: id(), sha256: c.subarray(8, 40) };
    case FileType.FILE_SET: {
      size(c, "FILE_SET", FILE_SET_FIXED_LEN + 1, FILE_SET_FIXED_LEN + MAX_SET_LABEL_BYTES);
      const count = dv.getUint32(8);
      if (count === 0) throw fail("bad_item", "FILE_SET count is 0");
      // Letters and digits only: checked on the bytes, so no decoder is involved.
      const label = String.fromCharCode(...c.subarray(FILE_SET_FIXED_LEN));
      if (!LABEL.test(label)) throw fail("bad_item", "FILE_SET label is not 1 to 16 ASCII letters and digits");
      return { kind: "file_set", id: id(), count, total: u53(dv, 12, "FILE_SET total"), label };
    }
    default:
      throw fail("bad_item", `content type 0x${type.toString(16).padStart(2, "0")} is not a file item`);
  }
}

function head(len: number, id: bigint): { out: Uint8Array; dv: DataView } {
  if (id < 0n || id > 0xffff_ffff_ffff_ffffn) throw new RangeError(`"id" expected a u64, got ${id}`);
  const out = new Uint8Array(len);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, id);
  return { out, dv };
}

function checkU53(v: number, what: string): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`"${what}" expected an integer 0..2^53-1, got ${v}`);
}

function check32(b: Uint8Array, what: string): void {
  if (b.length !== FILE_SHA256_LEN) throw new RangeError(`"${what}" expected 32 bytes, got ${b.length}`);
}

function reasonBytes(reason: string): Uint8Array {
  let r = encoder.encode(reason);
  if (r.length > MAX_FILE_REASON_BYTES) {
    // Cut at a code point boundary: never send a truncated UTF-8 sequence.
    let end = MAX_FILE_REASON_BYTES;
    while (end > 0 && (r[end]! & 0xc0) === 0x80) end--;
    r = r.subarray(0, end);
  }
  return r;
}

/**
 * Encode one file item as the `ext` item the session sends. A reason over 256 bytes is
 * cut (it is for humans). For CHUNK prefer `chunkItem`, which does not copy the data.
 * @throws RangeError for what a correct sender never produces: a name of 0 or over
 * 1,024 bytes, a size or offset outside 0..2^53 − 1, a hash not 32 bytes, data of 0 or
 * over 65,261 bytes, a code outside 0..255.
 */
export function encodeFileItem(item: FileItem): Item {
  let content: Uint8Array;
  switch (item.kind) {
    case "file_offer": {
      const name = encoder.encode(item.name);
      if (name.length < 1 || name.length > MAX_FILE_NAME_BYTES) throw new RangeError(`"name" expected 1 to ${MAX_FILE_NAME_BYTES} bytes, got ${name.length}`);
      checkU53(item.size, "size");
      check32(item.sha256, "sha256");
      const { out, dv } = head(OFFER_FIXED_LEN + name.length, item.id);
      dv.setBigUint64(8, BigInt(item.size));
      out.set(item.sha256, 16);
      out.set(name, OFFER_FIXED_LEN);
      content = out;
      break;
    }
    case "file_accept": {
      checkU53(item.offset, "offset");
      check32(item.prefix, "prefix");
      const { out, dv } = head(ACCEPT_LEN, item.id);
      dv.setBigUint64(8, BigInt(item.offset));
      out.set(item.prefix, 16);
      content = out;
      break;
    }
    case "file_chunk": {
      const out = new Uint8Array(CHUNK_HEADER_LEN + item.data.length);
      out.set(item.data, CHUNK_HEADER_LEN);
      return chunkItem(out, item.id, item.offset);
    }
    case "file_done":
    case "file_pending":
      content = head(TRANSFER_ID_LEN, item.id).out;
      break;
    case "file_cancel":
    case "file_reject": {
      if (!Number.isInteger(item.code) || item.code < 0 || item.code > 255) throw new RangeError(`"code" expected 0..255, got ${item.code}`);
      const r = reasonBytes(item.reason);
      const { out } = head(TRANSFER_ID_LEN + 1 + r.length, item.id);
      out[8] = item.code;
      out.set(r, 9);
      content = out;
      break;
    }
    case "file_set": {
      if (!LABEL.test(item.label)) throw new RangeError(`"label" expected 1 to ${MAX_SET_LABEL_BYTES} ASCII letters and digits, got ${JSON.stringify(item.label)}`);
      if (!Number.isInteger(item.count) || item.count < 1 || item.count > 0xffff_ffff) throw new RangeError(`"count" expected 1..2^32-1, got ${item.count}`);
      checkU53(item.total, "total");
      const { out, dv } = head(FILE_SET_FIXED_LEN + item.label.length, item.id);
      dv.setUint32(8, item.count);
      dv.setBigUint64(12, BigInt(item.total));
      for (let i = 0; i < item.label.length; i++) out[FILE_SET_FIXED_LEN + i] = item.label.charCodeAt(i);
      content = out;
      break;
    }
    case "file_received": {
      check32(item.sha256, "sha256");
      const { out } = head(RECEIVED_LEN, item.id);
      out.set(item.sha256, 8);
      content = out;
      break;
    }
  }
  return { kind: "ext", type: TYPE_OF[item.kind], content };
}

/**
 * A FILE_CHUNK item around `content`, whose bytes from 16 on already hold the data (the
 * sender reads the file straight into it): writes transfer_id and offset into the first
 * 16 bytes and hands `content` on without copying.
 * @throws RangeError when the data is empty or over 65,261 bytes, or id/offset are out of range.
 */
export function chunkItem(content: Uint8Array, id: bigint, offset: number): Item {
  const n = content.length - CHUNK_HEADER_LEN;
  if (n < 1 || n > MAX_CHUNK_DATA) throw new RangeError(`chunk data expected 1 to ${MAX_CHUNK_DATA} bytes, got ${n}`);
  checkU53(offset, "offset");
  if (id < 0n || id > 0xffff_ffff_ffff_ffffn) throw new RangeError(`"id" expected a u64, got ${id}`);
  const dv = new DataView(content.buffer, content.byteOffset, CHUNK_HEADER_LEN);
  dv.setBigUint64(0, id);
  dv.setBigUint64(8, BigInt(offset));
  return { kind: "ext", type: FileType.FILE_CHUNK, content };
}
