/**
 * What a front end has written that stdout has not taken yet (docs/SECURITY.md §10, R5).
 *
 * A stream's `write` returns false once its reader stops keeping up (a pipe nobody reads,
 * a terminal paused with Ctrl+S); the runtime then keeps every later string in memory
 * until `drain`, which Bun emits once all of it is written (Bun keeps no writableLength).
 * So the bytes written from the first false return until `drain` are what waits in our
 * heap: the meter counts them, charged at two bytes a character (what a string or its
 * UTF-8 copy can hold), and is the chat's OutputGate:
 *
 *   1. `full` past FRONT_END_OUTPUT_BYTES: the chat stops showing (and acknowledging)
 *      TEXT, and stops reading the sessions that bring it (src/chat/node/hold.ts);
 *   2. past FRONT_END_DROP_BYTES, `line` leaves other event lines out and counts them;
 *   3. on `drain` the count is 0 again: the chat is woken, and the lines left out are
 *      said in one line (`omitted`).
 *
 * The meter sits on the stream itself (its `write` is wrapped), so that what readline
 * writes to a terminal counts too and nothing is reordered.
 */
import { FRONT_END_DROP_BYTES, FRONT_END_OUTPUT_BYTES } from "../net/limits.ts";
import type { OutputGate } from "../chat/events.ts";

/** A stream as the meter needs it: `write` (false: buffered), and `on("drain")` when there is one. */
export interface MeteredStream {
  write(s: string | Uint8Array, ...rest: never[]): unknown;
  on?(event: "drain", f: () => void): unknown;
}

export class OutputMeter implements OutputGate {
  /** Bytes written since the stream last said it was backed up (0: nothing waits). */
  #pending = 0;
  #backedUp = false;
  #waiters: (() => void)[] = [];
  /** Event lines left out while past `dropAt`. */
  #omitted = 0;
  readonly #stream: MeteredStream;

  /**
   * Meter `stream` (its write is wrapped); `omitted(n)` makes the line that says n event
   * lines were left out. @throws never
   */
  constructor(
    stream: MeteredStream,
    readonly omitted: (n: number) => string | null = () => null,
    readonly budget = FRONT_END_OUTPUT_BYTES,
    readonly dropAt = FRONT_END_DROP_BYTES,
  ) {
    this.#stream = stream;
    const write = stream.write.bind(stream) as (s: string | Uint8Array, ...rest: unknown[]) => unknown;
    // Without a drain event the stream never says it is backed up: nothing is counted.
    if (typeof stream.on !== "function") return;
    stream.write = ((s: string | Uint8Array, ...rest: unknown[]) => {
      const ok = write(s, ...rest);
      if (ok === false) this.#backedUp = true;
      if (this.#backedUp) this.#pending += typeof s === "string" ? 2 * s.length : s.byteLength;
      return ok;
    }) as MeteredStream["write"];
    stream.on("drain", () => this.#drained());
  }

  /** Bytes waiting for the stream's reader (an estimate from above). */
  get pending(): number {
    return this.#pending;
  }

  get full(): boolean {
    return this.#pending > this.budget;
  }

  whenDrained(wake: () => void): void {
    if (this.full) this.#waiters.push(wake);
    else setImmediate(wake);
  }

  /** Write one event line, or leave it out (counted) while the output is past `dropAt`. */
  line(text: string): void {
    if (this.#pending > this.dropAt) {
      this.#omitted++;
      return;
    }
    this.#stream.write(text);
  }

  #drained(): void {
    this.#pending = 0;
    this.#backedUp = false;
    if (this.#omitted > 0) {
      const said = this.omitted(this.#omitted);
      this.#omitted = 0;
      if (said !== null) this.#stream.write(said);
    }
    const w = this.#waiters;
    this.#waiters = [];
    for (const wake of w) wake();
  }
}
