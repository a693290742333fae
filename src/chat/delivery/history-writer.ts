/**
 * The history's writes (history.ts), run on a thread of their own (history-worker.ts):
 * a flush of one tick's lines, as rows and runs (history-run.ts), in one transaction,
 * and the trims and /clear that delete. The chat's thread only reads, after this
 * thread has written everything handed to it (History waits for it first).
 *
 * Bounded: at most `max` + TRIM_EVERY lines per contact (see trim).
 */
import type { Database, Statement } from "bun:sqlite";
import { decodeHistoryRun, encodeHistoryRun, MAX_RUN } from "./history-run.ts";
import type { HistoryLine } from "./history-protocol.ts";

/**
 * How often a flush trims: once a contact has TRIM_EVERY lines beyond the bound (a trim
 * walks the excess from the old end; at 64 a flood of TEXT spent half the chat's time
 * trimming, profiled under `bun run stress --attack text`).
 */
export const TRIM_EVERY = 1024;
/**
 * Rows one INSERT writes: a tick of lines to several contacts in turn is a row per line
 * (no two consecutive lines make a run); at 9 values a row this stays far below SQLite's 32,766.
 */
const INSERT_ROWS = 512;

/** One row to insert: a line, or a run of lines. */
type NewRow = { l: HistoryLine; run: HistoryLine[] | null };
/** Consecutive lines with the same contact, name and direction, none private, as runs of at most MAX_RUN. */
function toRows(lines: readonly HistoryLine[]): NewRow[] {
  const out: NewRow[] = [];
  for (let i = 0; i < lines.length; ) {
    const l = lines[i]!;
    let j = i + 1;
    if (!l.private) while (j < lines.length && j - i < MAX_RUN && !lines[j]!.private && lines[j]!.pid === l.pid && lines[j]!.peer === l.peer && lines[j]!.dir === l.dir) j++;
    out.push({ l, run: j - i > 1 ? lines.slice(i, j) : null });
    i = j;
  }
  return out;
}

export class HistoryWriter {
  readonly #db: Database;
  readonly #max: number;
  /** Lines per contact in the table (counted once when first touched, then kept in step). */
  readonly #count = new Map<string, number>();
  readonly #q;

  /** Writes to `db` (its history table exists), keeping `max` lines per contact. */
  constructor(db: Database, max: number) {
    this.#db = db;
    this.#max = max;
    this.#q = {
      // The oldest rows, at most as many as the lines to cut (each row holds one or more): walks only the excess from the old end.
      oldest: db.query<{ n: number; count: number }, [string, number]>("SELECT n, count FROM history WHERE pid = ? ORDER BY n LIMIT ?"),
      cutTo: db.query("DELETE FROM history WHERE pid = ? AND n <= ?"),
      runAt: db.query<{ lines: Uint8Array | null }, [number]>("SELECT lines FROM history WHERE n = ?"),
      setRun: db.query("UPDATE history SET lines = ?, count = ?, time = ? WHERE n = ?"),
      count: db.query<{ n: number }, [string]>("SELECT COALESCE(SUM(count), 0) AS n FROM history WHERE pid = ?"),
      clear: db.query("DELETE FROM history WHERE pid = ?"),
    };
  }

  /** Write `lines` in one transaction, then trim the contacts past the bound by TRIM_EVERY. @throws the SQLite error */
  flush(lines: readonly HistoryLine[]): void {
    if (lines.length === 0) return;
    const touched = new Set<string>();
    this.#db.transaction(() => {
      this.writes.transactions++;
      // Counted before the insert: a first count must not see the new rows.
      for (const l of lines) if (!touched.has(l.pid)) touched.add(l.pid), this.#rows(l.pid);
      // INSERT_ROWS at a time, then the rest in power-of-two parts: at most log2(INSERT_ROWS) + 1
      // statements are ever prepared (a statement per remainder size prepared one, of up to
      // 3,577 placeholders, for nearly every flush).
      const rows = toRows(lines);
      for (let i = 0; i < rows.length; ) {
        let n = INSERT_ROWS;
        while (n > rows.length - i) n >>= 1;
        this.#insert(rows.slice(i, i + n));
        i += n;
      }
      for (const l of lines) this.#count.set(l.pid, this.#count.get(l.pid)! + 1);
      for (const pid of touched) if (this.#rows(pid) >= this.#max + TRIM_EVERY) this.#trim(pid);
    })();
  }

  /** Statements and transactions that wrote lines (flush), and INSERTs prepared, for the tests that count them. */
  readonly writes = { statements: 0, transactions: 0, prepared: 0 };
  /** INSERTs of n rows, by n: INSERT_ROWS and each power of two below it. */
  readonly #inserts = new Map<number, Statement>();

  /** Up to INSERT_ROWS rows as one INSERT (in the order given, so `n` keeps their order). */
  #insert(rows: NewRow[]): void {
    let q = this.#inserts.get(rows.length);
    if (q === undefined) {
      this.writes.prepared++;
      q = this.#db.prepare(`INSERT INTO history (pid, peer, dir, text, time, private, mid, lines, count) VALUES ${Array(rows.length).fill("(?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}`);
      this.#inserts.set(rows.length, q);
    }
    const v: (string | number | null | Uint8Array)[] = [];
    for (const { l, run } of rows) {
      if (run === null) v.push(l.pid, l.peer, l.dir, l.text, l.time, l.private ? 1 : 0, l.id === undefined ? null : l.id.toString(), null, 1);
      else v.push(l.pid, l.peer, l.dir, "", l.time, 0, null, encodeHistoryRun(run), run.length);
    }
    q.run(...v);
    this.writes.statements++;
  }

  /** Rows the contact has (counted in the table the first time). */
  #rows(pid: string): number {
    let n = this.#count.get(pid);
    if (n === undefined) {
      n = this.#q.count.get(pid)!.n;
      this.#count.set(pid, n);
    }
    return n;
  }

  /** Cut the contact's oldest lines down to the bound: whole rows, then the run the cut falls in keeps its newest lines. */
  #trim(pid: string): void {
    const excess = this.#rows(pid) - this.#max;
    if (excess <= 0) return;
    let cut = 0;
    let upTo = -1;
    let split: { n: number; keep: number } | null = null;
    for (const r of this.#q.oldest.all(pid, excess)) {
      if (cut + r.count > excess) {
        split = { n: r.n, keep: cut + r.count - excess };
        break;
      }
      cut += r.count;
      upTo = r.n;
      if (cut === excess) break;
    }
    if (upTo >= 0) this.#q.cutTo.run(pid, upTo);
    if (split !== null) {
      const row = this.#q.runAt.get(split.n);
      if (row?.lines == null) throw new Error(`history row ${split.n} holds more than one line but no run`);
      const kept = decodeHistoryRun(row.lines).slice(-split.keep);
      this.#q.setRun.run(encodeHistoryRun(kept), kept.length, kept[0]!.time, split.n);
      cut = excess;
    }
    this.#count.set(pid, this.#rows(pid) - cut);
  }

  /** Drop the contact's oldest lines beyond the bound now. @throws the SQLite error */
  trim(pid: string): void {
    this.#trim(pid);
  }

  /** Finalize the INSERTs this writer prepared, then close `db`: a statement left open keeps the connection alive (a zombie) past close, and its late close can hold the log's lock when the next program checkpoints. */
  close(): void {
    for (const q of this.#inserts.values()) q.finalize();
    this.#inserts.clear();
    this.#db.close(true);
  }

  /** Forget every line with one contact; returns how many there were. @throws the SQLite error */
  clear(pid: string): number {
    this.#count.delete(pid);
    return this.#db.transaction(() => {
      const n = this.#q.count.get(pid)!.n;
      this.#q.clear.run(pid);
      return n;
    })();
  }
}
