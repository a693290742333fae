/**
 * What both handshake machines of handshake.ts share: the types they take and hand out,
 * and the Machine base (its state, the running transcript, the handshake secret hs, and
 * how a step begins, fails and ends). Pure, like them.
 */
import { wipe } from "../crypto/bytes.ts";
import type { RandomSource } from "../crypto/random.ts";
import type { KeyObject } from "node:crypto";
import type { Group } from "./constants.ts";
import { fail } from "./errors.ts";
import { RecordReader, RecordWriter } from "./record.ts";
import { Transcript } from "./schedule.ts";

/** A long-term Ed25519 identity. */
export interface Identity {
  privateKey: KeyObject;
  publicKey: Uint8Array;
}

/** What a finished handshake hands to the session. */
export interface HandshakeResult {
  peerIdentity: Uint8Array;
  writer: RecordWriter;
  reader: RecordReader;
  /** th3, the hash of the whole handshake (a session id; not secret). */
  th3: Uint8Array;
}

/** What the machine asks of the edge after a hello: compute Z with this peer share. */
export interface KexRequest {
  kind: "kex";
  group: Group;
  peerShare: Uint8Array;
  /**
   * The subgroup check of an FFDHE share is left to whoever computes Z (a responder made
   * with `offloadSubgroupCheck`): it must report the check's outcome in
   * KexResult.subgroupOk, and Z is not used without it.
   */
  checkSubgroup?: true;
}

/** The edge's answer to a KexRequest: Z, and (a responder's) our ephemeral share. */
export interface KexResult {
  z: Uint8Array;
  share?: Uint8Array;
  /** The outcome of the subgroup check a request with `checkSubgroup` asked for. */
  subgroupOk?: boolean;
}

/** The handshake is over: send `send` (possibly nothing) and switch to `result`. */
export interface Done {
  kind: "done";
  send: Uint8Array[];
  result: HandshakeResult;
}

/** The base of Initiator and Responder: the state, the transcript, hs, and how a step begins, fails and ends. */
export abstract class Machine {
  protected state = "start";
  protected readonly transcript = new Transcript();
  protected hs: Uint8Array | null = null;

  /** The current state name (for logs and tests). */
  get phase(): string {
    return this.state;
  }

  /**
   * The exchange a KexRequest asked for is done, in one shape for both roles (the edge,
   * net/kex.ts, need not know which): returns the frames to send (none for an initiator).
   * @throws ProtocolError bad_share / reflection; TypeError when a responder gets no share.
   */
  abstract finishKex(r: KexResult): Uint8Array[];

  /**
   * Begin one step: the machine must be in `expect`. Each step's body runs in a try whose
   * catch calls `abort`: any peer fault leaves the machine failed for good. (No closure
   * per step: a handshake runs seven of them.)
   */
  protected enter(expect: string): void {
    if (this.state !== expect) {
      const was = this.state;
      this.state = "failed";
      throw fail("unexpected_message", was === "failed" ? "the handshake already failed" : `the handshake is in state ${was}, not ${expect}`);
    }
  }

  /** The connection went away mid-handshake: the machine is failed for good and its secret wiped (no-op once done). */
  discard(): void {
    if (this.state === "done") return;
    this.state = "failed";
    wipe(this.hs ?? undefined);
    this.hs = null;
  }

  /** A step failed: the machine is failed for good, its secret wiped; `e` is rethrown. */
  protected abort(e: unknown): never {
    this.state = "failed";
    wipe(this.hs ?? undefined);
    throw e;
  }

  protected finish(th3: Uint8Array, sendSecret: Uint8Array, recvSecret: Uint8Array, peer: Uint8Array, random: RandomSource): HandshakeResult {
    wipe(this.hs!);
    this.hs = null;
    this.state = "done";
    return { peerIdentity: peer, writer: RecordWriter.fromSecret(sendSecret, random), reader: RecordReader.fromSecret(recvSecret), th3 };
  }
}
