/** The shapes a Session shares with its owner (src/net/peer.ts) and the chat. */
import type { RandomSource } from "../crypto/random.ts";
import type { Group } from "../protocol/constants.ts";
import type { ProtocolError } from "../protocol/errors.ts";
import type { Identity } from "../protocol/handshake.ts";
import type { Item } from "../protocol/items.ts";
import type { Limits } from "./limits.ts";
import type { Session } from "./session.ts";

export type Role = "initiator" | "responder";

export type SessionState = "handshake" | "profile" | "open" | "closed";

/** How a session ended. `error` is null for a clean CLOSE by either side. */
export interface CloseInfo {
  error: ProtocolError | Error | null;
  byPeer: boolean;
  reason: string;
}

/** What a session reports to its owner. */
export interface SessionEvents {
  onReady(s: Session): void;
  /** Keys are in place and our PROFILE is queued: we may send (the peer's PROFILE may still be on its way). */
  onEstablished?(s: Session): void;
  onItem(s: Session, item: Item): void;
  onClose(s: Session, info: CloseInfo): void;
  onDrain?(s: Session): void;
}

/** What every session of one peer shares (one object per Peer, not per session). */
export interface SessionConfig {
  identity: Identity;
  profile: { instance: Uint8Array; name: string };
  /** Responder: the groups accepted. */
  accept: Group[];
  limits: Limits;
  random: RandomSource;
  /** Trust policy for the peer's identity; throws ProtocolError identity_rejected to refuse. */
  verifyPeer?: (identity: Uint8Array, s: Session) => void;
  now?: () => number;
}
