/**
 * The send side of one connection: items waiting to be sealed, and sealed bytes the
 * socket has not taken yet, both bounded by the session (Limits.maxSendQueueBytes).
 *
 *   1. queue(item): kept as is (not encoded) until the flush; a TEXT (queueText, the
 *      per-message case) is kept as two entries, its id and its text: no object of its own;
 *   2. flush(writer): items are encoded straight into a shared plaintext buffer (PT,
 *      outbound-items.ts), packed into as few records as fit (≤ 65,280 bytes each),
 *      sealed into a shared output buffer (OUT), and OUT goes to the socket in one write
 *      per megabyte;
 *   3. what the socket does not take is copied into the queue and written on `drain`;
 *      while bytes wait there, new items keep coalescing instead of being sealed.
 * PT and OUT are shared by every connection: one thread, one flush at a time.
 *
 * Two priorities (text before bulk): the file sub-protocol's items (PROTOCOL §11), and PING
 * and PONG behind them,
 * wait in a bulk queue of their own, and everything else (TEXT, ACK, PING, PONG,
 * PROFILE) is sealed ahead of them at the next flush, so a line typed during a transfer
 * leaves within one record of the transfer's. Bulk is sealed in small batches
 * (BULK_FLUSH_BYTES) and only while the socket takes it, so little of it sits sealed
 * ahead of a later line (as TCP_NOTSENT_LOWAT keeps little unsent in the kernel).
 * CLOSE joins the bulk queue: it is the last item, after everything else queued.
 */
import { MAX_PLAINTEXT } from "../protocol/constants.ts";
import { itemSizeBound, textSizeBound, type Item, type TextId } from "../protocol/items.ts";
import { recordFrameLength, type RecordWriter } from "../protocol/record.ts";
import { ITEM_HEAP_BYTES } from "./limits.ts";
import { exactSize, fill, fillRecord, isBulk, ITEM_END, PT, type Pending } from "./outbound-items.ts";
import type { Transport } from "./types.ts";

/** Records sealed per socket write, at most (then the next batch, if the socket took it all). */
const FLUSH_BYTES = 1 << 20;
/** Bulk records sealed per socket write: the most a later line can find sealed ahead of it. */
export const BULK_FLUSH_BYTES = 64 * 1024;
/**
 * Records are sealed into OUT from OUT_AT on: the 8 bytes in front let even the first
 * record's seq borrow them for a one-part MAC (record.ts sealAt).
 */
const OUT_AT = 8;
let OUT = new Uint8Array(OUT_AT + FLUSH_BYTES + recordFrameLength(MAX_PLAINTEXT));

/**
 * Shared empty queues (frozen: a push into one throws): a session allocates its frame
 * queues and its bulk queue only when something waits there, and drops none when it closes.
 */
const NO_FRAMES = Object.freeze([]) as unknown as Uint8Array[];
const NO_ITEMS = Object.freeze([]) as unknown as Item[];

export class Outbound {
  readonly #socket: Transport;
  #out: Uint8Array[] = NO_FRAMES;
  #outBytes = 0;
  /** Urgent items (control and TEXT: a TEXT as its id then its text), then bulk items (file transfer, CLOSE last). */
  #pending: Pending[] = [];
  /** TEXTs among #pending (each two entries, charged as one item). */
  #texts = 0;
  #bulk: Item[] = NO_ITEMS;
  #pendingBytes = 0;
  /** Sealed bytes handed to the socket so far (taken or waiting in the queue). */
  written = 0;
  /** Bulk is sealed only while `written` is below this (session.ts paces it from PONGs). */
  bulkUntil = Infinity;
  /** Plaintext bytes of one paced bulk record, at most (pacer.ts quantum; an item alone may be larger). */
  bulkQuantum = MAX_PLAINTEXT;
  /** Stream offset after the last flush that sealed file items. */
  bulkAt = 0;

  constructor(socket: Transport) {
    this.#socket = socket;
  }

  /** Sealed bytes waiting for the socket plus (an upper bound of) items not yet sealed. */
  get bufferedAmount(): number {
    return this.#outBytes + this.#pendingBytes;
  }

  /**
   * Real memory this queue holds: sealed bytes, plus each pending item at its encoded
   * bound and its object's heap (ITEM_HEAP_BYTES, limits.ts); the process-wide output
   * budget is charged with this, not with wire bytes.
   */
  get memoryBytes(): number {
    return this.#outBytes + this.#pendingBytes + (this.#pending.length - this.#texts + this.#bulk.length) * ITEM_HEAP_BYTES;
  }

  /** Items wait to be sealed. */
  get hasPending(): boolean {
    return this.#pending.length > 0 || this.#bulk.length > 0 || this.#lead.length > 0;
  }

  /** Bulk items wait to be sealed. */
  get hasBulk(): boolean {
    return this.#bulk.length > 0;
  }

  /** File items (not only PONG or CLOSE) wait among the bulk items. */
  get hasFileBulk(): boolean {
    for (const it of this.#bulk) if (it.kind === "ext") return true;
    return false;
  }

  /** The socket did not take everything: wait for `drain`. */
  get backedUp(): boolean {
    return this.#out.length > 0;
  }

  /**
   * Whole frames (the handshake's last flight) that go out ahead of the records of the
   * next flush, in the same socket write: a handshake ends with one write, not two.
   */
  #lead: Uint8Array[] = NO_FRAMES;
  /** Held frames taken by the flush under way, copied into OUT ahead of its first record. */
  #leadInOut: Uint8Array[] | null = null;

  /** Keep whole frames for the next flush (`flush` writes them first, even with nothing queued). */
  holdFrames(frames: readonly Uint8Array[]): void {
    if (this.#lead === NO_FRAMES) this.#lead = [];
    for (const f of frames) this.#lead.push(f);
  }

  /**
   * Seal the queued urgent items now, in records of their own, and hold those records
   * behind the held frames for the next flush's write (the PROFILE that ends a handshake:
   * its own record, sent in one write with what the session answers in the same tick).
   */
  sealAhead(w: RecordWriter, keyUpdate: () => boolean): void {
    const items = this.#pending;
    const f = fill();
    if (f.i < items.length && this.#lead === NO_FRAMES) this.#lead = [];
    while (f.i < items.length) {
      const pt = fillRecord(items, f, keyUpdate);
      const frame = new Uint8Array(recordFrameLength(pt));
      w.sealInto(PT, pt, frame, 0, f.ku);
      this.#lead.push(frame);
    }
    items.length = 0; // the same array takes the next items
    this.#recount();
  }

  /** Keep an item that goes ahead of every bulk item (the pacer's probes, session.ts). */
  queueUrgent(item: Item): void {
    this.#pending.push(item);
    this.#pendingBytes += itemSizeBound(item);
  }

  /**
   * Keep TEXT `id`, `text` for the next flush, as two entries (no Item object); the id is
   * trusted to be in range (Session.sendText checks it). @throws RangeError when it cannot fit in any record.
   */
  queueText(id: TextId, text: string): void {
    const bound = textSizeBound(text);
    if (bound > ITEM_END && textSizeBound("") + Buffer.byteLength(text) > ITEM_END) {
      throw new RangeError(`an item of ${textSizeBound("") + Buffer.byteLength(text)} bytes cannot fit in a record (at most ${ITEM_END})`);
    }
    this.#pending.push(id, text);
    this.#texts++;
    this.#pendingBytes += bound;
  }

  /** Keep one item for the next flush. @throws RangeError when it cannot fit in any record. */
  queue(item: Item): void {
    if (item.kind === "text") return this.queueText(item.id, item.text);
    const bound = itemSizeBound(item);
    if (bound > ITEM_END) {
      const exact = exactSize(item);
      if (exact > ITEM_END) throw new RangeError(`an item of ${exact} bytes cannot fit in a record (at most ${ITEM_END})`);
    }
    if (isBulk(item)) {
      if (this.#bulk === NO_ITEMS) this.#bulk = [];
      this.#bulk.push(item);
    }
    else this.#pending.push(item);
    this.#pendingBytes += bound;
  }

  /** Forget the items not yet sealed. */
  clearPending(): void {
    this.#pending.length = 0;
    this.#texts = 0;
    this.#bulk = NO_ITEMS;
    this.#pendingBytes = 0;
  }

  /**
   * Seal the queued items and write them. Unless `force`, nothing is sealed while the
   * socket is backed up; with `force` (closing), the records join the queue behind it.
   * `keyUpdate()` is asked per record whether it must carry KEY_UPDATE.
   */
  flush(w: RecordWriter, keyUpdate: () => boolean, force = false): void {
    if (this.#lead.length > 0) {
      const lead = this.#lead;
      this.#lead = NO_FRAMES;
      if (this.#pending.length === 0 || this.#out.length > 0) this.writeFrames(lead);
      else this.#leadInOut = lead;
    }
    if (!this.hasPending || (this.#out.length > 0 && !force)) return;
    // Urgent items first, in big batches; then bulk in small ones, while the socket takes it.
    const urgent = this.#pending;
    if (urgent.length > 0) {
      const u = this.#seal(urgent, w, keyUpdate, force, FLUSH_BYTES);
      if (u < urgent.length) this.#pending = urgent.slice(u);
      // A small array is kept for the next items (one message per flush makes no new array);
      // a big one is let go, so that a session idle after a burst holds no large array.
      else if (u <= REUSE_ITEMS) urgent.length = 0;
      else this.#pending = [];
    }
    if (this.#pending.length === 0 && this.#bulk.length > 0 && (this.#out.length === 0 || force)) {
      const bulk = this.#bulk;
      this.#bulk = NO_ITEMS;
      const b = this.#seal(bulk, w, keyUpdate, force, force ? FLUSH_BYTES : BULK_FLUSH_BYTES, !force);
      if (b < bulk.length) this.#bulk = b === 0 ? bulk : bulk.slice(b);
      // Only file items make a transfer that the pacer probes (not PONGs or CLOSE).
      for (let k = 0; k < b; k++) {
        if (bulk[k]!.kind === "ext") {
          this.bulkAt = this.written;
          break;
        }
      }
      this.#recount();
      notifySealed(bulk, b);
      return;
    }
    this.#recount();
  }

  /** pendingBytes: the bound of every item still queued. */
  #recount(): void {
    let n = 0;
    let texts = 0;
    const p = this.#pending, b = this.#bulk;
    for (let k = 0; k < p.length; k++) {
      const e = p[k]!;
      if (typeof e === "object") n += itemSizeBound(e);
      else if (typeof e === "string") {
        n += textSizeBound(e);
        texts++;
      }
    }
    for (let k = 0; k < b.length; k++) n += itemSizeBound(b[k]!);
    this.#pendingBytes = n;
    this.#texts = texts;
  }

  /** Seal `items` into records and write them, `batch` bytes per write; returns how many were sealed. */
  #seal(items: readonly Pending[], w: RecordWriter, keyUpdate: () => boolean, force: boolean, batch: number, paced = false): number {
    const f = fill();
    // A PONG waiting in the bulk queue is sealed whatever the pace (with what is ahead of
    // it, at most the file sender's high-water): two peers pacing each other never wait
    // for each other's PONGs.
    let lastPong = -1;
    if (paced) for (let k = items.length - 1; k >= 0; k--) if ((items[k] as Item).kind === "pong") { lastPong = k; break; }
    while (f.i < items.length && (!paced || f.i <= lastPong || this.written < this.bulkUntil)) {
      let outLen = OUT_AT;
      const lead = this.#leadInOut;
      if (lead !== null) {
        this.#leadInOut = null;
        for (const frame of lead) {
          if (outLen + frame.length > OUT.length - recordFrameLength(MAX_PLAINTEXT)) {
            const bigger = new Uint8Array((outLen + frame.length + recordFrameLength(MAX_PLAINTEXT)) * 2);
            bigger.set(OUT.subarray(0, outLen));
            OUT = bigger;
          }
          OUT.set(frame, outLen);
          outLen += frame.length;
        }
      }
      // Paced bulk stops at the window record by record, not batch by batch: a batch of
      // 60 KiB file chunks overshot it by up to two records, all queued ahead of a later line.
      while (f.i < items.length && outLen - OUT_AT < batch && (!paced || f.i <= lastPong || this.written + outLen - OUT_AT < this.bulkUntil)) {
        const pt = fillRecord(items, f, keyUpdate, paced ? this.bulkQuantum : ITEM_END);
        const need = outLen + recordFrameLength(pt);
        if (need > OUT.length) {
          const bigger = new Uint8Array(need * 2);
          bigger.set(OUT.subarray(0, outLen));
          OUT = bigger;
        }
        outLen += w.sealInto(PT, pt, OUT, outLen, f.ku);
      }
      if (!this.#writeOut(outLen - OUT_AT) && !force) break;
    }
    return f.i;
  }

  /** Write the `len` sealed bytes at OUT_AT, or queue a copy behind bytes already waiting. False when backed up. */
  #writeOut(len: number): boolean {
    this.written += len;
    if (this.#out.length > 0) {
      this.#enqueue(OUT.slice(OUT_AT, OUT_AT + len));
      return false;
    }
    // One write, no view: the socket takes an offset and a length.
    const n = Math.max(0, this.#socket.write(OUT, OUT_AT, len));
    if (n >= len) return true;
    this.#enqueue(OUT.slice(OUT_AT + n, OUT_AT + len));
    return false;
  }

  /** Write whole frames (handshake frames, alerts) in order with everything queued. */
  writeFrames(frames: readonly Uint8Array[]): void {
    // Held frames keep their place ahead of anything written after them.
    const lead = this.#lead;
    this.#lead = NO_FRAMES;
    const count = lead.length + frames.length;
    if (count === 0) return;
    if (count === 1) {
      const data = lead.length === 1 ? lead[0]! : frames[0]!;
      this.written += data.length;
      if (this.#out.length > 0) return this.#enqueue(data);
      const n = Math.max(0, this.#socket.write(data));
      if (n < data.length) this.#enqueue(data.subarray(n));
      return;
    }
    // Several (HELLO_REPLY and AUTH, held frames and an alert): copied into OUT and written
    // at once, as sealed records are; no concatenation of their own.
    let len = 0;
    for (const f of lead) len += f.length;
    for (const f of frames) len += f.length;
    if (OUT_AT + len > OUT.length) OUT = new Uint8Array((OUT_AT + len) * 2);
    let at = OUT_AT;
    for (const f of lead) (OUT.set(f, at), (at += f.length));
    for (const f of frames) (OUT.set(f, at), (at += f.length));
    this.#writeOut(len);
  }

  #enqueue(b: Uint8Array): void {
    if (this.#out === NO_FRAMES) this.#out = [];
    this.#out.push(b);
    this.#outBytes += b.length;
  }

  /** The socket can take more: write what waits. True when nothing is left waiting. */
  drain(): boolean {
    while (this.#out.length > 0) {
      const data = this.#out[0]!;
      const n = Math.max(0, this.#socket.write(data));
      this.#outBytes -= n;
      if (n < data.length) {
        this.#out[0] = data.subarray(n);
        return false;
      }
      this.#out.shift();
    }
    return true;
  }

  /** Drop everything (the connection is gone). */
  drop(): void {
    this.clearPending();
    this.#lead = NO_FRAMES;
    this.#leadInOut = null;
    this.#out = NO_FRAMES;
    this.#outBytes = 0;
  }
}

/** Up to this many entries, the urgent queue's array is emptied and kept rather than replaced. */
const REUSE_ITEMS = 16;

/**
 * A bulk item may carry `sealed`: called once, after the flush that encoded its bytes into
 * a record and handed that record to the socket (or to the queue behind it), so its owner
 * may write over the item's buffer from then on (the file sender's chunk buffers,
 * src/chat/files/chunks.ts). Never called for an item dropped unsealed (clearPending, drop).
 * It must not queue or flush on this connection.
 */
export interface SealedNotice {
  sealed?: (item: Item) => void;
}

function notifySealed(items: Item[], n: number): void {
  for (let k = 0; k < n; k++) {
    const it = items[k] as Item & SealedNotice;
    if (it.sealed !== undefined) it.sealed(it);
  }
}
