/**
 * One TCP connection through handshake, PROFILE exchange, chat and CLOSE.
 *
 * Receive pipeline:
 *   1. transport bytes → FrameAssembler (whole frames as where they lie in the chunk, ≤ 1 partial frame buffered);
 *   2. handshake phase (handshake.ts): frames → the Initiator/Responder machine; DH work →
 *      kex.ts (inline or worker), frames held meanwhile; it ends with the traffic keys;
 *   3. established phase (established.ts): RECORD → RecordReader.open (tag checked before
 *      decrypting) → items; PING answered there;
 *   4. PROFILE first, then TEXT/ACK/PONG/PROFILE go to the owner (here);
 *   5. any fault: one alert code to the peer (when it can read it), close, report once.
 * Send pipeline: outbound.ts (items coalesced into records, one write, bounded queue).
 * The transport is a Bun TCP socket in Peer, a fake in tests (types.ts Transport).
 */
import { randomBytes } from "node:crypto";
import { ITEM_HEADER_LEN, MAX_PLAINTEXT, type Group } from "../protocol/constants.ts";
import { fail, ProtocolError } from "../protocol/errors.ts";
import { FrameAssembler, type Frame } from "../protocol/frame.ts";
import type { Done } from "../protocol/machine.ts";
import { checkTextId, type Item, type TextId } from "../protocol/items.ts";
import { flushSoon } from "./flush-soon.ts";
import { Outbound } from "./outbound.ts";
import { alertBytes, streamEnded } from "./alerts.ts";
import { Established, type RecordHost } from "./established.ts";
import { Handshake, type HandshakeHost } from "./handshake.ts";
import { chargeOutput, chargePreAuth, ReadPause } from "./output-flow.ts";
import { capPeerString, dueAt } from "./limits.ts";
import type { CloseInfo, PeerSession, Role, SessionConfig, SessionEvents, SessionState, Transport } from "./types.ts";

/** The process's monotonic clock (ms), shared by every session. */
const monotonic = (): number => performance.now();

/** Object overhead of pending items, behind a backed-up socket, before they are sealed. */
const SEAL_BACKLOG_BYTES = 64 * 1024;

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
  /** The key-exchange group: offered (initiator) or read from the HELLO (responder); null before. */
  group: Group | null = null;

  readonly #o: SessionConfig<Session>;
  readonly #ev: SessionEvents<Session>;
  readonly #socket: Transport;
  // The frame a chunk ends with is copied only once that chunk's frames are handled and the
  // session is still open (a connection refused at its HELLO never pays for it).
  readonly #asm = new FrameAssembler({ deferTail: true });
  /** The handshake phase (its machine is gone once established). */
  readonly #hs: Handshake<Session>;
  /** The established phase: traffic keys and the record path (null during the handshake). */
  #est: Established | null = null;
  /** Output flow control: reading paused while output is backed up (output-flow.ts). */
  readonly #rp: ReadPause;
  /** What the record path hands back (established.ts). */
  readonly #records: RecordHost;
  readonly #send: Outbound;
  #flushScheduled = false;
  #closeInfo: CloseInfo | null = null;
  #endAfterDrain = false;
  #partialSince = 0;
  #pingSentAt = 0;

  /** `group` is the group an initiator offers; `address` the remote host:port (as dialled, for an initiator). */
  constructor(socket: Transport, o: SessionConfig<Session>, role: Role, address: string, group: Group | undefined, ev: SessionEvents<Session>) {
    this.#socket = socket;
    this.#send = new Outbound(socket);
    this.#o = o;
    this.#rp = new ReadPause(socket, o.limits.maxSendQueueBytes, this.#clock());
    this.#ev = ev;
    this.role = role;
    this.address = address;
    const now = this.#now();
    this.startedAt = this.lastRecv = this.lastSend = now;
    if (role === "initiator") this.group = group ?? null;
    this.#hs = new Handshake<Session>(o, new Session.#HsHost(this), group);
    this.#records = new Session.#RecordsHost(this);
  }

  /** What the record path hands back (established.ts): as #HsHost, one object, no closures. */
  static readonly #RecordsHost = class implements RecordHost {
    constructor(readonly s: Session) {}
    get state(): SessionState {
      return this.s.state;
    }
    item(item: Item): void {
      this.s.#ev.onItem(this.s, item);
    }
    text(id: TextId, text: string): void {
      // TEXT: to onText as (id, text) when the owner takes it so; else as an Item, its id a bigint.
      const ev = this.s.#ev;
      if (ev.onText !== undefined) ev.onText(this.s, id, text);
      else ev.onItem(this.s, { kind: "text", id: BigInt(id), text });
    }
    closedByPeer(reason: string): void {
      // One length cap for every output format (a 65,000-byte reason is not printed whole).
      this.s.#closed({ error: null, byPeer: true, reason: capPeerString(reason, this.s.#o.limits.maxPeerStringLength) });
    }
    send(item: Item): void {
      this.s.send(item);
    }
    pong(item: Extract<Item, { kind: "pong" }>): boolean {
      const s = this.s;
      // pacer.ts: the answer to a bulk probe moves the window.
      if (!s.#est!.pacer.onPong(item.data, s.#now())) return false;
      s.flush();
      if (!s.#isClosed() && !s.#send.backedUp) s.#ev.onDrain?.(s);
      return true;
    }
    profile(item: Extract<Item, { kind: "profile" }>): void {
      this.s.#profile(item);
    }
  };

  /**
   * What the handshake phase asks of its session (handshake.ts): one small object per
   * session whose methods live on its prototype, not a dozen closures per connection.
   * Declared inside Session, so that it reaches the session's private members.
   */
  static readonly #HsHost = class implements HandshakeHost<Session> {
    constructor(readonly session: Session) {}
    get role(): Role {
      return this.session.role;
    }
    get closed(): boolean {
      return this.session.#isClosed();
    }
    setGroup(g: Group): void {
      this.session.group = g;
    }
    write(frames: Uint8Array[]): void {
      this.session.#write(frames);
    }
    fail(e: Error): void {
      this.session.#fail(e);
    }
    frame(f: Frame): void {
      this.session.#frame(f);
    }
    established(d: Done): void {
      this.session.#established(d);
    }
    chargePreAuth(): void {
      this.session.#chargePreAuth();
    }
  };

  /** Reading is paused (output backed up). */
  get paused(): boolean {
    return this.#rp.paused;
  }

  /** Stop (true) or resume (false) reading for the owner (src/chat/node/hold.ts); output backpressure pauses on its own. */
  pauseReading(on: boolean): void {
    this.#rp.owner(on, this.#isClosed());
  }

  /** Charge the process-wide output budget (output-flow.ts). */
  #chargeOutput(): void {
    chargeOutput(this.#o.outputBudget, this, this.#isClosed() && !this.#endAfterDrain ? 0 : this.#send.memoryBytes);
  }

  /** Charge the process-wide pre-authentication budget with what this session holds. */
  #chargePreAuth(): boolean {
    return chargePreAuth(this.#o.preAuthBudget, this, this.#est === null && !this.#isClosed() ? this.#hs.heldBytes + this.#asm.allocated : 0);
  }

  #now(): number {
    return this.#o.now ? this.#o.now() : performance.now();
  }

  /** The clock as a function for the parts that read it: one shared function, no closure per session, unless a test's clock is given. */
  #clock(): () => number {
    const o = this.#o;
    return o.now ? () => o.now!() : monotonic;
  }

  /** Content bytes of a bulk item that fills one paced bulk record (pacer.ts quantum); file chunks are cut no larger. */
  get bulkItemBytes(): number {
    return (this.#est?.pacer.quantum ?? MAX_PLAINTEXT) - ITEM_HEADER_LEN;
  }

  /** Bytes queued for the socket plus items not yet sealed. */
  get bufferedAmount(): number {
    return this.#send.bufferedAmount;
  }

  /** Start the handshake (initiator: compute a share and send HELLO; a promise only while an FFDHE share is computed). */
  start(): Promise<void> | undefined {
    return this.#hs.start();
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
      if (this.#hs.busy) {
        const e = this.#hs.hold(f);
        if (e !== null) return this.#fail(e);
        continue;
      }
      this.#frame(f);
    }
    if (this.#isClosed()) return;
    this.#asm.settle();
    if (this.#est === null && !this.#chargePreAuth()) return;
    // A bad header after whole frames: those were handled, now the stream ends.
    const err = this.#asm.error;
    if (err !== null && !this.#isClosed()) this.#fail(err);
  }

  #frame(f: Frame): void {
    try {
      if (this.#est === null) this.#hs.recv(f);
      else this.#est.read(f, this.#records);
    } catch (e) {
      this.#fail(e as Error);
    }
  }

  #established(d: Done): void {
    const res = d.result;
    // The last handshake frames go out in one write with the PROFILE record below.
    if (d.send.length > 0) this.#send.holdFrames(d.send);
    this.#est = new Established(res, this.#o.limits, this.#clock(), this.#o.pingBudget);
    this.#o.preAuthBudget?.set(this, 0);
    // PROTOCOL §4.5: the responder applies its trust policy once the initiator's AUTH
    // verified; a refusal then goes out as an encrypted ALERT, its first record.
    if (this.role === "responder") this.#o.verifyPeer?.(res.peerIdentity, this);
    this.peerIdentity = res.peerIdentity;
    this.th3 = res.th3;
    this.state = "profile";
    // PROTOCOL §6: PROFILE is the first item after the handshake, from both sides. It
    // goes out in a small record of its own, so that the peer can finish its handshake
    // even on a link that breaks every few kilobytes; sealed now, written (behind our last
    // handshake frames) with whatever this tick adds: the handshake's end is one write.
    this.send({ kind: "profile", instance: this.#o.profile.instance, name: this.#o.profile.name });
    if (!this.#isClosed()) this.#send.sealAhead(this.#est.writer, this.#est.keyUpdateDue);
    this.#ev.onEstablished?.(this);
  }

  #isClosed(): boolean {
    return this.state === "closed";
  }

  #profile(item: Extract<Item, { kind: "profile" }>): void {
    if (this.peerProfile === null) {
      this.peerProfile = { instance: new Uint8Array(item.instance), name: item.name };
      this.state = "open";
      // No probe here: the pacer's first goes ahead of the first file bytes (pacer.ts).
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
   * @throws Error when the session is not open; RangeError when the item cannot fit in a record, or for a TEXT whose id is outside 0..2^64 - 1.
   */
  send(item: Item): void {
    if (this.#est === null || this.#isClosed()) throw new Error("session is not open");
    // A TEXT's id is checked as sendText checks it: out of range, it would go out wrapped (2^64 as 0).
    if (item.kind === "text") checkTextId(item.id);
    this.#send.queue(item);
    this.#queued();
  }

  /**
   * Queue TEXT `id`, `text` as send({kind: "text", id, text}) does, without an Item object:
   * the per-message path. `id` is a number below 2^53 or a bigint up to 2^64 - 1; both go
   * on the wire as the same u64 (PROTOCOL §6).
   * @throws Error when the session is not open; RangeError for an id out of range or a text that cannot fit in a record.
   */
  sendText(id: TextId, text: string): void {
    if (this.#est === null || this.#isClosed()) throw new Error("session is not open");
    checkTextId(id);
    this.#send.queueText(id, text);
    this.#queued();
  }

  /** After an item was queued: the queue's bound, the budget, the flush in the next microtask. */
  #queued(): void {
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
    this.#est?.requestRekey();
    this.send({ kind: "padding", length: 0 });
  }

  /**
   * Seal every queued item now, packed into as few records as fit, and write them
   * (outbound.ts). While the socket is backed up, items stay queued and coalesce until
   * `drain`; `force` (closing) seals them behind what waits.
   */
  flush(force = false): void {
    this.#flushScheduled = false;
    const est = this.#est;
    if (est === null || this.#isClosed() || !this.#send.hasPending) return;
    this.lastSend = this.#now();
    if (!est.probedFirst) est.probeFirst(this.#send, this.lastSend);
    this.#send.bulkUntil = est.pacer.until(this.lastSend, this.#send.written);
    this.#send.bulkQuantum = est.pacer.quantum;
    this.#send.flush(est.writer, est.keyUpdateDue, force);
    if (!force) est.pace(this.#send, this);
    this.#afterOutput();
  }

  /** After output grew: charge the budget; a peer whose output is backed up is not read from. */
  #afterOutput(): void {
    this.#rp.afterOutput(this.#send);
    this.#chargeOutput();
  }

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
    this.#rp.afterDrain(this.#send, before, this.#isClosed());
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
    if (this.#est !== null) {
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
    const due = dueAt(now, { partialSince: this.#partialSince, startedAt: this.startedAt, lastRecv: this.lastRecv, lastSend: this.lastSend, handshaking: this.state !== "open", pingSentAt: this.#rp.paused ? 0 : this.#pingSentAt }, this.#o.limits);
    // Not read from while its output is backed up; a peer that then drains nothing is cut.
    if (this.#rp.stalled(now, this.#o.limits.outputStallMs)) {
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
    this.#closeInfo = { error: error ?? streamEnded(this.#asm, this.#est !== null), byPeer: true, reason: "" };
    this.#finalize();
  }

  #fail(e: Error): void {
    if (this.#isClosed()) return;
    const info: CloseInfo = { error: e, byPeer: e instanceof ProtocolError && e.code === "alert", reason: "" };
    if (e instanceof ProtocolError) {
      if (this.#est !== null) this.#send.clearPending(); // the alert goes next, nothing else
      const alert = alertBytes(e, this.#est?.writer ?? null, this.#hs.machine);
      // A flood from this prefix (PROTOCOL §7.3): reset, no alert, nothing more read.
      if (alert !== null && this.#est === null && this.#o.alertBeforeAuth?.(this) === false) return this.#closed(info, true);
      if (alert !== null) this.#write([alert]);
    }
    this.#closed(info);
  }

  /** `reset`: no FIN, no drain; the socket is dropped at once. */
  #closed(info: CloseInfo, reset = false): void {
    this.#closeInfo = info;
    this.#hs.drop();
    this.#o.preAuthBudget?.set(this, 0);
    // A peer not read from because its output is backed up is never read again: what it
    // sent meanwhile waits in the kernel, and reading it now would only make garbage.
    // Its socket is reset after the drain grace.
    const stalled = this.#rp.paused;
    const drain = this.#send.backedUp;
    // Finalize first: ending the socket can fire its close handler synchronously.
    this.#finalize();
    if (reset) {
      this.#socket.terminate();
    } else if (drain) {
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
    this.#est?.stopPacing();
    this.#send.clearPending();
    this.#hs.drop(); // queued work cancelled, held frames let go, a half-done handshake's secret wiped
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
