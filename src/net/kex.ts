/**
 * Key-exchange arithmetic for the handshake, at the edge.
 * X25519 runs inline (≈ 45 µs). ffdhe2048/3072 run in a worker thread (ffdhe-worker.ts):
 * the per-group context is built there once, and each exchange costs ≈ 0.3 ms per
 * exponentiation plus a message round trip, without blocking the event loop.
 */
import { x25519 } from "../crypto/x25519.ts";
import { x25519Pool, type X25519Pair } from "./x25519-pool.ts";
import { GROUP_NAMES, Group } from "../protocol/constants.ts";
import type { FfdheName } from "../crypto/ffdhe.ts";
import type { KeyObject } from "node:crypto";
import { Initiator, type Responder } from "../protocol/handshake.ts";
import type { KexRequest, KexResult } from "../protocol/machine.ts";
import { fail } from "../protocol/errors.ts";

/** An initiator's half of an exchange: its share now, Z once the reply arrives. */
export interface PendingKex {
  share: Uint8Array;
  finish(peerShare: Uint8Array): Promise<Uint8Array> | Uint8Array;
  /** Forget the private key without finishing. */
  drop(): void;
}

type Reply = { id: number; share?: Uint8Array; z?: Uint8Array; subgroupOk?: boolean; error?: string };

/** How a caller queues work: the process-wide bound, and whether it may go first. */
export interface KexAdmission {
  /** Exchanges waiting for (or inside) the worker beyond which a new one is refused. */
  maxQueue: number;
  /** Known peers (an address that authenticated before) go to the front, and past a full queue. */
  priority?: boolean;
}

/** A queued exchange; `cancel` drops it if the worker has not started it (its callbacks never run). */
export interface KexJob {
  cancel(): void;
}

type Job = { id: number; op: string; group: FfdheName; peer?: Uint8Array; resolve: (r: Reply) => void; reject: (e: Error) => void; cancelled: boolean; priority: boolean };

/**
 * Exchanges posted to the worker at once. Few, so that the rest wait here, where a closed
 * connection can still take its job back (a message posted to a worker cannot be).
 */
const IN_WORKER = 2;

class FfdheWorker {
  #worker: Worker | null = null;
  #nextId = 1;
  #waiting = new Map<number, Job>();
  // Jobs not yet posted, in order; priority jobs are put at the front.
  #queue: Job[] = [];
  #inWorker = 0;
  // Jobs queued here or inside the worker, by class: strangers' [0] and priority [1]. Each
  // class has its own bound (maxQueue, twice it), so the known addresses' exchanges (which skip the per-prefix
  // rate) cannot hold the queue against every stranger's, nor strangers' against theirs.
  #byClass = [0, 0];

  #get(): Worker {
    if (this.#worker === null) {
      const w = new Worker(new URL("./ffdhe-worker.ts", import.meta.url));
      w.onmessage = (ev: MessageEvent) => {
        const r = ev.data as Reply;
        const p = this.#waiting.get(r.id);
        if (!p) return;
        this.#waiting.delete(r.id);
        this.#inWorker--;
        this.#byClass[p.priority ? 1 : 0]!--;
        this.#pump();
        if (p.cancelled) return;
        if (r.error !== undefined) p.reject(new Error(r.error));
        else p.resolve(r);
      };
      w.unref();
      this.#worker = w;
    }
    return this.#worker;
  }

  /** The largest depth since the last read of it (tests, bench). */
  peak = 0;

  /** Exchanges queued here or inside the worker. */
  get depth(): number {
    return this.#queue.length + this.#inWorker;
  }

  #pump(): void {
    while (this.#inWorker < IN_WORKER && this.#queue.length > 0) {
      const j = this.#queue.shift()!;
      this.#inWorker++;
      this.#waiting.set(j.id, j);
      this.#get().postMessage({ id: j.id, op: j.op, group: j.group, peer: j.peer });
    }
  }

  /**
   * Queue one operation. @throws ProtocolError busy (synchronously) when `adm` says the
   * queue of its class is full: strangers' jobs have maxQueue, priority jobs twice it, each
   * counted apart (three times the bound in all), so one known address gone bad, whose exchanges skip the
   * per-prefix rate, cannot get every stranger's FFDHE HELLO answered busy.
   */
  enqueue(op: string, group: FfdheName, peer: Uint8Array | undefined, id: number, adm: KexAdmission | null, resolve: (r: Reply) => void, reject: (e: Error) => void): KexJob {
    const cls = adm?.priority ? 1 : 0;
    if (adm !== null && this.#byClass[cls]! >= adm.maxQueue * (cls + 1)) throw fail("busy", `${adm.maxQueue} key exchanges are queued (maxKexQueue)`);
    const j: Job = { id, op, group, peer, resolve, reject, cancelled: false, priority: adm?.priority ?? false };
    this.#byClass[cls]!++;
    if (j.priority) {
      // Behind the other priority jobs, ahead of every stranger's.
      const at = this.#queue.findIndex((q) => !q.priority);
      this.#queue.splice(at < 0 ? this.#queue.length : at, 0, j);
    } else this.#queue.push(j);
    this.#pump();
    if (this.depth > this.peak) this.peak = this.depth;
    return {
      cancel: () => {
        if (j.cancelled) return;
        j.cancelled = true;
        const i = this.#queue.indexOf(j);
        if (i < 0) return; // inside the worker: counted until its reply
        this.#queue.splice(i, 1);
        this.#byClass[cls]!--;
      },
    };
  }

  call(op: string, group: FfdheName, peer?: Uint8Array, id = this.#nextId++, adm: KexAdmission | null = null): Promise<Reply> {
    return new Promise((resolve, reject) => {
      try {
        this.enqueue(op, group, peer, id, adm, resolve, reject);
      } catch (e) {
        reject(e as Error);
      }
    });
  }

  post(op: string, id: number): void {
    this.#worker?.postMessage({ id, op });
  }

  newId(): number {
    return this.#nextId++;
  }

  terminate(): void {
    this.#worker?.terminate();
    this.#worker = null;
    const all = [...this.#waiting.values(), ...this.#queue];
    this.#waiting.clear();
    this.#queue = [];
    this.#inWorker = 0;
    this.#byClass = [0, 0];
    for (const p of all) if (!p.cancelled) p.reject(new Error("key exchange worker stopped"));
  }
}

const worker = new FfdheWorker();

/** Build the worker's context for a finite-field group ahead of time (optional). */
export function warmFfdhe(group: Group): Promise<unknown> {
  return group === Group.X25519 ? Promise.resolve() : worker.call("warm", GROUP_NAMES[group] as FfdheName);
}

/** FFDHE exchanges queued for the worker or inside it, process-wide (tests, bench). */
export function kexQueueDepth(): number {
  return worker.depth;
}

/** The most FFDHE exchanges queued at once since the last call (tests, bench); resets to the depth now. */
export function kexQueuePeak(): number {
  const p = worker.peak;
  worker.peak = worker.depth;
  return p;
}

/** Stop the worker thread (tests, shutdown). */
export function stopKexWorker(): void {
  worker.terminate();
}

/** A fresh X25519 key pair, used for one exchange (x25519-pool.ts: made ahead, never handed out twice). */
export function x25519KeyPair(): X25519Pair {
  return x25519Pool.take();
}

/**
 * An X25519 initiator's half: a pair from the pool, its private key forgotten once Z is
 * computed or the exchange dropped. One object (no closures): a handshake makes one.
 */
class X25519Pending implements PendingKex {
  readonly share: Uint8Array;
  #key: KeyObject | null;
  constructor(pair: X25519Pair) {
    this.share = pair.publicKey;
    this.#key = pair.privateKey;
  }
  finish(peer: Uint8Array): Uint8Array {
    const key = this.#key;
    if (key === null) throw new Error("internal: this key exchange was already finished or dropped");
    this.#key = null;
    return x25519(key, peer);
  }
  drop(): void {
    this.#key = null;
  }
}

/** Start an X25519 exchange as initiator, synchronously. */
export function x25519InitiatorKex(): PendingKex {
  return new X25519Pending(x25519KeyPair());
}

/**
 * Compute an X25519 exchange inline and complete it, for either role: the frames to send
 * (the responder's HELLO_REPLY and AUTH; nothing for an initiator), or null when the
 * request is not X25519 (runKex does those). No callback or job: a burst of handshakes
 * makes none per connection. @throws what the machine throws (bad_share, reflection).
 */
export function kexInline(hs: Initiator | Responder, pending: PendingKex | null, req: KexRequest): Uint8Array[] | null {
  if (req.group !== Group.X25519) return null;
  if (hs instanceof Initiator) {
    if (!(pending instanceof X25519Pending)) throw new Error("internal: an X25519 reply without our X25519 share");
    return hs.finishKex({ z: pending.finish(req.peerShare) });
  }
  const { privateKey, publicKey } = x25519KeyPair();
  return hs.finishKex({ share: publicKey, z: x25519(privateKey, req.peerShare) });
}

/** Start an exchange as initiator. */
export async function initiatorKex(group: Group, adm: KexAdmission | null = null): Promise<PendingKex> {
  if (group === Group.X25519) return x25519InitiatorKex();
  const name = GROUP_NAMES[group] as FfdheName;
  const id = worker.newId();
  const r = await worker.call("share", name, undefined, id, adm);
  let done = false;
  return {
    share: r.share!,
    finish: async (peer) => {
      done = true;
      return (await worker.call("finish", name, peer, id)).z!;
    },
    drop: () => {
      if (!done) worker.post("drop", id);
      done = true;
    },
  };
}

/**
 * Compute the exchange a handshake machine asked for (inline for X25519, in the worker for
 * ffdhe*) and complete it: `done` gets the frames to send (the responder's HELLO_REPLY and
 * AUTH; nothing for an initiator), `failed` any error, the machine's or the worker's.
 * A responder's FFDHE job is admitted by `adm` (ProtocolError busy to `failed` when the
 * queue is full) and returned, so that a closing connection can cancel it.
 */
export function runKex(hs: Initiator | Responder, pending: PendingKex | null, req: KexRequest, done: (send: Uint8Array[]) => void, failed: (e: Error) => void, adm: KexAdmission | null = null): KexJob | null {
  const go = (r: KexResult) => {
    let send: Uint8Array[];
    try {
      send = hs.finishKex(r);
    } catch (e) {
      return failed(e as Error);
    }
    done(send);
  };
  try {
    if (hs instanceof Initiator) {
      const z = pending!.finish(req.peerShare);
      if (z instanceof Promise) z.then((z) => go({ z }), failed);
      else go({ z });
      return null;
    }
    if (req.group === Group.X25519) {
      const { privateKey, publicKey } = x25519KeyPair();
      go({ share: publicKey, z: x25519(privateKey, req.peerShare) });
      return null;
    }
    // The share's subgroup check (a Jacobi symbol, ≈ 0.6 ms for ffdhe3072) is the worker's,
    // made before its exponentiation: a HELLO costs the event loop only the cheap checks.
    const op = req.checkSubgroup ? "respond-check" : "respond";
    return worker.enqueue(op, GROUP_NAMES[req.group] as FfdheName, req.peerShare, worker.newId(), adm, (r) => go({ share: r.share!, z: r.z!, subgroupOk: r.subgroupOk }), failed);
  } catch (e) {
    failed(e as Error);
    return null;
  }
}
