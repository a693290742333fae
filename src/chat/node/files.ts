/**
 * File transfer (PROTOCOL §11) as an extension of a session: the node hands every
 * extension each session when it is ready, its PONGs, drains and end, and each optional
 * item to the one handler registered for its type (Extensions), with the state the
 * extension keeps for that session; the extension pauses and resumes its transfers on its own.
 */
import { join } from "node:path";
import type { PeerSession } from "../../net/types.ts";
import type { ChatListener } from "../events.ts";
import { FileTransfers, type FileOptions } from "../files/transfers.ts";
import { fingerprint } from "../trust/identity.ts";
import type { Trust } from "../trust/policy.ts";
import type { Contacts } from "./contacts.ts";
import type { Sessions } from "./sessions.ts";
import { asPid, type Pid } from "../peer-id.ts";

/** The handler of one optional item type: the session's state of its extension, and the item's content. */
export type ItemHandler<T> = (state: T, content: Uint8Array) => void;

/** What an extension of the chat hears of each session (FileTransfers is one). */
export interface SessionExtension<T> {
  /** The handler of each optional item type (PROTOCOL §6) it reads; each type has one owner. */
  readonly handlers: ReadonlyMap<number, ItemHandler<T>>;
  /** The session is open with identity `pid`: the state it keeps for it (held in the session's one record here). */
  open(s: PeerSession, pid: Pid): T;
  /** A PONG on the session (it may answer a probe of its own). */
  pong(state: T, data: Uint8Array): void;
  /** The session's socket took what it held. */
  drain(state: T): void;
  /** The session ended. */
  closed(state: T): void;
  /** The chat closes; `open`: the state of every session still open. */
  close(open: T[]): void;
}

/**
 * The chat's extensions, the one table that routes an optional item the core does not
 * read to the handler its owner registered for its type (a FILE_CHUNK straight to the
 * file transfer's), and each open session's one record: the state each extension keeps for it.
 */
export class Extensions {
  // The state type of each extension is its own; a record holds them by the extension's place.
  readonly #all: SessionExtension<unknown>[] = [];
  readonly #byType = new Map<number, { at: number; handle: ItemHandler<unknown> }>();
  readonly #open = new Map<PeerSession, unknown[]>();

  /** @throws Error when one of its types already has an owner (a bug of the wiring). */
  add<T>(x: SessionExtension<T>): void {
    for (const t of x.handlers.keys()) if (this.#byType.has(t)) throw new Error(`item type 0x${t.toString(16)} is read by two extensions`);
    const at = this.#all.length;
    for (const [t, handle] of x.handlers) this.#byType.set(t, { at, handle: handle as ItemHandler<unknown> });
    this.#all.push(x as SessionExtension<unknown>);
  }

  ready(s: PeerSession, pid: Pid): void {
    this.#open.set(s, this.#all.map((x) => x.open(s, pid)));
  }

  /** An optional item to the handler of its type (false: no extension reads it); dropped when its session is not open here. */
  item(s: PeerSession, type: number, content: Uint8Array): boolean {
    const h = this.#byType.get(type);
    if (h === undefined) return false;
    const record = this.#open.get(s);
    if (record !== undefined) h.handle(record[h.at], content);
    return true;
  }

  /** A PONG, to each extension (PROTOCOL §11.4: it may answer the file transfer's probe). */
  pong(s: PeerSession, data: Uint8Array): void {
    const record = this.#open.get(s);
    if (record !== undefined) this.#all.forEach((x, i) => x.pong(record[i], data));
  }

  drain(s: PeerSession): void {
    const record = this.#open.get(s);
    if (record !== undefined) this.#all.forEach((x, i) => x.drain(record[i]));
  }

  closed(s: PeerSession): void {
    const record = this.#open.get(s);
    if (record === undefined) return;
    this.#open.delete(s);
    this.#all.forEach((x, i) => x.closed(record[i]));
  }

  close(): void {
    const records = [...this.#open.values()];
    this.#open.clear();
    this.#all.forEach((x, i) => x.close(records.map((r) => r[i])));
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
