/**
 * Conversation history, in `$SOTTO_HOME/history.db` (a SQLite file of its own, WAL), read
 * with its own bun:sqlite connection and written by a thread of its own with another
 * (history-worker.ts):
 *
 *   history   one row per line shown or sent: the contact's identity key (hex), the name
 *             it had then, who wrote it (in: the contact, out: us), the text, the time
 *             (ms since 1970, our clock), and whether it was private; or one row per run
 *             (history-run.ts): up to MAX_RUN consecutive lines of one flush with the
 *             same contact, name and direction, none private, in its `lines` column
 *             (`count` lines; `text` empty, `time` the first line's).
 *
 * A file of its own, not a table of state.db: SQLite lets one connection of a file write
 * at a time, so a history flush in state.db made the outbox's commit on the chat's
 * thread wait for it (the write lock, write-lock.ts); history.db has its own writer and
 * its own log, which the writer thread checkpoints itself. A home from before keeps its
 * lines: the first open copies state.db's history table here (rows by their number, so
 * a copy repeated after a crash adds nothing) and then deletes it there, overwritten.
 *
 * A line sent to several contacts is one row per contact: each conversation is whole on
 * its own. Bounded: at most MAX_PER_CONTACT lines per contact (the oldest go first; a
 * trim that ends inside a run rewrites that run with the lines it keeps).
 * `--no-history` opens nothing; `/clear NAME` deletes one contact's rows.
 *
 * A tick's lines are handed to the writer thread in one message (flush); every read
 * first waits (Atomics.wait) until that thread has written all it was handed, so what
 * the chat reads is what it wrote. No ACK waits for the history (it is no part of
 * delivery), so nothing else waits for that thread.
 */
import { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { decodeHistoryRun, historyRows } from "./history-run.ts";
import { describeSqliteError, preparePrivateFile, STATE_FILE } from "./home-files.ts";
import { BUSY_TIMEOUT_MS, ChatStore, StateError } from "./store.ts";
import { WriteLock } from "./write-lock.ts";
import { CLEARED, DONE, PREPARED, SLOTS, STATEMENTS, TRANSACTIONS, type HistoryLine, type HistoryOp, type HistoryOpen } from "./history-protocol.ts";

export type { HistoryLine } from "./history-protocol.ts";

/** Lines kept per contact; older ones are deleted as new ones arrive (history-writer.ts trims). */
export const MAX_PER_CONTACT = 10_000;
/** Lines per contact shown when the chat starts. */
export const SHOWN_AT_START = 5;
/** Most lines one /history shows. */
export const MAX_PAGE = 500;
/** The history's file in the home. */
export const HISTORY_FILE = "history.db";
/**
 * history.db's page size (bytes): a piped file's runs are about 500 KiB each, and in pages
 * of 16 KiB instead of SQLite's 4 KiB the writer thread's flushes (insert, trims that
 * overwrite, checkpoints) cost about a third less CPU for the same lines; a single line
 * costs a few 16 KiB pages in the log per flush instead of 4 KiB ones.
 */
export const PAGE_SIZE = 16_384;

type Row = { pid: string; peer: string; dir: string; text: string; time: number; private: number; lines: Uint8Array | null };
/** The lines of one row: itself, or its run's. */
function linesOf(r: Row): HistoryLine[] {
  const dir = r.dir === "out" ? "out" : "in";
  if (r.lines === null) return [{ pid: r.pid, peer: r.peer, dir, text: r.text, time: r.time, private: r.private === 1 }];
  return decodeHistoryRun(r.lines).map((l) => ({ pid: r.pid, peer: r.peer, dir, text: l.text, time: l.time, private: false }));
}
/** The last `k` lines of rows given newest first (each row holds one line or more). */
function lastLines(rows: Iterable<Row>, k: number): HistoryLine[] {
  const out: HistoryLine[][] = [];
  let n = 0;
  for (const r of rows) {
    if (n >= k) break;
    const ls = linesOf(r);
    out.push(ls);
    n += ls.length;
  }
  return out.reverse().flat().slice(Math.max(0, n - k));
}
/** The history table's columns (history.db; state.db's before it had the same, `count` and `lines` since runs). */
const COLUMNS = `n INTEGER PRIMARY KEY AUTOINCREMENT, pid TEXT NOT NULL, peer TEXT NOT NULL, dir TEXT NOT NULL,
        text TEXT NOT NULL, time INTEGER NOT NULL, private INTEGER NOT NULL, mid TEXT,
        count INTEGER NOT NULL DEFAULT 1, lines BLOB`;

/**
 * Move the history table of state.db (a home from before history.db) into `db`: its rows
 * are copied with their numbers (a copy repeated after a crash between the two steps adds
 * nothing: a number already there with the same line is that line; when a number is
 * another line's, as when state.db was put back from a backup, the old lines are all added
 * after history.db's, in their order), then the table is deleted from state.db with
 * secure_delete on (its text overwritten) and state.db's log is cut (its old frames held
 * the lines as written). A table from before runs has no `count` and `lines`: each of
 * its rows is one line. The delete holds `lock`, the store's (write-lock.ts).
 * @throws the SQLite error
 */
function moveFromState(db: Database, statePath: string, lock: WriteLock): void {
  const old = new Database(statePath, { strict: true });
  try {
    old.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}; PRAGMA secure_delete = ON;`);
    if (old.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'history'").get() === null) {
      // A move done but for its last step (a crash, or another program reading state.db, after its table went): cut the log now.
      if (db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(MOVED) !== null) cutLog(old, db);
      return;
    }
    const cols = new Set(old.query<{ name: string }, []>("PRAGMA table_info(history)").all().map((c) => c.name));
    const runs = cols.has("lines") && cols.has("count");
    db.exec(`ATTACH DATABASE '${statePath.replaceAll("'", "''")}' AS old`);
    try {
      const v = `pid, peer, dir, text, time, private, ${cols.has("mid") ? "mid" : "NULL"} AS mid, ${runs ? "count, lines" : "1 AS count, NULL AS lines"}`;
      const same = "m.pid = o.pid AND m.peer = o.peer AND m.dir = o.dir AND m.text = o.text AND m.time = o.time AND m.count = o.count AND m.lines IS o.lines";
      // Rows a move cut short copied already, under new numbers (the backup case below): left out by their old numbers.
      db.exec(`CREATE TABLE IF NOT EXISTS ${MOVED} (n INTEGER PRIMARY KEY)`);
      const rows = `(SELECT n, ${v} FROM old.history WHERE n NOT IN (SELECT n FROM main.${MOVED}))`;
      db.transaction(() => {
        const clash = db.query(`SELECT 1 FROM ${rows} o JOIN main.history m ON m.n = o.n WHERE NOT (${same}) LIMIT 1`).get() !== null;
        const fresh = `FROM ${rows} o WHERE NOT EXISTS (SELECT 1 FROM main.history m WHERE m.n = o.n AND ${same}) ORDER BY n`;
        // By number: a row copied before (a move cut short) is that row, and is left out. When a
        // number is another line's (state.db put back from a backup), the old lines come after, in order.
        if (!clash) db.exec(`INSERT INTO main.history (n, pid, peer, dir, text, time, private, mid, count, lines) SELECT n, ${v} ${fresh}`);
        else db.exec(`INSERT INTO main.history (pid, peer, dir, text, time, private, mid, count, lines) SELECT ${v} ${fresh}`);
        // In the same transaction as the copy: which old rows it holds, whatever numbers they took.
        db.exec(`INSERT OR IGNORE INTO main.${MOVED} (n) SELECT n FROM old.history`);
      })();
    } finally {
      db.exec("DETACH DATABASE old");
    }
    lock.hold(() =>
      old.transaction(() => {
        old.exec("DELETE FROM history");
        old.exec("DROP TABLE history");
      })(),
    );
    // The note's rows are for a copy cut short; from here it only says that the log is still to be cut.
    db.exec(`DELETE FROM ${MOVED}`);
    cutLog(old, db);
  } finally {
    old.close();
  }
}
/**
 * Move state.db's log into it and cut it (the deleted table's old pages, text and all, are
 * overwritten only then); the move's note goes only once that is done, so a cut refused
 * because another connection reads state.db is made again at the next start.
 */
function cutLog(old: Database, db: Database): void {
  const r = old.query<{ busy: number; log: number; checkpointed: number }, []>("PRAGMA wal_checkpoint(TRUNCATE)").get();
  if (r === null || r.busy === 0) db.exec(`DROP TABLE IF EXISTS ${MOVED}`);
}
/** history.db's note of the old rows a move copied, until state.db's table is gone (moveFromState). */
const MOVED = "moved_from_state";

/** Longest wait for the writer thread to finish what it was handed, before a read (ms): a tick's flush takes milliseconds. */
const WRITER_WAIT_MS = 10_000;

/** The history table: read here, written by a thread of its own (history-worker.ts). */
export class History {
  #pending: HistoryLine[] = [];
  readonly path: string;
  readonly #db: Database;
  readonly #q;
  readonly #worker: Worker;
  readonly #slots = new Int32Array(new SharedArrayBuffer(SLOTS * 4));
  /** The last op handed to the writer thread. */
  #seq = 0;
  #closed = false;
  /** Where a write that failed on the writer thread is told (an Error with SQLite's `code`, `doing` when it was not the history's own, and `path` when the file was state.db); until set, it is kept for it. */
  #onError: ((e: Error) => void) | null = null;
  #failed: Error[] = [];

  /**
   * Open (or create) `home`/history.db, keeping `maxPerContact` lines per contact, and
   * move into it the history table a home from before kept in state.db. Given the
   * store, the writer thread also takes its ACK deletes (ChatStore.ackVia), on a
   * connection of its own to state.db, holding the store's writeLock for them (or
   * `lock`, for the tests); the store's checkpoint thread is asked after them.
   * @throws Error with the path when a file is unusable.
   */
  constructor(home: string, maxPerContact = MAX_PER_CONTACT, store: ChatStore | null = null, lock: WriteLock = store?.writeLock ?? new WriteLock()) {
    if (store !== null) store.ackVia = (pid, upTo) => this.ack(pid, upTo);
    this.path = join(home, HISTORY_FILE);
    const statePath = join(home, STATE_FILE);
    let opened: Database | null = null;
    try {
      preparePrivateFile(this.path);
      opened = new Database(this.path, { create: true, strict: true });
      // Set before the file's first page is written (a file that exists keeps its own).
      opened.exec(`PRAGMA page_size = ${PAGE_SIZE}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS};`);
      opened.exec(`CREATE TABLE IF NOT EXISTS history (${COLUMNS});
        CREATE INDEX IF NOT EXISTS history_pid ON history (pid, n);`);
      this.#db = opened;
    } catch (e) {
      opened?.close();
      // The system's refusals (preparePrivateFile: a FIFO, a folder in its place, permissions) as a sentence; SQLite's as it says them.
      const code = (e as { code?: string }).code ?? "";
      const why = /^E[A-Z]+$/.test(code) ? describeSqliteError(this.path, "opening it", e) : (e as Error).message;
      throw new Error(
        `${this.path}: cannot open the conversation history (${why}). Messages waiting for delivery are in ${STATE_FILE}, untouched. ` +
          `Move ${this.path} aside to start a new history (the old one is kept there), or start with --no-history.`,
        { cause: e },
      );
    }
    if (existsSync(statePath)) {
      try {
        moveFromState(this.#db, statePath, lock);
      } catch (e) {
        this.#db.close();
        throw new Error(
          `${statePath}: cannot move the conversation history it holds into ${HISTORY_FILE} (${(e as Error).message}). Nothing was lost: ` +
            `the move is done again at the next start. If another program has ${STATE_FILE} open, close it and start again; or start with --no-history.`,
          { cause: e },
        );
      }
    }
    const db = this.#db;
    this.#q = {
      privateOut: db.query<{ pid: string; mid: string }, [number]>("SELECT pid, mid FROM history WHERE dir = 'out' AND private = 1 AND mid IS NOT NULL ORDER BY n DESC LIMIT ?"),
      // Newest first, read only as far as the lines asked for (lastLines stops early).
      last: db.query<Row, [string, number]>("SELECT * FROM history WHERE pid = ? ORDER BY n DESC LIMIT ?"),
      lastAll: db.query<Row, [number]>("SELECT * FROM history ORDER BY n DESC LIMIT ?"),
      contacts: db.query<{ pid: string }, []>("SELECT pid FROM history GROUP BY pid ORDER BY MAX(n)"),
      pidByName: db.query<{ pid: string }, [string]>("SELECT pid FROM history WHERE peer = ? COLLATE NOCASE ORDER BY n DESC LIMIT 1"),
      names: db.query<{ peer: string }, []>("SELECT peer FROM history h WHERE n = (SELECT MAX(n) FROM history WHERE pid = h.pid)"),
    };
    const checkpointer = store?.checkpointer ?? null;
    this.#worker = new Worker(new URL("./history-worker.ts", import.meta.url));
    this.#worker.unref();
    this.#worker.onmessage = (ev: MessageEvent<{ wrote?: true; error?: { message: string; code?: string; doing?: string; file?: string } }>) => {
      if (ev.data.wrote === true) checkpointer?.wrote();
      if (ev.data.error !== undefined) this.#fail(Object.assign(new Error(ev.data.error.message), { code: ev.data.error.code, doing: ev.data.error.doing, path: ev.data.error.file === undefined ? undefined : join(home, ev.data.error.file) }));
    };
    const open: HistoryOpen = { op: "open", path: this.path, statePath: store !== null ? statePath : null, max: maxPerContact, shared: this.#slots.buffer as SharedArrayBuffer, lock: lock.shared, busyTimeoutMs: BUSY_TIMEOUT_MS, walBoundPages: store?.walBoundPages ?? null };
    this.#worker.postMessage(open);
  }

  /** A write on the writer thread failed (history-worker.ts): told to onError, or kept for it. */
  #fail(e: Error): void {
    if (this.#onError !== null) this.#onError(e);
    else if (this.#failed.length < 8) this.#failed.push(e);
  }

  /** Called first by clear(): the chat hands the store's ACK deletes not yet due (they go to the writer thread ahead of the clear). */
  beforeClear: (() => void) | null = null;

  /** Where the writer thread's failures go (an Error with SQLite's `code`); those before it was set are told at once. */
  set onError(f: (e: Error) => void) {
    this.#onError = f;
    for (const e of this.#failed.splice(0)) f(e);
  }

  #post(op: HistoryOp extends infer T ? (T extends { seq: number } ? Omit<T, "seq"> : never) : never, transfer: ArrayBuffer[] = []): void {
    if (this.#closed) return;
    this.#worker.postMessage({ ...op, seq: ++this.#seq }, transfer);
  }

  /** Wait until the writer thread has done every op handed to it (reads see all of it). @throws Error when it does not answer within WRITER_WAIT_MS */
  #sync(): void {
    const until = performance.now() + WRITER_WAIT_MS;
    for (let done = Atomics.load(this.#slots, DONE); done < this.#seq; done = Atomics.load(this.#slots, DONE)) {
      const left = until - performance.now();
      if (left <= 0) throw new Error(`${this.path}: the conversation history's writer thread did not answer within ${WRITER_WAIT_MS / 1000} s`);
      Atomics.wait(this.#slots, DONE, done, left);
    }
  }

  /**
   * Keep one line. Once a contact has TRIM_EVERY lines beyond the bound, its oldest are
   * dropped down to the bound at the next flush (whole rows, and the run the cut falls
   * in rewritten): a contact has at most maxPerContact + TRIM_EVERY lines.
   */
  add(l: HistoryLine): void {
    // Kept for flush(): the chat writes one transaction a tick, not one per line (a piped
    // file of 20,000 lines would otherwise cost 20,000 commits on each side).
    this.#pending.push(l);
  }

  /** Hand the lines added since the last flush to the writer thread, to be written in one transaction (every read waits for it). */
  flush(): void {
    if (this.#pending.length === 0) return;
    const rows = historyRows(this.#pending);
    this.#pending = [];
    // The runs' buffers are moved to the thread, not copied (a structured clone of the
    // lines themselves cost this thread about as much as writing them).
    const moved: ArrayBuffer[] = [];
    for (const r of rows) if (r.lines !== null) moved.push(r.lines.buffer as ArrayBuffer);
    this.#post({ op: "flush", rows }, moved);
  }

  /** Statements and transactions that wrote lines, and INSERTs prepared, on the writer thread once it has done what it was handed (for the tests that count them). */
  get writes(): { statements: number; transactions: number; prepared: number } {
    this.#sync();
    return { statements: Atomics.load(this.#slots, STATEMENTS), transactions: Atomics.load(this.#slots, TRANSACTIONS), prepared: Atomics.load(this.#slots, PREPARED) };
  }

  /** Flush, and wait until all of it is written. @throws Error when the writer thread does not answer */
  written(): void {
    this.flush();
    this.#sync();
  }

  /**
   * Hand the store's deletes for a cumulative ACK to the writer thread (ChatStore.ackVia):
   * false once closed (the store then runs them itself). Failures come to onError.
   */
  ack(pid: string, upTo: number): boolean {
    if (this.#closed) return false;
    this.#post({ op: "ack", pid, upTo });
    return true;
  }

  /** Drop the contact's oldest lines beyond maxPerContact now. */
  trim(pid: string): void {
    this.flush();
    this.#post({ op: "trim", pid });
    this.#sync();
  }

  /** The last `n` lines with one contact, or over all contacts (a line sent to several appears once per contact), oldest first. */
  last(n: number, pid?: string): HistoryLine[] {
    this.written();
    const k = Math.max(0, Math.min(MAX_PAGE, Math.floor(n)));
    return this.#read(() => lastLines(pid === undefined ? this.#q.lastAll.iterate(k) : this.#q.last.iterate(pid, k), k));
  }

  /** Contacts with history, the most recently active last. */
  contacts(): string[] {
    this.written();
    return this.#read(() => this.#q.contacts.all()).map((r) => r.pid);
  }

  /** The contact last seen under `name` (case-insensitive), if any. */
  pidByName(name: string): string | undefined {
    this.written();
    return this.#read(() => this.#q.pidByName.get(name))?.pid;
  }

  /** Our latest private lines' TEXT ids per contact (at most `limit`), for the PRIVATE marks of re-sends after a restart. */
  privateOut(limit: number): Map<string, Set<bigint>> {
    this.written();
    const out = new Map<string, Set<bigint>>();
    for (const r of this.#read(() => this.#q.privateOut.all(limit))) out.set(r.pid, (out.get(r.pid) ?? new Set()).add(BigInt(r.mid)));
    return out;
  }

  /** Each contact's latest name. */
  names(): string[] {
    this.written();
    return this.#read(() => this.#q.names.all()).map((r) => r.peer);
  }

  /**
   * A read of history.db; its SQLite failure (a damaged page, the disk) as a sentence
   * that names the file and what to do. @throws StateError
   */
  #read<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      throw new StateError(describeSqliteError(this.path, "reading the conversation history", e), { cause: e });
    }
  }

  /** Forget every line with one contact; returns how many were deleted (0 when the writer thread failed to: onError is told). */
  clear(pid: string): number {
    this.beforeClear?.();
    this.flush();
    Atomics.store(this.#slots, CLEARED, 0);
    this.#post({ op: "clear", pid });
    this.#sync();
    return Atomics.load(this.#slots, CLEARED);
  }

  /** Write what is left, wait for the writer thread to close its connection, close ours. */
  close(): void {
    if (this.#closed) return;
    try {
      this.flush();
      this.#post({ op: "close" });
      this.#closed = true;
      this.#sync();
    } finally {
      this.#closed = true;
      this.#db.close();
    }
  }
}
