/**
 * Pacing of bulk (file) bytes from PING/PONG, so little of a transfer waits in the
 * network's queues ahead of a line typed meanwhile (TCP_NOTSENT_LOWAT and BBR's pacing in
 * user space: Bun offers no socket option for either).
 *
 *   1. while bulk flows, a PING every PROBE_MIN_MS (at most MAX_PROBES unanswered)
 *      carries the stream offset it was sealed at (PROTOCOL §6: PONG echoes a PING's
 *      data; the peer reads it only after every byte before it, so its PONG says those
 *      bytes arrived). The first probe goes out ahead of the first file bytes (in the
 *      same write, before them), so the smallest round trip is the path's own, not its
 *      queue's; a session that sends no file sends no probe;
 *   2. each PONG gives a round trip and a delivery rate, measured over at least one round
 *      trip (PONGs can arrive bunched together); the rate is the largest of the last
 *      RATE_RTTS round trips, or, while a queue stands (step 3), the latest (at least
 *      half the one before): then the link is what limits delivery, and one that slowed
 *      down is followed at once;
 *   3. bulk is sealed at the pace of that rate (times the gain of the cycle's phase: one
 *      round trip at 5/4 to find more room, one at 3/4 to drain what that queued, six at
 *      1, as BBR does), so the path's queue stays near empty while its link stays busy;
 *      a probe whose round trip is QUEUE_MS over the smallest means a queue formed (the
 *      rate was overestimated): the pace drains (DRAIN) until one is not; at most
 *      BURST_QUANTA go out at once after a pause;
 *   4. and never more than the window past what the peer confirmed: twice the rate times
 *      the smallest round trip, plus two quanta (a cap, for PONGs held up on the way back);
 *   5. the quantum: bulk records (and the file chunks the sender cuts, Session
 *      .bulkItemBytes) hold about QUANTUM_MS of the rate. A PONG can answer only whole
 *      records (the peer opens a record once it is complete), so records sized for the
 *      rate give acknowledgements every few ms, and a line typed meanwhile waits behind
 *      one small record, not behind 64 KiB (50 ms at 10 Mbit/s).
 * Before the first rate, the window is MIN_WINDOW, records are whole and nothing is paced. Paths whose
 * smallest round trip is under UNPACED_RTT_MS are not paced at all.
 * A peer that never answers only slows what we send it; keepalive (limits.ts) ends it.
 */
import { MAX_PLAINTEXT } from "../protocol/constants.ts";

/** Bulk bytes allowed in flight before the first rate is measured. */
export const MIN_WINDOW = 64 * 1024;
/** Probes are at least this far apart (ms): at most 100 PINGs a second during a transfer. */
export const PROBE_MIN_MS = 10;
const PROBE_LEN = 8;
/** Probes in flight at once: acknowledgements every PROBE_MIN_MS, not once per round trip. */
const MAX_PROBES = 8;
/** Paths with a smaller round trip (ms) are not paced. */
export const UNPACED_RTT_MS = 1;
/** Window = WINDOW_GAIN × delivery rate × smallest round trip + 2 quanta. */
const WINDOW_GAIN = 2;
/** A probe's round trip this far (ms) over the smallest says bulk is queueing: the pace drains … */
export const QUEUE_MS = 25;
/** … at this gain, whatever the cycle's phase. */
const DRAIN = 0.75;
/** The pace's gain, one round trip each (step 3). */
const CYCLE = [1.25, 0.75, 1, 1, 1, 1, 1, 1];
/** Quanta that may go out at once after a pause (a late timer, a busy thread). */
const BURST_QUANTA = 4;
/** The rate is the largest delivery rate of this many round trips. */
const RATE_RTTS = 10;
/** A bulk record holds about this many ms of the measured rate … */
export const QUANTUM_MS = 8;
/** … at least this many bytes (per-record costs stay small on slow paths); whole records before a rate is measured. */
export const MIN_QUANTUM = 4 * 1024;
/**
 * The pace's wait is at most this (ms), then looked at again: a peer that holds its PONGs
 * back can measure a rate of a few bytes a day, and a timer of more than 2^31 − 1 ms
 * fires after 1 ms (a flush every ms, for ever).
 */
export const MAX_RELEASE_WAIT_MS = 60_000;

/** The bulk window and pace of one session; see the file comment. */
export class BulkPacer {
  /** Stream offset the peer has confirmed. */
  acked = 0;
  window = MIN_WINDOW;
  readonly #probes: { data: Uint8Array; offset: number; at: number }[] = [];
  #lastProbeAt = -Infinity;
  #lastAck = { offset: 0, at: 0 };
  /** Recent acknowledgements, for a delivery rate over at least one round trip. */
  readonly #acks: { offset: number; at: number }[] = [];
  /** Delivery-rate samples (bytes per ms) of the last RATE_RTTS round trips. */
  readonly #samples: { at: number; rate: number }[] = [];
  #rate = 0;
  #minRtt = Infinity;
  /** The last probe's round trip. */
  #lastRtt = 0;
  /** The pace (step 3): bulk may be sealed up to #paceOffset + #paceRate × (now − #paceAt). */
  #paceOffset = Number.NaN;
  #paceAt = 0;
  #paceRate = 0;
  #cycleAt = 0;

  /** The path is paced (its round trip is not negligible). */
  get #paced(): boolean {
    return !(this.#minRtt < UNPACED_RTT_MS);
  }

  /**
   * Bulk may be sealed while the stream offset is below this, at `now` with `written`
   * bytes sent so far. Moves the pace on (call it once per flush).
   */
  until(now: number, written: number): number {
    // A path with a round trip under UNPACED_RTT_MS (this host, a wired LAN) drains what the
    // kernel holds faster than a person notices; pacing it would only cost throughput.
    if (!this.#paced) return Infinity;
    const win = this.acked + this.window;
    if (this.#rate === 0) return win;
    if (Number.isNaN(this.#paceOffset)) this.#paceOffset = written; // the first flush with a rate
    let allowed = this.#paceOffset + this.#paceRate * (now - this.#paceAt);
    // A pause does not save up: after one (or a timer that fired late), at most
    // BURST_QUANTA go out at once.
    allowed = Math.min(allowed, written + BURST_QUANTA * this.quantum);
    this.#paceOffset = allowed;
    this.#paceAt = now;
    const rtt = Math.max(this.#minRtt, PROBE_MIN_MS);
    let gain = CYCLE[Math.floor((now - this.#cycleAt) / rtt) % CYCLE.length]!;
    // What a line would wait now: a queue has formed (the rate was overestimated), drain it.
    if (this.#lastRtt > this.#minRtt + QUEUE_MS) gain = Math.min(gain, DRAIN);
    this.#paceRate = this.#rate * gain;
    return Math.min(win, allowed);
  }

  /** Ms until the pace lets more bulk out past `written` (Infinity: the window holds it; a PONG moves it). */
  releaseWaitMs(now: number, written: number): number {
    if (!this.#paced || this.#rate === 0) return written < this.acked + this.window ? 0 : Infinity;
    if (written >= this.acked + this.window) return Infinity;
    if (Number.isNaN(this.#paceOffset)) return 0;
    const allowed = this.#paceOffset + this.#paceRate * (now - this.#paceAt);
    return allowed > written ? 0 : Math.min(MAX_RELEASE_WAIT_MS, (written - allowed) / this.#paceRate);
  }

  /** Bytes of bulk per record on this path (see the file comment, step 5). */
  get quantum(): number {
    if (!this.#paced) return MAX_PLAINTEXT;
    if (this.#rate === 0) return MAX_PLAINTEXT;
    return Math.min(MAX_PLAINTEXT, Math.max(MIN_QUANTUM, Math.round(this.#rate * QUANTUM_MS)));
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
    this.#lastRtt = Math.max(0.01, now - p.at);
    this.#minRtt = Math.min(this.#minRtt, this.#lastRtt);
    // The delivery rate over at least one round trip: PONGs can arrive bunched together.
    const span = Math.max(this.#minRtt, PROBE_MIN_MS);
    if (this.#acks.length === 0) this.#acks.push(this.#lastAck);
    while (this.#acks.length > 1 && now - this.#acks[1]!.at >= span) this.#acks.shift();
    const base = this.#acks[0]!;
    const dt = now - base.at;
    if (dt >= span && p.offset > base.offset) this.#sample(now, (p.offset - base.offset) / dt, span);
    this.#lastAck = { offset: p.offset, at: now };
    this.#acks.push(this.#lastAck);
    this.acked = p.offset;
    const q = this.quantum;
    this.window = Math.max(4 * q, Math.ceil(WINDOW_GAIN * this.#rate * span) + 2 * q);
    return true;
  }

  /**
   * Step 2: a windowed maximum of the delivery rate. While a queue stands (the probe's round
   * trip is QUEUE_MS over the smallest), the link is what limits delivery, so the sample is
   * its rate now: older, higher ones are dropped (a link that slowed down is followed at once).
   */
  #sample(now: number, rate: number, span: number): void {
    if (this.#lastRtt > this.#minRtt + QUEUE_MS) {
      // At most halved at once (as TCP does on a loss): one late PONG, a thread that got no
      // CPU for a while, must not bring the pace down to nothing.
      rate = Math.max(rate, this.#rate / 2);
      this.#samples.length = 0;
    }
    if (this.#rate === 0) {
      // The first rate: the pace starts here, at the cycle's first phase.
      this.#cycleAt = this.#paceAt = now;
    }
    while (this.#samples.length > 0 && (now - this.#samples[0]!.at > RATE_RTTS * span || this.#samples[0]!.rate <= rate)) this.#samples.shift();
    // Kept in decreasing order of rate: the head is the maximum.
    while (this.#samples.length > 0 && this.#samples.at(-1)!.rate <= rate) this.#samples.pop();
    this.#samples.push({ at: now, rate });
    this.#rate = this.#samples[0]!.rate;
    if (this.#paceRate === 0) this.#paceRate = this.#rate;
  }
}
