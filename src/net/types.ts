/** The shapes a Session shares with its owner (src/net/peer.ts) and the chat. */
import type { RandomSource } from "../crypto/random.ts";
import type { Group } from "../protocol/constants.ts";
import type { ProtocolError } from "../protocol/errors.ts";
import type { Identity } from "../protocol/machine.ts";
import type { Item, TextId } from "../protocol/items.ts";
import type { ByteBudget, Limits, TokenBucket } from "./limits.ts";

export type Role = "initiator" | "responder";

export type SessionState = "handshake" | "profile" | "open" | "closed";

/**
 * The byte stream under a session: a Bun TCP socket in Peer, a fake in tests (two
 * sessions joined back to back, no socket at all).
 */
export interface Transport {
  /**
   * Write what it takes now of `data[byteOffset..byteOffset+byteLength)` (default: all of
   * it); returns how many bytes it took (the rest waits for drain). Bun's socket does this
   * without a view; the record path writes its shared output buffer from an offset.
   */
  write(data: Uint8Array, byteOffset?: number, byteLength?: number): number;
  /** Stop reading (output is backed up) / read again. */
  pause(): void;
  resume(): void;
  /** Close after what was written (FIN). */
  end(): void;
  /** Close at once (RST). */
  terminate(): void;
}

/** How a session ended. `error` is null for a clean CLOSE by either side. */
export interface CloseInfo {
  error: ProtocolError | Error | null;
  byPeer: boolean;
  reason: string;
}

/**
 * The narrow view of one session that the chat depends on (src/chat never holds the
 * socket-owning Session class, so its delivery and file code can be tested with fakes).
 */
export interface PeerSession {
  readonly role: Role;
  /** host:port as dialled (initiator), or the remote address (responder). */
  readonly address: string;
  readonly state: SessionState;
  /** The peer's Ed25519 key, once its AUTH verified. */
  readonly peerIdentity: Uint8Array | null;
  /** The peer's PROFILE, once it arrived (state "open"). */
  readonly peerProfile: { instance: Uint8Array; name: string } | null;
  /** The transcript hash th3 (PROTOCOL §5), once established. */
  readonly th3: Uint8Array | null;
  /** Bytes queued for the socket plus items not yet sealed. */
  readonly bufferedAmount: number;
  /** Content bytes of one bulk (file) item that fits the path's bulk record (pacer.ts quantum); absent: any size. */
  readonly bulkItemBytes?: number;
  /** The key-exchange group in use, once the HELLO is sent or read (null before). */
  readonly group?: Group | null;
  /** Queue one item. @throws Error when the session is not open; RangeError when the item cannot fit in a record. */
  send(item: Item): void;
  /**
   * Queue TEXT `id`, `text` as send({kind: "text", id, text}) does, with no Item object (the per-message path).
   * @throws Error when the session is not open; RangeError for an id outside 0..2^64 - 1 (a number: below 2^53) or a text that cannot fit in a record.
   */
  sendText(id: TextId, text: string): void;
  /** Close cleanly with CLOSE. */
  close(reason?: string): void;
  /** End the session for a fault its owner found: the alert, then close. */
  abort(e: ProtocolError): void;
  /** Ask for a KEY_UPDATE in the next record. */
  rekey(): void;
  /** Stop (true) or resume (false) reading the socket, for the owner's own backlog (its front end's output). */
  pauseReading?(on: boolean): void;
}

/** What a session reports to its owner. */
export interface SessionEvents<S = PeerSession> {
  onReady(s: S): void;
  /** Keys are in place and our PROFILE is queued: we may send (the peer's PROFILE may still be on its way). */
  onEstablished?(s: S): void;
  onItem(s: S, item: Item): void;
  /**
   * A TEXT, as its id (a number below 2^53, a bigint from there) and its text, with no
   * Item object. Absent: TEXT goes to onItem as an Item, its id a bigint.
   */
  onText?(s: S, id: TextId, text: string): void;
  onClose(s: S, info: CloseInfo): void;
  onDrain?(s: S): void;
}

/** What every session of one peer shares (one object per Peer, not per session). */
export interface SessionConfig<S = PeerSession> {
  identity: Identity;
  profile: { instance: Uint8Array; name: string };
  /** Responder: the groups accepted. */
  accept: Group[];
  limits: Limits;
  random: RandomSource;
  /** Trust policy for the peer's identity; throws ProtocolError identity_rejected to refuse. */
  verifyPeer?: (identity: Uint8Array, s: S) => void;
  now?: () => number;
  /** Process-wide: bytes sessions hold before authentication (limits.ts maxPreAuthBytes). */
  preAuthBudget?: ByteBudget<S>;
  /** Process-wide: PINGs answered (limits.ts pingsPerSecondTotal). */
  pingBudget?: TokenBucket;
  /** Process-wide: real memory of queued output (limits.ts maxOutputBytes). */
  outputBudget?: ByteBudget<S>;
  /** Responder, FFDHE group: a refusal sentence (answered with busy), or null to go ahead. */
  admitKex?: (s: S, group: Group) => string | null;
  /** Whether this session's key exchange goes first (its address authenticated before). */
  kexPriority?: (s: S) => boolean;
  /**
   * A fault before authentication would send a plaintext ALERT: whether it may (false:
   * the connection is reset without it, limits.ts preAuthAlertsPerPrefixPerSecond).
   */
  alertBeforeAuth?: (s: S) => boolean;
}
