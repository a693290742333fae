/**
 * File transfer (PROTOCOL §11) as an extension of a session: the node hands every
 * extension each session when it is ready, its drains and its end, and each optional item
 * to the one extension that registered its type (Extensions); the extension pauses and
 * resumes its transfers on its own.
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
  /** The optional item types (PROTOCOL §6) it reads; each type has one owner. */
  readonly itemTypes: Iterable<number>;
  /** The session is open with identity `pid` (hex). */
  onReady(s: PeerSession, pid: Pid): void;
  /** An optional item of one of its types, or a PONG (it may answer a probe of its own). */
  onItem(s: PeerSession, item: Item): void;
  /** The session's socket took what it held. */
  onDrain(s: PeerSession): void;
  onClose(s: PeerSession): void;
  /** The chat closes. */
  close(): void;
}

/**
 * The chat's extensions, and the one table that routes an optional item the core does not
 * read to the extension that owns its type (a FILE_CHUNK straight to the file transfer).
 */
export class Extensions {
  readonly #all: SessionExtension[] = [];
  readonly #byType = new Map<number, SessionExtension>();

  /** @throws Error when one of its types already has an owner (a bug of the wiring). */
  add(x: SessionExtension): void {
    const types = [...x.itemTypes];
    for (const t of types) if (this.#byType.has(t)) throw new Error(`item type 0x${t.toString(16)} is read by two extensions`);
    for (const t of types) this.#byType.set(t, x);
    this.#all.push(x);
  }

  ready(s: PeerSession, pid: Pid): void {
    for (const x of this.#all) x.onReady(s, pid);
  }

  /** An optional item to the owner of its type (false: no extension reads it); a PONG to each (true). */
  item(s: PeerSession, item: Item): boolean {
    if (item.kind === "pong") {
      for (const x of this.#all) x.onItem(s, item);
      return true;
    }
    if (item.kind !== "ext") return false;
    const x = this.#byType.get(item.type);
    x?.onItem(s, item);
    return x !== undefined;
  }

  drain(s: PeerSession): void {
    for (const x of this.#all) x.onDrain(s);
  }

  closed(s: PeerSession): void {
    for (const x of this.#all) x.onClose(s);
  }

  close(): void {
    for (const x of this.#all) x.close();
  }
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
