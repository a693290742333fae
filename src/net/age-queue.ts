/**
 * Keys in the order they were added, with when, and the oldest in amortized O(1)
 * (Peer's inbound handshakes, halfOpenEvictAfterMs). A Map read from its head while its
 * head is deleted is not that in Bun: each read walks past the deleted slots until the
 * table is rebuilt, O(n) per eviction at a global cap (bench/age-queue.ts).
 */
export class AgeQueue<K> {
  readonly #since = new Map<K, number>();
  #order: K[] = [];
  #head = 0;

  get size(): number {
    return this.#since.size;
  }

  /** Slots held, live and deleted: at most about twice the live keys (test/net/age-queue.test.ts). */
  get slots(): number {
    return this.#order.length - this.#head;
  }

  /** Add `k` (a key added again keeps its first place and time). */
  set(k: K, since: number): void {
    if (this.#since.has(k)) return;
    this.#since.set(k, since);
    this.#order.push(k);
  }

  delete(k: K): void {
    if (!this.#since.delete(k)) return;
    // Deleted slots are skipped by oldest(); rebuilt once they outnumber the live keys.
    if (this.slots > 2 * this.#since.size + 16) {
      this.#order = this.#order.slice(this.#head).filter((x) => this.#since.has(x));
      this.#head = 0;
    }
  }

  /** The oldest key and when it was added, or undefined when empty. */
  oldest(): [K, number] | undefined {
    while (this.#head < this.#order.length) {
      const k = this.#order[this.#head]!;
      const t = this.#since.get(k);
      if (t !== undefined) return [k, t];
      this.#head++;
    }
    this.#order = [];
    this.#head = 0;
    return undefined;
  }
}
