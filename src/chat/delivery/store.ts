/**
 * The chat's durable state, in `$SOTTO_HOME/state.db` (bun:sqlite, WAL):
 *   meta       our instance id (stable across restarts, so a re-sent message keeps its
 *              (instance, id) and the receiver can recognise it);
 *   outbox_run every TEXT not yet acknowledged, per peer identity, with its id and the
 *              time it was written (PROTOCOL §12): one row per commit (a tick's lines
 *              for one peer, encoded by encodeRun), so a piped file costs one insert a
 *              tick and one delete an ACK, not one of each per line;
 *   outbox_acked  per peer, the highest id a cumulative ACK covered: a run's lines at or
 *              below it are acknowledged (the run row goes once all of it is);
 *   outbox     the same, one row per line, as homes before outbox_run wrote it (read
 *              and acknowledged, never written);
 *   next_id    the next TEXT id per peer;
 *   shown      the highest TEXT id shown to the user, per (our identity, peer identity,
 *              peer instance): a sender numbers its lines per receiving key, so a
 *              counter kept for our old key must not hide lines sent to our new one;
 *   set_aside  stored lines that can never be sent (too long for one TEXT), kept for
 *              the person to read, never retried.
 * Deleted rows are overwritten (secure_delete): an acknowledged line leaves no text in the
 * file's free pages (the history's /clear relies on it).
 * A sender killed with SIGKILL and restarted still has its outbox; a receiver restarted
 * still knows what it has shown, so nothing is shown twice.
 * Order on receipt: show, record, then ACK (a crash between the first two can show one
 * message twice; the other order could lose one).
 *
 * Writes of queued lines are batched: `queue` keeps them in memory and `commit` writes
 * every line queued since in one transaction (the sender commits before any of them
 * goes on the wire, so an id is durable before a peer can see it).
 *
 * Every SQLite failure comes out as a StateError with one sentence for the person; the
 * busy timeout is short, so a lock held by another program costs a refusal, not a stall.
 */
import { Database } from "bun:sqlite";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { Checkpointer } from "./checkpointer.ts";
import { describeSqliteError, preparePrivateFile, STATE_FILE } from "./home-files.ts";
import { WriteLock } from "./write-lock.ts";

/** Longest wait for a lock another program holds on state.db (ms): below an event-loop stall a person notices. */
export const BUSY_TIMEOUT_MS = 20;
/** With backgroundCheckpoint: the log's size at which a chat connection checkpoints by itself (the checkpoint thread fell behind): 64 MiB. */
export const WAL_BOUND_BYTES = 16_384 * 4096;
/** Without it: where SQLite's own checkpoint comes by default, 1000 pages of 4 KiB (a home of larger pages keeps that size, not that count). */
export const WAL_DEFAULT_BYTES = 1000 * 4096;
/**
 * A new state.db's page size (bytes); a file that exists keeps its own. A piped tick's
 * run is about 500 KiB: in 16 KiB pages its commit, the ACK's delete that overwrites it
 * (secure_delete reads and zeroes every page of it) and the checkpoint that copies it
 * handle 32 pages, not 125.
 */
export const STATE_PAGE_SIZE = 16_384;

/** One stored line. */
export interface StoredLine {
  id: bigint;
  text: string;
  /** When it was written (Unix ms; 0 when unknown). */
  written: number;
  /** Its UTF-8 size, when already counted (encodeRun then does not count it again). */
  bytes?: number;
}

/** state.db failed; `message` is one sentence for the person, `cause` the SQLite error. */
export class StateError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StateError";
  }
}

/**
 * Forget, on `db`, every message of `pid` up to `upTo` (a cumulative ACK): the lines of
 * the older table, the runs all of whose lines it covers, and the highest id covered (a
 * run it covers in part hides those lines). The store runs it, or the history's writer
 * thread (ChatStore.ackVia). @throws the SQLite error
 */
export function acknowledger(db: Database): (pid: string, upTo: number) => void {
  const ack = db.query("DELETE FROM outbox WHERE pid = ? AND id <= ?");
  const ackRuns = db.query("DELETE FROM outbox_run WHERE pid = ? AND last <= ?");
  const setAcked = db.query("INSERT INTO outbox_acked (pid, upto) VALUES (?1, ?2) ON CONFLICT (pid) DO UPDATE SET upto = max(upto, ?2)");
  return db.transaction((pid: string, upTo: number) => {
    ack.run(pid, upTo);
    ackRuns.run(pid, upTo);
    setAcked.run(pid, upTo);
  });
}

/**
 * On `db`, overwrite the acknowledged lines of `pid`'s runs that an ACK covered in part
 * (acknowledger leaves them in their row, hidden by outbox_acked, until the rest is
 * acknowledged, which may be days when the link dropped mid-file): each such row is
 * rewritten with only the lines still waiting, and secure_delete overwrites the rest.
 * For /clear (history-worker.ts), which leaves no acknowledged text of the contact's in
 * state.db. @throws the SQLite error
 */
export function acknowledgedOverwriter(db: Database): (pid: string) => void {
  const partly = db.query<{ first: number; lines: Uint8Array; upto: number }, [string]>("SELECT r.first, r.lines, a.upto FROM outbox_run r JOIN outbox_acked a ON a.pid = r.pid WHERE r.pid = ? AND r.first <= a.upto");
  const setRun = db.query("UPDATE outbox_run SET lines = ? WHERE pid = ? AND first = ?");
  const removeRun = db.query("DELETE FROM outbox_run WHERE pid = ? AND first = ?");
  return db.transaction((pid: string) => {
    for (const r of partly.all(pid)) {
      const upto = BigInt(r.upto);
      const waiting = decodeRun(r.lines).filter((l) => l.id > upto);
      if (waiting.length === 0) removeRun.run(pid, r.first);
      else setRun.run(encodeRun(waiting), pid, r.first);
    }
  });
}

/** A bound on the log in bytes as pages of `db`'s file (SQLite's wal_autocheckpoint counts pages). */
function walPages(db: Database, bytes: number): number {
  return Math.max(1, Math.floor(bytes / db.query<{ page_size: number }, []>("PRAGMA page_size").get()!.page_size));
}

/** Bytes of one line's header in a run: id (u64), written (f64), text length (u32). */
const RUN_LINE_HEADER = 20;

/** One commit's lines for one peer as one row: per line its id, written and UTF-8 text. */
export function encodeRun(lines: StoredLine[]): Uint8Array {
  // Each text is encoded straight into the row, its UTF-8 size counted first: no buffer per line.
  const sizes = lines.map((l) => l.bytes ?? Buffer.byteLength(l.text, "utf8"));
  let size = 0;
  for (const n of sizes) size += RUN_LINE_HEADER + n;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = 0; i < lines.length; i++) {
    out.writeBigUInt64BE(lines[i]!.id, at);
    out.writeDoubleBE(lines[i]!.written, at + 8);
    out.writeUInt32BE(sizes[i]!, at + 16);
    out.write(lines[i]!.text, at + RUN_LINE_HEADER, sizes[i]!, "utf8");
    at += RUN_LINE_HEADER + sizes[i]!;
  }
  return out;
}

/** The lines of a run (encodeRun). @throws StateError when the row is damaged */
export function decodeRun(row: Uint8Array): StoredLine[] {
  const b = Buffer.from(row.buffer, row.byteOffset, row.byteLength);
  const out: StoredLine[] = [];
  for (let at = 0; at < b.length; ) {
    const len = at + RUN_LINE_HEADER <= b.length ? b.readUInt32BE(at + 16) : -1;
    if (len < 0 || at + RUN_LINE_HEADER + len > b.length) throw new StateError("a row of the outbox in state.db is damaged; move state.db aside to start with an empty outbox");
    out.push({ id: b.readBigUInt64BE(at), written: b.readDoubleBE(at + 8), text: b.toString("utf8", at + RUN_LINE_HEADER, at + RUN_LINE_HEADER + len) });
    at += RUN_LINE_HEADER + len;
  }
  return out;
}

export class ChatStore {
  readonly path: string;
  readonly #db: Database;
  readonly #q;
  readonly #self: string;
  #batch: { pid: string; line: StoredLine }[] = [];
  /** Our connections' one-writer-at-a-time lock (write-lock.ts), shared with the history's writer thread. */
  readonly writeLock = new WriteLock();
  /** The checkpoint thread (backgroundCheckpoint), shared with the history's connection. */
  readonly checkpointer: Checkpointer | null = null;
  /** Log pages at which a connection of ours to state.db checkpoints by itself (its bound in bytes over this file's page size), the history's thread's too. */
  readonly walBoundPages: number;

  /**
   * Open (or create) the store in `home`; `self` is our identity key (hex), which the
   * shown counters are kept under. With `backgroundCheckpoint` the log is moved into the
   * file by a thread of its own (checkpoint-worker.ts), not inside this thread's commits.
   * @throws StateError with one sentence when the file is unusable.
   */
  constructor(home: string, self = "", o: { backgroundCheckpoint?: boolean } = {}) {
    this.path = join(home, STATE_FILE);
    this.#self = self;
    try {
      preparePrivateFile(this.path);
      this.#db = new Database(this.path, { create: true, strict: true });
      // secure_delete: an acknowledged line's text is overwritten, not left in free pages,
      // so the history's /clear (history.ts) leaves no copy of what was sent either.
      // page_size before anything is written: a new file takes it, one that exists keeps its own.
      this.#db.exec(`PRAGMA page_size = ${STATE_PAGE_SIZE}; PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA secure_delete = ON;`);
      this.walBoundPages = walPages(this.#db, o.backgroundCheckpoint === true ? WAL_BOUND_BYTES : WAL_DEFAULT_BYTES);
      this.#db.exec(`PRAGMA wal_autocheckpoint = ${this.walBoundPages};`);
      this.#db.exec(`
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS outbox (pid TEXT NOT NULL, id INTEGER NOT NULL, text TEXT NOT NULL, PRIMARY KEY (pid, id));
        CREATE TABLE IF NOT EXISTS next_id (pid TEXT PRIMARY KEY, next INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS delivered (pid TEXT NOT NULL, instance TEXT NOT NULL, last TEXT NOT NULL, PRIMARY KEY (pid, instance));
        CREATE TABLE IF NOT EXISTS shown (self TEXT NOT NULL, pid TEXT NOT NULL, instance TEXT NOT NULL, last TEXT NOT NULL, PRIMARY KEY (self, pid, instance));
        CREATE TABLE IF NOT EXISTS set_aside (pid TEXT NOT NULL, id INTEGER NOT NULL, text TEXT NOT NULL, reason TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS outbox_run (pid TEXT NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL, lines BLOB NOT NULL, PRIMARY KEY (pid, first));
        CREATE TABLE IF NOT EXISTS outbox_acked (pid TEXT PRIMARY KEY, upto INTEGER NOT NULL);
      `);
      const cols = this.#db.query<{ name: string }, []>("PRAGMA table_info(outbox)").all();
      if (!cols.some((c) => c.name === "written")) this.#db.exec("ALTER TABLE outbox ADD COLUMN written INTEGER NOT NULL DEFAULT 0");
      // A home from before `shown`: its counters were kept for the key it has now.
      this.#db.transaction(() => {
        this.#db.query("INSERT OR IGNORE INTO shown (self, pid, instance, last) SELECT ?, pid, instance, last FROM delivered").run(self);
        this.#db.exec("DELETE FROM delivered");
      })();
    } catch (e) {
      throw new StateError(describeSqliteError(this.path, "opening the chat state", e), { cause: e });
    }
    if (o.backgroundCheckpoint === true) this.checkpointer = new Checkpointer(this.path);
    const db = this.#db;
    this.#q = {
      meta: db.query<{ value: string }, [string]>("SELECT value FROM meta WHERE key = ?"),
      setMeta: db.query("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"),
      pending: db.query<{ pid: string; id: number; text: string; written: number }, []>("SELECT pid, id, text, written FROM outbox ORDER BY pid, id"),
      runs: db.query<{ pid: string; lines: Uint8Array; upto: number | null }, []>("SELECT r.pid, r.lines, a.upto FROM outbox_run r LEFT JOIN outbox_acked a ON a.pid = r.pid ORDER BY r.pid, r.first"),
      addRun: db.query("INSERT INTO outbox_run (pid, first, last, lines) VALUES (?, ?, ?, ?)"),
      runOf: db.query<{ first: number; lines: Uint8Array }, [string, number, number]>("SELECT first, lines FROM outbox_run WHERE pid = ? AND first <= ? AND last >= ?"),
      setRun: db.query("UPDATE outbox_run SET lines = ? WHERE pid = ? AND first = ?"),
      removeRun: db.query("DELETE FROM outbox_run WHERE pid = ? AND first = ?"),
      remove: db.query("DELETE FROM outbox WHERE pid = ? AND id = ?"),
      aside: db.query("INSERT INTO set_aside (pid, id, text, reason) VALUES (?, ?, ?, ?)"),
      next: db.query<{ next: number }, [string]>("SELECT next FROM next_id WHERE pid = ?"),
      setNext: db.query("INSERT OR REPLACE INTO next_id (pid, next) VALUES (?, ?)"),
      shown: db.query<{ last: string }, [string, string, string]>("SELECT last FROM shown WHERE self = ? AND pid = ? AND instance = ?"),
      setShown: db.query("INSERT OR REPLACE INTO shown (self, pid, instance, last) VALUES (?, ?, ?, ?)"),
    };
  }

  /** #try, holding the write lock (write-lock.ts): for every statement that writes. */
  #write<T>(doing: string, f: () => T): T {
    return this.#try(doing, () => this.writeLock.hold(f));
  }

  /** Run `f`, turning a SQLite failure into a StateError saying what `doing` failed. */
  #try<T>(doing: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      throw new StateError(describeSqliteError(this.path, doing, e), { cause: e });
    }
  }

  /** Our instance id: 8 random bytes made once per home. @throws StateError */
  instance(): Uint8Array {
    return this.#write("reading the instance id", () => {
      const row = this.#q.meta.get("instance");
      if (row) return new Uint8Array(Buffer.from(row.value, "hex"));
      const id = randomBytes(8);
      this.#q.setMeta.run("instance", id.toString("hex"));
      return new Uint8Array(id);
    });
  }

  /** Every unacknowledged message, grouped by peer, in id order. @throws StateError */
  pending(): Map<string, StoredLine[]> {
    const out = new Map<string, StoredLine[]>();
    for (const r of this.#try("reading the outbox", () => this.#q.pending.all())) {
      const list = out.get(r.pid) ?? [];
      list.push({ id: BigInt(r.id), text: r.text, written: r.written });
      out.set(r.pid, list);
    }
    for (const r of this.#try("reading the outbox", () => this.#q.runs.all())) {
      const list = out.get(r.pid) ?? [];
      const acked = BigInt(r.upto ?? 0);
      for (const l of decodeRun(r.lines)) if (l.id > acked) list.push(l);
      out.set(r.pid, list);
    }
    for (const list of out.values()) list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return out;
  }

  /** The next id for a peer (1 for a new one). @throws StateError */
  nextId(pid: string): bigint {
    return BigInt(this.#try("reading the outbox", () => this.#q.next.get(pid)?.next ?? 1));
  }

  /** Keep a queued message for the next commit(). */
  queue(pid: string, line: StoredLine): void {
    this.#batch.push({ pid, line });
  }

  /** Lines queued and not yet committed. */
  get uncommitted(): number {
    return this.#batch.length;
  }

  /**
   * Write every line queued since the last commit, and each peer's next id, in one
   * transaction. @throws StateError when it fails: then nothing of the batch is written
   * and the batch is dropped (the outbox knows which lines those were).
   */
  commit(): void {
    if (this.#batch.length === 0) return;
    const batch = this.#batch;
    this.#batch = [];
    const byPid = new Map<string, StoredLine[]>();
    for (const { pid, line } of batch) {
      const list = byPid.get(pid);
      if (list === undefined) byPid.set(pid, [line]);
      else list.push(line);
    }
    this.#write("saving the message", () =>
      this.#db.transaction(() => {
        for (const [pid, lines] of byPid) {
          const first = Number(lines[0]!.id);
          const last = Number(lines[lines.length - 1]!.id);
          this.#q.addRun.run(pid, first, last, encodeRun(lines));
          this.#q.setNext.run(pid, last + 1);
        }
      })(),
    );
    this.checkpointer?.wrote();
  }

  /**
   * Where ack() hands its deletes instead of running them (the history's writer thread,
   * history.ts ack: true when it took them). No durability waits for them: a crash
   * before they are written only re-sends lines the receiver acknowledges again
   * without showing them.
   */
  ackVia: ((pid: string, upTo: number) => boolean) | null = null;
  #acknowledge: ((pid: string, upTo: number) => void) | null = null;

  /** Forget every message up to `id` (a cumulative ACK), here or on ackVia's thread. @throws StateError */
  ack(pid: string, id: bigint): void {
    const upTo = id > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(id);
    if (this.ackVia?.(pid, upTo) === true) return;
    this.#acknowledge ??= acknowledger(this.#db);
    const acknowledge = this.#acknowledge;
    this.#write("forgetting an acknowledged message", () => acknowledge(pid, upTo));
    this.checkpointer?.wrote();
  }

  /** Move one stored message out of the outbox for good, with the reason. @throws StateError */
  setAside(pid: string, line: StoredLine, reason: string): void {
    const id = Number(line.id);
    this.#write("setting aside a message", () =>
      this.#db.transaction(() => {
        this.#q.aside.run(pid, id, line.text, reason);
        this.#q.remove.run(pid, id);
        const run = this.#q.runOf.get(pid, id, id);
        if (run === null) return;
        const rest = decodeRun(run.lines).filter((l) => l.id !== line.id);
        if (rest.length === 0) this.#q.removeRun.run(pid, run.first);
        else this.#q.setRun.run(encodeRun(rest), pid, run.first);
      })(),
    );
  }

  /** The highest id shown from this peer instance to our identity (0 when none). @throws StateError */
  delivered(pid: string, instance: string): bigint {
    return BigInt(this.#try("reading what was shown", () => this.#q.shown.get(this.#self, pid, instance)?.last ?? 0));
  }

  /** Record that `id` was shown. @throws StateError */
  setDelivered(pid: string, instance: string, id: bigint): void {
    // Stored as decimal text: the id is a peer-chosen u64.
    this.#write("recording a shown message", () => this.#q.setShown.run(this.#self, pid, instance, id.toString()));
  }

  /** Record several shown counters in one transaction. @throws StateError */
  setDeliveredMany(rows: { pid: string; instance: string; id: bigint }[]): void {
    this.#write("recording shown messages", () =>
      this.#db.transaction(() => {
        for (const r of rows) this.#q.setShown.run(this.#self, r.pid, r.instance, r.id.toString());
      })(),
    );
  }

  /** Closes state.db; resolves once the checkpoint thread has let go of it too, so another program (or the next start) finds it unlocked. */
  close(): Promise<void> {
    const thread = this.checkpointer?.close() ?? Promise.resolve();
    this.#db.close();
    return thread;
  }
}
