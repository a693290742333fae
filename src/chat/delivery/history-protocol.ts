/**
 * What the history's two sides share (history.ts reads, history-worker.ts and
 * history-writer.ts write): a kept line, the messages to the writer thread, and the
 * slots of the Int32Array through which it says what it has done.
 */

/** One kept line. */
export interface HistoryLine {
  /** The contact (hex identity key). */
  pid: string;
  /** The contact's name when the line was kept. */
  peer: string;
  /** "in": the contact wrote it; "out": we did. */
  dir: "in" | "out";
  text: string;
  time: number;
  private: boolean;
  /** out: our TEXT id (PROTOCOL §6.3), so a private line re-sent after a restart keeps its PRIVATE mark (§6.5). */
  id?: bigint;
  /** The text's UTF-8 size, when already counted (not stored: a run's encoding uses it). */
  bytes?: number;
}

/**
 * One row as the writer thread inserts it, made on the chat's thread (historyRows in
 * history-run.ts): a line (`lines` null, `count` 1), or a run already encoded, whose
 * buffer is transferred to the thread, not copied.
 */
export interface HistoryRow extends Pick<HistoryLine, "pid" | "peer" | "dir" | "text" | "time" | "private"> {
  mid: string | null;
  count: number;
  lines: Uint8Array | null;
}

/** Slots of the shared Int32Array (history-worker.ts): the last op done, /clear's count, the writer's counters. */
export const DONE = 0;
export const CLEARED = 1;
export const STATEMENTS = 2;
export const TRANSACTIONS = 3;
export const PREPARED = 4;
export const SLOTS = 5;

/** The first message to history-worker.ts. */
export interface HistoryOpen {
  op: "open";
  /** history.db. */
  path: string;
  /** state.db, when the thread takes the store's ACK deletes (ChatStore.ackVia); else null. */
  statePath: string | null;
  max: number;
  shared: SharedArrayBuffer;
  /** The store's WriteLock (write-lock.ts): every write to state.db holds it. */
  lock: SharedArrayBuffer;
  busyTimeoutMs: number;
  /** state.db's connection: its own checkpoint bound, in pages of that file, as the store's (store.ts walBoundPages); null without the store. */
  walBoundPages: number | null;
}
/** The writes history-worker.ts runs, in order. */
export type HistoryOp = { seq: number } & ({ op: "flush"; rows: HistoryRow[] } | { op: "trim"; pid: string } | { op: "clear"; pid: string } | { op: "ack"; pid: string; upTo: number } | { op: "close" });
