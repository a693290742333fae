/**
 * A listener's inbound handshakes in progress, oldest first, with when each was accepted:
 * those of strangers (also by /24 or /64 prefix, for a fair share of seats), and those of
 * addresses that authenticated before (the last to be evicted). Peer asks it which one
 * gives way to a newcomer at a global cap (halfOpenEvictAfterMs, docs/SECURITY.md §10).
 */
import { AgeQueue } from "./age-queue.ts";

/**
 * A prefix gives up a seat to a fairer share only above this many strangers' handshakes
 * in progress: a household, a campus or a carrier's NAT may well have a few at once (two
 * of one /24 handshaking together are not a flood: hostile/final-pass 2b), while a few
 * prefixes that fill a 4,096-seat listener hold hundreds each.
 */
export const FAIR_SHARE_FLOOR = 4;

export class InboundHandshakes<S> {
  readonly #strangers = new AgeQueue<S>();
  readonly #known = new AgeQueue<S>();
  /** Strangers' handshakes by prefix, each oldest first; a prefix with none is dropped. */
  readonly #byPrefix = new Map<string, AgeQueue<S>>();
  /** Each stranger's handshake's prefix (for delete). */
  readonly #prefixOf = new Map<S, string>();
  /** Prefixes by how many strangers' handshakes each holds (1 and up), for the most crowded in O(1). */
  readonly #byCount = new Map<number, Set<string>>();
  #most = 0;

  /** `s` began its handshake at `now`; `known`: its address authenticated before; `prefix`: its /24 or /64. */
  add(s: S, known: boolean, now: number, prefix = ""): void {
    if (known) return this.#known.set(s, now);
    if (this.#prefixOf.has(s)) return;
    this.#strangers.set(s, now);
    this.#prefixOf.set(s, prefix);
    let q = this.#byPrefix.get(prefix);
    if (q === undefined) this.#byPrefix.set(prefix, (q = new AgeQueue<S>()));
    q.set(s, now);
    this.#recount(prefix, q.size - 1, q.size);
  }

  /** `s`'s handshake is over (done, failed or cut). */
  delete(s: S): void {
    this.#known.delete(s);
    const prefix = this.#prefixOf.get(s);
    if (prefix === undefined) return;
    this.#strangers.delete(s);
    this.#prefixOf.delete(s);
    const q = this.#byPrefix.get(prefix)!;
    q.delete(s);
    if (q.size === 0) this.#byPrefix.delete(prefix);
    this.#recount(prefix, q.size + 1, q.size);
  }

  /** Strangers' handshakes in progress from `prefix`. */
  strangersFrom(prefix: string): number {
    return this.#byPrefix.get(prefix)?.size ?? 0;
  }

  /**
   * The handshake that gives way to a newcomer from `prefix`, with when it began, or null:
   * 1. a newcomer from an address that authenticated before (`knownNewcomer`) takes the
   *    oldest stranger's place at any age when `crowded` says that stranger's handshake is
   *    a flood's (Peer: its address has others in progress, its prefix many, or its prefix
   *    floods); an honest stranger keeps its grace, or addresses that authenticated once
   *    (one handshake each) could cut every honest stranger the moment it began;
   * 2. a fair share of seats by prefix: when the most crowded prefix holds more than
   *    FAIR_SHARE_FLOOR strangers' handshakes and at least two more than the newcomer's
   *    prefix, its oldest gives way at any age
   *    (so a few prefixes that re-open their connections before `grace` cannot keep every
   *    new stranger out, and a swap never leaves the two prefixes less even than before);
   * 3. else the oldest stranger's that has run for `grace` ms, else the oldest known address's.
   */
  evictable(knownNewcomer: boolean, now: number, grace: number, crowded: (s: S) => boolean, prefix = ""): [S, number] | null {
    const old = (q: AgeQueue<S>, g: number) => {
      const first = q.oldest();
      return first !== undefined && now - first[1] >= g ? first : null;
    };
    const head = knownNewcomer ? this.#strangers.oldest() : undefined;
    if (head !== undefined && crowded(head[0])) return head;
    if (this.#most > FAIR_SHARE_FLOOR && this.#most >= this.strangersFrom(prefix) + 2) {
      const fullest = this.#byCount.get(this.#most)!.values().next().value!;
      const first = this.#byPrefix.get(fullest)!.oldest();
      if (first !== undefined) return first;
    }
    return old(this.#strangers, grace) ?? old(this.#known, grace);
  }

  /** `prefix` went from `from` to `to` strangers' handshakes (one apart). */
  #recount(prefix: string, from: number, to: number): void {
    if (from > 0) {
      const set = this.#byCount.get(from)!;
      set.delete(prefix);
      if (set.size === 0) this.#byCount.delete(from);
    }
    if (to > 0) {
      let set = this.#byCount.get(to);
      if (set === undefined) this.#byCount.set(to, (set = new Set()));
      set.add(prefix);
    }
    if (to > this.#most) this.#most = to;
    else if (from === this.#most && !this.#byCount.has(from)) this.#most = to;
  }
}
