/**
 * ProtocolError: every fault a peer can cause, with a code from one union.
 * Tests assert the code; the message is one human sentence for the operator and
 * never carries key material or unescaped peer bytes.
 */
import { AlertCode, type AlertName } from "./constants.ts";

/** Every peer-caused failure, by cause. */
export type ErrorCode =
  | "frame_type" // unknown frame type (PROTOCOL §2)
  | "frame_length" // a length the frame type does not allow (§2)
  | "truncated" // the connection ended inside a frame (§2)
  | "unexpected_message" // a frame or item the current state does not allow (§8)
  | "unsupported_version" // HELLO version is not 1 (§3)
  | "unsupported_group" // group not accepted; `accepted` lists the ones that are (§3)
  | "bad_hello" // HELLO / HELLO_REPLY malformed: wrong size for its group, group changed (§3)
  | "bad_share" // key share out of range, outside the subgroup, or zero secret (§3)
  | "reflection" // the peer's ephemeral or identity equals our own (§8)
  | "bad_record" // tag mismatch or bad padding: one uniform failure (§5)
  | "bad_item" // malformed item encoding, sizes, or unknown required type (§6)
  | "invalid_utf8" // TEXT, CLOSE, PROFILE or ALERT text is not UTF-8 (§6)
  | "oversized" // record plaintext over 65280 bytes (§5)
  | "key_exhausted" // peer sent 2^20 records without KEY_UPDATE (§6)
  | "auth_failed" // AUTH signature invalid (§4)
  | "identity_rejected" // the identity is not the one we trust (edge policy)
  | "alert" // the peer sent an alert; `alert` holds its code
  | "timeout" // the handshake or a read deadline passed (edge policy)
  | "busy"; // a local cap was reached (edge policy)

/** Which alert code the peer is sent for each local error. */
export const ALERT_FOR: Record<ErrorCode, AlertName | null> = {
  frame_type: "protocol_error",
  frame_length: "protocol_error",
  truncated: null,
  unexpected_message: "protocol_error",
  unsupported_version: "unsupported_version",
  unsupported_group: "unsupported_group",
  bad_hello: "protocol_error",
  bad_share: "protocol_error",
  reflection: "auth_failed",
  bad_record: "bad_record",
  bad_item: "protocol_error",
  invalid_utf8: "protocol_error",
  oversized: "protocol_error",
  key_exhausted: "protocol_error",
  auth_failed: "auth_failed",
  identity_rejected: "identity_rejected",
  alert: null, // never answer an alert with an alert
  timeout: "timeout",
  busy: "busy",
};

/**
 * For code "truncated": where the byte stream ended. "between_frames" after the handshake
 * is a peer gone without CLOSE (killed, crashed, network dropped); "mid_frame" cut a
 * frame; "handshake" ended before the session was up.
 */
export type EndedAt = "handshake" | "between_frames" | "mid_frame";

/** Extra detail some codes carry. */
export interface ErrorExtra {
  accepted?: number[];
  alert?: number;
  ended?: EndedAt;
}

/** A fault caused by the peer (or by the network). */
export class ProtocolError extends Error {
  readonly code: ErrorCode;
  /** For code "unsupported_group": the group ids the responder accepts. */
  readonly accepted?: number[];
  /** For code "alert": the alert code the peer sent. */
  readonly alert?: number;
  /** For code "truncated": where the stream ended. */
  readonly ended?: EndedAt;

  constructor(code: ErrorCode, message: string, extra: ErrorExtra = {}) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
    if (extra.accepted) this.accepted = extra.accepted;
    if (extra.alert !== undefined) this.alert = extra.alert;
    if (extra.ended !== undefined) this.ended = extra.ended;
  }

  /** The alert code to send the peer for this error, or null when none is sent. */
  get alertCode(): number | null {
    const name = ALERT_FOR[this.code];
    return name === null ? null : AlertCode[name];
  }
}

/** Shorthand: `throw fail("bad_item", "…")`. */
export function fail(code: ErrorCode, message: string, extra?: ErrorExtra): ProtocolError {
  return new ProtocolError(code, message, extra);
}
