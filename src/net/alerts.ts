/**
 * Which alert a failing session can still send (PROTOCOL §7): toward the peer only the
 * code (unsupported_group also lists the accepted group ids), and only in a form the peer
 * can read at that moment.
 */
import { AlertCode } from "../protocol/constants.ts";
import type { ProtocolError } from "../protocol/errors.ts";
import { encodeAlertFrame, Initiator, type Responder } from "../protocol/handshake.ts";
import { encodeItems } from "../protocol/items.ts";
import type { RecordWriter } from "../protocol/record.ts";

/**
 * The bytes to send for local error `e`: an encrypted ALERT item once traffic keys
 * exist; during the handshake what the machine allows; null when no alert is due or the
 * peer could not read one (a responder waiting for the initiator's AUTH).
 */
export function alertBytes(e: ProtocolError, writer: RecordWriter | null, hs: Initiator | Responder | null): Uint8Array | null {
  const code = e.alertCode;
  if (code === null) return null;
  if (writer !== null) {
    try {
      return writer.seal(encodeItems([{ kind: "alert", code, reason: "" }]));
    } catch {
      return null; // keys must be updated first: close without an alert
    }
  }
  if (hs instanceof Initiator) return hs.alertFor(code);
  if (hs === null || hs.group === null) {
    return encodeAlertFrame(code, code === AlertCode.unsupported_group ? new Uint8Array(e.accepted ?? []) : undefined);
  }
  return null; // responder waiting for AUTH: no key the initiator can read
}
