/**
 * A listener's inbound handshakes in progress, oldest first, with when each was accepted:
 * those of strangers (also by IPv4 /24 or IPv6 /48, admission.ts shareOf, for a fair share of seats), and those of
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
  /**
   * Prefixes by how many strangers' handshakes each holds (index 1 and up), for a most
   * crowded one in O(1): arrays with swap-remove, not Sets, since a Set read from its head
   * while its head is deleted walks the deleted slots in Bun (O(n) per eviction among
   * thousands of crowded prefixes; bench/fair-share.ts).
   */
  readonly #byCount: string[][] = [];
  /** Each counted prefix's index in its count's array. */
  readonly #slotOf = new Map<string, number>();
  #most = 0;

  /** `s` began its handshake at `now`; `known`: its address authenticated before; `prefix`: its share, an IPv4 /24 or IPv6 /48 (admission.ts shareOf). */
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
      const fullest = this.#byCount[this.#most]![0]!;
      const first = this.#byPrefix.get(fullest)!.oldest();
      if (first !== undefined) return first;
    }
    return old(this.#strangers, grace) ?? old(this.#known, grace);
  }

  /** `prefix` went from `from` to `to` strangers' handshakes (one apart). */
  #recount(prefix: string, from: number, to: number): void {
    if (from > 0) {
      const arr = this.#byCount[from]!;
      const i = this.#slotOf.get(prefix)!;
      const last = arr.pop()!;
      if (last !== prefix) {
        arr[i] = last;
        this.#slotOf.set(last, i);
      }
    }
    if (to > 0) {
      const arr = (this.#byCount[to] ??= []);
      this.#slotOf.set(prefix, arr.length);
      arr.push(prefix);
    } else this.#slotOf.delete(prefix);
    if (to > this.#most) this.#most = to;
    else if (from === this.#most && this.#byCount[from]!.length === 0) this.#most = to;
  }
}
