/**
 * Parallel sealing for bulk senders (file transfer, streaming). A record is one CBC chain
 * under its own IV with its own seq in the MAC (PROTOCOL §5), so records are independent:
 *   1. the sender leases a run of sequence numbers from its RecordWriter (never the record
 *      that must carry KEY_UPDATE: that one is sealed on the sending thread);
 *   2. the run is cut into contiguous slices, one per worker thread (seal-worker.ts), each
 *      worker holding a RecordSealer for the writer's current keys;
 *   3. the slices come back as whole RECORD frames and are returned in sequence order: the
 *      caller writes them to the socket as they are, before anything it seals afterwards.
 * Workers only pay where there are idle cores: `sealWorkersFor()` decides from the core
 * count (bench/seal-scaling.ts shows the scaling); with 0 the sender seals inline as before.
 */
import type { RecordWriter } from "../protocol/record.ts";
import type { FromSealWorker, ToSealWorker } from "./seal-worker.ts";

/** Plaintext below this many bytes per slice is not worth a thread hop (≈ one full record). */
export const MIN_SLICE_BYTES = 64 * 1024;

/**
 * How many seal workers help on this machine: one per core beyond the two that the
 * event loop and the socket/kernel side already keep busy, at most 4; 0 means seal inline.
 */
export function sealWorkersFor(cores: number = navigator.hardwareConcurrency ?? 1): number {
  return Math.max(0, Math.min(4, cores - 2));
}

/** What `seal` did: the frames (in order) and how many of the plaintexts they hold. */
export interface SealedRun {
  frames: Uint8Array[];
  /** Plaintexts sealed; the rest (from `sealed` on) must be sealed inline, the first with KEY_UPDATE. */
  sealed: number;
}

/** A pool of seal worker threads shared by the writers of one process. */
export class SealWorkers {
  readonly #workers: Worker[] = [];
  /** Per worker: the key epoch it holds for each writer. */
  readonly #known: Map<number, number>[] = [];
  readonly #ids = new WeakMap<RecordWriter, number>();
  readonly #pending = new Map<number, { resolve: (b: Uint8Array) => void; reject: (e: Error) => void }>();
  #nextWriter = 1;
  #nextJob = 1;

  /** @throws RangeError unless 1 <= n <= 16. */
  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1 || size > 16) throw new RangeError(`"workers" expected 1..16, got ${size}`);
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL("./seal-worker.ts", import.meta.url));
      w.onmessage = (ev: MessageEvent<FromSealWorker>) => this.#settle(ev.data);
      w.onerror = (ev) => this.#failAll(new Error(`seal worker failed: ${ev.message}`));
      this.#workers.push(w);
      this.#known.push(new Map());
    }
  }

  #settle(m: FromSealWorker): void {
    const p = this.#pending.get(m.id);
    if (p === undefined) return;
    this.#pending.delete(m.id);
    if ("error" in m) p.reject(new Error(`seal worker refused a job: ${m.error}`));
    else p.resolve(m.frames);
  }

  #failAll(e: Error): void {
    for (const p of this.#pending.values()) p.reject(e);
    this.#pending.clear();
  }

  /**
   * Seal `pts` (each 1..65,280 bytes; their buffers are transferred to the workers and
   * must not be used afterwards) as the next records of `writer`, in order.
   * @throws Error after close(), or when a worker fails (the writer's leased sequence numbers are then
   * spent: the session must be closed, as after any local sealing failure).
   */
  async seal(writer: RecordWriter, pts: Uint8Array[]): Promise<SealedRun> {
    if (this.#workers.length === 0) throw new Error("seal workers closed");
    if (pts.length === 0) return { frames: [], sealed: 0 };
    const lease = writer.lease(pts.length);
    if (lease.count === 0) return { frames: [], sealed: 0 };
    let wid = this.#ids.get(writer);
    if (wid === undefined) this.#ids.set(writer, (wid = this.#nextWriter++));
    // Step 2: contiguous slices of about equal bytes, at least MIN_SLICE_BYTES each.
    let bytes = 0;
    for (let i = 0; i < lease.count; i++) bytes += pts[i]!.length;
    const slices = Math.max(1, Math.min(this.size, lease.count, Math.floor(bytes / MIN_SLICE_BYTES)));
    const per = Math.ceil(lease.count / slices);
    const jobs: Promise<Uint8Array>[] = [];
    for (let s = 0, first = 0; first < lease.count; s++, first += per) {
      const w = this.#workers[s % this.size]!;
      const known = this.#known[s % this.size]!;
      if (known.get(wid) !== lease.epoch) {
        w.postMessage({ t: "key", writer: wid, epoch: lease.epoch, keyBlock: new Uint8Array(lease.keyBlock) } satisfies ToSealWorker);
        known.set(wid, lease.epoch);
      }
      const part = pts.slice(first, Math.min(lease.count, first + per));
      const id = this.#nextJob++;
      jobs.push(new Promise<Uint8Array>((resolve, reject) => this.#pending.set(id, { resolve, reject })));
      const transfer = part.filter((p) => p.byteOffset === 0 && p.byteLength === p.buffer.byteLength).map((p) => p.buffer as ArrayBuffer);
      w.postMessage({ t: "seal", id, writer: wid, epoch: lease.epoch, seq: lease.seq + first, pts: part } satisfies ToSealWorker, [...new Set(transfer)]);
    }
    lease.keyBlock.fill(0);
    const frames = await Promise.all(jobs);
    return { frames, sealed: lease.count };
  }

  /** Tell the workers to drop a writer's keys (session closed). */
  forget(writer: RecordWriter): void {
    const wid = this.#ids.get(writer);
    if (wid === undefined) return;
    this.#ids.delete(writer);
    this.#workers.forEach((w, i) => {
      w.postMessage({ t: "forget", writer: wid } satisfies ToSealWorker);
      this.#known[i]!.delete(wid);
    });
  }

  /** Stop the threads; pending jobs fail. */
  close(): void {
    this.#failAll(new Error("seal workers closed"));
    for (const w of this.#workers) w.terminate();
    this.#workers.length = 0;
  }
}

