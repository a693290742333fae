/**
 * Event rates per identity, not per session (one identity can open many sessions): the
 * TEXT a peer may send (docs/SECURITY.md §3.E) and the PROFILE name changes it may make.
 */
import { TokenBucket } from "../../net/limits.ts";
import type { Pid } from "../peer-id.ts";

/**
 * TEXT a contact may send a second by default: above what an honest bulk pipe reaches
 * (line mode at wire speed, 50,000 lines a second on loopback), so only a flood is cut.
 * Memory is not what it protects (items are handled record by record), screen time is.
 */
export const DEFAULT_TEXT_PER_SECOND = 100_000;
/** PROFILE name changes one identity may make per second (a burst of 10 s worth). */
export const NICKS_PER_SECOND = 1;
/** Identities whose event rates are remembered (≈ 200 bytes each). */
const RATE_IDENTITIES = 4096;

export class IdentityRates {
  readonly #rates = new Map<string, { text: TokenBucket; nick: TokenBucket }>();

  constructor(
    /** Messages a peer may send per second on average (a burst of 10 s worth). */
    readonly textPerSecond: number,
  ) {}

  /** The TEXT and PROFILE buckets of one identity (the oldest forgotten past RATE_IDENTITIES). */
  of(pid: Pid): { text: TokenBucket; nick: TokenBucket } {
    let r = this.#rates.get(pid);
    if (r === undefined) {
      const rate = this.textPerSecond;
      const now = performance.now();
      r = { text: new TokenBucket(rate * 10, rate, now), nick: new TokenBucket(NICKS_PER_SECOND * 10, NICKS_PER_SECOND, now) };
      this.#rates.set(pid, r);
      if (this.#rates.size > RATE_IDENTITIES) this.#rates.delete(this.#rates.keys().next().value!);
    }
    return r;
  }
}
