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
 *
 * Where the holder listens is kept beside it in `$SOTTO_HOME/listening` (0600, one JSON
 * object {pid, host, port}, written after it listens, removed on release), so that
 * `sotto invite` finds the port of a sotto started with --port 0. The file is trusted only
 * while the process it names still holds the lock: a file left by a process that died is
 * ignored.
 */
import { Database } from "bun:sqlite";
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ChatError } from "../events.ts";
import { describeSqliteError, preparePrivateFile } from "./home-files.ts";

export const LOCK_FILE = "state.db-lock";
export const LISTENING_FILE = "listening";
/** Longest `listening` file read (it is a few dozen bytes). */
const MAX_LISTENING_BYTES = 1024;

/** Where the sotto holding a home listens. */
export interface Listening {
  pid: number;
  host: string;
  port: number;
}

/** Who holds a home. */
interface Holder {
  pid: number;
  started: string;
}

export class HomeLock {
  readonly #db: Database;
  readonly #home: string;
  #released = false;
  #listening = false;

  private constructor(db: Database, home: string) {
    this.#db = db;
    this.#home = home;
  }

  /**
   * Take the home for this process.
   * @throws ChatError home_locked (naming the other process) / state (the file is unusable).
   */
  static acquire(home: string): HomeLock {
    const path = join(home, LOCK_FILE);
    let db: Database;
    try {
      // 0600 like every file in the home; a symlink in its place is refused.
      preparePrivateFile(path, true);
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
      return new HomeLock(db, home);
    } catch (e) {
      const code = (e as { code?: string }).code ?? "";
      const holder = code.startsWith("SQLITE_BUSY") ? readHolder(db) : null;
      db.close();
      if (!code.startsWith("SQLITE_BUSY")) throw new ChatError("state", describeSqliteError(path, "taking the home lock", e));
      const who = holder !== null ? `sotto process ${holder.pid} (started ${holder.started.replace("T", " ").slice(0, 19)} UTC)` : "another sotto process";
      throw new ChatError("home_locked", `${who} is already using ${home}; quit it first, or give this one its own --home.`);
    }
  }

  /**
   * Record where this process listens (HOME/listening, 0600, replaced atomically). A
   * failure is told to `failed` as a sentence; the chat keeps running. @throws never
   */
  recordListening({ host, port }: { host: string; port: number }, failed: (message: string) => void): void {
    if (this.#released) return;
    const path = join(this.#home, LISTENING_FILE);
    const tmp = `${path}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, `${JSON.stringify({ pid: process.pid, host, port } satisfies Listening)}\n`, { mode: 0o600 });
      renameSync(tmp, path);
      this.#listening = true;
    } catch (e) {
      rmSync(tmp, { force: true });
      failed(`could not note in ${this.#home} the port we listen on (${(e as Error).message}); sotto invite will need --port ${port}.`);
    }
  }

  /**
   * Where the sotto holding `home` listens, or null when none runs there (no file, a file
   * unreadable or malformed, or one whose process no longer holds the lock). @throws never
   */
  static listeningIn(home: string): Listening | null {
    let rec: Listening;
    try {
      const text = readFileSync(join(home, LISTENING_FILE), "utf8");
      if (text.length > MAX_LISTENING_BYTES) return null;
      rec = JSON.parse(text) as Listening;
    } catch {
      return null;
    }
    if (typeof rec !== "object" || rec === null || !Number.isSafeInteger(rec.pid) || rec.pid <= 0 || typeof rec.host !== "string" || !Number.isInteger(rec.port) || rec.port < 1 || rec.port > 65535) return null;
    if (!alive(rec.pid)) return null;
    return heldBy(join(home, LOCK_FILE)) === rec.pid ? rec : null;
  }

  /** Let the home go (the process's exit does the same). */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    if (this.#listening) rmSync(join(this.#home, LISTENING_FILE), { force: true });
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

/** Whether process `pid` exists (EPERM: it does, under another user). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === "EPERM";
  }
}

/**
 * The pid holding the lock file now, or null when no process holds it. Probes with
 * BEGIN IMMEDIATE (no waiting): busy means held, and the holder's row names who holds it.
 */
function heldBy(path: string): number | null {
  let db: Database;
  try {
    db = new Database(path, { readwrite: true, create: false, strict: true });
    db.exec("PRAGMA busy_timeout = 0");
  } catch {
    return null;
  }
  try {
    db.exec("BEGIN IMMEDIATE");
    db.exec("ROLLBACK");
    return null;
  } catch (e) {
    if (!((e as { code?: string }).code ?? "").startsWith("SQLITE_BUSY")) return null;
    return readHolder(db)?.pid ?? null;
  } finally {
    db.close();
  }
}
