/**
 * The chat's side of the checkpoint thread (checkpoint-worker.ts): with the store's
 * backgroundCheckpoint (store.ts), state.db's log is moved into the file by that thread,
 * asked at most every CHECKPOINT_EVERY_MS, not inside the chat thread's commits.
 */

/** With backgroundCheckpoint: the checkpoint thread is asked at most this often (ms). */
export const CHECKPOINT_EVERY_MS = 100;
/** Longest wait for the checkpoint thread to let go of state.db when the store closes (ms). */
const CLOSE_WAIT_MS = 2_000;

/** Ask a checkpoint-worker.ts thread to move the log into state.db now and then (see there). */
export class Checkpointer {
  readonly #w: Worker;
  #last = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  constructor(path: string) {
    this.#w = new Worker(new URL("./checkpoint-worker.ts", import.meta.url));
    this.#w.unref();
    this.#w.postMessage({ path });
  }
  /** Something was written: checkpoint now, or once CHECKPOINT_EVERY_MS has passed since the last one (the last write of a burst too). */
  wrote(): void {
    if (this.#timer !== null) return;
    const wait = this.#last + CHECKPOINT_EVERY_MS - performance.now();
    if (wait <= 0) return this.#ask();
    this.#timer = setTimeout(() => this.#ask(), wait);
    this.#timer.unref?.();
  }
  #ask(): void {
    this.#timer = null;
    this.#last = performance.now();
    this.#w.postMessage("checkpoint");
  }
  /** Ends the thread; resolves once it has closed its connection to state.db (at most CLOSE_WAIT_MS). */
  close(): Promise<void> {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const closed = new Promise<void>((resolve) => {
      const t = setTimeout(resolve, CLOSE_WAIT_MS);
      this.#w.addEventListener("close", () => (clearTimeout(t), resolve()), { once: true });
    });
    this.#w.postMessage("close");
    return closed;
  }
}
