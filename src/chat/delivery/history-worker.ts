/**
 * The thread that writes the conversation history (history.ts, history-writer.ts): a
 * tick's lines cost the chat's thread one postMessage, not their rows, runs, trims and
 * commit (about a sixth of a piped file's CPU on the sending side).
 *
 * Messages in, in order: an Open once, then Ops. After each op (done or failed) its
 * `seq` is stored in `done` (slot DONE of the shared Int32Array) and notified, so the
 * chat's thread can wait for it with Atomics.wait before it reads; /clear's count is
 * stored in slot CLEARED, the writer's counters in the slots after. Out: { wrote: true }
 * after a flush (the checkpoint thread is asked then), { error: { message, code } } when
 * an op failed (the chat says it once and goes on).
 */
import { Database } from "bun:sqlite";
import { HistoryWriter } from "./history-writer.ts";
import { WriteLock } from "./write-lock.ts";
import { acknowledger } from "./store.ts";
import { CLEARED, DONE, PREPARED, STATEMENTS, TRANSACTIONS, type HistoryOp, type HistoryOpen } from "./history-protocol.ts";

declare const self: Worker;

let db: Database | null = null;
let writer: HistoryWriter | null = null;
let slots: Int32Array | null = null;
let lock: WriteLock | null = null;
let acknowledge: ((pid: string, upTo: number) => void) | null = null;

self.onmessage = (ev: MessageEvent<HistoryOpen | HistoryOp>) => {
  const m = ev.data;
  if (m.op === "open") {
    slots = new Int32Array(m.shared);
    lock = new WriteLock(m.lock);
    try {
      db = new Database(m.path, { strict: true });
      // secure_delete: /clear and the trims overwrite the deleted lines instead of leaving them in free pages.
      db.exec(`PRAGMA busy_timeout = ${m.busyTimeoutMs}; PRAGMA synchronous = NORMAL; PRAGMA secure_delete = ON;`);
      if (m.walBoundPages !== null) db.exec(`PRAGMA wal_autocheckpoint = ${m.walBoundPages};`);
      writer = new HistoryWriter(db, m.max);
    } catch (e) {
      self.postMessage({ error: { message: (e as Error).message, code: (e as { code?: string }).code } });
    }
    return;
  }
  try {
    if (writer === null) throw Object.assign(new Error("the history's connection to state.db did not open"), { code: "SQLITE_CANTOPEN" });
    const w = writer;
    if (m.op === "flush") {
      lock!.hold(() => w.flush(m.rows));
      self.postMessage({ wrote: true });
    } else if (m.op === "trim") lock!.hold(() => w.trim(m.pid));
    else if (m.op === "clear") {
      try {
        Atomics.store(slots!, CLEARED, lock!.hold(() => w.clear(m.pid)));
      } catch (e) {
        // Deleted, but the log could not be emptied: the count stands, the failure is told.
        const n = (e as { cleared?: number }).cleared;
        if (n !== undefined) Atomics.store(slots!, CLEARED, n);
        throw e;
      }
    }
    else if (m.op === "ack") {
      // The store's deletes for a cumulative ACK (store.ts ackVia).
      const a = (acknowledge ??= acknowledger(db!));
      lock!.hold(() => a(m.pid, m.upTo));
      self.postMessage({ wrote: true });
    }
  } catch (e) {
    self.postMessage({ error: { message: (e as Error).message, code: (e as { code?: string }).code, doing: m.op === "ack" ? "forgetting an acknowledged message" : m.op === "clear" && (e as { cleared?: number }).cleared !== undefined ? "emptying state.db-wal of the cleared lines" : undefined } });
  } finally {
    if (m.op === "close") {
      try {
        if (writer !== null) writer.close();
        else db?.close();
      } catch (e) {
        self.postMessage({ error: { message: (e as Error).message, code: (e as { code?: string }).code } });
      }
      db = null;
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
