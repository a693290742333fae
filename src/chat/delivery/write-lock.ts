/**
 * One writer at a time among the chat's own connections to state.db, across threads:
 * the store (store.ts) on the chat's thread and the history's writer thread
 * (history-worker.ts), which runs the store's ACK deletes (the history itself is in a
 * file of its own, history.db, and waits for no one). SQLite lets one connection write
 * at a time and makes the others wait at most their busy timeout (BUSY_TIMEOUT_MS,
 * 20 ms, so that a lock held by another program costs a refusal, not a stall); a
 * transaction of ours can hold the write lock longer than that, so without this the
 * outbox's commit behind it would refuse lines. With it, each of our writes waits here
 * for the other thread's transaction to end, and meets SQLite's busy timeout only for
 * other programs.
 *
 * An Int32Array over a SharedArrayBuffer: 0 free, 1 held; Atomics.wait while held.
 */

/** Longest wait for our other thread's transaction (ms): one takes milliseconds; past this it is treated as a lock state.db cannot get. */
export const WRITE_LOCK_WAIT_MS = 2_000;

/** The code of the Error thrown past that wait: our own thread held it, not another program (store.ts names it so). */
export const WRITE_LOCK_TIMEOUT = "SOTTO_WRITE_LOCK_TIMEOUT";

export class WriteLock {
  readonly shared: SharedArrayBuffer;
  readonly #a: Int32Array;

  /** A new lock, or the one another thread made (its `shared`). */
  constructor(shared: SharedArrayBuffer = new SharedArrayBuffer(4)) {
    this.shared = shared;
    this.#a = new Int32Array(shared);
  }

  /** Run `f` holding the lock (not reentrant). @throws an Error with code WRITE_LOCK_TIMEOUT when the other thread held it WRITE_LOCK_WAIT_MS; whatever `f` throws */
  hold<T>(f: () => T): T {
    const until = performance.now() + WRITE_LOCK_WAIT_MS;
    while (Atomics.compareExchange(this.#a, 0, 0, 1) !== 0) {
      const left = until - performance.now();
      if (left <= 0) throw Object.assign(new Error(`the chat's other thread kept state.db's write lock for ${WRITE_LOCK_WAIT_MS} ms`), { code: WRITE_LOCK_TIMEOUT });
      Atomics.wait(this.#a, 0, 1, left);
    }
    try {
      return f();
    } finally {
      Atomics.store(this.#a, 0, 0);
      Atomics.notify(this.#a, 0, 1);
    }
  }
}
