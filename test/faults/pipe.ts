/**
 * One direction of a FaultProxy connection (proxy.ts): the queue of chunks with their due
 * times, the pause of its source, and the pump that writes them out, split, delayed, rate
 * capped and cut as the connection's faults say (the steps are in proxy.ts's header).
 */
import type { Socket } from "bun";
import type { ProxyConnection } from "./proxy.ts";

export type Side = "client" | "server";
export type SocketData = { conn: ProxyConnection | null; side: Side };
type Chunk = { bytes: Uint8Array; due: number };

/** One direction of one connection: client → server ("up") or server → client ("down"). */
export class Pipe {
  src: Socket<SocketData> | null = null;
  dst: Socket<SocketData> | null = null;
  /** Bytes read from the source. */
  received = 0;
  /** Bytes written to the destination. */
  forwarded = 0;
  /** socket.write calls toward the destination. */
  writes = 0;
  /** Bytes waiting here now, and the most ever. */
  queued = 0;
  peakQueued = 0;
  /** The source ended: flush, then end the destination. */
  eof = false;
  /** Nothing more will be written: flushed after EOF, or the destination is gone. */
  finished = false;
  readonly #queue: Chunk[] = [];
  #paused = false;
  #waitingDrain = false;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #immediate: ReturnType<typeof setImmediate> | null = null;
  /** With a bandwidth cap: when the link has sent what was written (performance.now() ms). */
  #linkFreeAt = 0;

  constructor(readonly conn: ProxyConnection) {}

  /** Bytes queued before the source is paused: the cap plus what is on the wire (rate × delay). */
  #limit(): number {
    const f = this.conn.faults;
    return this.conn.maxQueueBytes + (f.rateBytesPerSec > 0 ? (f.rateBytesPerSec * f.delayMs) / 1000 : 0);
  }

  /** Step 1-2: a chunk from the source. */
  push(chunk: Uint8Array): void {
    if (this.conn.closed || this.finished) return;
    this.received += chunk.length;
    this.#queue.push({ bytes: new Uint8Array(chunk), due: performance.now() + this.conn.faults.delayMs });
    this.queued += chunk.length;
    if (this.queued > this.peakQueued) this.peakQueued = this.queued;
    if (this.queued > this.#limit() && !this.#paused && this.src !== null) {
      this.src.pause();
      this.#paused = true;
    }
    this.pump();
  }

  /** The destination can take more bytes. */
  onDrain(): void {
    this.#waitingDrain = false;
    this.pump();
  }

  /** Steps 3-5. */
  pump(): void {
    const c = this.conn;
    if (c.closed || this.finished || this.#waitingDrain || this.dst === null || this.#timer !== null || this.#immediate !== null) return;
    const f = c.faults;
    while (this.#queue.length > 0) {
      if (f.stalled) return;
      const head = this.#queue[0]!;
      const wait = head.due - performance.now();
      if (wait > 0) {
        this.#timer = setTimeout(() => {
          this.#timer = null;
          this.pump();
        }, Math.ceil(wait));
        return;
      }
      if (f.rateBytesPerSec > 0) {
        const busy = this.#linkFreeAt - performance.now();
        if (busy > 0.5) {
          this.#timer = setTimeout(() => {
            this.#timer = null;
            this.pump();
          }, Math.ceil(busy));
          return;
        }
      }
      const left = f.cutAfterBytes - c.forwarded;
      if (left <= 0) return c.cut(f.cutMode);
      let len = Math.min(head.bytes.length, left);
      if (f.splitBytes > 0) len = Math.min(len, f.splitBytes);
      // A few ms of the link's time per write, so the pace is smooth rather than bursty.
      if (f.rateBytesPerSec > 0) len = Math.min(len, Math.max(1, Math.floor(f.rateBytesPerSec / 250)));
      const n = this.dst.write(head.bytes.subarray(0, len));
      this.writes++;
      if (n < 0) return c.cut(); // the destination is gone
      if (f.rateBytesPerSec > 0 && n > 0) this.#linkFreeAt = Math.max(this.#linkFreeAt, performance.now()) + (n * 1000) / f.rateBytesPerSec;
      this.#taken(n);
      if (c.forwarded >= f.cutAfterBytes) return c.cut(f.cutMode);
      if (n < len) {
        this.#waitingDrain = true;
        return;
      }
      if (f.splitBytes > 0 && this.#queue.length > 0) {
        this.#immediate = setImmediate(() => {
          this.#immediate = null;
          this.pump();
        });
        return;
      }
    }
    if (this.eof) {
      this.dst.end();
      this.finish();
    }
  }

  /** No more writes in this direction; the connection is over when both are. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.drop();
    this.conn.sideDone();
  }

  #taken(n: number): void {
    if (n === 0) return;
    const head = this.#queue[0]!;
    if (n >= head.bytes.length) this.#queue.shift();
    else head.bytes = head.bytes.subarray(n);
    this.queued -= n;
    this.forwarded += n;
    this.conn.forwarded += n;
    if (this.#paused && this.queued <= this.#limit() / 2 && this.src !== null) {
      this.src.resume();
      this.#paused = false;
    }
  }

  /** Drop everything (cut, or the destination is gone). */
  drop(): void {
    this.#queue.length = 0;
    this.queued = 0;
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (this.#immediate !== null) clearImmediate(this.#immediate);
    this.#timer = this.#immediate = null;
  }
}
