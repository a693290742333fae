/**
 * Step 2 of the file transfer (PROTOCOL §11): the handler of each file item type
 * (0xA0..0xA8), registered once with the chat's table of optional item types, so a
 * FILE_CHUNK goes from the session's record straight to Receiver.onChunk. Each handler
 * decodes its one type; a malformed item is a fault of its transfer, never of the
 * connection (§11.5); a malformed FILE_SET is ignored (§11.11).
 */
import { FileType } from "../../protocol/constants.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { decodeFileItem, peekTransferId, type FileItem } from "../../protocol/files.ts";
import type { Receiver } from "./receiver.ts";
import type { Sender } from "./sender.ts";
import type { SessionFiles } from "./state.ts";

type Wire<K extends FileItem["kind"]> = Extract<FileItem, { kind: K }>;

/** The handler of one file item type: the session's file state and the item's content. */
export type FileHandler = (sf: SessionFiles, content: Uint8Array) => void;

export interface RouteDeps {
  receiver: Receiver;
  sender: Sender;
  /** A file item came on the session, well formed or not: the peer implements §11 (transfers.ts). */
  heard(sf: SessionFiles): void;
  /** A fault of the peer with no transfer to end: told to the person (bounded per session). */
  report(sf: SessionFiles, message: string): void;
}

/** The handler of every file item type, by type. */
export function fileHandlers(d: RouteDeps): Map<number, FileHandler> {
  const r = d.receiver;
  const w = d.sender;
  // The handler of `type`: its items decoded as `kind` (anything else is a bug here), then `handle`.
  const on = <K extends FileItem["kind"]>(type: FileType, kind: K, handle: (sf: SessionFiles, it: Wire<K>) => void): [number, FileHandler] => [
    type,
    (sf, content) => {
      d.heard(sf);
      const it = decode(d, sf, type, content);
      if (it === null) return;
      if (it.kind !== kind) throw new Error(`file item type 0x${type.toString(16)} decoded as ${it.kind}, not ${kind}`);
      handle(sf, it as Wire<K>);
    },
  ];
  return new Map([
    on(FileType.FILE_SET, "file_set", (sf, it) => void (sf.pendingSet = it)),
    on(FileType.FILE_OFFER, "file_offer", (sf, it) => {
      // PROTOCOL §11.11: the FILE_SET just before, when it names this offer; dropped in any case.
      const fs = sf.pendingSet?.id === it.id ? sf.pendingSet : null;
      sf.pendingSet = null;
      r.onOffer(sf, it, fs);
    }),
    on(FileType.FILE_CHUNK, "file_chunk", (sf, it) => r.onChunk(sf, it)),
    on(FileType.FILE_DONE, "file_done", (sf, it) => r.onDone(sf, it)),
    on(FileType.FILE_CANCEL, "file_cancel", (sf, it) => r.onCancel(sf, it)),
    on(FileType.FILE_ACCEPT, "file_accept", (sf, it) => w.onAccept(sf, it)),
    on(FileType.FILE_PENDING, "file_pending", (sf, it) => w.onPending(sf, it)),
    on(FileType.FILE_REJECT, "file_reject", (sf, it) => w.onReject(sf, it)),
    on(FileType.FILE_RECEIVED, "file_received", (sf, it) => w.onReceived(sf, it)),
  ]);
}

const TO_RECEIVER: ReadonlySet<number> = new Set([FileType.FILE_OFFER, FileType.FILE_CHUNK, FileType.FILE_DONE, FileType.FILE_CANCEL]);

/** The item, or null when it was malformed (and the fault was dealt with). */
function decode(d: RouteDeps, sf: SessionFiles, type: FileType, content: Uint8Array): FileItem | null {
  try {
    return decodeFileItem(type, content);
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    // PROTOCOL §11.11: a malformed FILE_SET is ignored (the offer after it is a plain one).
    if (type === FileType.FILE_SET) return null;
    if (type === FileType.FILE_OFFER) sf.pendingSet = null;
    const id = peekTransferId(content);
    if (id === null) d.report(sf, `a malformed file item (${e.message}); ignored`);
    else if (TO_RECEIVER.has(type)) d.receiver.protocolFault(sf, id, e.message);
    else {
      const t = sf.out.get(id);
      if (t !== undefined) d.sender.fault(t, "protocol", e.message);
      else d.report(sf, `a malformed file item (${e.message}); ignored`);
    }
    return null;
  }
}
