/**
 * Keys in the order they were added, with when, and the oldest in amortized O(1)
 * (Peer's inbound handshakes, halfOpenEvictAfterMs). A Map read from its head while its
 * head is deleted is not that in Bun: each read walks past the deleted slots until the
 * table is rebuilt, O(n) per eviction at a global cap (bench/age-queue.ts). A deleted key's
 * slot lets go of it at once: a closed session (with its buffers) is not kept alive here.
 */
export class AgeQueue<K> {
  /** Each live key's slot in #keys. */
  readonly #slot = new Map<K, number>();
  #keys: (K | undefined)[] = [];
  #since: number[] = [];
  #head = 0;

  get size(): number {
    return this.#slot.size;
  }

  /** Slots held, live and deleted: at most about twice the live keys (test/net/age-queue.test.ts). */
  get slots(): number {
    return this.#keys.length - this.#head;
  }

  /** Add `k` (a key added again keeps its first place and time). */
  set(k: K, since: number): void {
    if (this.#slot.has(k)) return;
    this.#slot.set(k, this.#keys.length);
    this.#keys.push(k);
    this.#since.push(since);
  }

  delete(k: K): void {
    const i = this.#slot.get(k);
    if (i === undefined) return;
    this.#slot.delete(k);
    this.#keys[i] = undefined;
    // Deleted slots are skipped by oldest(); rebuilt once they outnumber the live keys.
    if (this.slots > 2 * this.#slot.size + 16) this.#rebuild();
  }

  /** The oldest key and when it was added, or undefined when empty. */
  oldest(): [K, number] | undefined {
    while (this.#head < this.#keys.length) {
      const k = this.#keys[this.#head];
      if (k !== undefined) return [k, this.#since[this.#head]!];
      this.#head++;
    }
    this.#rebuild();
    return undefined;
  }

  #rebuild(): void {
    const keys: K[] = [];
    const since: number[] = [];
    for (let i = this.#head; i < this.#keys.length; i++) {
      const k = this.#keys[i];
      if (k === undefined) continue;
      this.#slot.set(k, keys.length);
      keys.push(k);
      since.push(this.#since[i]!);
    }
    this.#keys = keys;
    this.#since = since;
    this.#head = 0;
  }
}
