/**
 * The shapes of a Peer (peer.ts): the options and events the chat gives it, and what each
 * of its sockets carries (a dial's bookkeeping), with the one sentence for a failed dial.
 */
import type { RandomSource } from "../crypto/random.ts";
import type { Group } from "../protocol/constants.ts";
import type { Identity } from "../protocol/machine.ts";
import type { Item, TextId } from "../protocol/items.ts";
import type { Limits } from "./limits.ts";
import { connectFailure, ConnectError } from "./route.ts";
import type { Session } from "./session.ts";
import type { CloseInfo, Role } from "./types.ts";

export interface PeerEvents {
  onReady?(s: Session): void;
  onItem?(s: Session, item: Item): void;
  /** A TEXT as (id, text), no Item object (SessionEvents.onText); absent: TEXT goes to onItem. */
  onText?(s: Session, id: TextId, text: string): void;
  onClose?(s: Session, info: CloseInfo): void;
  onDrain?(s: Session): void;
  /** An incoming connection was turned away with ALERT busy before any session existed. */
  onRefused?(address: string, reason: string): void;
}

export interface PeerOptions {
  identity: Identity;
  profile: { instance: Uint8Array; name: string };
  /** Group offered when dialling (default X25519). */
  group?: Group;
  /** Groups accepted when answering, and allowed for a retry after unsupported_group. */
  accept?: Group[];
  limits?: Partial<Limits>;
  random?: RandomSource;
  /** Trust policy; throw ProtocolError identity_rejected to refuse. */
  verifyPeer?: (identity: Uint8Array, ctx: { role: Role; address: string }) => void;
  events?: PeerEvents;
}

/** What a socket of the Peer's carries: its session once one exists, and the dial it answers (none for one accepted). */
export type SocketData = { session: Session | null; dial?: Dial };
/** One Peer.connect: where it goes, its group and retry, its deadline, and how it settles. */
export type Dial = {
  host: string;
  port: number;
  group: Group;
  retried: boolean;
  early: boolean;
  resolve: (s: Session) => void;
  reject: (e: Error) => void;
  /** The connect deadline (Limits.connectTimeoutMs): cleared by the peer's first byte. */
  timer?: ReturnType<typeof setTimeout> | null;
  /** The deadline passed: the attempt was given up and its session ends quietly. */
  abandoned?: boolean;
  session?: Session;
  /** The address the host name resolved to for this attempt (route.ts checks its route). */
  ip?: string;
};

/** The dial `d` failed with the OS error `code` (ECONNREFUSED made precise by route.ts): one sentence, the code kept. */
export function dialFailed(d: Dial, err: Error, code: string | undefined): ConnectError {
  return new ConnectError(`could not connect to ${d.host}:${d.port}: ${connectFailure(code, err.message)}`, err, code);
}
