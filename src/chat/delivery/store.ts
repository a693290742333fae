/**
 * The chat's durable state, in `$SOTTO_HOME/state.db` (bun:sqlite, WAL):
 *   meta       our instance id (stable across restarts, so a re-sent message keeps its
 *              (instance, id) and the receiver can recognise it);
 *   outbox     every TEXT not yet acknowledged, per peer identity, with its id;
 *   next_id    the next TEXT id per peer;
 *   delivered  the highest TEXT id shown to the user, per (peer identity, peer instance).
 * A sender killed with SIGKILL and restarted still has its outbox; a receiver restarted
 * still knows what it has shown, so nothing is shown twice.
 * Order on receipt: show, record, then ACK (a crash between the first two can show one
 * message twice; the other order could lose one).
 */
import { Database } from "bun:sqlite";
import { randomBytes } from "node:crypto";
import { chmodSync, closeSync, existsSync, openSync } from "node:fs";
import { join } from "node:path";

export const STATE_FILE = "state.db";

export class ChatStore {
  readonly path: string;
  readonly #db: Database;
  readonly #q;

  /** Open (or create) the store in `home`. @throws Error with the path when the file is unusable. */
  constructor(home: string) {
    this.path = join(home, STATE_FILE);
    try {
      // Mode 0600 before SQLite opens it: its -wal and -shm files copy the database's mode.
      closeSync(openSync(this.path, "a", 0o600));
      for (const f of [this.path, `${this.path}-wal`, `${this.path}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
      this.#db = new Database(this.path, { create: true, strict: true });
      this.#db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 2000;");
      this.#db.exec(`
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS outbox (pid TEXT NOT NULL, id INTEGER NOT NULL, text TEXT NOT NULL, PRIMARY KEY (pid, id));
        CREATE TABLE IF NOT EXISTS next_id (pid TEXT PRIMARY KEY, next INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS delivered (pid TEXT NOT NULL, instance TEXT NOT NULL, last TEXT NOT NULL, PRIMARY KEY (pid, instance));
      `);
    } catch (e) {
      throw new Error(`${this.path}: cannot open the chat state (${(e as Error).message})`);
    }
    const db = this.#db;
    this.#q = {
      meta: db.query<{ value: string }, [string]>("SELECT value FROM meta WHERE key = ?"),
      setMeta: db.query("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"),
      pending: db.query<{ pid: string; id: number; text: string }, []>("SELECT pid, id, text FROM outbox ORDER BY pid, id"),
      add: db.query("INSERT INTO outbox (pid, id, text) VALUES (?, ?, ?)"),
      ack: db.query("DELETE FROM outbox WHERE pid = ? AND id <= ?"),
      next: db.query<{ next: number }, [string]>("SELECT next FROM next_id WHERE pid = ?"),
      setNext: db.query("INSERT OR REPLACE INTO next_id (pid, next) VALUES (?, ?)"),
      delivered: db.query<{ last: string }, [string, string]>("SELECT last FROM delivered WHERE pid = ? AND instance = ?"),
      setDelivered: db.query("INSERT OR REPLACE INTO delivered (pid, instance, last) VALUES (?, ?, ?)"),
    };
  }

  /** Our instance id: 8 random bytes made once per home. */
  instance(): Uint8Array {
    const row = this.#q.meta.get("instance");
    if (row) return new Uint8Array(Buffer.from(row.value, "hex"));
    const id = randomBytes(8);
    this.#q.setMeta.run("instance", id.toString("hex"));
    return new Uint8Array(id);
  }

  /** Every unacknowledged message, grouped by peer, in id order. */
  pending(): Map<string, { id: bigint; text: string }[]> {
    const out = new Map<string, { id: bigint; text: string }[]>();
    for (const r of this.#q.pending.all()) {
      const list = out.get(r.pid) ?? [];
      list.push({ id: BigInt(r.id), text: r.text });
      out.set(r.pid, list);
    }
    return out;
  }

  /** The next id for a peer (1 for a new one). */
  nextId(pid: string): bigint {
    return BigInt(this.#q.next.get(pid)?.next ?? 1);
  }

  /** Record a queued message and advance the peer's next id, atomically. */
  queue(pid: string, id: bigint, text: string): void {
    this.#db.transaction(() => {
      this.#q.add.run(pid, Number(id), text);
      this.#q.setNext.run(pid, Number(id) + 1);
    })();
  }

  /** Forget every message up to `id` (a cumulative ACK). */
  ack(pid: string, id: bigint): void {
    this.#q.ack.run(pid, id > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(id));
  }

  /** The highest id shown from this peer instance (0 when none). */
  delivered(pid: string, instance: string): bigint {
    return BigInt(this.#q.delivered.get(pid, instance)?.last ?? 0);
  }

  /** Record that `id` was shown. */
  setDelivered(pid: string, instance: string, id: bigint): void {
    // Stored as decimal text: the id is a peer-chosen u64.
    this.#q.setDelivered.run(pid, instance, id.toString());
  }

  close(): void {
    this.#db.close();
  }
}
