/**
 * A PeerSession without a socket (src/net/types.ts) and a FileTransfers wired to it, so
 * the sender and the receiver can be driven item by item: `deliver` hands the transfer
 * code an item as if the peer had sent it, `sent` holds what it sent back, decoded.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { ChatEvent, TransferEvent, TransferPhase } from "../../../src/chat/events.ts";
import { FileTransfers, type FileOptions, type TransferHost } from "../../../src/chat/files/transfers.ts";
import { Extensions } from "../../../src/chat/node/files.ts";
import { asPid } from "../../../src/chat/peer-id.ts";
import type { PeerSession, Role, SessionState } from "../../../src/net/types.ts";
import { decodeFileItem, encodeFileItem, isFileType, type FileItem } from "../../../src/protocol/files.ts";
import type { Item } from "../../../src/protocol/items.ts";

/** A session that records what is sent on it. */
export class FakeSession implements PeerSession {
  readonly role: Role = "responder";
  readonly address = "127.0.0.1:1";
  state: SessionState = "open";
  readonly peerIdentity: Uint8Array;
  readonly peerProfile = { instance: new Uint8Array(8), name: "peer" };
  readonly th3 = new Uint8Array(32);
  bufferedAmount = 0;
  /** As Session.bulkItemBytes: the content size of one paced bulk record (undefined: any). */
  bulkItemBytes?: number;
  readonly items: Item[] = [];

  constructor(key: Uint8Array = new Uint8Array(randomBytes(32))) {
    this.peerIdentity = key;
  }
  /** Count what is sent in bufferedAmount until `drain()` (as a socket that does not take it). */
  holdOutput = false;
  send(item: Item): void {
    if (this.state !== "open") throw new Error("the session is not open");
    this.items.push(item);
    if (this.holdOutput && item.kind === "ext") this.bufferedAmount += item.content.length;
    if (item.kind === "ext") this.unsealed.push(item);
  }
  /** Optional items sent and not yet sealed (seal()). */
  readonly unsealed: Extract<Item, { kind: "ext" }>[] = [];
  /** What seal() copied of each item, in order: its content as a session would have sealed it. */
  readonly sealedCopies: { type: number; content: Uint8Array }[] = [];
  /**
   * Seal the first `n` unsealed items as net/outbound.ts does: copy each content (off
   * bufferedAmount under holdOutput), then tell the item's `sealed` (SealedNotice). After
   * this, the content of `items` may have been written over by its owner: read `sealedCopies`.
   */
  seal(n = this.unsealed.length): void {
    const done = this.unsealed.splice(0, n);
    for (const it of done) {
      this.sealedCopies.push({ type: it.type, content: new Uint8Array(it.content) });
      if (this.holdOutput) this.bufferedAmount = Math.max(0, this.bufferedAmount - it.content.length);
    }
    for (const it of done) (it as { sealed?: (i: Item) => void }).sealed?.(it);
  }
  /** The session drops what it has not sealed (as Outbound.drop, when it closes): never told. */
  dropUnsealed(): void {
    this.unsealed.length = 0;
  }
  sendText(id: bigint | number, text: string): void {
    this.send({ kind: "text", id: BigInt(id), text });
  }
  /** The socket took everything. */
  drain(): void {
    this.bufferedAmount = 0;
  }
  close(): void {
    this.state = "closed";
  }
  abort(): void {
    this.state = "closed";
  }
  rekey(): void {}
  /** The file items sent so far, decoded. */
  get sent(): FileItem[] {
    return this.items.filter((i) => i.kind === "ext" && isFileType(i.type)).map((i) => (i.kind === "ext" ? decodeFileItem(i.type, new Uint8Array(i.content)) : (null as never)));
  }
  /** The file items of one kind (optionally for one id). */
  of<K extends FileItem["kind"]>(kind: K, id?: bigint): Extract<FileItem, { kind: K }>[] {
    return this.sent.filter((g): g is Extract<FileItem, { kind: K }> => g.kind === kind && (id === undefined || g.id === id));
  }
}

/** The hex pid of a fake session's peer. */
export const pidOf = (s: FakeSession) => Buffer.from(s.peerIdentity).toString("hex");

/** One FileTransfers with its host, its events and its sessions, registered with the chat's Extensions as ChatNode does. */
export class Harness {
  readonly events: ChatEvent[] = [];
  readonly ft: FileTransfers;
  /** The chat's table of optional item types and each session's record (src/chat/node/files.ts). */
  readonly x = new Extensions();
  readonly contacts = new Set<string>();
  /** Every pid is a contact unless this is false. */
  allContacts = true;
  readonly sessions: FakeSession[] = [];

  constructor(
    readonly home: string,
    o: Partial<FileOptions> = {},
  ) {
    const host: TransferHost = {
      emit: (e) => this.events.push(e),
      nameOf: (pid) => `peer-${pid.slice(0, 4)}`,
      pidByName: (name) => {
        const s = this.sessions.find((x) => `peer-${pidOf(x).slice(0, 4)}` === name);
        if (s === undefined) throw new Error(`no ${name}`);
        return pidOf(s);
      },
      connectedPids: () => [...new Set(this.sessions.filter((s) => s.state === "open").map(pidOf))],
      isContact: (pid) => this.allContacts || this.contacts.has(pid),
    };
    mkdirSync(home, { recursive: true, mode: 0o700 });
    this.ft = new FileTransfers(host, { downloads: join(home, "downloads"), partials: join(home, "partials"), autoAccept: false, ...o });
    this.x.add(this.ft);
  }

  /** A new open session (of a new peer, or of the same key as `like`). */
  open(like?: FakeSession): FakeSession {
    const s = new FakeSession(like?.peerIdentity);
    this.sessions.push(s);
    this.x.ready(s, asPid(pidOf(s)));
    return s;
  }

  /** The session ends (as ChatNode reports it). */
  lose(s: FakeSession): void {
    s.state = "closed";
    this.x.closed(s);
  }

  /** The peer on `s` sent `it`. */
  deliver(s: FakeSession, it: FileItem | Item): void {
    // As ChatNode does: a PONG to every extension, an optional item to the handler of its type.
    if (it.kind === "pong") return this.x.pong(s, it.data);
    const item = it.kind === "ext" || it.kind === "text" ? (it as Item) : encodeFileItem(it as FileItem);
    if (item.kind === "ext") this.x.item(s, item.type, item.content);
  }

  /** The socket of `s` took what it held (as ChatNode reports it). */
  drain(s: FakeSession): void {
    this.x.drain(s);
  }

  transfers(phase?: TransferPhase): TransferEvent[] {
    return this.events.filter((e): e is TransferEvent => e.type === "transfer" && (phase === undefined || e.phase === phase));
  }

  close(): void {
    this.x.close();
  }
}
