/**
 * One TCP connection through handshake, PROFILE exchange, chat and CLOSE.
 *
 * Receive pipeline:
 *   1. socket bytes → FrameAssembler (views for whole frames, ≤ 1 partial frame buffered);
 *   2. handshake frames → the Initiator/Responder machine; DH work → kex.ts (inline or worker);
 *   3. RECORD → RecordReader.open (tag checked before decrypting) → items;
 *   4. PROFILE first, then TEXT/ACK/PONG/PROFILE go to the owner; PING answered here;
 *   5. any fault: one alert code to the peer (when it can read it), close, report once.
 * Send pipeline: outbound.ts (items coalesced into records, one write, bounded queue).
 */
import type { Socket } from "bun";
import { randomBytes } from "node:crypto";
import { FrameType, Group } from "../protocol/constants.ts";
import { fail, ProtocolError } from "../protocol/errors.ts";
import { FrameAssembler, type Frame } from "../protocol/frame.ts";
import { Initiator, Responder, type Done, type HandshakeResult, type KexRequest } from "../protocol/handshake.ts";
import { decodeItems, type Item } from "../protocol/items.ts";
import type { RecordReader, RecordWriter } from "../protocol/record.ts";
import { flushSoon, Outbound } from "./outbound.ts";
import { alertBytes } from "./alerts.ts";
import { initiatorKex, runKex, type KexJob, type PendingKex } from "./kex.ts";
import { capPeerString, dueAt, TokenBucket } from "./limits.ts";
import { BulkPacer } from "./pacer.ts";
import type { CloseInfo, PeerSession, Role, SessionConfig, SessionEvents, SessionState } from "./types.ts";

/** Object overhead of pending items, behind a backed-up socket, before they are sealed. */
const SEAL_BACKLOG_BYTES = 64 * 1024;
/** PINGs within the per-session bucket's memory that make a session a heavy pinger. */
const PING_HEAVY = 1000;

export class Session implements PeerSession {
  readonly role: Role;
  readonly address: string;
  readonly startedAt: number;
  state: SessionState = "handshake";
  peerIdentity: Uint8Array | null = null;
  peerProfile: { instance: Uint8Array; name: string } | null = null;
  th3: Uint8Array | null = null;
  lastRecv: number;
  lastSend: number;
  /** Free slot for the owner of the session. */
  tag: unknown = null;
  /** The key-exchange group: offered (initiator) or read from the HELLO (responder); null before. */
  group: Group | null = null;

  readonly #o: SessionConfig<Session>;
  readonly #group: Group | undefined;
  readonly #ev: SessionEvents<Session>;
  readonly #socket: Socket<unknown>;
  readonly #asm = new FrameAssembler();
  #hs: Initiator | Responder | null = null;
  #kex: PendingKex | null = null;
  #busy = false; // a key exchange is being computed; frames wait in #held
  #held: Uint8Array[] = [];
  #heldBytes = 0;
  #kexJob: KexJob | null = null;
  // Reading is paused while output is backed up past half its bound: the peer's bytes
  // then wait in the kernel, not in our heap.
  #paused = false;
  #drainedAt = 0;
  readonly #pings: TokenBucket;
  #writer: RecordWriter | null = null;
  #reader: RecordReader | null = null;
  readonly #send: Outbound;
  #flushScheduled = false;
  #rekeyRequested = false;
  readonly #keyUpdates: TokenBucket;
  #closeInfo: CloseInfo | null = null;
  #endAfterDrain = false;
  #partialSince = 0;
  #pingSentAt = 0;
  readonly #pacer = new BulkPacer();
  #paceTimer: ReturnType<typeof setTimeout> | null = null;

  /** `group` is the group an initiator offers; `address` the remote host:port (as dialled, for an initiator). */
  constructor(socket: Socket<unknown>, o: SessionConfig<Session>, role: Role, address: string, group: Group | undefined, ev: SessionEvents<Session>) {
    this.#socket = socket;
    this.#send = new Outbound(socket);
    this.#o = o;
    this.#ev = ev;
    this.role = role;
    this.address = address;
    this.#group = group;
    const now = this.#now();
    this.startedAt = this.lastRecv = this.lastSend = now;
    this.#keyUpdates = new TokenBucket(8, o.limits.keyUpdatesPerSecond, now);
    this.#pings = new TokenBucket(o.limits.pingsPerSecond * 10, o.limits.pingsPerSecond, now);
    if (role === "initiator") this.group = group ?? null;
  }

  /** Reading is paused (output backed up). */
  get paused(): boolean {
    return this.#paused;
  }

  /** Charge the process-wide output budget; over it, the largest queue is cut with busy. */
  #chargeOutput(): void {
    const b = this.#o.outputBudget;
    if (b === undefined) return;
    const mem = this.#isClosed() && !this.#endAfterDrain ? 0 : this.#send.memoryBytes;
    if (!b.set(this, mem)) return;
    const worst = b.largest();
    if (worst === undefined) return;
    b.set(worst, 0);
    worst.#fail(fail("busy", `sotto's output queues passed ${b.limit} bytes (maxOutputBytes); this session held the most`));
  }

  /** Charge the process-wide pre-authentication budget with what this session holds. */
  #chargePreAuth(): boolean {
    const b = this.#o.preAuthBudget;
    if (b === undefined) return true;
    const bytes = this.#reader === null && !this.#isClosed() ? this.#heldBytes + this.#asm.allocated : 0;
    if (!b.set(this, bytes)) return true;
    b.set(this, 0);
    this.#fail(fail("busy", `unauthenticated peers hold ${b.limit} bytes (maxPreAuthBytes)`));
    return false;
  }

  #now(): number {
    return this.#o.now ? this.#o.now() : performance.now();
  }

  /** Bytes queued for the socket plus items not yet sealed. */
  get bufferedAmount(): number {
    return this.#send.bufferedAmount;
  }

  /** Start the handshake (initiator: compute a share and send HELLO). */
  async start(): Promise<void> {
    if (this.role === "responder") {
      this.#hs = new Responder({ accept: this.#o.accept!, nonce: randomBytes(32), identity: this.#o.identity, random: this.#o.random });
      return;
    }
    this.#busy = true;
    try {
      this.#kex = await initiatorKex(this.#group!, { maxQueue: this.#o.limits.maxKexQueue, priority: true });
    } catch (e) {
      return this.#fail(e as Error);
    }
    if (this.state === "closed") return this.#kex.drop();
    const verify = this.#o.verifyPeer;
    const ini = new Initiator({
      group: this.#group!,
      share: this.#kex.share,
      nonce: randomBytes(32),
      identity: this.#o.identity,
      random: this.#o.random,
      verifyPeer: verify ? (id) => verify(id, this) : undefined,
    });
    this.#hs = ini;
    this.#write([ini.hello()]);
    this.#release();
  }

  /** Bytes from the socket. */
  onData(chunk: Uint8Array): void {
    if (this.#isClosed()) return;
    this.lastRecv = this.#now();
    let frames: Frame[];
    try {
      frames = this.#asm.push(chunk);
    } catch (e) {
      return this.#fail(e as Error);
    }
    // A partial frame must complete within partialFrameTimeoutMs of its first byte
    // (docs/SECURITY.md §3.E: one byte a minute keeps the idle timer happy, not this one). A
    // frame completed in this chunk means the partial one left began in it, so a steady
    // stream whose chunks never end on a frame boundary restarts the clock every frame.
    if (this.#asm.buffered === 0) this.#partialSince = 0;
    else if (this.#partialSince === 0 || frames.length > 0) this.#partialSince = this.lastRecv;
    for (const f of frames) {
      if (this.#isClosed()) return;
      if (this.#busy) {
        // Before authentication nothing big is copied for later: a few frames, a few KiB.
        if (this.#held.length >= this.#o.limits.maxPendingFrames || this.#heldBytes + f.bytes.length > this.#o.limits.maxHeldBytes) {
          return this.#fail(fail("unexpected_message", "the peer sent frames while the key exchange was running"));
        }
        this.#held.push(new Uint8Array(f.bytes));
        this.#heldBytes += f.bytes.length;
        continue;
      }
      this.#frame(f);
    }
    if (this.#reader === null && !this.#chargePreAuth()) return;
    // A bad header after whole frames: those were handled, now the stream ends.
    const err = this.#asm.error;
    if (err !== null && !this.#isClosed()) this.#fail(err);
  }

  #frame(f: Frame): void {
    try {
      if (this.#reader === null) this.#handshakeFrame(f);
      else this.#recordFrame(f);
    } catch (e) {
      this.#fail(e as Error);
    }
  }

  #handshakeFrame(f: Frame): void {
    const hs = this.#hs;
    if (hs === null) throw fail("unexpected_message", "the peer sent a frame before our hello");
    const r = hs.recv(f);
    if (r.kind === "done") return this.#established(r);
    this.#startKex(r);
  }

  #startKex(req: KexRequest): void {
    if (this.role === "responder") {
      this.group = req.group;
      // Expensive groups: a per-prefix rate (the Peer's admitKex) before any work is queued.
      const refused = req.group !== Group.X25519 ? (this.#o.admitKex?.(this, req.group) ?? null) : null;
      if (refused !== null) throw fail("busy", refused);
    }
    // Reading goes on (held frames are bounded by maxHeldBytes and maxPreAuthBytes), so
    // that a peer's FIN is seen at once and its queued exchange is dropped.
    this.#busy = true;
    const pending = this.#kex;
    this.#kex = null;
    const adm = { maxQueue: this.#o.limits.maxKexQueue, priority: this.#o.kexPriority?.(this) ?? false };
    this.#kexJob = runKex(this.#hs!, pending, req, (send) => {
      this.#kexJob = null;
      if (this.state === "closed") return;
      this.#write(send);
      this.#release();
    }, (e) => {
      this.#kexJob = null;
      this.#fail(e);
    }, adm);
  }

  /** The key exchange is done: process frames that arrived meanwhile. */
  #release(): void {
    this.#busy = false;
    while (this.#held.length > 0 && !this.#busy && !this.#isClosed()) {
      const bytes = this.#held.shift()!;
      this.#heldBytes -= bytes.length;
      this.#frame({ type: bytes[2]!, bytes, body: bytes.subarray(3) });
    }
    this.#chargePreAuth();
  }

  #established(d: Done): void {
    const res: HandshakeResult = d.result;
    // The last handshake frames go out in one write with the PROFILE record below.
    if (d.send.length > 0) this.#send.holdFrames(d.send);
    this.#writer = res.writer;
    this.#reader = res.reader;
    this.#hs = null;
    this.#o.preAuthBudget?.set(this, 0);
    // PROTOCOL §4.5: the responder applies its trust policy once the initiator's AUTH
    // verified; a refusal then goes out as an encrypted ALERT, its first record.
    if (this.role === "responder") this.#o.verifyPeer?.(res.peerIdentity, this);
    this.peerIdentity = res.peerIdentity;
    this.th3 = res.th3;
    this.state = "profile";
    // PROTOCOL §6: PROFILE is the first item after the handshake, from both sides. It
    // goes out in a small record of its own, so that the peer can finish its handshake
    // even on a link that breaks every few kilobytes.
    this.send({ kind: "profile", instance: this.#o.profile.instance, name: this.#o.profile.name });
    this.flush();
    this.#ev.onEstablished?.(this);
  }

  #recordFrame(f: Frame): void {
    if (f.type !== FrameType.RECORD) throw fail("unexpected_message", "the peer sent a handshake or alert frame after the handshake");
    const items = decodeItems(this.#reader!.open(f.bytes));
    let keyUpdate = false;
    for (const item of items) {
      if (this.#isClosed()) return;
      switch (item.kind) {
        case "padding":
          continue;
        case "ext":
          // PROTOCOL §6: optional types are ignored by a receiver that does not know them;
          // the owner may know them (file transfer), but only once the session is open.
          if (this.state === "open") this.#ev.onItem(this, item);
          continue;
        case "auth":
          throw fail("unexpected_message", "the peer sent AUTH after the handshake");
        case "key_update":
          if (keyUpdate) throw fail("unexpected_message", "two KEY_UPDATE items in one record");
          keyUpdate = true;
          if (!this.#keyUpdates.take(this.#now())) throw fail("unexpected_message", "the peer updates its keys too often");
          continue;
        case "alert":
          throw fail("alert", `the peer sent alert ${item.code}`, { alert: item.code });
        case "close":
          // One length cap for every output format (a 65,000-byte reason is not printed whole).
          this.#closed({ error: null, byPeer: true, reason: capPeerString(item.reason, this.#o.limits.maxPeerStringLength) });
          return;
        case "ping":
          if (this.state === "profile") throw fail("unexpected_message", "the peer sent PING before its PROFILE");
          // A PING flood is busy, as HTTP/2's ping flood fix (CVE-2019-9512) does.
          if (!this.#pings.take(this.#now())) throw fail("busy", `the peer sends PINGs faster than ${this.#o.limits.pingsPerSecond} a second`);
          // Process-wide: with the shared budget spent, a session that has been pinging
          // hard (more than PING_HEAVY lately) is cut; one keepalive a while is still answered.
          if (this.#o.pingBudget && !this.#o.pingBudget.take(this.#now()) && this.#pings.level(this.#now()) < this.#pings.burst - PING_HEAVY) {
            throw fail("busy", `PINGs from every peer passed ${this.#o.limits.pingsPerSecondTotal} a second (pingsPerSecondTotal); this peer sent many`);
          }
          this.send({ kind: "pong", data: new Uint8Array(item.data) });
          continue;
        case "pong":
          // pacer.ts: the answer to a bulk probe moves the window; others go to the owner.
          if (this.#pacer.onPong(item.data, this.#now())) {
            this.flush();
            if (!this.#isClosed() && !this.#send.backedUp) this.#ev.onDrain?.(this);
            continue;
          }
          if (this.state === "profile") throw fail("unexpected_message", "the peer sent PONG before its PROFILE");
          this.#ev.onItem(this, item);
          continue;
        case "profile":
          this.#profile(item);
          continue;
        default:
          if (this.state === "profile") throw fail("unexpected_message", `the peer sent ${item.kind.toUpperCase()} before its PROFILE`);
          this.#ev.onItem(this, item);
      }
    }
    if (keyUpdate) this.#reader!.update();
  }

  #isClosed(): boolean {
    return this.state === "closed";
  }

  #profile(item: Extract<Item, { kind: "profile" }>): void {
    if (this.peerProfile === null) {
      this.peerProfile = { instance: new Uint8Array(item.instance), name: item.name };
      this.state = "open";
      // pacer.ts: one probe on an empty path gives the round trip without any queue in it.
      const data = this.#pacer.probe(this.#now(), this.#send.written);
      if (data !== null) this.send({ kind: "ping", data });
      this.#ev.onReady(this);
      return;
    }
    if (Buffer.compare(this.peerProfile.instance, item.instance) !== 0) throw fail("unexpected_message", "the peer changed its instance id mid-session");
    this.peerProfile.name = item.name;
    this.#ev.onItem(this, item);
  }

  /**
   * Queue one item; items queued in the same tick share records, sealed in a microtask
   * (or at once by flush()). The item is kept, not copied: do not change it afterwards.
   * @throws Error when the session is not open; RangeError when the item cannot fit in a record.
   */
  send(item: Item): void {
    if (this.#writer === null || this.#isClosed()) throw new Error("session is not open");
    this.#send.queue(item);
    if (this.#send.bufferedAmount > this.#o.limits.maxSendQueueBytes) {
      return this.#fail(fail("busy", "the peer is not reading; its send queue is full"));
    }
    // Items pending behind a backed-up socket are objects (ITEM_HEAP_BYTES each): past a
    // small backlog, seal them behind the queue, so that what waits is wire bytes only.
    if (this.#send.backedUp && this.#send.memoryBytes - this.#send.bufferedAmount > SEAL_BACKLOG_BYTES) this.flush(true);
    else this.#afterOutput();
    if (this.#isClosed()) return;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      flushSoon(this);
    }
  }

  /** Ask for a KEY_UPDATE in the next record (/rekey). */
  rekey(): void {
    this.#rekeyRequested = true;
    this.send({ kind: "padding", length: 0 });
  }

  /**
   * Seal every queued item now, packed into as few records as fit, and write them
   * (outbound.ts). While the socket is backed up, items stay queued and coalesce until
   * `drain`; `force` (closing) seals them behind what waits.
   */
  flush(force = false): void {
    this.#flushScheduled = false;
    const w = this.#writer;
    if (w === null || this.#isClosed() || !this.#send.hasPending) return;
    this.lastSend = this.#now();
    this.#send.bulkUntil = this.#pacer.until;
    this.#send.flush(w, this.#keyUpdateDue, force);
    if (!force) this.#pace(w);
    this.#afterOutput();
  }

  /** After output grew: charge the budget; a peer whose output is backed up is not read from. */
  #afterOutput(): void {
    if (this.#send.backedUp && !this.#paused && this.#send.memoryBytes > this.#o.limits.maxSendQueueBytes / 2) {
      this.#drainedAt = this.#now();
      this.#paused = true;
      this.#socket.pause();
    }
    this.#chargeOutput();
  }

  /** pacer.ts step 2: while bulk flows, keep one probe out (or come back when one may go). */
  #pace(w: RecordWriter): void {
    const s = this.#send;
    if (this.#pacer.probing || this.#paceTimer !== null || s.bulkAt <= this.#pacer.acked) return;
    const now = this.#now();
    const data = this.#pacer.probe(now, s.written);
    if (data !== null) {
      s.queueUrgent({ kind: "ping", data });
      s.flush(w, this.#keyUpdateDue);
      return;
    }
    if (!s.hasBulk) return;
    this.#paceTimer = setTimeout(() => {
      this.#paceTimer = null;
      if (this.#writer !== null && !this.#isClosed()) this.#pace(this.#writer);
    }, Math.max(1, Math.ceil(this.#pacer.waitMs(now))));
    this.#paceTimer.unref?.();
  }

  /** Whether the next record must carry KEY_UPDATE (asked once per record). */
  readonly #keyUpdateDue = (): boolean => {
    const due = this.#rekeyRequested || this.#writer!.mustUpdate;
    this.#rekeyRequested = false;
    return due;
  };

  #write(frames: Uint8Array[]): void {
    if (frames.length === 0 || this.state === "closed") return;
    this.lastSend = this.#now();
    this.#send.writeFrames(frames);
    this.#afterOutput();
  }

  /** The socket can take more bytes. */
  onDrain(): void {
    const before = this.#send.memoryBytes;
    const drained = this.#send.drain();
    if (this.#send.memoryBytes < before) this.#drainedAt = this.#now();
    if (this.#paused && !this.#isClosed() && this.#send.memoryBytes <= this.#o.limits.maxSendQueueBytes / 2) {
      this.#paused = false;
      this.#socket.resume();
    }
    this.#chargeOutput();
    if (!drained) return;
    if (this.#endAfterDrain) {
      this.#socket.end();
      return;
    }
    if (this.#send.hasPending) this.flush();
    if (this.state !== "closed" && !this.#send.backedUp) this.#ev.onDrain?.(this);
  }

  /** End the session for a fault its owner found (e.g. a chat-level limit): the alert, then close. */
  abort(e: ProtocolError): void {
    this.#fail(e);
  }

  /** Close cleanly: CLOSE item (when established), flush, end the socket. */
  close(reason = ""): void {
    if (this.#isClosed()) return;
    if (this.#writer !== null) {
      try {
        this.send({ kind: "close", reason });
        this.flush(true);
      } catch {
        /* the socket is already gone */
      }
    }
    this.#closed({ error: null, byPeer: false, reason });
  }

  /** Periodic check from the owner: handshake deadline, idle timeout, keepalive. */
  tick(now: number): void {
    if (this.#isClosed()) return;
    const due = dueAt(now, { partialSince: this.#partialSince, startedAt: this.startedAt, lastRecv: this.lastRecv, lastSend: this.lastSend, handshaking: this.state !== "open", pingSentAt: this.#paused ? 0 : this.#pingSentAt }, this.#o.limits);
    // Not read from while its output is backed up; a peer that then drains nothing is cut.
    if (this.#paused && now - this.#drainedAt > this.#o.limits.outputStallMs) {
      return this.#fail(fail("busy", `the peer is not reading: nothing of its backed-up output drained for ${this.#o.limits.outputStallMs} ms`));
    }
    if (due === "keepalive") {
      this.#pingSentAt = now;
      this.send({ kind: "ping", data: randomBytes(8) });
    }
    else if (due !== null) this.#fail(fail("timeout", due));
  }

  /** The socket closed under us. */
  onSocketClose(error?: Error): void {
    this.#send.drop();
    this.#endAfterDrain = false;
    this.#o.outputBudget?.set(this, 0);
    this.#o.preAuthBudget?.set(this, 0);
    if (this.state === "closed") return;
    let err: Error | null = error ?? null;
    if (err === null) {
      try {
        this.#asm.end();
      } catch (e) {
        err = e as Error;
      }
    }
    if (err === null) err = fail("truncated", this.#reader ? "the peer closed the connection without CLOSE" : "the peer closed the connection during the handshake");
    this.#closeInfo = { error: err, byPeer: true, reason: "" };
    this.#finalize();
  }

  #fail(e: Error): void {
    if (this.#isClosed()) return;
    if (e instanceof ProtocolError) {
      if (this.#writer !== null) this.#send.clearPending(); // the alert goes next, nothing else
      const alert = alertBytes(e, this.#writer, this.#hs);
      if (alert !== null) this.#write([alert]);
    }
    this.#closed({ error: e, byPeer: e instanceof ProtocolError && e.code === "alert", reason: "" });
  }

  #closed(info: CloseInfo): void {
    this.#closeInfo = info;
    if (this.#paceTimer !== null) clearTimeout(this.#paceTimer);
    this.#kex?.drop();
    this.#kex = null;
    // Queued work is dropped with its connection (a flood of closed HELLOs costs nothing).
    this.#kexJob?.cancel();
    this.#kexJob = null;
    this.#held = [];
    this.#heldBytes = 0;
    this.#o.preAuthBudget?.set(this, 0);
    // A peer not read from because its output is backed up is never read again: what it
    // sent meanwhile waits in the kernel, and reading it now would only make garbage.
    // Its socket is reset after the drain grace.
    const stalled = this.#paused;
    const drain = this.#send.backedUp;
    // Finalize first: ending the socket can fire its close handler synchronously.
    this.#finalize();
    if (drain) {
      // Let the last records (CLOSE or ALERT) drain, but not for long.
      this.#endAfterDrain = true;
      setTimeout(() => (stalled ? this.#socket.terminate() : this.#socket.end()), 2000).unref?.();
    } else if (stalled) {
      this.#socket.terminate();
    } else {
      this.#socket.end();
    }
  }

  #finalize(): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.#send.clearPending();
    this.#kexJob?.cancel();
    this.#kexJob = null;
    this.#o.preAuthBudget?.set(this, 0);
    if (!this.#send.backedUp) this.#o.outputBudget?.set(this, 0);
    this.#ev.onClose(this, this.#closeInfo ?? { error: null, byPeer: true, reason: "" });
  }

  /** Drop the connection at once, without CLOSE (shutdown paths). */
  destroy(): void {
    if (this.state === "closed") return;
    this.#closeInfo ??= { error: null, byPeer: false, reason: "" };
    this.#socket.terminate();
    this.#finalize();
  }
}
