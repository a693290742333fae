/**
 * A listener's inbound handshakes in progress, oldest first, with when each was accepted:
 * those of strangers, and those of addresses that authenticated before (the last to be
 * evicted). Peer asks it which one gives way to a newcomer at a global cap
 * (halfOpenEvictAfterMs, docs/SECURITY.md §10).
 */
import { AgeQueue } from "./age-queue.ts";

export class InboundHandshakes<S> {
  readonly #strangers = new AgeQueue<S>();
  readonly #known = new AgeQueue<S>();

  /** `s` began its handshake at `now`; `known`: its address authenticated before. */
  add(s: S, known: boolean, now: number): void {
    (known ? this.#known : this.#strangers).set(s, now);
  }

  /** `s`'s handshake is over (done, failed or cut). */
  delete(s: S): void {
    this.#strangers.delete(s);
    this.#known.delete(s);
  }

  /**
   * The handshake that gives way to a newcomer, with when it began, or null: the oldest
   * stranger's that has run for `grace` ms, else the oldest known address's. A newcomer
   * from an address that authenticated before (`knownNewcomer`) takes the oldest
   * stranger's place at any age when `crowded` says that stranger's handshake is a
   * flood's (Peer: its address has others in progress, its prefix many, or its prefix floods): an honest
   * stranger keeps its grace, or addresses that authenticated once (one handshake each)
   * could cut every honest stranger the moment it began.
   */
  evictable(knownNewcomer: boolean, now: number, grace: number, crowded: (s: S) => boolean): [S, number] | null {
    const old = (q: AgeQueue<S>, g: number) => {
      const first = q.oldest();
      return first !== undefined && now - first[1] >= g ? first : null;
    };
    const head = knownNewcomer ? this.#strangers.oldest() : undefined;
    const atOnce = head !== undefined && crowded(head[0]);
    return old(this.#strangers, atOnce ? 0 : grace) ?? old(this.#known, grace);
  }
}
