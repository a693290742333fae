/**
 * Randomness for the edge layers. The protocol core never draws randomness itself: it
 * takes a `RandomSource` so that a transcript can be replayed from fixed inputs.
 */
import { randomFillSync } from "node:crypto";

/** Where the core gets random bytes (record IVs, padding). */
export interface RandomSource {
  /** Fill `out` with fresh random bytes. */
  fill(out: Uint8Array): void;
  /** Fill `out[at..at+n)` with fresh random bytes (the record layer's IVs: no view made). */
  fillAt(out: Uint8Array, at: number, n: number): void;
}

/**
 * CSPRNG bytes drawn from a pooled buffer that is refilled from node:crypto's
 * randomFillSync in 4 KiB steps: one system call per 256 IVs instead of one per IV.
 * Bytes handed out are wiped from the pool.
 */
export class PooledRandom implements RandomSource {
  readonly #pool: Uint8Array;
  #pos: number;
  constructor(size = 4096) {
    this.#pool = new Uint8Array(size);
    this.#pos = size;
  }
  fillAt(out: Uint8Array, at: number, n: number): void {
    if (!Number.isInteger(at) || !Number.isInteger(n) || at < 0 || n < 0 || at + n > out.length) throw new RangeError(`fillAt: [${at}, ${at + n}) is outside a buffer of ${out.length} bytes`);
    const pool = this.#pool;
    if (n <= 32 && pool.length - this.#pos >= n) {
      // Hot path (record IVs): a byte loop, no view.
      let p = this.#pos;
      for (let i = at, end = at + n; i < end; i++, p++) {
        out[i] = pool[p]!;
        pool[p] = 0;
      }
      this.#pos = p;
      return;
    }
    this.fill(out.subarray(at, at + n));
  }
  fill(out: Uint8Array): void {
    const pool = this.#pool;
    const n = out.length;
    if (n <= 32 && pool.length - this.#pos >= n) {
      // Hot path (record IVs): a byte loop beats two subarray views for 16 bytes.
      let p = this.#pos;
      for (let i = 0; i < n; i++, p++) {
        out[i] = pool[p]!;
        pool[p] = 0;
      }
      this.#pos = p;
      return;
    }
    let o = 0;
    while (o < out.length) {
      if (this.#pos === this.#pool.length) {
        randomFillSync(this.#pool);
        this.#pos = 0;
      }
      const n = Math.min(out.length - o, this.#pool.length - this.#pos);
      out.set(this.#pool.subarray(this.#pos, this.#pos + n), o);
      this.#pool.fill(0, this.#pos, this.#pos + n);
      this.#pos += n;
      o += n;
    }
  }
}

/** A shared process-wide pool. */
export const systemRandom: RandomSource = new PooledRandom();

/** A RandomSource that replays fixed bytes (tests and vectors). @throws Error when exhausted. */
export class FixedRandom implements RandomSource {
  #queue: Uint8Array[];
  constructor(chunks: Uint8Array[]) {
    this.#queue = [...chunks];
  }
  fillAt(out: Uint8Array, at: number, n: number): void {
    this.fill(out.subarray(at, at + n));
  }
  fill(out: Uint8Array): void {
    const next = this.#queue.shift();
    if (next === undefined || next.length !== out.length) throw new Error(`FixedRandom: expected a ${out.length}-byte chunk`);
    out.set(next);
  }
}
