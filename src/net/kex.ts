/**
 * Key-exchange arithmetic for the handshake, at the edge.
 * X25519 runs inline (≈ 45 µs). ffdhe2048/3072 run in a worker thread (ffdhe-worker.ts):
 * the per-group context is built there once, and each exchange costs ≈ 0.3 ms per
 * exponentiation plus a message round trip, without blocking the event loop.
 */
import { x25519, x25519Generate } from "../crypto/x25519.ts";
import { GROUP_NAMES, Group } from "../protocol/constants.ts";
import type { FfdheName } from "../crypto/ffdhe.ts";
import type { KeyObject } from "node:crypto";
import { Initiator, type KexRequest, type Responder } from "../protocol/handshake.ts";

/** An initiator's half of an exchange: its share now, Z once the reply arrives. */
export interface PendingKex {
  share: Uint8Array;
  finish(peerShare: Uint8Array): Promise<Uint8Array> | Uint8Array;
  /** Forget the private key without finishing. */
  drop(): void;
}

type Reply = { id: number; share?: Uint8Array; z?: Uint8Array; error?: string };

class FfdheWorker {
  #worker: Worker | null = null;
  #nextId = 1;
  #waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();

  #get(): Worker {
    if (this.#worker === null) {
      const w = new Worker(new URL("./ffdhe-worker.ts", import.meta.url));
      w.onmessage = (ev: MessageEvent) => {
        const r = ev.data as Reply;
        const p = this.#waiting.get(r.id);
        if (!p) return;
        this.#waiting.delete(r.id);
        if (r.error !== undefined) p.reject(new Error(r.error));
        else p.resolve(r);
      };
      w.unref();
      this.#worker = w;
    }
    return this.#worker;
  }

  call(op: string, group: FfdheName, peer?: Uint8Array, id = this.#nextId++): Promise<Reply> {
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#get().postMessage({ id, op, group, peer });
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
    for (const p of this.#waiting.values()) p.reject(new Error("key exchange worker stopped"));
    this.#waiting.clear();
  }
}

const worker = new FfdheWorker();

/** Build the worker's context for a finite-field group ahead of time (optional). */
export function warmFfdhe(group: Group): Promise<unknown> {
  return group === Group.X25519 ? Promise.resolve() : worker.call("warm", GROUP_NAMES[group] as FfdheName);
}

/** Stop the worker thread (tests, shutdown). */
export function stopKexWorker(): void {
  worker.terminate();
}

// X25519 key pairs made ahead of need, off the critical path of a handshake (refilled
// from setImmediate when the pool runs low). Each is used for one exchange and dropped,
// so forward secrecy is unchanged; they exist only in this process's memory.
const POOL_TARGET = 8;
const x25519Pool: { privateKey: KeyObject; publicKey: Uint8Array }[] = [];
let refilling = false;

function refill(): void {
  refilling = false;
  while (x25519Pool.length < POOL_TARGET) x25519Pool.push(x25519Generate());
}

/** A fresh X25519 key pair (from the pool when it has one). */
export function x25519KeyPair(): { privateKey: KeyObject; publicKey: Uint8Array } {
  const kp = x25519Pool.pop() ?? x25519Generate();
  if (!refilling && x25519Pool.length < POOL_TARGET / 2) {
    refilling = true;
    setImmediate(refill);
  }
  return kp;
}

/** Start an exchange as initiator. */
export async function initiatorKex(group: Group): Promise<PendingKex> {
  if (group === Group.X25519) {
    let key: KeyObject | null = null;
    const { privateKey, publicKey } = x25519KeyPair();
    key = privateKey;
    return {
      share: publicKey,
      finish: (peer) => {
        const z = x25519(key!, peer);
        key = null;
        return z;
      },
      drop: () => {
        key = null;
      },
    };
  }
  const name = GROUP_NAMES[group] as FfdheName;
  const id = worker.newId();
  const r = await worker.call("share", name, undefined, id);
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

/** A responder's whole exchange: a fresh share and Z with the initiator's share. */
export function responderKex(group: Group, peerShare: Uint8Array): { share: Uint8Array; z: Uint8Array } | Promise<{ share: Uint8Array; z: Uint8Array }> {
  if (group === Group.X25519) {
    const { privateKey, publicKey } = x25519KeyPair();
    return { share: publicKey, z: x25519(privateKey, peerShare) };
  }
  return worker.call("respond", GROUP_NAMES[group] as FfdheName, peerShare).then((r) => ({ share: r.share!, z: r.z! }));
}

/**
 * Compute the exchange a handshake machine asked for (inline for X25519, in the worker for
 * ffdhe*) and complete it: `done` gets the frames to send (the responder's HELLO_REPLY and
 * AUTH; nothing for an initiator), `failed` any error, the machine's or the worker's.
 */
export function runKex(hs: Initiator | Responder, pending: PendingKex | null, req: KexRequest, done: (send: Uint8Array[]) => void, failed: (e: Error) => void): void {
  const go = (v: Uint8Array | { share: Uint8Array; z: Uint8Array }) => {
    let send: Uint8Array[];
    try {
      if (hs instanceof Initiator) {
        hs.completeKex(v as Uint8Array);
        send = [];
      } else {
        const r = v as { share: Uint8Array; z: Uint8Array };
        send = hs.completeKex(r.share, r.z);
      }
    } catch (e) {
      return failed(e as Error);
    }
    done(send);
  };
  try {
    const v = hs instanceof Initiator ? pending!.finish(req.peerShare) : responderKex(req.group, req.peerShare);
    if (v instanceof Promise) (v as Promise<Uint8Array | { share: Uint8Array; z: Uint8Array }>).then(go, failed);
    else go(v);
  } catch (e) {
    failed(e as Error);
  }
}
