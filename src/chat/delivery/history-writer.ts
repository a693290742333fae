/**
 * The history's writes (history.ts), run on a thread of their own (history-worker.ts):
 * a flush of one tick's lines, as rows and runs (history-run.ts), in one transaction,
 * and the trims and /clear that delete. The chat's thread only reads, after this
 * thread has written everything handed to it (History waits for it first).
 *
 * Bounded: at most `max` + TRIM_EVERY lines per contact (see trim).
 */
import type { Database, Statement } from "bun:sqlite";
import { decodeHistoryRun, encodeHistoryRun } from "./history-run.ts";
import type { HistoryRow } from "./history-protocol.ts";

/**
 * How often a flush trims: once a contact has TRIM_EVERY lines beyond the bound (a trim
 * walks the excess from the old end; at 64 a flood of TEXT spent half the chat's time
 * trimming, profiled under `bun run stress --attack text`).
 */
export const TRIM_EVERY = 1024;
/**
 * Lines a flush adds for one contact from which, once the contact is at the bound, it cuts
 * the oldest whole rows first, as many lines as it adds (trimAhead), rather than TRIM_EVERY
 * of them after some later insert: the pages a cut frees are overwritten (secure_delete)
 * and the insert takes them back in the same transaction, so each goes to the log once,
 * with the new lines, not once zeroed and again when reused. A piped file's flush is
 * ≈ 500 lines; a few typed lines leave the cut to TRIM_EVERY (one delete per flush would
 * add the oldest rows' pages to the log for each line).
 */
export const TRIM_AHEAD_LINES = 64;
/**
 * Rows one INSERT writes: a tick of lines to several contacts in turn is a row per line
 * (no two consecutive lines make a run); at 9 values a row this stays far below SQLite's 32,766.
 */
const INSERT_ROWS = 512;

export class HistoryWriter {
  readonly #db: Database;
  readonly #max: number;
  /** Lines per contact in the table (counted once when first touched, then kept in step). */
  readonly #count = new Map<string, number>();
  readonly #q;
  /** The file's name, for the sentences. */
  readonly #file: string;

  /** Writes to `db` (its history table exists; the file `file`, history.db), keeping `max` lines per contact. */
  constructor(db: Database, max: number, file = "history.db") {
    this.#db = db;
    this.#file = file;
    this.#max = max;
    this.#q = {
      // The oldest rows, at most as many as the lines to cut (each row holds one or more): walks only the excess from the old end.
      oldest: db.query<{ n: number; count: number }, [string, number]>("SELECT n, count FROM history WHERE pid = ? ORDER BY n LIMIT ?"),
      cutTo: db.query("DELETE FROM history WHERE pid = ? AND n <= ?"),
      runAt: db.query<{ lines: Uint8Array | null }, [number]>("SELECT lines FROM history WHERE n = ?"),
      setRun: db.query("UPDATE history SET lines = ?, count = ?, time = ? WHERE n = ?"),
      count: db.query<{ n: number }, [string]>("SELECT COALESCE(SUM(count), 0) AS n FROM history WHERE pid = ?"),
      clear: db.query("DELETE FROM history WHERE pid = ?"),
      truncate: db.query<{ busy: number }, []>("PRAGMA wal_checkpoint(TRUNCATE)"),
    };
  }

  /** Write `lines` in one transaction, then trim the contacts past the bound by TRIM_EVERY. @throws the SQLite error */
  flush(rows: readonly HistoryRow[]): void {
    if (rows.length === 0) return;
    const touched = new Set<string>();
    try {
      this.#flush(rows, touched);
    } catch (e) {
      // Rolled back: the counts moved inside it no longer match the table; left so, the next
      // trim would cut as many of the contact's kept lines as this flush had added (all of them, in the test).
      for (const pid of touched) this.#count.delete(pid);
      throw e;
    }
  }

  #flush(rows: readonly HistoryRow[], touched: Set<string>): void {
    this.#db.transaction(() => {
      this.writes.transactions++;
      // Counted before the insert: a first count must not see the new rows.
      const adding = new Map<string, number>();
      for (const r of rows) {
        if (!touched.has(r.pid)) touched.add(r.pid), this.#rows(r.pid);
        adding.set(r.pid, (adding.get(r.pid) ?? 0) + r.count);
      }
      // A trim due after the insert (TRIM_EVERY past the bound) is made all the same: the cut ahead only comes first.
      const due = new Set<string>();
      for (const [pid, n] of adding) {
        if (this.#rows(pid) + n >= this.#max + TRIM_EVERY) due.add(pid);
        if (n >= TRIM_AHEAD_LINES) this.#trimAhead(pid, n);
      }
      // INSERT_ROWS at a time, then the rest in power-of-two parts: at most log2(INSERT_ROWS) + 1
      // statements are ever prepared (a statement per remainder size prepared one, of up to
      // 3,577 placeholders, for nearly every flush).
      for (let i = 0; i < rows.length; ) {
        let n = INSERT_ROWS;
        while (n > rows.length - i) n >>= 1;
        this.#insert(rows.slice(i, i + n));
        i += n;
      }
      for (const r of rows) this.#count.set(r.pid, this.#count.get(r.pid)! + r.count);
      for (const pid of touched) if (due.has(pid) || this.#rows(pid) >= this.#max + TRIM_EVERY) this.#trim(pid);
    })();
  }

  /** Statements and transactions that wrote lines (flush), and INSERTs prepared, for the tests that count them. */
  readonly writes = { statements: 0, transactions: 0, prepared: 0 };
  /** INSERTs of n rows, by n: INSERT_ROWS and each power of two below it. */
  readonly #inserts = new Map<number, Statement>();

  /** Up to INSERT_ROWS rows as one INSERT (in the order given, so `n` keeps their order). */
  #insert(rows: readonly HistoryRow[]): void {
    let q = this.#inserts.get(rows.length);
    if (q === undefined) {
      this.writes.prepared++;
      q = this.#db.prepare(`INSERT INTO history (pid, peer, dir, text, time, private, mid, lines, count) VALUES ${Array(rows.length).fill("(?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}`);
      this.#inserts.set(rows.length, q);
    }
    const v: (string | number | null | Uint8Array)[] = [];
    for (const r of rows) v.push(r.pid, r.peer, r.dir, r.text, r.time, r.private ? 1 : 0, r.mid, r.lines, r.count);
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

  /**
   * Before a flush adds `adding` lines for the contact: cut its oldest whole rows, at most
   * as many lines as would be past the bound after it (a row that would cut more stays,
   * for trim). The lines cut are the ones a trim after the insert would cut first.
   */
  #trimAhead(pid: string, adding: number): void {
    const excess = this.#rows(pid) + adding - this.#max;
    if (excess <= 0) return;
    const w = this.#wholeRows(pid, excess);
    if (w.upTo < 0) return;
    this.#q.cutTo.run(pid, w.upTo);
    this.#count.set(pid, this.#rows(pid) - w.cut);
  }

  /** Cut the contact's oldest lines down to the bound: whole rows, then the run the cut falls in keeps its newest lines. */
  #trim(pid: string): void {
    const excess = this.#rows(pid) - this.#max;
    if (excess <= 0) return;
    const w = this.#wholeRows(pid, excess);
    if (w.upTo >= 0) this.#q.cutTo.run(pid, w.upTo);
    if (w.split !== null) {
      const row = this.#q.runAt.get(w.split.n);
      if (row?.lines == null) throw new Error(`history row ${w.split.n} holds more than one line but no run`);
      const kept = decodeHistoryRun(row.lines).slice(-w.split.keep);
      this.#q.setRun.run(encodeHistoryRun(kept), kept.length, kept[0]!.time, w.split.n);
    }
    this.#count.set(pid, this.#rows(pid) - (w.split !== null ? excess : w.cut));
  }

  /**
   * The contact's oldest whole rows holding at most `excess` lines: `cut` lines in rows up
   * to `upTo` (-1: none), and the row the cut would fall in (`split`: its `keep` newest
   * lines stay), if any.
   */
  #wholeRows(pid: string, excess: number): { cut: number; upTo: number; split: { n: number; keep: number } | null } {
    let cut = 0;
    let upTo = -1;
    for (const r of this.#q.oldest.all(pid, excess)) {
      if (cut + r.count > excess) return { cut, upTo, split: { n: r.n, keep: cut + r.count - excess } };
      cut += r.count;
      upTo = r.n;
      if (cut === excess) break;
    }
    return { cut, upTo, split: null };
  }

  /** Drop the contact's oldest lines beyond the bound now. @throws the SQLite error */
  trim(pid: string): void {
    try {
      this.#trim(pid);
    } catch (e) {
      this.#count.delete(pid);
      throw e;
    }
  }

  /** Finalize the INSERTs this writer prepared, then close `db`: a statement left open keeps the connection alive (a zombie) past close, and its late close can hold the log's lock when the next program checkpoints. */
  close(): void {
    for (const q of this.#inserts.values()) q.finalize();
    this.#inserts.clear();
    this.#db.close(true);
  }

  /**
   * Forget every line with one contact; returns how many there were. The deleted rows are
   * overwritten in the file (secure_delete), and then the log is moved into the file and
   * cut to zero bytes (TRUNCATE): a checkpoint alone leaves the log's old frames, the
   * lines as they were written, in state.db-wal until new frames happen to cover them.
   * @throws the SQLite error; an Error with code SQLITE_BUSY when another connection kept the log from being cut (the lines are deleted all the same)
   */
  clear(pid: string): number {
    this.#count.delete(pid);
    const n = this.#db.transaction(() => {
      const n = this.#q.count.get(pid)!.n;
      this.#q.clear.run(pid);
      return n;
    })();
    const r = this.#q.truncate.get();
    if (r !== null && r.busy !== 0) throw Object.assign(new Error(`${n} lines were deleted, but another connection kept ${this.#file}-wal from being emptied`), { code: "SQLITE_BUSY", cleared: n, wal: `${this.#file}-wal` });
    return n;
  }
}
