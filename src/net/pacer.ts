/**
 * Pacing of bulk (file) bytes from PING/PONG, so little of a transfer waits in the
 * kernel's buffers ahead of a line typed meanwhile (TCP_NOTSENT_LOWAT in user space:
 * Bun offers no socket option for it).
 *
 *   1. bulk is sealed only up to `until` = acked + window bytes of the stream;
 *   2. while bulk flows, one PING at a time carries the stream offset it was sealed at
 *      (PROTOCOL §6: PONG echoes a PING's data; the peer reads it only after every byte
 *      before it, so its PONG says those bytes arrived);
 *   3. each PONG gives a round-trip time and a delivery rate; the window is twice the
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
/** Paths with a smaller round trip (ms) are not paced. */
export const UNPACED_RTT_MS = 1;
/** Window = GAIN × delivery rate × smallest round trip. */
const GAIN = 2;

/** The bulk window of one session; see the file comment. */
export class BulkPacer {
  /** Stream offset the peer has confirmed. */
  acked = 0;
  window = MIN_WINDOW;
  #probe: { data: Uint8Array; offset: number; at: number } | null = null;
  #lastProbeAt = -Infinity;
  #lastAck = { offset: 0, at: 0 };
  #rate = 0; // bytes per ms, a slowly decaying maximum
  #minRtt = Infinity;

  /** Bulk may be sealed while the stream offset is below this. */
  get until(): number {
    // A path with a round trip under UNPACED_RTT_MS (this host, a wired LAN) drains what the
    // kernel holds faster than a person notices; pacing it would only cost throughput.
    if (this.#minRtt < UNPACED_RTT_MS) return Infinity;
    return this.acked + this.window;
  }

  get probing(): boolean {
    return this.#probe !== null;
  }

  /** Ms until a probe may go out (0: now). */
  waitMs(now: number): number {
    return Math.max(0, this.#lastProbeAt + PROBE_MIN_MS - now);
  }

  /** The PING data of a probe for stream offset `offset`, or null when one is out or too soon. */
  probe(now: number, offset: number): Uint8Array | null {
    if (this.#probe !== null || this.waitMs(now) > 0 || offset <= this.acked) return null;
    const data = new Uint8Array(PROBE_LEN);
    new DataView(data.buffer).setFloat64(0, offset);
    this.#probe = { data, offset, at: now };
    this.#lastProbeAt = now;
    if (this.#lastAck.at === 0) this.#lastAck = { offset: this.acked, at: now };
    return data;
  }

  /** A PONG arrived: true when it answers our probe (and the window moved). */
  onPong(data: Uint8Array, now: number): boolean {
    const p = this.#probe;
    if (p === null || data.length !== PROBE_LEN || Buffer.compare(data, p.data) !== 0) return false;
    this.#probe = null;
    this.#minRtt = Math.min(this.#minRtt, Math.max(0.01, now - p.at));
    const dt = now - this.#lastAck.at;
    if (dt > 0) this.#rate = Math.max((p.offset - this.#lastAck.offset) / dt, this.#rate * 0.9);
    this.#lastAck = { offset: p.offset, at: now };
    this.acked = p.offset;
    this.window = Math.max(MIN_WINDOW, Math.ceil(GAIN * this.#rate * Math.max(this.#minRtt, PROBE_MIN_MS)));
    return true;
  }
}
