/**
 * Step 2 of the file transfer (PROTOCOL §11): one file item (0xA0..0xA8) of a session,
 * decoded and routed to the Receiver or the Sender. A malformed one is a fault of its
 * transfer, never of the connection (§11.5); a malformed FILE_SET is ignored (§11.11).
 */
import { FileType } from "../../protocol/constants.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { decodeFileItem, peekTransferId, type FileItem } from "../../protocol/files.ts";
import type { Receiver } from "./receiver.ts";
import type { Sender } from "./sender.ts";
import type { SessionFiles } from "./state.ts";

const TO_RECEIVER: ReadonlySet<number> = new Set([FileType.FILE_OFFER, FileType.FILE_CHUNK, FileType.FILE_DONE, FileType.FILE_CANCEL]);

export interface RouteDeps {
  receiver: Receiver;
  sender: Sender;
  /** A fault of the peer with no transfer to end: told to the person (bounded per session). */
  report(sf: SessionFiles, message: string): void;
}

/** One file item of type `type` (isFileType) with its `content`, for the session `sf`. */
export function routeFileItem(d: RouteDeps, sf: SessionFiles, type: FileType, content: Uint8Array): void {
  let fi: FileItem;
  try {
    fi = decodeFileItem(type, content);
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    // PROTOCOL §11.11: a malformed FILE_SET is ignored (the offer after it is a plain one).
    if (type === FileType.FILE_SET) return;
    if (type === FileType.FILE_OFFER) sf.pendingSet = null;
    const id = peekTransferId(content);
    if (id === null) return d.report(sf, `a malformed file item (${e.message}); ignored`);
    if (TO_RECEIVER.has(type)) return d.receiver.protocolFault(sf, id, e.message);
    const t = sf.out.get(id);
    if (t !== undefined) d.sender.fault(t, "protocol", e.message);
    else d.report(sf, `a malformed file item (${e.message}); ignored`);
    return;
  }
  const r = d.receiver;
  const w = d.sender;
  switch (fi.kind) {
    case "file_set":
      sf.pendingSet = fi;
      return;
    case "file_offer": {
      // PROTOCOL §11.11: the FILE_SET just before, when it names this offer; dropped in any case.
      const fs = sf.pendingSet?.id === fi.id ? sf.pendingSet : null;
      sf.pendingSet = null;
      return r.onOffer(sf, fi, fs);
    }
    case "file_chunk":
      return r.onChunk(sf, fi);
    case "file_done":
      return r.onDone(sf, fi);
    case "file_cancel":
      return r.onCancel(sf, fi);
    case "file_accept":
      return w.onAccept(sf, fi);
    case "file_pending":
      return w.onPending(sf, fi);
    case "file_reject":
      return w.onReject(sf, fi);
    case "file_received":
      return w.onReceived(sf, fi);
  }
}
