/**
 * Output flow control of one session, and the process-wide budgets it is charged to.
 *   - pre-authentication budget: over it, the session that grew is cut (chargePreAuth);
 *   - output budget: over it, the session holding the most is cut with busy (chargeOutput);
 *   - a peer whose output is backed up past half its bound is not read from (its bytes then
 *     wait in the kernel, not in our heap); one that then drains nothing for outputStallMs
 *     is cut (session.ts tick). The owner can also stop reading (src/chat/node/hold.ts);
 *     reading resumes only when neither holds it (ReadPause).
 */
import { fail } from "../protocol/errors.ts";
import type { ProtocolError } from "../protocol/errors.ts";
import type { ByteBudget } from "./limits.ts";
import type { Outbound } from "./outbound.ts";
import type { Transport } from "./types.ts";

export class ReadPause {
  /** Not read from: output backed up. */
  paused = false;
  /** Not read from for the owner (pauseReading): its front end is backed up. */
  ownerPaused = false;
  /** When output last drained (or reading paused): the stall clock. */
  drainedAt = 0;
  readonly #socket: Transport;
  readonly #half: number;
  readonly #now: () => number;

  constructor(socket: Transport, maxSendQueueBytes: number, now: () => number) {
    this.#socket = socket;
    this.#half = maxSendQueueBytes / 2;
    this.#now = now;
  }

  /** Stop (true) or resume (false) reading for the owner; `closed`: the socket is left alone. */
  owner(on: boolean, closed: boolean): void {
    this.ownerPaused = on;
    if (closed) return;
    if (on) this.#socket.pause();
    else if (!this.paused) this.#socket.resume();
  }

  /** After output grew: past half the bound behind a backed-up socket, stop reading. */
  afterOutput(send: Outbound): void {
    if (send.backedUp && !this.paused && send.memoryBytes > this.#half) {
      this.drainedAt = this.#now();
      this.paused = true;
      this.#socket.pause();
    }
  }

  /** After a drain that took `before - send.memoryBytes` bytes: restart the clock, resume below half. */
  afterDrain(send: Outbound, before: number, closed: boolean): void {
    if (send.memoryBytes < before) this.drainedAt = this.#now();
    if (this.paused && !closed && send.memoryBytes <= this.#half) {
      this.paused = false;
      if (!this.ownerPaused) this.#socket.resume();
    }
  }

  /** Paused and nothing drained for `stallMs`. */
  stalled(now: number, stallMs: number): boolean {
    return this.paused && now - this.drainedAt > stallMs;
  }
}

/** Charge `s` with `mem` bytes; over the budget, the largest holder is cut with busy. */
export function chargeOutput<S extends { abort(e: ProtocolError): void }>(b: ByteBudget<S> | undefined, s: S, mem: number): void {
  if (b === undefined || !b.set(s, mem)) return;
  const worst = b.largest();
  if (worst === undefined) return;
  b.set(worst, 0);
  worst.abort(fail("busy", `sotto's output queues passed ${b.limit} bytes (maxOutputBytes); this session held the most`));
}

/** Charge `s` with `bytes` of the pre-authentication budget; over it, `s` is cut with busy (false). */
export function chargePreAuth<S extends { abort(e: ProtocolError): void }>(b: ByteBudget<S> | undefined, s: S, bytes: number): boolean {
  if (b === undefined || !b.set(s, bytes)) return true;
  b.set(s, 0);
  s.abort(fail("busy", `unauthenticated peers hold ${b.limit} bytes (maxPreAuthBytes)`));
  return false;
}
