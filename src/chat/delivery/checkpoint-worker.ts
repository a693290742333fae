/**
 * The thread that copies state.db's write-ahead log into the database file (store.ts,
 * backgroundCheckpoint). SQLite otherwise does it inside whichever commit finds the log
 * past its bound (1000 pages of 4 KiB, kept at that size in a home of larger pages: store.ts
 * WAL_DEFAULT_BYTES), with an fsync: a 20–35 ms stall of the chat's own thread every 4 MB
 * written, long enough to drain a fast link's queue. Here a PASSIVE checkpoint runs each
 * time the store asks (at most every CHECKPOINT_EVERY_MS); it never waits for the chat's
 * connections, and the chat's connections keep a high bound of their own for when this
 * thread falls behind.
 *
 * Messages in: { path } once (open), "checkpoint", "close". Nothing comes back: a failed
 * checkpoint is left to the next one, or to the chat connections' own bound.
 */
import { Database } from "bun:sqlite";

declare const self: Worker;

let db: Database | null = null;

self.onmessage = (ev: MessageEvent<{ path: string } | "checkpoint" | "close">) => {
  const m = ev.data;
  try {
    if (typeof m === "object") {
      db = new Database(m.path, { strict: true });
      db.exec("PRAGMA busy_timeout = 0; PRAGMA wal_autocheckpoint = 0;");
    } else if (m === "checkpoint") db?.exec("PRAGMA wal_checkpoint(PASSIVE)");
    else {
      db?.close();
      db = null;
      process.exit(0);
    }
  } catch {
    // SQLITE_BUSY or a vanished file: the next checkpoint, or the chat's own bound, covers it.
  }
};
