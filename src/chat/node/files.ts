/**
 * File transfer (PROTOCOL §11) as an extension of a session: the node hands every
 * extension each session when it is ready, its items the core does not read, its
 * drains and its end; the extension pauses and resumes its transfers on its own.
 */
import { join } from "node:path";
import type { Item } from "../../protocol/items.ts";
import type { PeerSession } from "../../net/types.ts";
import type { ChatListener } from "../events.ts";
import { FileTransfers, type FileOptions } from "../files/transfers.ts";
import { fingerprint } from "../trust/identity.ts";
import type { Trust } from "../trust/policy.ts";
import type { Contacts } from "./contacts.ts";
import type { Sessions } from "./sessions.ts";
import { asPid, type Pid } from "../peer-id.ts";

/** What an extension of the chat hears of each session (FileTransfers is one). */
export interface SessionExtension {
  /** The session is open with identity `pid` (hex). */
  onReady(s: PeerSession, pid: Pid): void;
  /** An item the core does not read (an optional type, or a PONG). */
  onItem(s: PeerSession, item: Item): void;
  /** The session's socket took what it held. */
  onDrain(s: PeerSession): void;
  onClose(s: PeerSession): void;
  /** The chat closes. */
  close(): void;
}

export interface FilesDeps {
  emit: ChatListener;
  trust: Trust;
  contacts: Contacts;
  sessions: Sessions;
}

/** File transfer for a chat in `home`: into `home/downloads`, asking before each file, unless `files` says otherwise. */
export function fileTransfers(home: string, files: FileOptions | undefined, d: FilesDeps): FileTransfers {
  return new FileTransfers(
    {
      emit: d.emit,
      // A request's offers are shown marked, with the name it claims quoted and its fingerprint.
      nameOf: (pid) => {
        const r = d.trust.requests.get(pid);
        return r === undefined ? d.contacts.nameOf(asPid(pid)) : `request ${r.id} "${r.claimed}" [${fingerprint(r.publicKey).slice(0, 19)}]`;
      },
      pidByName: (name) => d.contacts.pidByName(name),
      // Only contacts are offered files: a request receives nothing the person sends.
      connectedPids: () => [...new Set([...d.sessions.links].filter(([s, l]) => s.state === "open" && d.trust.isContact(l.pid)).map(([, l]) => l.pid))],
      // Offers are taken from contacts only (files/transfers.ts): the contacts model answers.
      isContact: (pid) => d.trust.isContact(pid),
    },
    { partials: join(home, "partials"), home, ...(files ?? { downloads: join(home, "downloads"), autoAccept: false }) },
  );
}
