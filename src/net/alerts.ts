/**
 * Which alert a failing session can still send (PROTOCOL §7): toward the peer only the
 * code (unsupported_group also lists the accepted group ids), and only in a form the peer
 * can read at that moment. And what a session that the peer ended without CLOSE reports.
 */
import { fail, type ProtocolError } from "../protocol/errors.ts";
import type { FrameAssembler } from "../protocol/frame.ts";
import { encodeAlertFrame, type Initiator, type Responder } from "../protocol/handshake.ts";
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
  if (hs === null) return encodeAlertFrame(code); // no handshake yet: no keys on either side
  return hs.alertFor(code, e.accepted);
}

/**
 * The error of a session whose socket closed under it with no error of its own: a frame
 * left half-read (the assembler's error), or `truncated`, during the handshake or after.
 */
export function streamEnded(asm: FrameAssembler, established: boolean): Error {
  try {
    asm.end();
  } catch (e) {
    return e as Error;
  }
  return established ? fail("truncated", "the peer closed the connection without CLOSE", { ended: "between_frames" }) : fail("truncated", "the peer closed the connection during the handshake", { ended: "handshake" });
}
