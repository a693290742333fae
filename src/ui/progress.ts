/**
 * Progress of a transfer as text: sizes, durations and the progress bar (the rate meter
 * is src/chat/files/meter.ts):
 *
 *   ↑ report.pdf → alice  [██████████░░░░░░░░░░]  52%  52.4/100.0 MB  31.2 MB/s  0:02 left
 */
import { sanitizeLine } from "../text/sanitize.ts";

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
  /** A folder (PROTOCOL §11.11): its file count; `size` and `bytes` are over all of them. */
  files?: number;
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
  const name = p.files !== undefined ? `${sanitizeLine(p.name, 39)}/` : sanitizeLine(p.name, 40);
  const arrow = p.direction === "send" ? `↑ ${name} → ${sanitizeLine(p.peer, 24)}` : `↓ ${name} ← ${sanitizeLine(p.peer, 24)}`;
  const parts = [`[${p.id}] ${arrow}`, `[${bar(frac)}]`, `${Math.floor(frac * 100)}%`, `${formatBytes(p.bytes)}/${formatBytes(p.size)}`];
  if (p.rate !== undefined && p.rate > 0) parts.push(`${formatBytes(Math.round(p.rate))}/s`);
  if (p.etaSeconds !== undefined && p.etaSeconds !== null) parts.push(`${formatDuration(p.etaSeconds)} left`);
  return parts.join("  ");
}
