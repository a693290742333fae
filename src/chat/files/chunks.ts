/**
 * The file sender's chunk buffers, reused: a chunk's buffer (its FILE_CHUNK item's
 * content) comes back here only when the session says its item has been sealed
 * (net/outbound.ts `SealedNotice`), so bytes are never written over while the session
 * may still read them; an item the session drops unsealed is never given back, and its
 * buffer is left to the collector. Without this, every 60 KiB chunk was a new zeroed
 * buffer (memset, page faults, garbage).
 *
 * Bounded: at most `max` free buffers are kept, and none while nothing is being sent
 * (`idle`), so a chat that sent a file holds no chunk memory afterwards.
 */
import type { Item } from "../../protocol/items.ts";

export class ChunkPool {
  readonly #free: Uint8Array[] = [];
  #active = false;
  /** Buffers made so far (a count for tests and benches). */
  made = 0;
  /** The function an item carries as `sealed`: its buffer comes back (one function for every chunk, no closure each). */
  readonly sealed = (item: Item): void => {
    if (item.kind === "ext") this.give(item.content);
  };

  /**
   * @param size the length of every buffer (a chunk header and the most data a chunk holds)
   * @param max the most free buffers kept
   */
  constructor(
    readonly size: number,
    readonly max: number,
  ) {}

  /** Free buffers held now. */
  get free(): number {
    return this.#free.length;
  }

  /** A buffer of `size` bytes, free for the caller to fill (its old bytes are still in it). */
  take(): Uint8Array {
    this.#active = true;
    const b = this.#free.pop();
    if (b !== undefined) return b;
    this.made++;
    return new Uint8Array(this.size);
  }

  /** `content` (a buffer from take(), or the front of one) was sealed: it may be filled again. */
  give(content: Uint8Array): void {
    if (!this.#active || this.#free.length >= this.max) return;
    const buf = content.buffer;
    if (content.byteOffset !== 0 || buf.byteLength !== this.size || !(buf instanceof ArrayBuffer)) return;
    // Given back twice, a buffer would go to two chunks at once: it is kept once (max is small).
    for (const f of this.#free) if (f.buffer === buf) return;
    this.#free.push(content.length === this.size ? content : new Uint8Array(buf));
  }

  /** Nothing is being sent: let every free buffer go, and keep none given back until the next take(). */
  idle(): void {
    this.#active = false;
    this.#free.length = 0;
  }
}
