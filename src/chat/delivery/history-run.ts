/**
 * A run of the history: consecutive lines of one flush with the same contact, name and
 * direction, none of them private, kept as one row of the history table (history.ts)
 * whose `lines` column holds, per line, its time (f64) and its UTF-8 text (u32 length,
 * then the bytes). A piped file of 20,000 lines is then about forty rows, not 20,000:
 * per-row B-tree work, not the bytes, was what the history cost a flush.
 */

import type { HistoryLine, HistoryRow } from "./history-protocol.ts";

/** Most lines one run holds: a trim rewrites at most one run (history.ts), so this bounds that rewrite. */
export const MAX_RUN = 512;

/** Bytes of one line's header in a run: time (f64), text length (u32). */
const LINE_HEADER = 12;

/** One line of a run. */
export interface RunLine {
  time: number;
  text: string;
  /** Its UTF-8 size, when already counted (encodeHistoryRun then does not count it again). */
  bytes?: number;
}

/** The lines of a run as its `lines` column, in a buffer of its own (never a slice of Buffer's pool: it is transferred to the writer thread). */
export function encodeHistoryRun(lines: readonly RunLine[]): Uint8Array {
  const sizes = lines.map((l) => l.bytes ?? Buffer.byteLength(l.text, "utf8"));
  let size = 0;
  for (const n of sizes) size += LINE_HEADER + n;
  const out = Buffer.allocUnsafeSlow(size);
  let at = 0;
  for (let i = 0; i < lines.length; i++) {
    out.writeDoubleBE(lines[i]!.time, at);
    out.writeUInt32BE(sizes[i]!, at + 8);
    out.write(lines[i]!.text, at + LINE_HEADER, sizes[i]!, "utf8");
    at += LINE_HEADER + sizes[i]!;
  }
  return out;
}

/**
 * A flush's lines as rows: consecutive lines with the same contact, name and direction,
 * none private, as runs of at most MAX_RUN (encoded here); every other line a row of its own.
 */
export function historyRows(lines: readonly HistoryLine[]): HistoryRow[] {
  const out: HistoryRow[] = [];
  for (let i = 0; i < lines.length; ) {
    const l = lines[i]!;
    let j = i + 1;
    if (!l.private) while (j < lines.length && j - i < MAX_RUN && !lines[j]!.private && lines[j]!.pid === l.pid && lines[j]!.peer === l.peer && lines[j]!.dir === l.dir) j++;
    if (j - i === 1) out.push({ pid: l.pid, peer: l.peer, dir: l.dir, text: l.text, time: l.time, private: l.private, mid: l.id === undefined ? null : l.id.toString(), count: 1, lines: null });
    else out.push({ pid: l.pid, peer: l.peer, dir: l.dir, text: "", time: l.time, private: false, mid: null, count: j - i, lines: encodeHistoryRun(lines.slice(i, j)) });
    i = j;
  }
  return out;
}

/** A run's lines (encodeHistoryRun), in order. @throws Error when the column is damaged */
export function decodeHistoryRun(column: Uint8Array): RunLine[] {
  const b = Buffer.from(column.buffer, column.byteOffset, column.byteLength);
  const out: RunLine[] = [];
  for (let at = 0; at < b.length; ) {
    const len = at + LINE_HEADER <= b.length ? b.readUInt32BE(at + 8) : -1;
    if (len < 0 || at + LINE_HEADER + len > b.length) throw new Error("a row of the conversation history in history.db is damaged; /clear that contact to start its history again");
    out.push({ time: b.readDoubleBE(at), text: b.toString("utf8", at + LINE_HEADER, at + LINE_HEADER + len) });
    at += LINE_HEADER + len;
  }
  return out;
}
