/**
 * ChatNode: the chat on top of a sotto Peer. It owns the identity, the trust pins
 * (known_peers), the per-peer outbox, de-duplication, redialling and the one-session-
 * per-peer rule. Front ends (terminal, lines, JSON) drive it through ChatApi and listen
 * to ChatEvents; nothing here prints.
 *
 * Delivery: each TEXT gets an id per (our instance, peer identity), stays in the outbox
 * until a cumulative ACK covers it, and is re-sent on every new session with that peer;
 * the receiver delivers an id only once per (our identity, peer identity, peer instance).
 * Lines of one tick are saved in one transaction before any of them is sent (#commit).
 *
 * Files (PROTOCOL §11): `files` (transfer.ts) gets each session when it is ready, its
 * file items, its drains and its end; it pauses and resumes transfers on its own.
 */
import { isIP } from "node:net";
import { join } from "node:path";
import { toHex } from "../crypto/bytes.ts";
import { AlertCode, Group, GROUP_NAMES } from "../protocol/constants.ts";
import { fail, ProtocolError } from "../protocol/errors.ts";
import { PRIVATE_TYPE, privateId, readTextTime, type Item } from "../protocol/items.ts";
import { TEXT_TIME } from "../protocol/constants.ts";
import { TokenBucket, type Limits } from "../net/limits.ts";
import { ConnectError, Peer } from "../net/peer.ts";
import type { PeerSession } from "../net/types.ts";
import type { CloseInfo } from "../net/types.ts";
import { listenAddresses } from "../net/addresses.ts";
import { explain } from "./explain.ts";
import { ChatError, EVENTS_VERSION, type HistoryApi, type ChatApi, type ChatListener, type ContactsApi, type PeerInfo, type RequestInfo } from "./events.ts";
import { fingerprint, IdentityFileError, loadOrCreateIdentity } from "./trust/identity.ts";
import { INBOUND, isValidPeerName, KnownPeers, KnownPeersError } from "./trust/known-peers.ts";
import { Outbox } from "./delivery/outbox.ts";
import { Trust } from "./trust/policy.ts";
import { HomeError, prepareHome } from "./trust/home.ts";
import { nameKey } from "../text/names.ts";
import { INVITE_TOKEN_TYPE, InviteTokens, localInvites, parseInvite } from "./trust/invite.ts";
import { Link } from "./delivery/link.ts";
import { safetyNumber } from "./trust/safety-number.ts";
import { Dialer, parseAddress } from "./delivery/dialer.ts";
import { ChatStore, describeSqliteError, StateError } from "./delivery/store.ts";
import { HomeLock } from "./delivery/lock.ts";
import { History, historyApi, type HistoryLine } from "./delivery/history.ts";
import { FileTransfers, type FileOptions } from "./files/transfers.ts";

/** PROFILE name changes one identity may make per second (a burst of 10 s worth). */
const NICKS_PER_SECOND = 1;
/** Identities whose event rates are remembered (≈ 200 bytes each). */
const RATE_IDENTITIES = 4096;

/** The key-exchange group a session uses, by its spec name (PROTOCOL §3). */
function groupName(s: PeerSession): string | undefined {
  return s.group ? GROUP_NAMES[s.group] : undefined;
}

export interface ChatOptions {
  home: string;
  name: string;
  group: Group;
  strict: boolean;
  /** --allow-new: every new key, inbound too, becomes a contact at once (bots, scripts). Default false: a key that dials us is a request. */
  allowNew?: boolean;
  listen: { host: string; port: number } | null;
  connect: string[];
  limits?: Partial<Limits>;
  /** File transfer; default: on, into `home/downloads`, asking before each file. `false`: off (the peer cannot receive files). */
  files?: FileOptions | false;
  /** Keep conversations in state.db (src/chat/delivery/history.ts); default true (--no-history: false). */
  history?: boolean;
  /** Messages a peer may send per second on average (a burst of 10 s worth is allowed); beyond, the session ends with ALERT busy. Default DEFAULT_TEXT_PER_SECOND. */
  textPerSecond?: number;
}

export { MAX_OUTBOX } from "./delivery/outbox.ts";
/**
 * TEXT a contact may send a second by default: above what an honest bulk pipe reaches
 * (line mode at wire speed, 50,000 lines a second on loopback), so only a flood is cut.
 * Memory is not what it protects (items are handled record by record), screen time is.
 */
export const DEFAULT_TEXT_PER_SECOND = 100_000;
const MAX_NAME_BYTES = 64;
/** Peer instances whose shown ids are remembered per request (in memory). */
const MAX_REQUEST_INSTANCES = 8;
/** PRIVATE marks a peer may have outstanding per session (PROTOCOL §6.5); older ones are dropped. */
const MAX_PRIVATE_MARKS = 1024;

export class ChatNode implements ChatApi, ContactsApi {
  readonly fingerprint: string;
  #name: string;
  readonly #o: ChatOptions;
  readonly #emit: ChatListener;
  readonly #identity: ReturnType<typeof loadOrCreateIdentity>;
  readonly #trust: Trust;
  readonly #peer: Peer;
  readonly #outbox: Outbox;
  readonly #links = new Map<PeerSession, Link>();
  /** Ids queued while their peer was away, per peer: said delivered when an ACK covers them. */
  readonly #queuedAway = new Map<string, bigint[]>();
  /** Dials answered early (our AUTH sent, the peer's PROFILE not yet here): their link, and the dial to settle. */
  readonly #early = new Map<PeerSession, { link: Link | null; resolve: () => void; reject: (e: Error) => void }>();
  // Event rates per identity, not per session (one identity can open many sessions).
  readonly #rates = new Map<string, { text: TokenBucket; nick: TokenBucket }>();
  readonly #dialers = new Map<string, Dialer>();
  readonly #store: ChatStore;
  readonly #lock: HomeLock;
  /** Lines queued this tick wait for one commit, then the links pump (setImmediate). */
  #commitScheduled = false;
  /** Storage failures already reported, by sentence (each is said once). */
  readonly #storageSaid = new Set<string>();
  /** File transfer (absent when ChatOptions.files is false). */
  readonly files?: FileTransfers;
  /** Conversation history (absent with ChatOptions.history false). */
  readonly history?: HistoryApi;
  readonly #kept?: History;
  #closing = false;

  private constructor(o: ChatOptions, emit: ChatListener) {
    this.#o = o;
    this.#emit = emit;
    this.#name = o.name;
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
      if (e instanceof StateError) throw new ChatError("state", e.message);
      throw e;
    }
    this.#peer = new Peer({
      identity: this.#identity,
      profile: { instance, name: o.name },
      group: o.group,
      limits: o.limits,
      verifyPeer: (id, ctx) => this.#trust.verify(id, ctx.role === "initiator" ? ctx.address : INBOUND),
      events: {
        onReady: (s) => this.#ready(s),
        onItem: (s, item) => this.#item(s, item),
        onClose: (s, info) => this.#closed(s, info),
        onDrain: (s) => {
          this.#links.get(s)?.pump();
          this.files?.onDrain(s);
        },
        onRefused: (address, reason) => this.#refused(address, reason),
      },
    });
    if (o.history !== false) {
      try {
        this.#kept = new History(o.home, undefined, this.#store.checkpointer);
      } catch (e) {
        // The home is not left locked by a start that failed.
        this.#store.close();
        this.#lock.release();
        throw new ChatError("state", (e as Error).message);
      }
      // Private lines still in the outbox keep their PRIVATE mark when re-sent after a restart.
      for (const [pid, ids] of this.#kept.privateOut(MAX_PRIVATE_MARKS)) this.#privateOut.set(pid, ids);
      // A connected contact by its local name (names resolve among contacts only); else the names history kept.
      this.history = historyApi(this.#kept, { resolve: (n) => this.#connectedContact(n), fingerprintOf: (pid) => fingerprint(Buffer.from(pid, "hex")), emit });
    }
    if (o.files !== false) {
      this.files = new FileTransfers(
        {
          emit: this.#emit,
          // A request's offers are shown marked, with the name it claims quoted and its fingerprint.
          nameOf: (pid) => {
            const r = this.#trust.requests.get(pid);
            return r === undefined ? this.#nameOf(pid) : `request ${r.id} "${r.claimed}" [${fingerprint(r.publicKey).slice(0, 19)}]`;
          },
          pidByName: (name) => this.#pidByName(name),
          // Only contacts are offered files: a request receives nothing the person sends.
          connectedPids: () => [...new Set([...this.#links].filter(([s, l]) => s.state === "open" && this.#trust.isContact(l.pid)).map(([, l]) => l.pid))],
          // Offers are taken from contacts only (files/transfers.ts): the contacts model answers.
          isContact: (pid) => this.#trust.isContact(pid),
        },
        { partials: join(o.home, "partials"), ...(o.files ?? { downloads: join(o.home, "downloads"), autoAccept: false }) },
      );
    }
  }

  // A flood is reported, not echoed: the first refusal at once, then one summary a second.
  #refusals: { count: number; address: string; reason: string; timer: ReturnType<typeof setTimeout> | null } = { count: 0, address: "", reason: "", timer: null };

  #refused(address: string, reason: string): void {
    const r = this.#refusals;
    r.count++;
    r.address = address;
    r.reason = reason;
    if (r.timer !== null) return;
    const report = () => {
      if (r.count > 0) this.#emit({ type: "refused", address: r.address, reason: r.reason, count: r.count });
      r.count = 0;
    };
    report();
    r.timer = setTimeout(() => {
      r.timer = null;
      report();
    }, 1000);
    r.timer.unref?.();
  }

  #nameOf(pid: string): string {
    const contact = /^[0-9a-f]{64}$/.test(pid) ? this.#trust.nameOf(Buffer.from(pid, "hex")) : undefined;
    if (contact !== undefined) return contact;
    const r = this.#trust.requests.get(pid);
    if (r !== undefined) return r.claimed;
    for (const l of this.#links.values()) if (l.pid === pid) return l.name;
    return this.#outbox.nameOf(pid) ?? "?";
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
      listener({ type: "error", code: "set_aside", message: `A stored message for ${node.#nameOf(a.pid)} (${a.bytes.toLocaleString("en-US")} bytes) is longer than one message can be; it was set aside in ${node.#store.path} and will not be sent. Send long text with /send.` });
    }
    if (o.listen) {
      try {
        const port = node.#peer.listen(o.listen.host, o.listen.port);
        node.#listening = { host: o.listen.host, port };
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

  #ready(s: PeerSession): void {
    const id = s.peerIdentity!;
    const pid = toHex(id);
    // An early dial settles here, as a plain one does (before the duplicate rule below).
    const early = this.#early.get(s);
    this.#early.delete(s);
    early?.resolve();
    // One session per peer: of two, both ends keep the one with the lower th3.
    for (const [other, link] of this.#links) {
      if (link.pid !== pid || other === s) continue;
      const keepOther = Buffer.compare(other.th3!, s.th3!) < 0;
      (keepOther ? s : other).close("duplicate session");
      if (keepOther) return;
    }
    if (s.role === "responder") this.#movedTo(pid, s);
    const address = s.role === "initiator" ? s.address : INBOUND;
    const standing = this.#trust.admit(id, address, s.peerProfile!.name);
    if (standing.kind === "refused") return s.close(standing.reason);
    const request = standing.kind === "request" ? standing.request : undefined;
    const name = standing.kind === "contact" ? standing.name : standing.request.claimed;
    const link = early?.link ?? this.#newLink(s, pid, name);
    link.name = name;
    this.#links.set(s, link);
    // A request gets no outbox: nothing typed is queued for it (SECURITY.md §12).
    if (request === undefined) this.#outbox.arrived(pid, name);
    this.#emit({
      type: "connected",
      peer: name,
      address: s.address,
      role: s.role,
      fingerprint: fingerprint(id),
      safetyNumber: safetyNumber(this.#identity.publicKey, id),
      group: groupName(s),
      firstContact: standing.kind === "contact" && standing.firstContact,
      verified: standing.kind === "contact" && standing.verified,
      ...(request === undefined ? {} : { request: request.id, ...(request.lookalike === undefined ? {} : { lookalike: request.lookalike }) }),
    });
    // PROTOCOL §15: the dialler of an invite with a token sends it once, in its first record.
    const token = s.role === "initiator" ? this.#inviteTokens.get(s.address.toLowerCase()) : undefined;
    if (token !== undefined) {
      this.#inviteTokens.delete(s.address.toLowerCase());
      s.send({ kind: "ext", type: INVITE_TOKEN_TYPE, content: token });
    }
    // Tell the peer what we have already shown; send our own lines once we hear its ACK.
    link.open(this.#lastShown(pid, toHex(s.peerProfile!.instance)));
    this.files?.onReady(s, pid);
  }

  /**
   * Contacts are keys, not addresses: an authenticated session from a contact we dial
   * elsewhere means it moved (as WireGuard takes a peer's endpoint from its latest
   * authenticated packet). The dial to the stale address stops, and the person is told.
   */
  #movedTo(pid: string, s: PeerSession): void {
    const from = hostOf(s.address);
    for (const [key, d] of this.#dialers) {
      if (d.pid !== pid || d.host === from) continue;
      this.#dialers.delete(key);
      d.stop(`${this.#nameOf(pid)} now connects from ${from}`, "moved");
      const pinned = movedPin(key, from);
      const moved = pinned !== null && this.#trust.moved(s.peerIdentity!, key, pinned);
      this.#emit({ type: "moved", peer: this.#nameOf(pid), fingerprint: fingerprint(s.peerIdentity!), from: key, host: from, pinned: moved ? pinned : null });
    }
  }

  /** Sessions that carried a TEXT or an ACK (the Dialer's backoff: dialer.ts step 2). */
  readonly #useful = new WeakSet<PeerSession>();

  #newLink(s: PeerSession, pid: string, name: string): Link {
    const link = new Link(s, pid, name, this.#outbox, this.#ratesOf(pid).text, () => this.#storage(() => (this.#outbox.recordShown(), true)) === true);
    link.fingerprint = fingerprint(s.peerIdentity!);
    link.isPrivate = (id) => this.#privateOut.get(pid)?.has(id) ?? false;
    return link;
  }

  /**
   * The first message in TLS 1.3's time: the dial resolved as soon as our AUTH went
   * out (the responder's key is verified and pinned policy passed, PROTOCOL §4.5). Lines
   * never sent before go now; the dial itself settles when the session is ready or ends.
   */
  #dialedEarly(s: PeerSession): Promise<PeerSession> {
    if (s.state === "open") return Promise.resolve(s);
    if (s.state === "closed") return Promise.reject(new ConnectError(`handshake with ${s.address} failed: the connection closed`));
    return new Promise((resolve, reject) => {
      const pid = toHex(s.peerIdentity!);
      let link: Link | null = null;
      if (this.#openSessions(pid).length === 0 && this.#outbox.unackedFor(pid) > 0 && this.#outbox.mayStartEarly(pid)) {
        link = this.#newLink(s, pid, this.#nameOf(pid));
        link.startEarly();
      }
      this.#early.set(s, { link, resolve: () => resolve(s), reject });
    });
  }

  /**
   * Take one token of the peer's TEXT rate (docs/SECURITY.md §3.E); when none is left the
   * session ends with ALERT busy and a clear reason, and false is returned.
   */
  #withinRate(s: PeerSession, link: Link): boolean {
    if (link.inbound.take(performance.now())) return true;
    s.abort(fail("busy", `${link.name} sent messages faster than ${this.#o.textPerSecond ?? DEFAULT_TEXT_PER_SECOND} a second`));
    return false;
  }

  /** The TEXT and PROFILE buckets of one identity (the oldest forgotten past RATE_IDENTITIES). */
  #ratesOf(pid: string): { text: TokenBucket; nick: TokenBucket } {
    let r = this.#rates.get(pid);
    if (r === undefined) {
      const rate = this.#o.textPerSecond ?? DEFAULT_TEXT_PER_SECOND;
      const now = performance.now();
      r = { text: new TokenBucket(rate * 10, rate, now), nick: new TokenBucket(NICKS_PER_SECOND * 10, NICKS_PER_SECOND, now) };
      this.#rates.set(pid, r);
      if (this.#rates.size > RATE_IDENTITIES) this.#rates.delete(this.#rates.keys().next().value!);
    }
    return r;
  }

  #item(s: PeerSession, item: Item): void {
    const link = this.#links.get(s);
    if (link === undefined) return;
    if (item.kind === "text" || item.kind === "ack") this.#useful.add(s);
    switch (item.kind) {
      case "text": {
        // docs/SECURITY.md §3.E: a contact that floods is cut off with a clear reason, not rendered.
        if (!this.#withinRate(s, link)) return;
        const inst = toHex(s.peerProfile!.instance);
        // PROTOCOL §12: the TEXT_TIME just before, if it names this TEXT.
        const at = link.writtenAt;
        link.writtenAt = null;
        const written = at !== null && at.id === item.id ? at.writtenMs : undefined;
        this.#storage(() => {
          if (item.id > this.#lastShown(link.pid, inst)) {
            const time = Date.now();
            const priv = link.privateIn.delete(item.id);
            const r = this.#trust.requests.get(link.pid);
            const who = r === undefined ? { peer: this.#nameOf(link.pid), verified: this.#trust.verified(s.peerIdentity!) } : { peer: r.claimed, request: r.id, ...(r.lookalike === undefined ? {} : { lookalike: r.lookalike }) };
            this.#emit({ type: "message", ...who, fingerprint: link.fingerprint, id: item.id.toString(), text: item.text, time, private: priv, ...(written !== undefined ? { written } : {}) });
            // History keeps contacts' lines only: a stranger writes nothing to disk.
            if (r === undefined) this.#keep({ pid: link.pid, peer: who.peer, dir: "in", text: item.text, time, private: priv });
            this.#setShown(link.pid, inst, item.id);
          }
        });
        link.ack(this.#lastShown(link.pid, inst));
        return;
      }
      case "ack":
        // PROTOCOL §6.3: an ACK for a line never sent (as TCP refuses an ACK for unsent data).
        if (item.id > this.#outbox.highestId(link.pid)) return s.abort(fail("unexpected_message", `${link.name} acknowledged message ${item.id}, but the highest sent is ${this.#outbox.highestId(link.pid)}`));
        for (const id of this.#privateOut.get(link.pid) ?? []) if (id <= item.id) this.#privateOut.get(link.pid)!.delete(id);
        if (this.#outbox.acked(link.pid, item.id)) {
          this.#emit({ type: "ack", peer: link.name, id: item.id.toString() });
          this.#deliveredAway(link, item.id);
          this.#schedule();
        }
        link.acked();
        return;
      case "profile": {
        if (!this.#ratesOf(link.pid).nick.take(performance.now())) return s.abort(fail("busy", `${link.name} changed its name more than ${NICKS_PER_SECOND} times a second`));
        const r = this.#trust.requests.get(link.pid);
        if (r !== undefined) {
          this.#emit({ type: "nick", peer: item.name, previous: r.claimed });
          r.claimed = item.name;
          r.lookalike = this.#trust.lookalike(item.name)?.name;
          return;
        }
        // A contact's /nick: shown and addressed by the new name, unless that name is taken by
        // (or looks like) another contact, which would let it squat (policy.ts renamed).
        const previous = this.#nameOf(link.pid);
        const name = this.#trust.renamed(s.peerIdentity!, item.name);
        link.name = name;
        this.#outbox.arrived(link.pid, name);
        if (name === previous && nameKey(item.name) !== nameKey(previous)) {
          this.#emit({ type: "notice", message: `${previous} now calls itself "${item.name}", which is, or looks like, another contact's name; you still address it as ${previous}.` });
        } else this.#emit({ type: "nick", peer: name, previous });
        return;
      }
      case "ext":
      case "pong": {
        // PROTOCOL §11.4: a PONG may answer the file transfer's probe.
        if (item.kind === "ext") {
          if (item.type === INVITE_TOKEN_TYPE) return this.#inviteToken(link.pid, item.content);
          // TEXT_TIME and PRIVATE describe a TEXT: they share its rate, so a flood of them is cut as a TEXT flood is.
          if ((item.type === TEXT_TIME || item.type === PRIVATE_TYPE) && !this.#withinRate(s, link)) return;
          // PROTOCOL §12: when the next TEXT was written (one slot per session).
          if (item.type === TEXT_TIME) {
            link.writtenAt = readTextTime(item.content);
            return;
          }
          // PROTOCOL §6.5: remember which TEXT ids are private, at most MAX_PRIVATE_MARKS per session.
          let pv: bigint | null;
          try {
            pv = privateId(item);
          } catch (e) {
            if (e instanceof ProtocolError) return s.abort(e); // a PRIVATE of the wrong size
            throw e;
          }
          if (pv !== null) {
            if (link.privateIn.size >= MAX_PRIVATE_MARKS) link.privateIn.delete(link.privateIn.values().next().value!);
            link.privateIn.add(pv);
            return;
          }
        }
        this.files?.onItem(s, item);
        return;
      }
    }
  }

  #closed(s: PeerSession, info: CloseInfo): void {
    const early = this.#early.get(s);
    if (early !== undefined) {
      // Closed before the peer's PROFILE: the dial fails as a handshake failure would.
      this.#early.delete(s);
      early.link?.stop();
      early.reject(new ConnectError(`handshake with ${s.address} failed: ${info.error?.message ?? "the connection closed"}`, info.error ?? undefined));
    }
    for (const wake of this.#closeWaiters.get(s) ?? []) wake();
    this.#closeWaiters.delete(s);
    const link = this.#links.get(s);
    link?.stop();
    this.#links.delete(s);
    if (link !== undefined) this.#trust.closed(link.pid);
    this.files?.onClose(s);
    // However the peer left (CLOSE, crash, cut), its lines stay queued for its return.
    if (link !== undefined && info.reason === "duplicate session") return;
    if (this.#closing && link === undefined) return;
    const e = info.error;
    // Keepalive (limits.ts): "no answer from the peer for 15 s" names the peer.
    const redial = this.#dialers.has(s.address) && !this.#closing ? "; redialling" : "";
    const silent = e instanceof ProtocolError && e.code === "timeout" && link !== undefined && e.message.startsWith("no answer from the peer") ? `${e.message.replace(/^no answer from the peer/, `no answer from ${link.name}`)}${redial}` : null;
    const x = e ? explain(e, { who: link?.name ?? s.address, address: s.address }) : null;
    this.#emit({
      type: "disconnected",
      peer: link === undefined ? s.address : this.#nameOf(link.pid),
      address: s.address,
      reason: silent !== null ? silent : x ? x.message : info.byPeer ? `closed by peer${info.reason ? `: ${info.reason}` : ""}` : "closed",
      ...(e instanceof ProtocolError ? { code: e.code } : {}),
      ...(x?.alert !== undefined ? { alert: x.alert } : {}),
    });
  }

  readonly #closeWaiters = new Map<PeerSession, (() => void)[]>();

  /** Resolves when `s` has closed (at once if it already has). */
  #whenClosed(s: PeerSession): Promise<void> {
    if (s.state === "closed") return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.#closeWaiters.get(s) ?? [];
      list.push(resolve);
      this.#closeWaiters.set(s, list);
    });
  }

  #openSessions(pid: string): PeerSession[] {
    return [...this.#links].filter(([s, l]) => l.pid === pid && s.state === "open").map(([s]) => s);
  }

  /** Highest TEXT id shown from a peer instance: a request's only in memory, a contact's in the store. */
  #lastShown(pid: string, instance: string): bigint {
    const r = this.#trust.requests.get(pid);
    return r === undefined ? this.#outbox.lastShown(pid, instance) : (r.shown.get(instance) ?? 0n);
  }

  #setShown(pid: string, instance: string, id: bigint): void {
    const r = this.#trust.requests.get(pid);
    if (r === undefined) return this.#outbox.shown(pid, instance, id);
    r.shown.delete(instance);
    r.shown.set(instance, id);
    // A stranger could reconnect with a new instance id each time: keep only the latest few.
    if (r.shown.size > MAX_REQUEST_INSTANCES) r.shown.delete(r.shown.keys().next().value!);
  }

  /** Who a line to "everyone" goes to: every contact connected, seen or waited for, however it left; never a request (SECURITY.md §12). */
  #recipients(): string[] {
    const pids = new Set<string>();
    for (const l of this.#links.values()) if (this.#trust.isContact(l.pid)) pids.add(l.pid);
    for (const pid of this.#outbox.waiting()) if (this.#trust.isContact(pid)) pids.add(pid);
    return [...pids];
  }

  sendAll(text: string): number {
    const pids = this.#recipients();
    const bytes = this.#outbox.check(pids, text);
    for (const pid of pids) this.#queue(pid, text, bytes);
    return pids.length;
  }

  sendTo(name: string, text: string): void {
    const pid = this.#pidByName(name);
    const bytes = this.#outbox.check([pid], text);
    this.#queue(pid, text, bytes, true);
  }

  /** A contact's key (hex) by its exact local name (names.ts); never a request's claimed name. @throws ChatError unknown_peer */
  #pidByName(name: string): string {
    return toHex(this.#trust.requireContact(name).publicKey);
  }

  invites(): string[] {
    // One fresh one-time token per /invite, shared by its lines (PROTOCOL §15).
    return this.#listening === null ? [] : localInvites(this.#listening.host, this.#listening.port, this.fingerprint, this.#tokens.make());
  }

  /** Tokens we made for /invite (listener side). */
  readonly #tokens = new InviteTokens();
  /** Tokens of invites we dial (dialler side): address → token, sent once on the first session. */
  readonly #inviteTokens = new Map<string, Uint8Array>();

  /** PROTOCOL §15: a request that presents one of our unused tokens becomes a contact. */
  #inviteToken(pid: string, token: Uint8Array): void {
    const r = this.#trust.requests.get(pid);
    if (!this.#tokens.use(token) || r === undefined) return;
    if (r.lookalike !== undefined) {
      this.#emit({ type: "notice", message: `Request ${r.id} used one of your invites but claims the name of your contact ${r.lookalike}; it stays a request (/allow ${r.id} NAME to add it under another name).` });
      return;
    }
    const name = this.allow(r.id);
    this.#emit({ type: "notice", message: `${name} came with one of your invites: it is a contact now.` });
  }

  #listening: { host: string; port: number } | null = null;

  /** Contacts and requests (ContactsApi): this node itself. */
  get contacts(): ContactsApi {
    return this;
  }

  isContact(pid: string): boolean {
    return this.#trust.isContact(pid);
  }

  list(): { name: string; fingerprint: string; verified: boolean; connected: boolean }[] {
    return this.#trust.contacts().map((c) => ({ name: c.name, fingerprint: fingerprint(c.publicKey), verified: c.verified, connected: this.#openSessions(toHex(c.publicKey)).length > 0 }));
  }

  requests(): RequestInfo[] {
    return this.#trust.requests.list().map((r) => ({
      id: r.id,
      claimed: r.claimed,
      fingerprint: fingerprint(r.publicKey),
      safetyNumber: safetyNumber(this.#identity.publicKey, r.publicKey),
      connected: r.sessions > 0,
      ...(r.lookalike === undefined ? {} : { lookalike: r.lookalike }),
    }));
  }

  allow(ref?: string, localName?: string): string {
    const { name, pid, shown } = this.#trust.allow(ref, localName);
    this.#becameContact(pid, name, shown);
    this.#emit({ type: "notice", message: `${name} is now a contact: what you type reaches it. Compare safety numbers with /verify ${name}.` });
    return name;
  }

  /** A request (or a new key) is a contact now: it gets an outbox, what it showed is kept (no line twice), and its sessions send. */
  #becameContact(pid: string, name: string, shown: Map<string, bigint>): void {
    for (const [instance, id] of shown) if (id > this.#outbox.lastShown(pid, instance)) this.#outbox.shown(pid, instance, id);
    this.#outbox.arrived(pid, name);
    for (const link of this.#links.values()) if (link.pid === pid) link.pump();
  }

  block(ref?: string): string {
    const { label, pid } = this.#trust.block(ref);
    for (const s of this.#openSessions(pid)) s.close("blocked");
    this.#emit({ type: "notice", message: `Blocked ${label}: its key is refused from now on (${this.#trust.known.path}).` });
    return label;
  }

  replace(name: string): void {
    const r = this.#trust.replace(name);
    this.#emit({ type: "notice", message: `${r.name} now has the new key (safety number ${r.safetyNumber}); the old key is refused. Mark it verified with /trust ${r.name} once you have compared the numbers.` });
    for (const s of this.#openSessions(r.oldPid)) s.close("key replaced");
    this.#becameContact(r.pid, r.name, r.shown);
    if (r.address !== INBOUND && this.#openSessions(r.pid).length === 0) this.connect(r.address);
  }

  forget(name: string): void {
    const f = this.#trust.forget(name);
    for (const s of this.#openSessions(f.pid)) s.close("forgotten");
    this.#emit({ type: "notice", message: `Forgot ${f.name}: it is no longer a contact, and its key is a stranger's again.` });
  }

  /** Our private TEXT ids per peer until acknowledged (PROTOCOL §6.5); restored from the history at start (with --no-history, a re-send after a restart goes unmarked). */
  readonly #privateOut = new Map<string, Set<bigint>>();

  #queue(pid: string, text: string, bytes: number, priv = false): void {
    const time = Date.now();
    const id = this.#outbox.queue(pid, text, bytes, time);
    if (priv) this.#privateOut.set(pid, (this.#privateOut.get(pid) ?? new Set()).add(id));
    const away = this.#openSessions(pid).length === 0;
    if (away) {
      const ids = this.#queuedAway.get(pid) ?? [];
      // Bounded by the outbox's own limit (MAX_OUTBOX lines per peer).
      ids.push(id);
      this.#queuedAway.set(pid, ids);
    }
    const peer = this.#nameOf(pid);
    this.#emit({ type: "sent", peer, id: id.toString(), text, private: priv, time, ...(away ? { queued: true } : {}) });
    this.#keep({ pid, peer, dir: "out", text, time, private: priv, id });
    this.#schedule();
  }

  /** Lines typed while the peer was away are said delivered (the person saw them as queued). */
  #deliveredAway(link: Link, upTo: bigint): void {
    const ids = this.#queuedAway.get(link.pid);
    if (ids === undefined) return;
    let n = 0;
    while (n < ids.length && ids[n]! <= upTo) n++;
    if (n === 0) return;
    ids.splice(0, n);
    if (ids.length === 0) this.#queuedAway.delete(link.pid);
    this.#emit({ type: "notice", message: `${link.name} is back: ${n === 1 ? "the line" : `${n} lines`} queued while ${link.name} was away ${n === 1 ? "was" : "were"} delivered.` });
  }

  /** Once a tick: the outbox's writes (store.ts batches), then the links pump. */
  #schedule(): void {
    if (this.#commitScheduled) return;
    this.#commitScheduled = true;
    setImmediate(() => this.#commit());
  }

  /** One transaction for every line of the tick, then the links send them (store.ts). */
  #commit(): void {
    this.#commitScheduled = false;
    const failed = this.#outbox.commit();
    if (failed !== null) {
      this.#emit({ type: "error", code: "state", message: `${failed.error.message}.` });
      for (const l of failed.lines) this.#emit({ type: "unsent", peer: l.name, id: l.id.toString(), text: l.text, reason: failed.error.message, code: "state" });
    }
    this.#storage(() => this.#outbox.flushAcks());
    this.#flushKept();
    for (const link of this.#links.values()) link.pump();
  }

  /** Keep a line in the history; a storage failure there is said once and the chat goes on (the line itself is unaffected). */
  #keep(l: HistoryLine): void {
    if (this.#kept === undefined) return;
    this.#kept.add(l);
    this.#schedule(); // #commit flushes it with the tick's other writes
  }

  /** Write the history lines of this tick (see #keep). */
  #flushKept(): void {
    if (this.#kept === undefined) return;
    this.#storage(() => {
      try {
        this.#kept!.flush();
      } catch (e) {
        if (!(typeof (e as { code?: unknown }).code === "string" && (e as { code: string }).code.startsWith("SQLITE_"))) throw e;
        throw new StateError(describeSqliteError(this.#kept!.path, "keeping the conversation history", e), { cause: e });
      }
    });
  }

  /** Run a store step whose failure must not end the chat: say it (once per sentence) and go on. */
  #storage<T>(f: () => T): T | undefined {
    try {
      return f();
    } catch (e) {
      if (!(e instanceof StateError)) throw e;
      if (!this.#storageSaid.has(e.message)) {
        this.#storageSaid.add(e.message);
        this.#emit({ type: "error", code: "state", message: `${e.message}.` });
      }
      return undefined;
    }
  }

  connect(address: string): string | void {
    const invite = parseInvite(address);
    if (invite !== null) {
      this.#trust.invited.set(invite.address, invite.fingerprint);
      if (invite.token !== undefined) this.#inviteTokens.set(invite.address, invite.token);
      address = invite.address;
    }
    const a = parseAddress(address);
    if (a === null) return this.#connectContact(address);
    const key = `${a.host}:${a.port}`;
    const existing = this.#dialers.get(key);
    if (existing !== undefined) {
      const open = existing.pid !== null ? this.#openSessions(existing.pid) : [];
      if (open.length > 0) return `Already connected to ${this.#nameOf(existing.pid!)} at ${key}.`;
      return `Already dialling ${key}; it is retried with backoff.`;
    }
    for (const [s, l] of this.#links) if (s.state === "open" && s.address === key) return `Already connected to ${l.name} at ${key}.`;
    const d: Dialer = new Dialer(a.host, a.port, {
      dial: () => this.#peer.connect(a.host, a.port, undefined, { early: true }).then((s) => this.#dialedEarly(s)),
      connectedElsewhere: (s: PeerSession | null): boolean => {
        const pid = s ? toHex(s.peerIdentity!) : d.pid;
        return pid !== null && this.#openSessions(pid).some((o) => o !== s);
      },
      emit: this.#emit,
      closed: (s) => this.#whenClosed(s),
      nameOf: (pid) => this.#nameOf(pid),
      useful: (s) => this.#useful.has(s),
      fatal: (e) => {
        const stop = dialStop(e, key);
        // The dialer ends on a permanent refusal; forget it, so /connect (after /replace or an edit of known_peers) dials again.
        if (stop !== null && this.#dialers.get(key) === d) this.#dialers.delete(key);
        return stop;
      },
    });
    this.#dialers.set(key, d);
    d.start();
  }

  /** A contact's name dials the addresses known_peers pins for it (where it moved to, too). @throws ChatError bad_address */
  #connectContact(name: string): string | void {
    const c = isValidPeerName(name) ? this.#trust.contact(name) : undefined;
    if (c === undefined) throw new ChatError("bad_address", `${JSON.stringify(name.slice(0, 80))} is not host:port, nor the name of a contact`);
    const pins = this.#trust.known.addressesOf(c.publicKey);
    if (pins.length === 0) throw new ChatError("bad_address", `${c.name} has no address to dial in known_peers (it only ever dialled in); /connect host:port dials one`);
    const said = pins.map((p) => this.connect(p)).filter((m): m is string => typeof m === "string");
    if (said.length > 0) return said.join(" ");
  }

  disconnect(who: string): number {
    let n = 0;
    const a = parseAddress(who);
    const byAddress = a !== null ? this.#dialers.get(`${a.host}:${a.port}`) : undefined;
    const pid = byAddress?.pid ?? (byAddress !== undefined ? null : this.#pidByName(who));
    for (const [key, d] of this.#dialers) {
      if (d !== byAddress && (pid === null || d.pid !== pid)) continue;
      this.#dialers.delete(key);
      d.stop(`/disconnect ${who.slice(0, 64)}`, "disconnect");
      n++;
    }
    if (pid !== null) {
      for (const s of this.#openSessions(pid)) {
        s.close("bye");
        n++;
      }
    }
    return n;
  }

  peers(): PeerInfo[] {
    return [...this.#links]
      .filter(([s]) => s.state === "open")
      .map(([s, l]) => ({
        name: this.#nameOf(l.pid),
        ...(this.#trust.requests.get(l.pid) === undefined ? {} : { request: this.#trust.requests.get(l.pid)!.id }),
        address: s.address,
        fingerprint: fingerprint(s.peerIdentity!),
        safetyNumber: safetyNumber(this.#identity.publicKey, s.peerIdentity!),
        verified: this.#trust.verified(s.peerIdentity!),
        role: s.role,
        group: groupName(s),
        unacked: this.#outbox.unackedFor(l.pid),
      }));
  }

  verify(name?: string): { name: string; fingerprint: string; safetyNumber: string; verified: boolean }[] {
    const all = this.peers().filter((p) => p.request === undefined);
    if (name === undefined) return all.map(({ name, fingerprint, safetyNumber, verified }) => ({ name, fingerprint, safetyNumber, verified }));
    const pid = this.#pidByName(name);
    const p = all.find((x) => toHex(this.#keyOf(x.fingerprint) ?? new Uint8Array()) === pid);
    if (p === undefined) throw new ChatError("unknown_peer", `${name} is not connected now`);
    return [{ name: p.name, fingerprint: p.fingerprint, safetyNumber: p.safetyNumber, verified: p.verified }];
  }

  #keyOf(fp: string): Uint8Array | undefined {
    for (const s of this.#links.keys()) if (s.peerIdentity && fingerprint(s.peerIdentity) === fp) return s.peerIdentity;
    return undefined;
  }

  trust(name: string): void {
    const pid = this.#pidByName(name);
    try {
      this.#trust.markVerified(Buffer.from(pid, "hex"));
    } catch (e) {
      if (!(e instanceof KnownPeersError)) throw e;
      throw new ChatError("known_peers", e.message, { cause: e });
    }
    this.#emit({ type: "notice", message: `${this.#nameOf(pid)} is now marked verified in ${this.#trust.known.path}` });
  }

  nick(name: string): void {
    checkName(name);
    this.#name = name;
    this.#peer.setName(name);
  }

  rekey(): number {
    let n = 0;
    for (const s of this.#links.keys()) {
      if (s.state !== "open") continue;
      s.rekey();
      n++;
    }
    return n;
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
    if (this.#commitScheduled) this.#commit();
    this.#closing = true;
    if (this.#refusals.timer !== null) clearTimeout(this.#refusals.timer);
    for (const d of this.#dialers.values()) d.stop();
    this.files?.close();
    await this.#peer.close("bye");
    this.#store.close();
    this.#kept?.close();
    this.#lock.release();
  }

  #connectedContact(name: string): string | undefined {
    const c = this.#trust.contact(name);
    const pid = c === undefined ? undefined : toHex(c.publicKey);
    return pid !== undefined && this.#openSessions(pid).length > 0 ? pid : undefined;
  }
}

/** The host part of host:port or [v6]:port. */
function hostOf(address: string): string {
  return parseAddress(address)?.host ?? address;
}

/** The pin for a contact that left `from` and connected from the IP `host`: host with from's port; null when from names a host (redials resolve it again). */
function movedPin(from: string, host: string): string | null {
  const a = parseAddress(from);
  host = host.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, "");
  if (a === null || isIP(a.host) === 0 || isIP(host) === 0) return null;
  return isIP(host) === 6 ? `[${host}]:${a.port}` : `${host}:${a.port}`;
}

/**
 * Dialling `key` stops for good on a refusal that a retry cannot change (issue: dialling
 * that knows when to stop); null: try again later.
 */
function dialStop(e: Error, key: string): { code: string; message: string } | null {
  const p = e instanceof ConnectError && e.cause instanceof ProtocolError ? e.cause : null;
  if (p === null) return null;
  if (p.code === "reflection") return { code: "reflection", message: `${key} is this sotto itself; not dialling it` };
  if (p.code === "identity_rejected") return { code: "identity_rejected", message: `${p.message}; not dialling it again (see known_peers)` };
  if (p.code === "unsupported_version") return { code: "unsupported_version", message: `${key} speaks another version of the sotto protocol; not dialling it again` };
  if (p.code === "alert" && p.alert === AlertCode.identity_rejected) return { code: "identity_rejected", message: `${key} refused our key (it pins another one for us, or blocks us); not dialling it again` };
  if (p.code === "alert" && p.alert === AlertCode.unsupported_version) return { code: "unsupported_version", message: `${key} does not speak our protocol version; not dialling it again` };
  return null;
}

function checkName(name: string): void {
  const bytes = new TextEncoder().encode(name).length;
  if (name.length === 0 || bytes > MAX_NAME_BYTES || /[\p{Cc}\p{Cf}]/u.test(name)) {
    throw new ChatError("bad_name", `a name must be 1 to ${MAX_NAME_BYTES} bytes of UTF-8 without control characters`);
  }
}
