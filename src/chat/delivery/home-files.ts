/**
 * The home's SQLite files as the system sees them: state.db's name, each file made ready
 * (0600, a regular file) before SQLite opens it, and one sentence per failure a person can
 * act on, for state.db (store.ts), history.db (history.ts) and the lock (lock.ts).
 */
import { chmodSync, closeSync, constants, existsSync, fchmodSync, fstatSync, openSync } from "node:fs";
import { basename } from "node:path";
import { WRITE_LOCK_TIMEOUT, WRITE_LOCK_WAIT_MS } from "./write-lock.ts";

export const STATE_FILE = "state.db";

/**
 * Ready `path` for SQLite as a file of the home (state.db, history.db, the lock): created
 * 0600 when missing, refused unless it is a regular file (opened with O_NONBLOCK: a FIFO in
 * its place would otherwise hold the open until some reader came), narrowed to 0600 with
 * its -wal and -shm (SQLite gives them the database's mode; one made by an older sotto may
 * be 0644). `noFollow`: a symlink in its place is refused too (ELOOP).
 * @throws Error with the system's code, or EFTYPE (describeSqliteError says each).
 */
export function preparePrivateFile(path: string, noFollow = false): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NONBLOCK | (noFollow ? constants.O_NOFOLLOW : 0), 0o600);
  try {
    if (!fstatSync(fd).isFile()) throw Object.assign(new Error(`${path} is not a regular file`), { code: "EFTYPE" });
    fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
  for (const f of [`${path}-wal`, `${path}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
}

/** One sentence for a SQLite failure on `path` while `doing` something. */
export function describeSqliteError(path: string, doing: string, e: unknown): string {
  const code = (e as { code?: string }).code ?? "";
  // The system's codes (the file opened or narrowed to 0600 before SQLite sees it: preparePrivateFile) and SQLite's, a sentence for each kind.
  if (code === "ENOSPC" || code === "EDQUOT" || code.startsWith("SQLITE_FULL")) return `the disk holding ${path} is full, so ${doing} failed; free some space and try again`;
  if (code === "EACCES" || code === "EPERM" || code === "EROFS" || code.startsWith("SQLITE_READONLY") || code.startsWith("SQLITE_PERM") || code.startsWith("SQLITE_CANTOPEN")) return `${path} cannot be written (check its permissions), so ${doing} failed`;
  // ENXIO: a FIFO opened without waiting for a reader; EFTYPE: opened, but no regular file (lock.ts).
  if (code === "EISDIR" || code === "ENOTDIR" || code === "ELOOP" || code === "ENXIO" || code === "EFTYPE") return `${path} is not a file sotto can use (something else is in its place), so ${doing} failed; move it aside and try again`;
  if (code === "ENOENT") return `the folder of ${path} is gone (moved or deleted while sotto started), so ${doing} failed; check the home folder and try again`;
  if (code === "EMFILE" || code === "ENFILE") return `too many files are open to open ${path}, so ${doing} failed; close some programs (or raise the open-file limit) and try again`;
  if (code === WRITE_LOCK_TIMEOUT) return `the chat's own history writer kept ${path} busy for over ${WRITE_LOCK_WAIT_MS / 1000} s (the disk may be slow or stalled), so ${doing} failed; try again in a moment`;
  if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) return `${path} is locked by another program, so ${doing} failed; close that program and try again`;
  if (code.startsWith("SQLITE_CORRUPT") || code.startsWith("SQLITE_NOTADB")) {
    // state.db holds the outbox; history.db (history.ts) only what was said.
    if (basename(path) === STATE_FILE) return `${path} is damaged, so ${doing} failed; move it aside to start with an empty outbox`;
    return `${path} is damaged, so ${doing} failed; move it aside to start a new history (the messages waiting for delivery are not in it, they are kept), or start with --no-history`;
  }
  if (code.startsWith("SQLITE_IOERR")) return `the disk reported an error on ${path}, so ${doing} failed`;
  return `${doing} in ${path} failed (${(e as Error).message})`;
}
