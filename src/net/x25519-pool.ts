/**
 * Ephemeral X25519 key pairs made ahead of need, in the event loop's spare turns, so that
 * a burst of handshakes does not also pay for key generation (≈ 20–35 µs with the export
 * of the public share, on both sides of every X25519 handshake).
 *
 * Refill turns run only when no pair was taken since the previous one, so that a burst
 * does not pay for pairs made for the next burst; and only once `warm` was called (a
 * listener): a process that only dials takes a pair per dial, made inline, and does not
 * spend POOL_TARGET key generations of its sending turns on a pool it never uses (a
 * piped `sotto chat --connect` made 512 during its transfer, about 5 % of its CPU).
 *
 * A filled pool is topped up only once it has fallen below half (REFILL_BELOW), then all
 * the way up: a listener taking a handshake now and then sets no timer per handshake and
 * makes no batch between two of them (a batch that runs when the next HELLO arrives
 * delays that handshake by the batch), and bursts still find at least half the pool.
 *
 * Each pair is handed out once: `take` removes it from the pool before returning it, and
 * nothing ever puts a pair back; an empty pool generates inline (it never waits and never
 * reuses). Forward secrecy is unchanged: a pooled private key lives only in this process's
 * memory, as a key made on demand does between HELLO and the exchange. (Raw bytes would
 * be smaller than key objects, ≈ 1.6 KiB of RSS each, but importing them costs as much
 * as generating.)
 */
import type { KeyObject } from "node:crypto";
import { x25519Generate } from "../crypto/x25519.ts";

/** One ephemeral key pair: the private key object and the raw public share. */
export interface X25519Pair {
  privateKey: KeyObject;
  publicKey: Uint8Array;
}

/**
 * Pairs kept ready (≈ 3.2 MiB of RSS in all): a burst of a thousand handshakes and its
 * warm-up (BENCHMARKS.md, "Burst round 3": 512 ran dry in a burst of 1,200, and the
 * listener then generated the rest inline, ≈ 7 % of its CPU). Topped up only below half
 * (REFILL_BELOW), a burst finds at least 1,024 ready; past what is left it makes the rest
 * inline, as an empty pool does.
 */
export const POOL_TARGET = 2048;
/** Pairs made per turn while refilling (≈ 0.1 ms of work, then the loop goes on). */
export const REFILL_BATCH = 4;
/** A pool that has been full is refilled once fewer than this many pairs are left (half the target). */
export const REFILL_BELOW = POOL_TARGET / 2;

/** How the pool gets a fresh pair and schedules its next refill turn (tests pass fakes). */
export interface PoolDeps {
  generate(): X25519Pair;
  /** Run `f` on a later turn of the event loop (≥ 1 ms later: after a busy turn). */
  later(f: () => void): void;
  /** Run `f` on the next turn (a refill that found the loop idle goes on at once); absent: `later`. */
  soon?(f: () => void): void;
}

const realDeps: PoolDeps = {
  generate: x25519Generate,
  later: (f) => void setTimeout(f, 1).unref?.(),
  // Not unref'd: an unref'd immediate was seen never to run under `bun test` (the pool then
  // stayed empty for good). The chain ends when the pool is full: ≈ 70 ms of work at most.
  soon: (f) => void setImmediate(f),
};

export class X25519Pool {
  readonly #d: PoolDeps;
  readonly #target: number;
  readonly #pairs: X25519Pair[] = [];
  #scheduled = false;
  /** Refilling: from warm() or from falling below REFILL_BELOW, until the pool is full. */
  #filling = false;
  /** warm() was called: the pool is kept filled. */
  #warm = false;
  /** A pair was taken since the last refill turn: the loop is busy with handshakes. */
  #busy = false;
  /** Pairs handed out. */
  taken = 0;
  /** Of those, made inline because the pool was empty. */
  inline = 0;

  /** Half the target (REFILL_BELOW for the process's pool). */
  readonly #below: number;

  constructor(deps: PoolDeps = realDeps, target = POOL_TARGET) {
    this.#d = deps;
    this.#target = target;
    this.#below = Math.floor(target / 2);
  }

  /** Pairs ready now. */
  get size(): number {
    return this.#pairs.length;
  }

  /** A pair never handed out before (from the pool, or made now when it is empty). */
  take(): X25519Pair {
    this.taken++;
    this.#busy = true;
    const kp = this.#pairs.pop();
    if (this.#pairs.length < this.#below) this.#filling = true;
    this.#schedule();
    if (kp !== undefined) return kp;
    this.inline++;
    return this.#d.generate();
  }

  /** Start filling the pool in spare turns (a Peer calls it when it listens). */
  warm(): void {
    this.#warm = true;
    this.#filling = true;
    this.#schedule();
  }

  #schedule(idle = false): void {
    if (!this.#warm || !this.#filling || this.#scheduled) return;
    if (this.#pairs.length >= this.#target) {
      this.#filling = false;
      return;
    }
    this.#scheduled = true;
    const f = () => this.#refill();
    if (idle && this.#d.soon !== undefined) this.#d.soon(f);
    else this.#d.later(f);
  }

  #refill(): void {
    this.#scheduled = false;
    // Spare turns only: while handshakes take pairs, making more would compete with them
    // (an empty pool generates inline, as it would without a pool); wait for a quiet turn.
    if (this.#busy) {
      this.#busy = false;
      return this.#schedule();
    }
    for (let i = 0; i < REFILL_BATCH && this.#pairs.length < this.#target; i++) this.#pairs.push(this.#d.generate());
    // The loop was idle: the next batch on the next turn (a pool emptied by a burst is full
    // again ≈ 70 ms after it, not 200), still one batch per turn and only while no pair is taken.
    this.#schedule(true);
  }
}

/** The process's pool (kex.ts). */
export const x25519Pool = new X25519Pool();
