/**
 * The items of the send queue (outbound.ts) on their way into a record: which queue an
 * item waits in (bulk or urgent), its exact size when its bound says it may not fit, and
 * how queued items are encoded into the shared plaintext buffer (PT) one record at a time.
 * PT is shared by every connection, as outbound.ts's OUT: one thread, one flush at a time.
 */
import { BLOCK_LEN, ITEM_HEADER_LEN, MAX_PLAINTEXT } from "../protocol/constants.ts";
import { encodeItems, writeItem, writeText, type Item, type TextId } from "../protocol/items.ts";
import { isFileType } from "../protocol/files.ts";

/** The plaintext of the record being filled. */
export const PT = new Uint8Array(MAX_PLAINTEXT + BLOCK_LEN);
/** Items end here, so a KEY_UPDATE item (3 bytes) always fits after them. */
export const ITEM_END = MAX_PLAINTEXT - ITEM_HEADER_LEN;
const KEY_UPDATE_ITEM: Item = { kind: "key_update" };

/** Where fillRecord left off: the next item, and whether the record it filled carries KEY_UPDATE. */
export interface Fill {
  i: number;
  ku: boolean;
}
/** One Fill for every flush (one thread, one flush at a time, as PT and OUT): no object per flush. */
const FILL: Fill = { i: 0, ku: false };
/** The shared Fill, reset for a new run of records. */
export function fill(): Fill {
  FILL.i = 0;
  FILL.ku = false;
  return FILL;
}
/** An urgent queue's entry: an item, or a TEXT as two entries (its id, then its text). */
export type Pending = Item | TextId | string;

/**
 * Encode items from `f.i` into PT, as many as fit one record (within `cap` bytes, though
 * the first item always goes in), then KEY_UPDATE when `keyUpdate()` says this record
 * must carry it; returns the plaintext length.
 */
export function fillRecord(items: readonly Pending[], f: Fill, keyUpdate: () => boolean, cap = ITEM_END): number {
  let pt = 0;
  while (f.i < items.length) {
    const e = items[f.i]!;
    const end = pt === 0 ? ITEM_END : Math.min(cap, ITEM_END);
    // A TEXT is two entries: its id, then its text (queueText).
    const isText = typeof e !== "object";
    const next = isText ? writeText(PT, pt, end, e as TextId, items[f.i + 1] as string) : writeItem(PT, pt, end, e);
    if (next < 0) break;
    pt = next;
    f.i += isText ? 2 : 1;
  }
  if (pt === 0) throw new Error("internal: an item does not fit in an empty record");
  f.ku = keyUpdate();
  return f.ku ? writeItem(PT, pt, MAX_PLAINTEXT, KEY_UPDATE_ITEM) : pt;
}

/**
 * File-transfer items (PROTOCOL §11) and CLOSE keep their order behind each other, after
 * everything else; other optional items (PRIVATE, §6.5, which must precede its TEXT) go
 * with TEXT.
 */
export function isBulk(item: Item): boolean {
  // PING and PONG keep their order behind file items too: PROTOCOL §11.4 asks with a PING
  // whether the peer read an offer, and a PONG must not overtake the answer to it.
  return (item.kind === "ext" && isFileType(item.type)) || item.kind === "close" || item.kind === "ping" || item.kind === "pong";
}

/** The exact encoded size of an item (only for the rare over-long case). */
export function exactSize(item: Item): number {
  try {
    return encodeItems([item]).length;
  } catch {
    return Number.MAX_SAFE_INTEGER;
  }
}
