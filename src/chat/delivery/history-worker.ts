/**
 * The thread that writes the conversation history (history.ts, history-writer.ts): a
 * tick's lines cost the chat's thread one postMessage, not their rows, runs, trims and
 * commit (about a sixth of a piped file's CPU on the sending side).
 *
 * Two connections: history.db's, whose writes wait for no one else (the file is the
 * history's alone; SQLite's own checkpoint of its log runs here, inside a flush, which
 * stalls no one but this thread), and state.db's for the store's ACK deletes, written
 * holding the store's write lock (write-lock.ts), and only when the store hands them here.
 *
 * Messages in, in order: an Open once, then Ops. After each op (done or failed) its
 * `seq` is stored in `done` (slot DONE of the shared Int32Array) and notified, so the
 * chat's thread can wait for it with Atomics.wait before it reads; /clear's count is
 * stored in slot CLEARED, the writer's counters in the slots after. Out: { wrote: true }
 * after an ACK's deletes (the store's checkpoint thread is asked then), { error: { message,
 * code } } when an op failed (the chat says it once and goes on).
 */
import { Database } from "bun:sqlite";
import { HistoryWriter } from "./history-writer.ts";
import { WriteLock } from "./write-lock.ts";
import { STATE_FILE } from "./home-files.ts";
import { acknowledgedOverwriter, acknowledger } from "./store.ts";
import { CLEARED, DONE, PREPARED, STATEMENTS, TRANSACTIONS, type HistoryOp, type HistoryOpen } from "./history-protocol.ts";

declare const self: Worker;

let db: Database | null = null;
/** state.db's connection, for the ACK deletes (null when the store runs them itself). */
let state: Database | null = null;
let writer: HistoryWriter | null = null;
let slots: Int32Array | null = null;
let lock: WriteLock | null = null;
let acknowledge: ((pid: string, upTo: number) => void) | null = null;
let overwriteAcknowledged: ((pid: string) => void) | null = null;

self.onmessage = (ev: MessageEvent<HistoryOpen | HistoryOp>) => {
  const m = ev.data;
  if (m.op === "open") {
    slots = new Int32Array(m.shared);
    lock = new WriteLock(m.lock);
    try {
      db = new Database(m.path, { strict: true });
      // secure_delete: /clear and the trims overwrite the deleted lines instead of leaving them in free pages.
      db.exec(`PRAGMA busy_timeout = ${m.busyTimeoutMs}; PRAGMA synchronous = NORMAL; PRAGMA secure_delete = ON;`);
      if (m.statePath !== null) {
        state = new Database(m.statePath, { strict: true });
        // As the store's connection: an acknowledged line's text is overwritten (store.ts).
        state.exec(`PRAGMA busy_timeout = ${m.busyTimeoutMs}; PRAGMA synchronous = NORMAL; PRAGMA secure_delete = ON;`);
        if (m.walBoundPages !== null) state.exec(`PRAGMA wal_autocheckpoint = ${m.walBoundPages};`);
      }
      writer = new HistoryWriter(db, m.max, m.path.slice(m.path.lastIndexOf("/") + 1));
    } catch (e) {
      self.postMessage({ error: { message: (e as Error).message, code: (e as { code?: string }).code } });
    }
    return;
  }
  try {
    if (writer === null) throw Object.assign(new Error("the history's connection to history.db did not open"), { code: "SQLITE_CANTOPEN" });
    const w = writer;
    if (m.op === "flush") w.flush(m.rows);
    else if (m.op === "trim") w.trim(m.pid);
    else if (m.op === "clear") {
      try {
        Atomics.store(slots!, CLEARED, w.clear(m.pid));
      } catch (e) {
        // Deleted, but the log could not be emptied: the count stands, the failure is told.
        const n = (e as { cleared?: number }).cleared;
        if (n !== undefined) Atomics.store(slots!, CLEARED, n);
        throw e;
      }
      // The acknowledged lines we sent the contact left no text in state.db (secure_delete),
      // but those of a run acknowledged in part are still in its row, and the frames of all of
      // them in state.db-wal stay until it is cut: rewrite those rows, then cut it.
      const s = state;
      if (s !== null) {
        const overwrite = (overwriteAcknowledged ??= acknowledgedOverwriter(s));
        const r = lock!.hold(() => {
          try {
            overwrite(m.pid);
          } catch (e) {
            throw Object.assign(e as Error, { wal: `${STATE_FILE}-wal` });
          }
          return s.query<{ busy: number }, []>("PRAGMA wal_checkpoint(TRUNCATE)").get();
        });
        if (r !== null && r.busy !== 0) throw Object.assign(new Error("another connection kept state.db-wal from being emptied"), { code: "SQLITE_BUSY", wal: "state.db-wal" });
      }
    } else if (m.op === "ack") {
      // The store's deletes for a cumulative ACK (store.ts ackVia).
      if (state === null) throw Object.assign(new Error("the history's thread was handed an ACK with no connection to state.db"), { code: "SQLITE_MISUSE" });
      const a = (acknowledge ??= acknowledger(state));
      lock!.hold(() => a(m.pid, m.upTo));
      self.postMessage({ wrote: true });
    }
  } catch (e) {
    // An ACK's deletes and the cut of state.db-wal are state.db's, not history.db's: `file` names it for the sentence.
    const wal = m.op === "clear" ? (e as { wal?: string }).wal : undefined;
    const doing = m.op === "ack" ? "forgetting an acknowledged message" : wal !== undefined ? `emptying ${wal} of the cleared lines` : undefined;
    self.postMessage({ error: { message: (e as Error).message, code: (e as { code?: string }).code, doing, file: m.op === "ack" || wal === `${STATE_FILE}-wal` ? STATE_FILE : undefined } });
  } finally {
    if (m.op === "close") {
      try {
        if (writer !== null) writer.close();
        else db?.close();
        state?.close(true);
      } catch (e) {
        self.postMessage({ error: { message: (e as Error).message, code: (e as { code?: string }).code } });
      }
      db = null;
      state = null;
      writer = null;
    }
    if (writer !== null) {
      Atomics.store(slots!, STATEMENTS, writer.writes.statements);
      Atomics.store(slots!, TRANSACTIONS, writer.writes.transactions);
      Atomics.store(slots!, PREPARED, writer.writes.prepared);
    }
    Atomics.store(slots!, DONE, m.seq);
    Atomics.notify(slots!, DONE);
    if (m.op === "close") process.exit(0);
  }
};
