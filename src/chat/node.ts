/**
 * ChatNode: the chat on top of a sotto Peer, and the ChatApi the front ends (terminal,
 * lines, JSON) drive; they listen to ChatEvents, nothing here prints. This file is the
 * wiring: it builds the concerns and the node-level modules in node/, and routes each
 * session's events to them.
 *
 *   node/sessions.ts   each ready session's Link, early dials, one session per pair (hold.ts: turns, held TEXT)
 *   node/contacts.ts   name ↔ key, the ContactsApi, a peer's PROFILE, peers and safety numbers
 *   node/delivery.ts   TEXT and ACK: the outbox, shown ids, the tick's one commit, history
 *   node/dialing.ts    dialers per host:port, invites dialled, moved contacts, when to stop
 *   node/files.ts      file transfer, an extension of each session (PROTOCOL §11)
 *   node/rates.ts      per-identity TEXT and PROFILE rates;  node/refusals.ts  refusal reports
 */
import { join } from "node:path";
import { toHex } from "../crypto/bytes.ts";
import type { Item } from "../protocol/items.ts";
import { Peer } from "../net/peer.ts";
import type { CloseInfo, PeerSession } from "../net/types.ts";
import { listenAddresses } from "../net/addresses.ts";
import { explain } from "./explain.ts";
import { ChatError, EVENTS_VERSION, type HistoryApi, type ChatApi, type ChatListener, type ContactsApi, type PeerInfo, type AwayInfo } from "./events.ts";
import { fingerprint, IdentityFileError, loadOrCreateIdentity } from "./trust/identity.ts";
import { INBOUND, KnownPeers, KnownPeersError } from "./trust/known-peers.ts";
import { Trust } from "./trust/policy.ts";
import { HomeError, prepareHome } from "./trust/home.ts";
import { INVITE_TOKEN_TYPE, INVITE_TOKENS_DIR } from "./trust/invite.ts";
import { Outbox } from "./delivery/outbox.ts";
import { ChatStore, StateError } from "./delivery/store.ts";
import { HomeLock } from "./delivery/lock.ts";
import { History } from "./delivery/history.ts";
import { historyApi } from "./delivery/history-api.ts";
import type { FileTransfers } from "./files/transfers.ts";
import { Contacts } from "./node/contacts.ts";
import { Delivery } from "./node/delivery.ts";
import { Dialing } from "./node/dialing.ts";
import { Extensions, fileTransfers } from "./node/files.ts";
import { DEFAULT_TEXT_PER_SECOND, IdentityRates } from "./node/rates.ts";
import { RefusalReports } from "./node/refusals.ts";
import type { ChatOptions } from "./node/options.ts";
import { closedEvent, holdWhileBackedUp, Sessions } from "./node/sessions.ts";
import { pidOf } from "./peer-id.ts";

export type { ChatOptions } from "./node/options.ts";
export { MAX_OUTBOX } from "./delivery/outbox.ts";
export { DEFAULT_TEXT_PER_SECOND } from "./node/rates.ts";
const MAX_NAME_BYTES = 64;

export class ChatNode implements ChatApi {
  readonly fingerprint: string;
  #name: string;
  readonly #emit: ChatListener;
  readonly #identity: ReturnType<typeof loadOrCreateIdentity>;
  readonly #trust: Trust;
  readonly #peer: Peer;
  readonly #outbox: Outbox;
  readonly #store: ChatStore;
  readonly #lock: HomeLock;
  readonly #sessions = new Sessions();
  readonly #contacts: Contacts;
  readonly #delivery: Delivery;
  readonly #dialing: Dialing;
  readonly #refusals: RefusalReports;
  /** Extensions of every session (file transfer, when on). */
  readonly #extensions = new Extensions();
  /** File transfer (absent when ChatOptions.files is false). */
  readonly files?: FileTransfers;
  /** Conversation history (absent with ChatOptions.history false). */
  readonly history?: HistoryApi;
  readonly #kept?: History;
  #closing = false;

  private constructor(o: ChatOptions, emit: ChatListener) {
    this.#emit = emit;
    this.#name = o.name;
    this.#refusals = new RefusalReports(emit);
    try {
      prepareHome(o.home);
      this.#identity = loadOrCreateIdentity(o.home);
      this.#trust = new Trust(KnownPeers.load(join(o.home, "known_peers")), { strict: o.strict, allowNew: o.allowNew ?? false }, emit, this.#identity.publicKey);
    } catch (e) {
      if (e instanceof HomeError) throw new ChatError("home", e.message, { cause: e });
      if (e instanceof IdentityFileError) throw new ChatError("identity", e.message, { cause: e });
      if (e instanceof KnownPeersError) throw new ChatError("known_peers", e.message, { cause: e });
      throw e;
    }
    this.fingerprint = fingerprint(this.#identity.publicKey);
    // One process per home (delivery/lock.ts), before anything touches state.db.
    this.#lock = HomeLock.acquire(o.home);
    let instance: Uint8Array;
    try {
      this.#store = new ChatStore(o.home, toHex(this.#identity.publicKey), { backgroundCheckpoint: true });
      instance = this.#store.instance();
      // Messages left unacknowledged by an earlier run wait for their peer again.
      this.#outbox = new Outbox(this.#store, (pid) => this.#trust.nameOf(Buffer.from(pid, "hex")) ?? "?");
    } catch (e) {
      this.#lock.release();
      if (e instanceof StateError) throw new ChatError("state", e.message, { cause: e });
      throw e;
    }
    const rates = new IdentityRates(o.textPerSecond ?? DEFAULT_TEXT_PER_SECOND);
    const common = { emit, trust: this.#trust, outbox: this.#outbox, sessions: this.#sessions, rates };
    this.#contacts = new Contacts({ ...common, publicKey: this.#identity.publicKey, fingerprint: this.fingerprint, connect: (a) => void this.connect(a), tokensDir: join(o.home, INVITE_TOKENS_DIR) });
    this.#peer = new Peer({
      identity: this.#identity,
      profile: { instance, name: o.name },
      group: o.group,
      limits: o.limits,
      verifyPeer: (id, ctx) => this.#trust.verify(id, ctx.role === "initiator" ? ctx.address : INBOUND),
      events: holdWhileBackedUp(o.output, {
        onReady: (s) => this.#ready(s),
        onItem: (s, item) => this.#item(s, item),
        onClose: (s, info) => this.#closed(s, info),
        onDrain: (s) => {
          this.#sessions.links.get(s)?.pump();
          this.#extensions.drain(s);
        },
        onRefused: (address, reason) => this.#refusals.refused(address, reason),
      }),
    });
    try {
      if (o.history !== false) this.#kept = new History(o.home, undefined, this.#store);
      // It reads the history (PRIVATE marks of re-sends): a history.db that cannot be read is refused, nothing left locked or open.
      this.#delivery = new Delivery({ ...common, kept: this.#kept, contacts: this.#contacts });
    } catch (e) {
      this.#kept?.close();
      void this.#store.close();
      this.#lock.release();
      throw new ChatError("state", (e as Error).message, { cause: e });
    }
    // A connected contact by its local name (names resolve among contacts only); else the names history kept.
    if (this.#kept !== undefined) this.history = historyApi(this.#kept, { resolve: (n) => this.#contacts.connectedContact(n), fingerprintOf: (pid) => fingerprint(Buffer.from(pid, "hex")), emit });
    this.#dialing = new Dialing({ ...common, peer: this.#peer, contacts: this.#contacts, delivery: this.#delivery, backoffBaseMs: o.backoffBaseMs });
    if (o.files !== false) {
      this.files = fileTransfers(o.home, o.files, { emit, trust: this.#trust, contacts: this.#contacts, sessions: this.#sessions });
      this.#extensions.add(this.files);
    }
  }

  /**
   * Load the identity and pins, listen, and dial the given peers.
   * @throws ChatError identity / known_peers / listen_failed / bad_address / bad_name.
   */
  static async start(o: ChatOptions, listener: ChatListener): Promise<ChatNode> {
    checkName(o.name);
    const node = new ChatNode(o, listener);
    listener({ type: "identity", version: EVENTS_VERSION, fingerprint: node.fingerprint, created: node.#identity.created, path: node.#identity.path });
    // Nothing poisons the queue: a stored line that can never be sent is said once, then kept aside.
    for (const a of node.#outbox.setAsideAtStart) {
      listener({ type: "error", code: "set_aside", message: `A stored message for ${node.#contacts.nameOf(a.pid)} (${a.bytes.toLocaleString("en-US")} bytes) is longer than one message can be; it was set aside in ${node.#store.path} and will not be sent. Send long text with /send.` });
    }
    if (o.listen) {
      try {
        const port = node.#peer.listen(o.listen.host, o.listen.port);
        node.#lock.recordListening((node.#contacts.listening = { host: o.listen.host, port }), (message) => listener({ type: "error", code: "state", message }));
        listener({ type: "listening", host: o.listen.host, port, fingerprint: node.fingerprint, addresses: listenAddresses(o.listen.host, port) });
      } catch (e) {
        throw new ChatError("listen_failed", `cannot listen on ${o.listen.host}:${o.listen.port}: ${explain(e, { who: "", address: `${o.listen.host}:${o.listen.port}`, listening: true }).message}`);
      }
    }
    node.history?.atStart();
    for (const a of o.connect) node.connect(a);
    return node;
  }

  get name(): string {
    return this.#name;
  }

  /** The port we listen on (for tests). */
  get peer(): Peer {
    return this.#peer;
  }

  /** Contacts and requests (ContactsApi). */
  get contacts(): ContactsApi {
    return this.#contacts;
  }

  #ready(s: PeerSession): void {
    const [id, pid] = [s.peerIdentity!, pidOf(s.peerIdentity!)];
    const early = this.#sessions.ready(s);
    const joined = this.#contacts.join(s, pid);
    if (!joined.kept) return;
    if (s.role === "responder") this.#dialing.movedTo(pid, s);
    const address = s.role === "initiator" ? s.address : INBOUND;
    const standing = this.#trust.admit(id, address, s.peerProfile!.name);
    if (standing.kind === "refused") return s.close(standing.reason);
    const name = standing.kind === "contact" ? standing.name : standing.request.claimed;
    const link = early?.link ?? this.#delivery.newLink(s, pid, name);
    link.name = name;
    this.#sessions.links.set(s, link);
    // A request gets no outbox: nothing typed is queued for it (SECURITY.md §12).
    if (standing.kind === "contact") this.#outbox.arrived(pid, name);
    this.#contacts.announce(s, standing, joined.other);
    this.#contacts.presentInvite(s);
    // Tell the peer what we have already shown; send our own lines once we hear its ACK.
    link.open(this.#delivery.lastShown(pid, toHex(s.peerProfile!.instance)));
    this.#extensions.ready(s, pid);
  }

  #item(s: PeerSession, item: Item): void {
    const link = this.#sessions.links.get(s);
    if (link === undefined) return;
    if (item.kind === "text" || item.kind === "ack") this.#sessions.useful.add(s);
    switch (item.kind) {
      case "text":
        return this.#delivery.text(s, link, item);
      case "ack":
        return this.#delivery.ack(s, link, item);
      case "profile":
        return this.#contacts.profile(s, link, item);
      case "ext":
        // A type an extension registered (a FILE_CHUNK: the file transfer's handler) goes straight to its handler.
        if (this.#extensions.item(s, item.type, item.content)) return;
        if (item.type === INVITE_TOKEN_TYPE) return this.#contacts.inviteToken(s, link.pid, item.content);
        this.#delivery.describes(s, link, item); // TEXT_TIME, PRIVATE; any other optional type is ignored (PROTOCOL §6)
        return;
      case "pong":
        // PROTOCOL §11.4: a PONG may answer the file transfer's probe.
        return this.#extensions.pong(s, item.data);
    }
  }

  #closed(s: PeerSession, info: CloseInfo): void {
    const link = this.#sessions.closed(s, info);
    if (link !== undefined) this.#trust.closed(link.pid);
    this.#extensions.closed(s);
    if (this.#closing && link === undefined) return;
    if (this.#dialing.ended(s, info, link)) return;
    this.#emit(closedEvent(s, info, link, this.#dialing.has(s.address) && !this.#closing, (pid) => this.#contacts.nameOf(pid)));
  }

  sendAll(text: string): number {
    return this.#delivery.sendAll(text);
  }

  sendAllMany(texts: readonly string[], each: (result: number | ChatError) => void): void {
    this.#delivery.sendAllMany(texts, each);
  }

  sendTo(name: string, text: string): void {
    this.#delivery.sendTo(name, text);
  }

  connect(address: string): string | void {
    return this.#dialing.connect(address);
  }

  disconnect(who: string): number {
    return this.#dialing.disconnect(who);
  }

  peers(): PeerInfo[] {
    return this.#contacts.peers();
  }

  away(): AwayInfo[] {
    return this.#dialing.away();
  }

  verify(name?: string): { name: string; fingerprint: string; safetyNumber: string; verified: boolean }[] {
    return this.#contacts.verify(name);
  }

  trust(name: string): void {
    this.#contacts.markVerified(name);
  }

  nick(name: string): void {
    checkName(name);
    this.#name = name;
    this.#peer.setName(name);
  }

  rekey(): number {
    return this.#sessions.rekey();
  }

  queued(): number {
    return this.#outbox.total();
  }

  async drain(timeoutMs: number): Promise<boolean> {
    const until = performance.now() + timeoutMs;
    while (this.queued() > 0 && performance.now() < until) await Bun.sleep(20);
    return this.queued() === 0;
  }

  async close(): Promise<void> {
    this.#delivery.flush();
    this.#closing = true;
    this.#refusals.close();
    this.#dialing.close();
    this.#extensions.close();
    await this.#peer.close("bye");
    this.#kept?.close();
    await this.#store.close();
    this.#lock.release();
  }
}

function checkName(name: string): void {
  const bytes = new TextEncoder().encode(name).length;
  if (name.length === 0 || bytes > MAX_NAME_BYTES || /[\p{Cc}\p{Cf}]/u.test(name)) {
    throw new ChatError("bad_name", `a name must be 1 to ${MAX_NAME_BYTES} bytes of UTF-8 without control characters`);
  }
}
