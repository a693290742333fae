/**
 * Message requests (as Signal calls them): peers whose key is not a contact and who
 * dialled us. The handshake completes so their fingerprint can be shown, but nothing
 * the person types reaches them, and they are kept only in memory, never pinned.
 *
 * Bounded: at most MAX_REQUESTS at once. A new one pushes out the oldest that has no
 * session open; when every one has a session, the new key is refused at the handshake.
 */
import { asPublicKey, pidOf, type Pid, type PublicKey } from "../peer-id.ts";

/** Most requests kept at once. */
export const MAX_REQUESTS = 64;

/** One request: a key that is not a contact, as it introduced itself. */
export interface Request {
  /** Local id for /allow and /block ("r1", "r2", …; never reused in a run). */
  readonly id: string;
  readonly pid: Pid;
  readonly publicKey: PublicKey;
  /** The name it claims (its PROFILE name, raw). */
  claimed: string;
  /** The contact whose name the claimed name equals or looks like, if any. */
  lookalike?: string;
  /** The contact whose key this one would replace (a key change), if any. */
  keyChangeOf?: string;
  /** Sessions open with it now. */
  sessions: number;
  /** Highest TEXT id shown per peer instance (in memory only: a stranger writes nothing to disk). */
  readonly shown: Map<string, bigint>;
}

export class Requests {
  readonly #byPid = new Map<string, Request>(); // insertion order = age
  #next = 1;

  constructor(readonly max = MAX_REQUESTS) {}

  /** True when a new key could become a request now. @throws never */
  hasRoom(pid: string): boolean {
    return this.#byPid.has(pid) || this.#byPid.size < this.max || [...this.#byPid.values()].some((r) => r.sessions === 0);
  }

  /** The request of a key, made (or refreshed) when its session is ready; null when full. @throws never */
  open(publicKey: Uint8Array, claimed: string): Request | null {
    const pid = pidOf(publicKey);
    let r = this.#byPid.get(pid);
    if (r === undefined) {
      if (this.#byPid.size >= this.max) {
        const idle = [...this.#byPid.values()].find((o) => o.sessions === 0);
        if (idle === undefined) return null;
        this.#byPid.delete(idle.pid);
      }
      r = { id: `r${this.#next++}`, pid, publicKey: asPublicKey(publicKey), claimed, sessions: 0, shown: new Map() };
      this.#byPid.set(pid, r);
    }
    r.claimed = claimed;
    r.sessions++;
    return r;
  }

  /** A session of this key ended. @throws never */
  closed(pid: string): void {
    const r = this.#byPid.get(pid);
    if (r !== undefined && r.sessions > 0) r.sessions--;
  }

  /** The request of a key, if any. @throws never */
  get(pid: string): Request | undefined {
    return this.#byPid.get(pid);
  }

  /** Forget a request (it was allowed or blocked). @throws never */
  delete(pid: string): void {
    this.#byPid.delete(pid);
  }

  /** Every request, oldest first. @throws never */
  list(): Request[] {
    return [...this.#byPid.values()];
  }

  /** How many requests are kept. @throws never */
  get size(): number {
    return this.#byPid.size;
  }
}
