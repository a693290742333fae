/**
 * Pacing of bulk (file) bytes from PING/PONG, so little of a transfer waits in the
 * kernel's buffers ahead of a line typed meanwhile (TCP_NOTSENT_LOWAT in user space:
 * Bun offers no socket option for it).
 *
 *   1. bulk is sealed only up to `until` = acked + window bytes of the stream;
 *   2. while bulk flows, a PING every PROBE_MIN_MS (at most MAX_PROBES unanswered)
 *      carries the stream offset it was sealed at (PROTOCOL §6: PONG echoes a PING's
 *      data; the peer reads it only after every byte before it, so its PONG says those
 *      bytes arrived);
 *   3. each PONG gives a round-trip time and a delivery rate (measured over at least
 *      one round trip, as PONGs can arrive bunched together); the window is twice the
 *      rate times the smallest round trip seen (at least PROBE_MIN_MS), at least
 *      MIN_WINDOW: it doubles per round trip until the path is full, then keeps about
 *      one path's worth queued. The first probe goes out when the session opens, before
 *      any bulk, so the smallest round trip is the path's own, not its queue's.
 * Paths whose smallest round trip is under UNPACED_RTT_MS are not paced at all.
 * A peer that never answers only slows what we send it; keepalive (limits.ts) ends it.
 */

/** Bulk bytes allowed in flight before the first PONG, and at least ever. */
export const MIN_WINDOW = 64 * 1024;
/** Probes are at least this far apart (ms): at most 100 PINGs a second during a transfer. */
export const PROBE_MIN_MS = 10;
const PROBE_LEN = 8;
/** Probes in flight at once: acknowledgements every PROBE_MIN_MS, not once per round trip. */
const MAX_PROBES = 8;
/** Paths with a smaller round trip (ms) are not paced. */
export const UNPACED_RTT_MS = 1;
/** Window = GAIN × delivery rate × smallest round trip. */
const GAIN = 2;

/** The bulk window of one session; see the file comment. */
export class BulkPacer {
  /** Stream offset the peer has confirmed. */
  acked = 0;
  window = MIN_WINDOW;
  readonly #probes: { data: Uint8Array; offset: number; at: number }[] = [];
  #lastProbeAt = -Infinity;
  #lastAck = { offset: 0, at: 0 };
  /** Recent acknowledgements, for a delivery rate over at least one round trip. */
  readonly #acks: { offset: number; at: number }[] = [];
  #rate = 0; // bytes per ms, a slowly decaying maximum
  #minRtt = Infinity;

  /** Bulk may be sealed while the stream offset is below this. */
  get until(): number {
    // A path with a round trip under UNPACED_RTT_MS (this host, a wired LAN) drains what the
    // kernel holds faster than a person notices; pacing it would only cost throughput.
    if (this.#minRtt < UNPACED_RTT_MS) return Infinity;
    return this.acked + this.window;
  }

  /** As many probes are out as may be. */
  get probing(): boolean {
    return this.#probes.length >= MAX_PROBES;
  }

  /** Ms until a probe may go out (0: now). */
  waitMs(now: number): number {
    return Math.max(0, this.#lastProbeAt + PROBE_MIN_MS - now);
  }

  /** The PING data of a probe for stream offset `offset`, or null when one is out or too soon. */
  probe(now: number, offset: number): Uint8Array | null {
    const last = this.#probes.at(-1)?.offset ?? this.acked;
    if (this.probing || this.waitMs(now) > 0 || offset <= last) return null;
    const data = new Uint8Array(PROBE_LEN);
    new DataView(data.buffer).setFloat64(0, offset);
    this.#probes.push({ data, offset, at: now });
    this.#lastProbeAt = now;
    if (this.#lastAck.at === 0) this.#lastAck = { offset: this.acked, at: now };
    return data;
  }

  /** A PONG arrived: true when it answers our probe (and the window moved). */
  onPong(data: Uint8Array, now: number): boolean {
    if (data.length !== PROBE_LEN) return false;
    const i = this.#probes.findIndex((q) => Buffer.compare(data, q.data) === 0);
    if (i < 0) return false;
    const p = this.#probes[i]!;
    this.#probes.splice(0, i + 1); // PONGs come in order: earlier probes are answered too
    this.#minRtt = Math.min(this.#minRtt, Math.max(0.01, now - p.at));
    // The delivery rate over at least one round trip: PONGs can arrive bunched together.
    const span = Math.max(this.#minRtt, PROBE_MIN_MS);
    if (this.#acks.length === 0) this.#acks.push(this.#lastAck);
    while (this.#acks.length > 1 && now - this.#acks[1]!.at >= span) this.#acks.shift();
    const base = this.#acks[0]!;
    const dt = now - base.at;
    if (dt >= span) this.#rate = Math.max((p.offset - base.offset) / dt, this.#rate * 0.98);
    this.#lastAck = { offset: p.offset, at: now };
    this.#acks.push(this.#lastAck);
    this.acked = p.offset;
    this.window = Math.max(MIN_WINDOW, Math.ceil(GAIN * this.#rate * Math.max(this.#minRtt, PROBE_MIN_MS)));
    return true;
  }
}
