/**
 * The sotto/1 handshake (PROTOCOL §3, §4, §8) as two pure state machines.
 *
 *   Initiator                                        Responder
 *   hello()            ── HELLO ──────────────────▶  recv(HELLO)      → {kex}
 *                                                    completeKex(share, Z)
 *   recv(HELLO_REPLY)  ◀─ HELLO_REPLY, AUTH_r ─────  (sends both)
 *     → {kex}; completeKex(Z)
 *   recv(AUTH_r)       ── AUTH_i ─────────────────▶  recv(AUTH_i)     → {done}
 *     → {done, send AUTH_i}
 *
 * The Diffie-Hellman arithmetic is not done here: the machine asks for it ({kind: "kex"})
 * and the edge answers with completeKex, synchronously (X25519) or after a worker thread
 * has computed it (ffdhe*); finishKex({ z, share? }) is the same answer in one shape for
 * both roles (net/kex.ts uses it). Randomness (nonce, record IVs) and the ephemeral share come in
 * as parameters, so a whole handshake replays from fixed inputs (test/vectors).
 * Each step checks everything first and only then commits state; temporaries are wiped.
 */
import { wipe } from "../crypto/bytes.ts";
import { ctEqual } from "../crypto/hash.ts";
import type { RandomSource } from "../crypto/random.ts";
import { authItem, sealAuth, verifyAuth } from "./auth.ts";
import { AlertCode, FrameType, Group, isGroup, Label, NONCE_LEN, SHARE_LEN, VERSION } from "./constants.ts";
import { fail } from "./errors.ts";
import type { Frame } from "./frame.ts";
import { alertFrameError, checkSecret, checkShare, encodeAlertFrame, encodeHello, FFDHE_OF, parseHello, subgroupFault, UNREPORTED } from "./hello.ts";
import { encodeItems } from "./items.ts";
import { Machine, type Done, type Identity, type KexRequest, type KexResult } from "./machine.ts";
import { RecordReader, RecordWriter } from "./record.ts";
import { handshakeKeys, handshakeSecret, trafficSecrets } from "./schedule.ts";

export { alertFrameError, checkShare, encodeAlertFrame, encodeHello } from "./hello.ts";

/** Inputs of an Initiator. */
export interface InitiatorOptions {
  group: Group;
  /** Our ephemeral public share for `group`. */
  share: Uint8Array;
  /** 32 fresh random bytes. */
  nonce: Uint8Array;
  identity: Identity;
  random: RandomSource;
  /** Local trust policy for the responder's identity; throw ProtocolError identity_rejected to refuse. */
  verifyPeer?: (identity: Uint8Array) => void;
}

/** The initiator's state machine: start → wait_reply → wait_secret → wait_auth → done. */
export class Initiator extends Machine {
  readonly group: Group;
  readonly #opts: InitiatorOptions;
  #reader: RecordReader | null = null;
  #writer: RecordWriter | null = null;
  /** Our AUTH went out: no alert of ours can be read any more (alertFor). */
  #authSent = false;
  #th1: Uint8Array | null = null;

  /** `share` is our ephemeral public share for `group`; `nonce` 32 fresh random bytes. */
  constructor(opts: InitiatorOptions) {
    super();
    if (opts.nonce.length !== NONCE_LEN) throw new TypeError(`"nonce" expected ${NONCE_LEN} bytes, got ${opts.nonce.length}`);
    if (opts.share.length !== SHARE_LEN[opts.group]) throw new TypeError(`"share" expected ${SHARE_LEN[opts.group]} bytes, got ${opts.share.length}`);
    this.group = opts.group;
    this.#opts = opts;
  }

  /** The HELLO frame to send first. */
  hello(): Uint8Array {
    this.enter("start");
    try {
      const h = encodeHello(FrameType.HELLO, this.group, this.#opts.nonce, this.#opts.share);
      this.transcript.add(h);
      this.state = "wait_reply";
      return h;
    } catch (e) {
      return this.abort(e);
    }
  }

  /**
   * Feed a frame from the responder.
   * @throws ProtocolError for every fault in PROTOCOL §8's initiator table.
   */
  recv(f: Frame): KexRequest | Done {
    const reply = this.state === "wait_reply";
    this.enter(reply ? "wait_reply" : "wait_auth");
    try {
      return reply ? this.#onReply(f) : this.#onAuth(f);
    } catch (e) {
      return this.abort(e);
    }
  }

  #onReply(f: Frame): KexRequest {
    if (f.type === FrameType.ALERT) throw alertFrameError(f);
    if (f.type !== FrameType.HELLO_REPLY) throw fail("unexpected_message", "expected HELLO_REPLY");
    const h = parseHello(f);
    if (h.version !== VERSION) throw fail("unsupported_version", `the peer answered with version ${h.version}`);
    if (h.group !== this.group) throw fail("bad_hello", "the peer answered in a different group");
    checkShare(this.group, h.share);
    if (ctEqual(h.share, this.#opts.share)) throw fail("reflection", "the peer echoed our own key share");
    this.transcript.add(f.bytes);
    this.#th1 = this.transcript.hash();
    this.state = "wait_secret";
    return { kind: "kex", group: this.group, peerShare: h.share };
  }

  finishKex(r: KexResult): Uint8Array[] {
    this.completeKex(r.z);
    return [];
  }

  /** Z for the requested exchange (ownership passes: Z is wiped). @throws ProtocolError bad_share. */
  completeKex(z: Uint8Array): void {
    this.enter("wait_secret");
    try {
      checkSecret(this.group, z);
      this.hs = handshakeSecret(z);
      wipe(z);
      const hk = handshakeKeys(this.hs, this.#th1!);
      this.#reader = RecordReader.forOneRecord(hk.r2i);
      this.#writer = RecordWriter.forOneRecord(hk.i2r, this.#opts.random);
      this.state = "wait_auth";
    } catch (e) {
      this.abort(e);
    }
  }

  #onAuth(f: Frame): Done {
    if (f.type !== FrameType.RECORD) throw fail("unexpected_message", "expected the responder's AUTH record");
    const item = authItem(this.#reader!.open(f.bytes));
    this.#reader = null; // its one record is open: the handshake keys go as they are done with
    const peer = verifyAuth(item, Label.responder_auth, this.#th1!, this.#opts.identity.publicKey);
    // Local trust policy runs before our own AUTH is sealed: a refused responder never
    // learns who we are (PROTOCOL §4, initiator identity hiding).
    this.#opts.verifyPeer?.(peer);
    this.transcript.add(f.bytes);
    const th2 = this.transcript.hash();
    const auth = sealAuth(this.#writer!, this.#opts.identity, Label.initiator_auth, th2);
    this.#authSent = true;
    this.#writer = null;
    this.transcript.add(auth);
    const th3 = this.transcript.hash();
    const ts = trafficSecrets(this.hs!, th3);
    return { kind: "done", send: [auth], result: this.finish(th3, ts.i2r, ts.r2i, peer, this.#opts.random) };
  }

  /**
   * The alert to send after a failure (PROTOCOL §7): a plaintext ALERT frame while no
   * keys exist, a record under hk_i2r at sequence 0 once they do (e.g. identity_rejected
   * before our AUTH), or null once our AUTH is sent.
   */
  alertFor(code: number): Uint8Array | null {
    if (this.#authSent) return null;
    if (this.#writer === null) return encodeAlertFrame(code);
    if (this.#writer.seq !== 0) return null;
    return this.#writer.seal(encodeItems([{ kind: "alert", code, reason: "" }]));
  }
}

export interface ResponderOptions {
  accept: Group[];
  nonce: Uint8Array;
  identity: Identity;
  random: RandomSource;
  /**
   * Leave the subgroup check of an FFDHE share (a Jacobi symbol over the whole modulus:
   * ≈ 0.6 ms for ffdhe3072) to whoever computes Z, so that a HELLO costs the caller's
   * thread only the length and range checks (docs/SECURITY.md §10). The KexRequest then
   * carries `checkSubgroup`, and finishKex needs `subgroupOk` (false → bad_share).
   */
  offloadSubgroupCheck?: boolean;
}

/** The responder's state machine: start → wait_secret → wait_auth → done. */
export class Responder extends Machine {
  readonly #opts: ResponderOptions;
  #group: Group | null = null;
  #peerShare: Uint8Array | null = null;
  #reader: RecordReader | null = null;
  /** Our HELLO_REPLY and AUTH exist (alertFor). */
  #keyed = false;
  #th2: Uint8Array | null = null;
  /** The subgroup check of the initiator's share is left to the edge and not reported yet. */
  #subgroupPending = false;

  /** `accept` is the local group policy, `nonce` 32 fresh random bytes. */
  constructor(opts: ResponderOptions) {
    super();
    if (opts.nonce.length !== NONCE_LEN) throw new TypeError(`"nonce" expected ${NONCE_LEN} bytes, got ${opts.nonce.length}`);
    if (opts.accept.length === 0) throw new TypeError(`"accept" must name at least one group`);
    this.#opts = opts;
  }

  /**
   * The alert to send after a failure (PROTOCOL §7): a plaintext ALERT frame until our
   * keys exist (before or while the key exchange runs); null once HELLO_REPLY and AUTH
   * went out, since the initiator then reads no record of ours it could decrypt.
   * `accepted` fills the reason of unsupported_group.
   */
  alertFor(code: number, accepted: number[] = []): Uint8Array | null {
    if (this.#keyed) return null;
    return encodeAlertFrame(code, code === AlertCode.unsupported_group ? new Uint8Array(accepted) : undefined);
  }

  /** The group the initiator chose (after its HELLO). */
  get group(): Group | null {
    return this.#group;
  }

  /** Feed a frame from the initiator. @throws ProtocolError for every fault in PROTOCOL §8's responder table. */
  recv(f: Frame): KexRequest | Done {
    const hello = this.state === "start";
    this.enter(hello ? "start" : "wait_auth");
    try {
      return hello ? this.#onHello(f) : this.#onAuth(f);
    } catch (e) {
      return this.abort(e);
    }
  }

  #onHello(f: Frame): KexRequest {
    if (f.type === FrameType.ALERT) throw alertFrameError(f);
    if (f.type !== FrameType.HELLO) throw fail("unexpected_message", "expected HELLO");
    const h = parseHello(f);
    if (h.version !== VERSION) throw fail("unsupported_version", `the peer speaks version ${h.version}`);
    if (!isGroup(h.group) || !this.#opts.accept.includes(h.group)) {
      throw fail("unsupported_group", `the peer asked for group ${h.group}, which this peer does not accept`, { accepted: [...this.#opts.accept] });
    }
    const offload = this.#opts.offloadSubgroupCheck === true && FFDHE_OF[h.group] !== undefined;
    checkShare(h.group, h.share, !offload);
    this.#group = h.group;
    this.#peerShare = h.share;
    // th1 = H(HELLO | HELLO_REPLY): the HELLO goes into the running hash now (no copy of it
    // kept until the reply exists); everything about it was checked above.
    this.transcript.add(f.bytes);
    this.state = "wait_secret";
    if (offload) {
      this.#subgroupPending = true;
      return { kind: "kex", group: h.group, peerShare: this.#peerShare, checkSubgroup: true };
    }
    return { kind: "kex", group: h.group, peerShare: this.#peerShare };
  }

  finishKex(r: KexResult): Uint8Array[] {
    if (this.#subgroupPending) {
      // Fail closed: Z from a share whose subgroup check was not reported is never used.
      if (r.subgroupOk === undefined) throw new TypeError(UNREPORTED);
      if (!r.subgroupOk) {
        this.enter("wait_secret");
        return this.abort(subgroupFault(FFDHE_OF[this.#group!]!.name, "subgroup"));
      }
    }
    if (r.share === undefined) throw new TypeError(`"share" expected the responder's ephemeral share`);
    this.#subgroupPending = false;
    return this.completeKex(r.share, r.z);
  }

  /**
   * Our ephemeral share and Z (Z is wiped). Returns the frames to send: HELLO_REPLY and
   * the AUTH record; refused (TypeError) while a subgroup check left to the caller is unreported.
   * @throws ProtocolError bad_share / reflection.
   */
  completeKex(share: Uint8Array, z: Uint8Array): Uint8Array[] {
    // Fail closed: this door to Z is shut too while the offloaded check is unreported.
    if (this.#subgroupPending) throw new TypeError(UNREPORTED);
    this.enter("wait_secret");
    try {
      const group = this.#group!;
      if (share.length !== SHARE_LEN[group]) throw new TypeError(`"share" expected ${SHARE_LEN[group]} bytes, got ${share.length}`);
      if (ctEqual(share, this.#peerShare!)) throw fail("reflection", "the peer sent our own key share");
      checkSecret(group, z);
      const reply = encodeHello(FrameType.HELLO_REPLY, group, this.#opts.nonce, share);
      this.transcript.add(reply);
      const th1 = this.transcript.hash();
      this.hs = handshakeSecret(z);
      wipe(z);
      const hk = handshakeKeys(this.hs, th1);
      this.#reader = RecordReader.forOneRecord(hk.i2r);
      this.#keyed = true;
      const auth = sealAuth(RecordWriter.forOneRecord(hk.r2i, this.#opts.random), this.#opts.identity, Label.responder_auth, th1);
      this.transcript.add(auth);
      this.#th2 = this.transcript.hash();
      this.state = "wait_auth";
      return [reply, auth];
    } catch (e) {
      return this.abort(e);
    }
  }

  #onAuth(f: Frame): Done {
    // An initiator that failed before it had keys can only send a plaintext ALERT.
    if (f.type === FrameType.ALERT) throw alertFrameError(f);
    if (f.type !== FrameType.RECORD) throw fail("unexpected_message", "expected the initiator's AUTH record");
    const item = authItem(this.#reader!.open(f.bytes));
    this.#reader = null; // its one record is open: the handshake keys go as they are done with
    const peer = verifyAuth(item, Label.initiator_auth, this.#th2!, this.#opts.identity.publicKey);
    this.transcript.add(f.bytes);
    const th3 = this.transcript.hash();
    const ts = trafficSecrets(this.hs!, th3);
    return { kind: "done", send: [], result: this.finish(th3, ts.r2i, ts.i2r, peer, this.#opts.random) };
  }
}
