/**
 * The items inside a record's plaintext (PROTOCOL §6): content_type:u8 | len:u16 | content.
 * Decoding checks every size before it reads, and every text with a fatal UTF-8 decoder.
 */
import {
  AUTH_LEN,
  ContentType,
  FIRST_OPTIONAL_CONTENT_TYPE,
  IDENTITY_LEN,
  ID_LEN,
  INSTANCE_LEN,
  ITEM_HEADER_LEN,
  MAX_NAME_LEN,
  MAX_PLAINTEXT,
  PING_LEN,
  TEXT_TIME,
  TEXT_TIME_LEN,
} from "./constants.ts";
import { fail } from "./errors.ts";
import { putU64, sliceable, text, textAt, textIdAt, textInBuffer, writeText, type TextId } from "./text.ts";

export { checkTextId, text, textAt, textIdAt, textSizeBound, writeText, type TextId } from "./text.ts";

/** One decoded item. Unknown optional types (0x81..0xFF) come back as `ext` items for extensions to read or ignore. */
export type Item =
  | { kind: "auth"; identity: Uint8Array; sig: Uint8Array }
  | { kind: "text"; id: bigint; text: string }
  | { kind: "ack"; id: bigint }
  | { kind: "ping"; data: Uint8Array }
  | { kind: "pong"; data: Uint8Array }
  | { kind: "key_update" }
  | { kind: "close"; reason: string }
  | { kind: "profile"; instance: Uint8Array; name: string }
  | { kind: "alert"; code: number; reason: string }
  | { kind: "padding"; length: number }
  /** An item of an optional type (0x81..0xFF) that the core does not know; extensions (file transfer) read it. */
  | { kind: "ext"; type: number; content: Uint8Array };

const encoder = new TextEncoder();


function exact(len: number, want: number, what: string): void {
  if (len !== want) throw fail("bad_item", `${what} item has ${len} bytes, expected ${want}`);
}

/** Decode every item of a record plaintext. @throws ProtocolError bad_item / invalid_utf8. */
export function decodeItems(pt: Uint8Array): Item[] {
  return decodeItemsAt(pt, 0, pt.length);
}

/**
 * Decode every item of the record plaintext `pt[from..to)` (the record path passes the
 * decipher's output and a range: no view). @throws ProtocolError bad_item / invalid_utf8.
 */
export function decodeItemsAt(pt: Uint8Array, from: number, to: number): Item[] {
  const entries: Decoded[] = [];
  decodeInto(pt, from, to, entries);
  const items: Item[] = [];
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (typeof e === "object") items.push(e);
    else items.push({ kind: "text", id: BigInt(e as TextId), text: entries[++i] as string });
  }
  return items;
}


/**
 * What decodeInto puts out, in wire order: a TEXT as two entries, its id (a TextId, never
 * an object) then its text; every other item as its Item object.
 */
export type Decoded = Item | TextId | string;

/**
 * Decode every item of `pt[from..to)` as decodeItemsAt, appending to `out`: each TEXT as
 * its id (TextId) and its text, with no object and, below 2^53, no BigInt. Every size and
 * every text is checked before anything is appended past a bad item; on a throw `out` may
 * hold the items before it (the caller drops them: a record is handled whole or not at all).
 * @throws ProtocolError bad_item / invalid_utf8.
 */
export function decodeInto(pt: Uint8Array, from: number, to: number, out: Decoded[]): void {
  let off = from;
  if (to <= from) throw fail("bad_item", "a record holds no items");
  const buf = sliceable(pt);
  while (off < to) {
    if (to - off < ITEM_HEADER_LEN) throw fail("bad_item", "an item header is cut short");
    const type = pt[off]!;
    const len = (pt[off + 1]! << 8) | pt[off + 2]!;
    const start = off + ITEM_HEADER_LEN;
    if (len > to - start) throw fail("bad_item", `an item declares ${len} bytes but ${to - start} remain`);
    off = start + len;
    // TEXT, the per-message case, makes no view of its content (textAt).
    if (type === ContentType.TEXT) {
      if (len < ID_LEN) throw fail("bad_item", "TEXT item is shorter than its id");
      const id = textIdAt(pt, start);
      out.push(id, buf !== null ? textInBuffer(buf, start + ID_LEN, off, "TEXT") : textAt(pt, start + ID_LEN, off, "TEXT"));
      continue;
    }
    const c = pt.subarray(start, start + len);
    switch (type) {
      case ContentType.AUTH:
        exact(len, AUTH_LEN, "AUTH");
        out.push({ kind: "auth", identity: c.subarray(0, IDENTITY_LEN), sig: c.subarray(IDENTITY_LEN) });
        break;
      case ContentType.ACK:
        exact(len, ID_LEN, "ACK");
        out.push({ kind: "ack", id: u64At(pt, start) });
        break;
      case ContentType.PING:
      case ContentType.PONG:
        exact(len, PING_LEN, type === ContentType.PING ? "PING" : "PONG");
        out.push({ kind: type === ContentType.PING ? "ping" : "pong", data: c });
        break;
      case ContentType.KEY_UPDATE:
        exact(len, 0, "KEY_UPDATE");
        out.push({ kind: "key_update" });
        break;
      case ContentType.CLOSE:
        out.push({ kind: "close", reason: text(c, "CLOSE reason") });
        break;
      case ContentType.PROFILE: {
        if (len < INSTANCE_LEN) throw fail("bad_item", "PROFILE item is shorter than its instance id");
        if (len - INSTANCE_LEN > MAX_NAME_LEN) throw fail("bad_item", `PROFILE name of ${len - INSTANCE_LEN} bytes exceeds ${MAX_NAME_LEN}`);
        out.push({ kind: "profile", instance: c.subarray(0, INSTANCE_LEN), name: text(c.subarray(INSTANCE_LEN), "PROFILE name") });
        break;
      }
      case ContentType.ALERT:
        if (len < 1) throw fail("bad_item", "ALERT item has no code");
        out.push({ kind: "alert", code: c[0]!, reason: text(c.subarray(1), "ALERT reason") });
        break;
      case ContentType.PADDING:
        out.push({ kind: "padding", length: len });
        break;
      default:
        // PROTOCOL §6: unknown 0x00..0x7F is an error; unknown 0x80..0xFF is ignored
        // (handed up as `ext`: a receiver that knows no extension drops it).
        if (type < FIRST_OPTIONAL_CONTENT_TYPE) throw fail("bad_item", `unknown content type 0x${type.toString(16).padStart(2, "0")}`);
        out.push({ kind: "ext", type, content: c });
    }
  }
}

function header(out: Uint8Array, off: number, type: number, len: number): number {
  out[off] = type;
  out[off + 1] = len >>> 8;
  out[off + 2] = len & 0xff;
  return off + ITEM_HEADER_LEN;
}

/** The encoded size of an item. */
export function itemSize(item: Item): number {
  return ITEM_HEADER_LEN + contentOf(item).length;
}

function u64(n: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n);
  return b;
}

function join(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function contentOf(item: Item): Uint8Array {
  switch (item.kind) {
    case "auth":
      return join(item.identity, item.sig);
    case "text":
      return join(u64(item.id), encoder.encode(item.text));
    case "ack":
      return u64(item.id);
    case "ping":
    case "pong":
      return item.data;
    case "key_update":
      return new Uint8Array(0);
    case "close":
      return encoder.encode(item.reason);
    case "profile":
      return join(item.instance, encoder.encode(item.name));
    case "alert":
      return join(new Uint8Array([item.code]), encoder.encode(item.reason));
    case "padding":
      return new Uint8Array(item.length);
    case "ext":
      return item.content;
  }
}

const TYPE_OF: Record<Item["kind"], number> = {
  auth: ContentType.AUTH,
  text: ContentType.TEXT,
  ack: ContentType.ACK,
  ping: ContentType.PING,
  pong: ContentType.PONG,
  key_update: ContentType.KEY_UPDATE,
  close: ContentType.CLOSE,
  profile: ContentType.PROFILE,
  alert: ContentType.ALERT,
  padding: ContentType.PADDING,
  ext: 0, // the item carries its own type
};

/**
 * Encode items into one plaintext. @throws RangeError when an item is malformed
 * (wrong fixed size, name over 64 bytes) or the total exceeds 65,280 bytes: local bugs.
 */
export function encodeItems(items: Item[]): Uint8Array {
  const contents = items.map(contentOf);
  let total = 0;
  for (const c of contents) total += ITEM_HEADER_LEN + c.length;
  if (total > MAX_PLAINTEXT) throw new RangeError(`items total ${total} bytes, over ${MAX_PLAINTEXT}`);
  const out = new Uint8Array(total);
  let off = 0;
  items.forEach((item, i) => {
    const c = contents[i]!;
    checkLocal(item, c.length);
    off = header(out, off, item.kind === "ext" ? item.type : TYPE_OF[item.kind], c.length);
    out.set(c, off);
    off += c.length;
  });
  return out;
}

function checkLocal(item: Item, len: number): void {
  if (item.kind === "ext" && (item.type <= ContentType.PADDING || item.type > 0xff)) throw new RangeError(`an ext item needs a type in 0x81..0xff, got ${item.type}`);
  const fixed: Partial<Record<Item["kind"], number>> = { auth: AUTH_LEN, ack: ID_LEN, ping: PING_LEN, pong: PING_LEN, key_update: 0 };
  const want = fixed[item.kind];
  if (want !== undefined && len !== want) throw new RangeError(`${item.kind} item must be ${want} bytes, got ${len}`);
  if (item.kind === "profile" && (item.instance.length !== INSTANCE_LEN || len - INSTANCE_LEN > MAX_NAME_LEN)) {
    throw new RangeError(`profile needs an 8-byte instance and a name of at most ${MAX_NAME_LEN} bytes`);
  }
}

/** Read a big-endian u64 (no DataView: `.buffer` is costly on a fresh typed array). */
function u64At(b: Uint8Array, i: number): bigint {
  const hi = ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
  const lo = ((b[i + 4]! << 24) | (b[i + 5]! << 16) | (b[i + 6]! << 8) | b[i + 7]!) >>> 0;
  return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
}



/**
 * Encode one item into `out` at `off` without writing at or past `end` (the hot path:
 * TEXT is encoded straight into the record buffer). Returns the offset after the item,
 * or -1 when it does not fit (nothing useful was written).
 * @throws RangeError for a malformed item (as encodeItems).
 */
export function writeItem(out: Uint8Array, off: number, end: number, item: Item): number {
  const c = off + ITEM_HEADER_LEN;
  let len: number;
  if (item.kind === "text") return writeText(out, off, end, item.id, item.text);
  if (item.kind === "ack") {
    if (c + ID_LEN > end) return -1;
    putU64(out, c, item.id);
    len = ID_LEN;
  } else {
    const bytes = contentOf(item);
    checkLocal(item, bytes.length);
    if (c + bytes.length > end) return -1;
    out.set(bytes, c);
    len = bytes.length;
  }
  out[off] = item.kind === "ext" ? item.type : TYPE_OF[item.kind];
  out[off + 1] = len >>> 8;
  out[off + 2] = len & 0xff;
  return c + len;
}

/** Upper bound of an item's encoded size, without encoding it (UTF-8 is at most 3 bytes per UTF-16 unit). */
export function itemSizeBound(item: Item): number {
  switch (item.kind) {
    case "text":
      return ITEM_HEADER_LEN + ID_LEN + item.text.length * 3;
    case "close":
      return ITEM_HEADER_LEN + item.reason.length * 3;
    case "alert":
      return ITEM_HEADER_LEN + 1 + item.reason.length * 3;
    case "profile":
      return ITEM_HEADER_LEN + INSTANCE_LEN + MAX_NAME_LEN;
    case "padding":
      return ITEM_HEADER_LEN + item.length;
    case "ext":
      return ITEM_HEADER_LEN + item.content.length;
    case "ack":
    case "ping":
    case "pong":
      return ITEM_HEADER_LEN + ID_LEN;
    case "key_update":
      return ITEM_HEADER_LEN;
    default:
      return ITEM_HEADER_LEN + AUTH_LEN;
  }
}

/** PROTOCOL §12: the TEXT_TIME item saying TEXT `id` was written at `writtenMs` (Unix ms). */
export function textTimeItem(id: bigint, writtenMs: number): Item {
  const c = new Uint8Array(TEXT_TIME_LEN);
  putU64(c, 0, id);
  putU64(c, 8, BigInt(Math.max(0, Math.trunc(writtenMs))));
  return { kind: "ext", type: TEXT_TIME, content: c };
}

/** The largest time a Date holds (ECMAScript's time range, 8.64e15 ms), under 2^53. */
const MAX_DATE_MS = 8_640_000_000_000_000n;

/** PROTOCOL §12: read a TEXT_TIME content; null when its length is not 16 (it is then ignored) or the time is past what a Date holds. */
export function readTextTime(content: Uint8Array): { id: bigint; writtenMs: number } | null {
  if (content.length !== TEXT_TIME_LEN) return null;
  const ms = u64At(content, 8);
  // Past the last time a Date can hold (year 275760): shown, it read "written NaN:NaN".
  if (ms > MAX_DATE_MS) return null;
  return { id: u64At(content, 0), writtenMs: Number(ms) };
}

// --- PRIVATE (PROTOCOL §6.5): an optional item, in a block of its own ---------------

/** PROTOCOL §6.5: PRIVATE, `id:u64`: the sender's TEXT with this id went to this peer only. */
export const PRIVATE_TYPE = 0xbf;
/** PRIVATE's content length: one TEXT id. */
export const PRIVATE_LEN = ID_LEN;

/** The `ext` item that marks TEXT `id` as private (send it before that TEXT). @throws never */
export function privateItem(id: bigint): Item {
  return { kind: "ext", type: PRIVATE_TYPE, content: u64(id) };
}

/** The TEXT id a PRIVATE item marks, or null when `item` is no PRIVATE. @throws ProtocolError bad_item when its size is wrong. */
export function privateId(item: Item): bigint | null {
  if (item.kind !== "ext" || item.type !== PRIVATE_TYPE) return null;
  exact(item.content.length, PRIVATE_LEN, "PRIVATE");
  return new DataView(item.content.buffer, item.content.byteOffset, PRIVATE_LEN).getBigUint64(0);
}
