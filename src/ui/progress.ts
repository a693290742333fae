/**
 * Progress of a transfer: a rate meter (bytes per second, smoothed) that also says when
 * the next progress event is due, and the text of a progress bar:
 *
 *   ↑ report.pdf → alice  [██████████░░░░░░░░░░]  52%  52.4/100.0 MB  31.2 MB/s  0:02 left
 */
import { sanitizeLine } from "../text/sanitize.ts";

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

/** 1234567 → "1.2 MB" (decimal units, as file managers show them). */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB", "PB"];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

/** Seconds as "m:ss" or "h:mm:ss". */
export function formatDuration(secs: number): string {
  const s = Math.max(0, Math.round(secs));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** What a progress line needs (a "transfer" event has all of it). */
export interface ProgressView {
  direction: "send" | "receive";
  peer: string;
  name: string;
  size: number;
  bytes: number;
  rate?: number;
  etaSeconds?: number | null;
  id: string;
}

/** The bar: `width` cells of █ and ░. */
export function bar(fraction: number, width = 20): string {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.round(f * width);
  return "█".repeat(full) + "░".repeat(width - full);
}

/** One progress line (peer strings sanitized here). */
export function progressLine(p: ProgressView): string {
  const frac = p.size === 0 ? 1 : p.bytes / p.size;
  const arrow = p.direction === "send" ? `↑ ${sanitizeLine(p.name, 40)} → ${sanitizeLine(p.peer, 24)}` : `↓ ${sanitizeLine(p.name, 40)} ← ${sanitizeLine(p.peer, 24)}`;
  const parts = [`[${p.id}] ${arrow}`, `[${bar(frac)}]`, `${Math.floor(frac * 100)}%`, `${formatBytes(p.bytes)}/${formatBytes(p.size)}`];
  if (p.rate !== undefined && p.rate > 0) parts.push(`${formatBytes(Math.round(p.rate))}/s`);
  if (p.etaSeconds !== undefined && p.etaSeconds !== null) parts.push(`${formatDuration(p.etaSeconds)} left`);
  return parts.join("  ");
}
