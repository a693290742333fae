/**
 * Conversation history, in its own table of `$SOTTO_HOME/state.db` with its own
 * bun:sqlite connection (the file is WAL, so this and the delivery store share it):
 *
 *   history   one row per line shown or sent: the contact's identity key (hex), the name
 *             it had then, who wrote it (in: the contact, out: us), the text, the time
 *             (ms since 1970, our clock), and whether it was private; or one row per run
 *             (history-run.ts): up to MAX_RUN consecutive lines of one flush with the
 *             same contact, name and direction, none private, in its `lines` column
 *             (`count` lines; `text` empty, `time` the first line's).
 *
 * A line sent to several contacts is one row per contact: each conversation is whole on
 * its own. Bounded: at most MAX_PER_CONTACT lines per contact (the oldest go first; a
 * trim that ends inside a run rewrites that run with the lines it keeps).
 * `--no-history` opens nothing; `/clear NAME` deletes one contact's rows.
 */
import { Database, type Statement } from "bun:sqlite";
import { chmodSync, existsSync } from "node:fs";
import { join } from "node:path";
import { decodeHistoryRun, encodeHistoryRun, MAX_RUN } from "./history-run.ts";
import { BUSY_TIMEOUT_MS, STATE_FILE, WAL_BOUND_PAGES, type Checkpointer } from "./store.ts";
import { ChatError, type ChatListener, type HistoryApi, type HistoryEntry } from "../events.ts";

/** Rows kept per contact; older ones are deleted as new ones arrive. */
export const MAX_PER_CONTACT = 10_000;
/**
 * How often add() trims (see add): each trim walks MAX_PER_CONTACT index entries to find
 * the cut, so at 64 a flood of TEXT spent half the chat's time trimming (profiled under
 * `bun run stress --attack text`); at 1,024 that is ten entries a line.
 */
const TRIM_EVERY = 1024;
/**
 * Rows one INSERT writes: a tick of lines to several contacts in turn is a row per line
 * (no two consecutive lines make a run); at 9 values a row this stays far below SQLite's 32,766.
 */
const INSERT_ROWS = 512;
/** Lines per contact shown when the chat starts. */
export const SHOWN_AT_START = 5;
/** Most lines one /history shows. */
export const MAX_PAGE = 500;
/** Owner read/write only: state.db holds what was said. */
const PRIVATE_FILE = 0o600;

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

/** The history table. */
export class History {
  #pending: HistoryLine[] = [];
  readonly path: string;
  readonly #db: Database;
  readonly #q;

  readonly #max: number;
  /** Rows per contact in the table (counted once when first touched, then kept in step). */
  readonly #count = new Map<string, number>();

  readonly #checkpointer: Checkpointer | null;

  /**
   * Open (or create) the table in `home`/state.db, keeping `maxPerContact` rows per
   * contact; with the store's `checkpointer` its thread moves the log into the file.
   * @throws Error with the path when the file is unusable.
   */
  constructor(home: string, maxPerContact = MAX_PER_CONTACT, checkpointer: Checkpointer | null = null) {
    this.#max = maxPerContact;
    this.#checkpointer = checkpointer;
    this.path = join(home, STATE_FILE);
    try {
      this.#db = new Database(this.path, { create: true, strict: true });
      // secure_delete: /clear overwrites the deleted lines instead of leaving them in free pages.
      this.#db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}; PRAGMA secure_delete = ON;`);
      if (checkpointer !== null) this.#db.exec(`PRAGMA wal_autocheckpoint = ${WAL_BOUND_PAGES};`);
      this.#db.exec(`CREATE TABLE IF NOT EXISTS history (
        n INTEGER PRIMARY KEY AUTOINCREMENT, pid TEXT NOT NULL, peer TEXT NOT NULL, dir TEXT NOT NULL,
        text TEXT NOT NULL, time INTEGER NOT NULL, private INTEGER NOT NULL, mid TEXT,
        count INTEGER NOT NULL DEFAULT 1, lines BLOB);
        CREATE INDEX IF NOT EXISTS history_pid ON history (pid, n);`);
      const cols = this.#db.query<{ name: string }, []>("PRAGMA table_info(history)").all();
      // A table from before runs: every row is one line. `count` comes before `lines`, so
      // reading it (the trim, the counts) does not walk a run's overflow pages.
      if (!cols.some((c) => c.name === "lines")) this.#db.exec("ALTER TABLE history ADD COLUMN count INTEGER NOT NULL DEFAULT 1; ALTER TABLE history ADD COLUMN lines BLOB;");
      for (const f of [this.path, `${this.path}-wal`, `${this.path}-shm`]) if (existsSync(f)) chmodSync(f, PRIVATE_FILE);
    } catch (e) {
      throw new Error(`${this.path}: cannot open the conversation history (${(e as Error).message})`, { cause: e });
    }
    const db = this.#db;
    this.#q = {
      privateOut: db.query<{ pid: string; mid: string }, [number]>("SELECT pid, mid FROM history WHERE dir = 'out' AND private = 1 AND mid IS NOT NULL ORDER BY n DESC LIMIT ?"),
      // The oldest rows, at most as many as the lines to cut (each row holds one or more): walks only the excess from the old end.
      oldest: db.query<{ n: number; count: number }, [string, number]>("SELECT n, count FROM history WHERE pid = ? ORDER BY n LIMIT ?"),
      cutTo: db.query("DELETE FROM history WHERE pid = ? AND n <= ?"),
      runAt: db.query<{ lines: Uint8Array | null }, [number]>("SELECT lines FROM history WHERE n = ?"),
      setRun: db.query("UPDATE history SET lines = ?, count = ?, time = ? WHERE n = ?"),
      count: db.query<{ n: number }, [string]>("SELECT COALESCE(SUM(count), 0) AS n FROM history WHERE pid = ?"),
      // Newest first, read only as far as the lines asked for (lastLines stops early).
      last: db.query<Row, [string, number]>("SELECT * FROM history WHERE pid = ? ORDER BY n DESC LIMIT ?"),
      lastAll: db.query<Row, [number]>("SELECT * FROM history ORDER BY n DESC LIMIT ?"),
      contacts: db.query<{ pid: string }, []>("SELECT pid FROM history GROUP BY pid ORDER BY MAX(n)"),
      pidByName: db.query<{ pid: string }, [string]>("SELECT pid FROM history WHERE peer = ? COLLATE NOCASE ORDER BY n DESC LIMIT 1"),
      clear: db.query("DELETE FROM history WHERE pid = ?"),
      clearCount: db.query<{ n: number }, [string]>("SELECT COALESCE(SUM(count), 0) AS n FROM history WHERE pid = ?"),
      names: db.query<{ peer: string }, []>("SELECT peer FROM history h WHERE n = (SELECT MAX(n) FROM history WHERE pid = h.pid)"),
    };
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

  /** Write the lines added since the last flush, in one transaction (every read flushes first). @throws the SQLite error */
  flush(): void {
    if (this.#pending.length === 0) return;
    const lines = this.#pending;
    this.#pending = [];
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
    this.#checkpointer?.wrote();
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

  /** Drop the contact's oldest rows beyond maxPerContact now. */
  trim(pid: string): void {
    this.flush();
    this.#trim(pid);
  }

  /** The last `n` lines with one contact, or over all contacts (a line sent to several appears once per contact), oldest first. */
  last(n: number, pid?: string): HistoryLine[] {
    this.flush();
    const k = Math.max(0, Math.min(MAX_PAGE, Math.floor(n)));
    return lastLines(pid === undefined ? this.#q.lastAll.iterate(k) : this.#q.last.iterate(pid, k), k);
  }

  /** Contacts with history, the most recently active last. */
  contacts(): string[] {
    this.flush();
    return this.#q.contacts.all().map((r) => r.pid);
  }

  /** The contact last seen under `name` (case-insensitive), if any. */
  pidByName(name: string): string | undefined {
    this.flush();
    return this.#q.pidByName.get(name)?.pid;
  }

  /** Our latest private lines' TEXT ids per contact (at most `limit`), for the PRIVATE marks of re-sends after a restart. */
  privateOut(limit: number): Map<string, Set<bigint>> {
    this.flush();
    const out = new Map<string, Set<bigint>>();
    for (const r of this.#q.privateOut.all(limit)) out.set(r.pid, (out.get(r.pid) ?? new Set()).add(BigInt(r.mid)));
    return out;
  }

  /** Each contact's latest name. */
  names(): string[] {
    this.flush();
    return this.#q.names.all().map((r) => r.peer);
  }

  /** Forget every line with one contact; returns how many were deleted. */
  clear(pid: string): number {
    this.flush();
    this.#count.delete(pid);
    const n = this.#q.clearCount.get(pid)!.n;
    this.#q.clear.run(pid);
    return n;
  }

  close(): void {
    try {
      this.flush();
    } finally {
      this.#db.close();
    }
  }
}

/** Lines one /history shows when no count is given. */
export const DEFAULT_PAGE = 20;

/** What a contact's lines look like in events: the key's fingerprint instead of the raw pid. */
function entry(l: HistoryLine, fingerprintOf: (pid: string) => string): HistoryEntry {
  return { peer: l.peer, fingerprint: fingerprintOf(l.pid), from: l.dir, text: l.text, time: l.time, private: l.private };
}

/** Lines over several contacts, with the copies of one line sent to several of them merged. */
function merged(lines: HistoryLine[], fingerprintOf: (pid: string) => string): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  let prev: HistoryLine | null = null;
  for (const l of lines) {
    if (prev !== null && l.dir === "out" && prev.dir === "out" && l.text === prev.text && l.time === prev.time && !l.private) continue;
    out.push(entry(l, fingerprintOf));
    prev = l;
  }
  return out;
}

/**
 * The HistoryApi over `h`: `resolve` turns a name into a contact (connected, or known
 * from the outbox), else undefined; `emit` receives the "history" events.
 */
export function historyApi(h: History, o: { resolve: (name: string) => string | undefined; fingerprintOf: (pid: string) => string; emit: ChatListener }): HistoryApi {
  const pidOf = (name: string): string => {
    const pid = o.resolve(name) ?? h.pidByName(name);
    if (pid === undefined) throw new ChatError("unknown_peer", `there is no conversation with ${JSON.stringify(name.slice(0, 64))}; /peers lists who is connected`);
    return pid;
  };
  return {
    show(name, n) {
      const pid = name === undefined ? undefined : pidOf(name);
      const lines = h.last(n ?? DEFAULT_PAGE, pid);
      o.emit({ type: "history", ...(name !== undefined ? { peer: name } : {}), lines: pid === undefined ? merged(lines, o.fingerprintOf) : lines.map((l) => entry(l, o.fingerprintOf)), start: false });
    },
    clear(name) {
      const n = h.clear(pidOf(name));
      o.emit({ type: "history_cleared", peer: name, count: n });
      return n;
    },
    names: () => h.names(),
    atStart() {
      const lines = h.contacts().flatMap((pid) => h.last(SHOWN_AT_START, pid));
      lines.sort((a, b) => a.time - b.time);
      if (lines.length > 0) o.emit({ type: "history", lines: merged(lines, o.fingerprintOf), start: true });
    },
  };
}
