/**
 * One chat process per home. Two processes on one outbox and one identity would fight
 * over the same sessions and each acknowledge lines the other never shows.
 *
 * The lock is SQLite's own file lock on `$SOTTO_HOME/state.db-lock`, next to the state it guards (a POSIX advisory lock,
 * which the kernel drops when the process dies, however it dies):
 *   1. take the write lock (BEGIN IMMEDIATE, no waiting), write who we are, commit;
 *   2. take the write lock again and hold it, without writing, until close(): other
 *      processes can still read who holds it, but cannot take it.
 * A second process fails step 1 or 2 with SQLITE_BUSY and reads the holder's row.
 */
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { ChatError } from "../events.ts";
import { describeSqliteError } from "./store.ts";

export const LOCK_FILE = "state.db-lock";

/** Who holds a home. */
interface Holder {
  pid: number;
  started: string;
}

export class HomeLock {
  readonly #db: Database;
  #released = false;

  private constructor(db: Database) {
    this.#db = db;
  }

  /**
   * Take the home for this process.
   * @throws ChatError home_locked (naming the other process) / state (the file is unusable).
   */
  static acquire(home: string): HomeLock {
    const path = join(home, LOCK_FILE);
    let db: Database;
    try {
      db = new Database(path, { create: true, strict: true });
      db.exec("PRAGMA busy_timeout = 0");
    } catch (e) {
      throw new ChatError("state", describeSqliteError(path, "taking the home lock", e));
    }
    try {
      db.exec("BEGIN IMMEDIATE");
      db.exec("CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL, started TEXT NOT NULL)");
      db.exec("DELETE FROM holder");
      db.query("INSERT INTO holder (pid, started) VALUES (?, ?)").run(process.pid, new Date().toISOString());
      db.exec("COMMIT");
      db.exec("BEGIN IMMEDIATE");
      return new HomeLock(db);
    } catch (e) {
      const code = (e as { code?: string }).code ?? "";
      const holder = code.startsWith("SQLITE_BUSY") ? readHolder(db) : null;
      db.close();
      if (!code.startsWith("SQLITE_BUSY")) throw new ChatError("state", describeSqliteError(path, "taking the home lock", e));
      const who = holder !== null ? `sotto process ${holder.pid} (started ${holder.started.replace("T", " ").slice(0, 19)} UTC)` : "another sotto process";
      throw new ChatError("home_locked", `${who} is already using ${home}; quit it first, or give this one its own --home.`);
    }
  }

  /** Let the home go (the process's exit does the same). */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    try {
      this.#db.exec("ROLLBACK");
    } finally {
      this.#db.close();
    }
  }
}

function readHolder(db: Database): Holder | null {
  try {
    return db.query<Holder, []>("SELECT pid, started FROM holder LIMIT 1").get() ?? null;
  } catch (e) {
    // The holder is between steps 1 and 2 of a first start (no table yet): unnamed.
    if ((e as { code?: string }).code?.startsWith("SQLITE_")) return null;
    throw e;
  }
}
