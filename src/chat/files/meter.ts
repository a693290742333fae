/**
 * The rate meter of one transfer: bytes per second, smoothed, and when the next progress
 * event is due. The front ends draw it (src/ui/progress.ts).
 */
/** At most this many progress events per transfer per second. */
export const PROGRESS_EVERY_MS = 250;

/** A smoothed rate meter for one transfer. `now` is in ms (performance.now()). */
export class Meter {
  readonly startedAt: number;
  readonly startBytes: number;
  #lastAt: number;
  #lastBytes: number;
  #rate = 0;
  #reportedAt = -Infinity;

  constructor(bytes: number, now: number) {
    this.startedAt = this.#lastAt = now;
    this.startBytes = this.#lastBytes = bytes;
  }

  /** Record the byte count; true when a progress event is due (at most every PROGRESS_EVERY_MS). */
  update(bytes: number, now: number): boolean {
    const dt = now - this.#lastAt;
    if (dt >= 100) {
      const r = ((bytes - this.#lastBytes) * 1000) / dt;
      // The first sample sets the rate; later ones move it 30 % of the way (smooth, yet quick to follow).
      this.#rate = this.#rate === 0 ? r : this.#rate * 0.7 + r * 0.3;
      this.#lastAt = now;
      this.#lastBytes = bytes;
    }
    if (now - this.#reportedAt < PROGRESS_EVERY_MS) return false;
    this.#reportedAt = now;
    return true;
  }

  /** Bytes per second, smoothed (the average since the start until the first sample). */
  rate(bytes: number, now: number): number {
    if (this.#rate > 0) return this.#rate;
    const secs = (now - this.startedAt) / 1000;
    return secs > 0 ? (bytes - this.startBytes) / secs : 0;
  }

  /** Seconds left at the current rate, or null when there is no rate yet. */
  eta(bytes: number, size: number, now: number): number | null {
    const r = this.rate(bytes, now);
    return r > 0 ? Math.max(0, (size - bytes) / r) : null;
  }

  /** The average rate over the whole transfer (for the summary line). */
  average(bytes: number, now: number): number {
    const secs = (now - this.startedAt) / 1000;
    return secs > 0 ? (bytes - this.startBytes) / secs : 0;
  }
}
