/**
 * A session's handshake phase (PROTOCOL §4): the Initiator or Responder machine, the key
 * exchange it waits for (kex.ts: X25519 inline, FFDHE on a worker), and the frames that
 * arrive meanwhile, held in a small bounded list until the exchange is done.
 *
 *   1. start: a responder builds its machine; an initiator computes its share first,
 *      then sends HELLO (while busy, frames are held);
 *   2. each handshake frame goes to the machine: a key exchange to run (held frames wait
 *      for it), or Done, which the session takes over (its traffic keys: established.ts);
 *   3. on close the pending exchange and the held frames are dropped.
 */
import { randomBytes } from "node:crypto";
import { Group } from "../protocol/constants.ts";
import { fail, type ProtocolError } from "../protocol/errors.ts";
import type { Frame } from "../protocol/frame.ts";
import { Initiator, Responder } from "../protocol/handshake.ts";
import type { Done, KexRequest } from "../protocol/machine.ts";
import { initiatorKex, kexInline, runKex, x25519InitiatorKex, type KexJob, type PendingKex } from "./kex.ts";
import type { Role, SessionConfig } from "./types.ts";

/** What the handshake phase asks of its session. */
export interface HandshakeHost<S> {
  /** The session, as the config's callbacks (verifyPeer, admitKex, kexPriority) see it. */
  readonly session: S;
  readonly role: Role;
  /** The session has closed (work that finishes later is dropped). */
  readonly closed: boolean;
  /** The key-exchange group read from the peer's HELLO (responder). */
  setGroup(g: Group): void;
  write(frames: Uint8Array[]): void;
  fail(e: Error): void;
  /** A held frame, released once the exchange is done (it goes through the session's own dispatch). */
  frame(f: Frame): void;
  /** The handshake is over: the session takes its keys. */
  established(d: Done): void;
  /** Charge the pre-authentication budget with what is held now. */
  chargePreAuth(): void;
}

export class Handshake<S> {
  readonly #o: SessionConfig<S>;
  readonly #h: HandshakeHost<S>;
  /** The group an initiator offers. */
  readonly #offer: Group | undefined;
  #hs: Initiator | Responder | null = null;
  #kex: PendingKex | null = null;
  /** A key exchange is being computed; frames wait in #held. */
  #busy = false;
  /** Frames held while busy; made on the first (most handshakes hold none). */
  #held: Uint8Array[] | null = null;
  #heldBytes = 0;
  #kexJob: KexJob | null = null;

  constructor(o: SessionConfig<S>, host: HandshakeHost<S>, offer: Group | undefined) {
    this.#o = o;
    this.#h = host;
    this.#offer = offer;
  }

  /** The machine, while the handshake runs (alerts.ts asks it what alert the peer can read). */
  get machine(): Initiator | Responder | null {
    return this.#hs;
  }

  /** Frames arriving now are held, not handled (a key exchange is running). */
  get busy(): boolean {
    return this.#busy;
  }

  /** Bytes of the frames held. */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /**
   * Start the handshake (initiator: compute a share and send HELLO). X25519 is done at
   * once, with no promise; an FFDHE share comes from the worker (the promise returned).
   */
  start(): Promise<void> | undefined {
    const o = this.#o;
    if (this.#h.role === "responder") {
      this.#hs = new Responder({ accept: o.accept!, nonce: randomBytes(32), identity: o.identity, random: o.random, offloadSubgroupCheck: true });
      return;
    }
    this.#busy = true;
    if (this.#offer === Group.X25519) {
      try {
        this.#kex = x25519InitiatorKex();
      } catch (e) {
        this.#h.fail(e as Error);
        return;
      }
      this.#hello(this.#kex);
      return;
    }
    return this.#startFfdhe();
  }

  async #startFfdhe(): Promise<void> {
    const o = this.#o;
    try {
      this.#kex = await initiatorKex(this.#offer!, { maxQueue: o.limits.maxKexQueue, priority: true });
    } catch (e) {
      return this.#h.fail(e as Error);
    }
    if (this.#h.closed) return this.#kex.drop();
    this.#hello(this.#kex);
  }

  /** Our share is ready: the initiator's machine, and its HELLO. */
  #hello(kex: PendingKex): void {
    const o = this.#o;
    const verify = o.verifyPeer;
    const ini = new Initiator({
      group: this.#offer!,
      share: kex.share,
      nonce: randomBytes(32),
      identity: o.identity,
      random: o.random,
      verifyPeer: verify ? (id) => verify(id, this.#h.session) : undefined,
    });
    this.#hs = ini;
    this.#h.write([ini.hello()]);
    this.#release();
  }

  /** Keep a frame that came while busy (a copy: the chunk it is a view of goes away); the fault when too much waits. */
  hold(f: Frame): ProtocolError | null {
    // Before authentication nothing big is copied for later: a few frames, a few KiB.
    const held = (this.#held ??= []);
    if (held.length >= this.#o.limits.maxPendingFrames || this.#heldBytes + f.bytes.length > this.#o.limits.maxHeldBytes) {
      return fail("unexpected_message", "the peer sent frames while the key exchange was running");
    }
    held.push(new Uint8Array(f.bytes));
    this.#heldBytes += f.bytes.length;
    return null;
  }

  /** One handshake frame. @throws ProtocolError */
  recv(f: Frame): void {
    const hs = this.#hs;
    if (hs === null) throw fail("unexpected_message", "the peer sent a frame before our hello");
    const r = hs.recv(f);
    if (r.kind === "done") {
      this.#hs = null;
      return this.#h.established(r);
    }
    this.#startKex(r);
  }

  #startKex(req: KexRequest): void {
    const o = this.#o;
    const s = this.#h.session;
    if (this.#h.role === "responder") {
      this.#h.setGroup(req.group);
      // Expensive groups: a per-prefix rate (the Peer's admitKex) before any work is queued.
      const refused = req.group !== Group.X25519 ? (o.admitKex?.(s, req.group) ?? null) : null;
      if (refused !== null) throw fail("busy", refused);
    }
    // Reading goes on (held frames are bounded by maxHeldBytes and maxPreAuthBytes), so
    // that a peer's FIN is seen at once and its queued exchange is dropped.
    this.#busy = true;
    const pending = this.#kex;
    this.#kex = null;
    // X25519, either role: inline, no callbacks (a fault throws to the session, as any
    // frame's does; the machine is failed and nothing is released).
    const sent = kexInline(this.#hs!, pending, req);
    if (sent !== null) {
      this.#h.write(sent);
      return this.#release();
    }
    const adm = { maxQueue: o.limits.maxKexQueue, priority: o.kexPriority?.(s) ?? false };
    this.#kexJob = runKex(this.#hs!, pending, req, (send) => {
      this.#kexJob = null;
      if (this.#h.closed) return;
      this.#h.write(send);
      this.#release();
    }, (e) => {
      this.#kexJob = null;
      this.#h.fail(e);
    }, adm);
  }

  /** The key exchange is done: process frames that arrived meanwhile. */
  #release(): void {
    this.#busy = false;
    const held = this.#held;
    while (held !== null && held.length > 0 && !this.#busy && !this.#h.closed) {
      const bytes = held.shift()!;
      this.#heldBytes -= bytes.length;
      this.#h.frame({ type: bytes[2]!, bytes, body: bytes.subarray(3) });
    }
    this.#h.chargePreAuth();
  }

  /** Queued work is dropped with its connection (a flood of closed HELLOs costs nothing). */
  cancel(): void {
    this.#kexJob?.cancel();
    this.#kexJob = null;
  }

  /** The session closed: forget the pending exchange and what was held, and wipe a handshake left half done. */
  drop(): void {
    this.#hs?.discard();
    this.#kex?.drop();
    this.#kex = null;
    this.cancel();
    this.#held = null;
    this.#heldBytes = 0;
  }
}
