/**
 * Small fakes of what the Sender and the Receiver call back (src/chat/files/state.ts
 * SenderHost, ReceiverHost), so each can be driven alone, without FileTransfers: every
 * call is written down in order in `calls`, every item sent in `sent`.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { Partials } from "../../../src/chat/files/partials.ts";
import { Receiver } from "../../../src/chat/files/receiver.ts";
import { Sender } from "../../../src/chat/files/sender.ts";
import type { ReceiverHost, SenderHost, SessionFiles } from "../../../src/chat/files/state.ts";
import { decodeFileItem, type FileItem } from "../../../src/protocol/files.ts";
import type { Item } from "../../../src/protocol/items.ts";
import { FakeSession } from "./fake-session.ts";

/** A SessionFiles over a FakeSession, as FileTransfers.open makes it. */
export function sessionFiles(s = new FakeSession()): SessionFiles {
  const pid = Buffer.from(s.peerIdentity).toString("hex");
  return { s, pid, out: new Map(), in: new Map(), endedOut: new Set(), endedIn: new Set(), supported: true, unsupported: false, closed: false, answerTimer: null, probe: null, pumpScheduled: false, reports: 0, overRate: 0, pendingSet: null, refusedSets: new Set() };
}

/** A file item as sent (a FILE_CHUNK goes out encoded: it is decoded here). */
function asFileItem(item: FileItem | Item): FileItem {
  if (item.kind === "ext") return decodeFileItem(item.type, new Uint8Array(item.content));
  return item as FileItem;
}

/** A Sender over a fake host; `sessions` answers sessionOf. */
export function fakeSender(o: { chunkBytes?: number; highWater?: number } = {}) {
  const calls: string[] = [];
  const sent: FileItem[] = [];
  const sessions = new Map<string, SessionFiles>();
  const host: SenderHost = {
    sessionOf: (pid) => sessions.get(pid),
    send: (_sf, item) => void sent.push(asFileItem(item)),
    awaitAnswer: () => void calls.push("await answer"),
    show: (_t, phase) => void calls.push(`show ${phase}`),
    ended: (_t, phase, extra) => void calls.push(`ended ${phase}${extra.code !== undefined ? ` ${extra.code}` : ""}`),
    report: (_sf, message) => void calls.push(`report ${message}`),
  };
  const sender = new Sender(host, { chunkBytes: o.chunkBytes ?? 1024, highWater: o.highWater ?? 64 * 1024, now: () => 0 });
  return { sender, calls, sent, sessions };
}

/** A Receiver over a fake host, its partials in `dir`/partials and its downloads in `dir`/downloads. */
export function fakeReceiver(dir: string, o: { contact?: boolean; offers?: number; free?: number; autoAccept?: boolean; maxFileBytes?: number } = {}) {
  const calls: string[] = [];
  const sent: FileItem[] = [];
  let offers = o.offers ?? Infinity;
  const host: ReceiverHost = {
    send: (_sf, item) => void sent.push(item),
    show: (_t, phase) => void calls.push(`show ${phase}`),
    report: (_sf, message) => void calls.push(`report ${message}`),
    register: () => randomBytes(2).toString("hex"),
    forget: () => void calls.push("forget"),
    endSet: (_s, phase) => void calls.push(`end set ${phase}`),
    completedInSet: () => void calls.push("completed in set"),
    isContact: () => o.contact ?? true,
    takeOffer: () => offers-- > 0,
  };
  const downloads = join(dir, "downloads");
  const partials = new Partials(join(dir, "partials"));
  const receiver = new Receiver(host, { downloads, autoAccept: o.autoAccept ?? false, maxFileBytes: o.maxFileBytes ?? 2 ** 40, diskMargin: 0, partials, freeSpace: () => o.free ?? 2 ** 50, now: () => 0 });
  return { receiver, calls, sent, partials, downloads };
}

/** SHA-256 of `b`. */
export const sha = (b: Uint8Array | string) => new Uint8Array(new Bun.CryptoHasher("sha256").update(b).digest());
