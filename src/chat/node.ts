/**
 * ChatNode: the chat on top of a sotto Peer. It owns the identity, the trust pins
 * (known_peers), the per-peer outbox, de-duplication, redialling and the one-session-
 * per-peer rule. Front ends (terminal, lines, JSON) drive it through ChatApi and listen
 * to ChatEvents; nothing here prints.
 *
 * Delivery: each TEXT gets an id per (our instance, peer identity), stays in the outbox
 * until a cumulative ACK covers it, and is re-sent on every new session with that peer;
 * the receiver delivers an id only once per (peer identity, peer instance).
 */
import { join } from "node:path";
import { toHex } from "../crypto/bytes.ts";
import { Group } from "../protocol/constants.ts";
import { fail, ProtocolError } from "../protocol/errors.ts";
import type { Item } from "../protocol/items.ts";
import type { Limits } from "../net/limits.ts";
import { ConnectError, Peer } from "../net/peer.ts";
import type { CloseInfo, Session } from "../net/session.ts";
import { ChatError, type ChatApi, type ChatListener, type PeerInfo } from "./events.ts";
import { fingerprint, IdentityFileError, loadOrCreateIdentity } from "./identity.ts";
import { INBOUND, isValidPeerName, KnownPeers, KnownPeersError } from "./known-peers.ts";
import { safetyNumber } from "./safety-number.ts";
import { Dialer, parseAddress } from "./dialer.ts";
import { ChatStore } from "./store.ts";

export interface ChatOptions {
  home: string;
  name: string;
  group: Group;
  strict: boolean;
  listen: { host: string; port: number } | null;
  connect: string[];
  limits?: Partial<Limits>;
}

/** Most unacknowledged messages kept for one peer. */
export const MAX_OUTBOX = 10_000;
const MAX_NAME_BYTES = 64;

interface Outbox {
  nextId: bigint;
  unacked: { id: bigint; text: string }[];
  /** The peer left with CLOSE: new lines are not queued for it. */
  left: boolean;
  name: string;
}

/** Per-session chat state, kept in Session.tag's `chat` slot. */
interface Link {
  pid: string;
  name: string;
  pendingAck: bigint | null;
}

export class ChatNode implements ChatApi {
  readonly fingerprint: string;
  #name: string;
  readonly #o: ChatOptions;
  readonly #emit: ChatListener;
  readonly #identity: ReturnType<typeof loadOrCreateIdentity>;
  readonly #known: KnownPeers;
  readonly #peer: Peer;
  readonly #outbox = new Map<string, Outbox>();
  readonly #delivered = new Map<string, bigint>(); // pid/instance → last delivered id
  readonly #links = new Map<Session, Link>();
  readonly #dialers = new Map<string, Dialer>();
  readonly #store: ChatStore;
  #closing = false;

  private constructor(o: ChatOptions, emit: ChatListener) {
    this.#o = o;
    this.#emit = emit;
    this.#name = o.name;
    try {
      this.#identity = loadOrCreateIdentity(o.home);
      this.#known = KnownPeers.load(join(o.home, "known_peers"));
    } catch (e) {
      if (e instanceof IdentityFileError) throw new ChatError("identity", e.message);
      if (e instanceof KnownPeersError) throw new ChatError("known_peers", e.message);
      throw e;
    }
    this.fingerprint = fingerprint(this.#identity.publicKey);
    try {
      this.#store = new ChatStore(o.home);
    } catch (e) {
      throw new ChatError("state", (e as Error).message);
    }
    // Messages left unacknowledged by an earlier run wait for their peer again.
    for (const [pid, unacked] of this.#store.pending()) {
      const name = this.#known.byKey(Buffer.from(pid, "hex"))?.name ?? "?";
      this.#outbox.set(pid, { nextId: this.#store.nextId(pid), unacked, left: false, name });
    }
    this.#peer = new Peer({
      identity: this.#identity,
      profile: { instance: this.#store.instance(), name: o.name },
      group: o.group,
      limits: o.limits,
      verifyPeer: (id, ctx) => this.#verifyPeer(id, ctx.role === "initiator" ? ctx.address : INBOUND),
      events: {
        onReady: (s) => this.#ready(s),
        onItem: (s, item) => this.#item(s, item),
        onClose: (s, info) => this.#closed(s, info),
      },
    });
  }

  /**
   * Load the identity and pins, listen, and dial the given peers.
   * @throws ChatError identity / known_peers / listen_failed / bad_address / bad_name.
   */
  static async start(o: ChatOptions, listener: ChatListener): Promise<ChatNode> {
    checkName(o.name);
    const node = new ChatNode(o, listener);
    listener({ type: "identity", fingerprint: node.fingerprint, created: node.#identity.created, path: node.#identity.path });
    if (o.listen) {
      try {
        const port = node.#peer.listen(o.listen.host, o.listen.port);
        listener({ type: "listening", host: o.listen.host, port, fingerprint: node.fingerprint });
      } catch (e) {
        throw new ChatError("listen_failed", (e as Error).message);
      }
    }
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

  #verifyPeer(id: Uint8Array, address: string): void {
    const check = this.#known.check(address, id);
    if (check.status === "changed") {
      this.#emit({ type: "key_changed", address, pinnedName: check.entry.name, pinned: fingerprint(check.entry.publicKey), presented: fingerprint(id) });
      throw fail("identity_rejected", `the key of ${address} changed; refused`);
    }
    if (check.status === "new" && this.#o.strict) {
      this.#emit({ type: "rejected", address, fingerprint: fingerprint(id), reason: "not pinned and --strict is on" });
      throw fail("identity_rejected", "--strict accepts only pinned peers");
    }
  }

  #ready(s: Session): void {
    const id = s.peerIdentity!;
    const pid = toHex(id);
    // One session per peer: of two, both ends keep the one with the lower th3.
    for (const [other, link] of this.#links) {
      if (link.pid !== pid || other === s) continue;
      const keepOther = Buffer.compare(other.th3!, s.th3!) < 0;
      (keepOther ? s : other).close("duplicate session");
      if (keepOther) return;
    }
    const address = s.role === "initiator" ? s.address : INBOUND;
    const profileName = s.peerProfile!.name;
    let entry = this.#known.byKey(id);
    const firstContact = entry === undefined;
    try {
      if (entry === undefined) entry = this.#known.pin(address, this.#freeName(profileName), id);
      else if (address !== INBOUND && !this.#known.entries().some((e) => e.address === address)) entry = this.#known.pin(address, entry.name, id);
      this.#known.save();
    } catch (e) {
      this.#emit({ type: "error", code: "known_peers", message: (e as Error).message });
    }
    const name = entry?.name ?? this.#freeName(profileName);
    this.#links.set(s, { pid, name, pendingAck: null });
    const box = this.#box(pid, name);
    box.left = false;
    box.name = name;
    this.#emit({
      type: "connected",
      peer: name,
      address: s.address,
      role: s.role,
      fingerprint: fingerprint(id),
      safetyNumber: safetyNumber(this.#identity.publicKey, id),
      firstContact,
      verified: entry?.verified ?? false,
    });
    for (const m of box.unacked) s.send({ kind: "text", id: m.id, text: m.text });
  }

  /** A pin name for a display name: a valid token, not used by another key. */
  #freeName(display: string): string {
    let base = display.normalize("NFKC").replace(/[^\p{L}\p{M}\p{N}._-]/gu, "").replace(/^[^\p{L}\p{N}]+/u, "").slice(0, 24);
    if (!isValidPeerName(base)) base = "peer";
    for (let i = 1; ; i++) {
      const n = i === 1 ? base : `${base}-${i}`;
      if (this.#known.byName(n) === undefined) return n;
    }
  }

  #box(pid: string, name = "?"): Outbox {
    let b = this.#outbox.get(pid);
    if (b === undefined) {
      b = { nextId: this.#store.nextId(pid), unacked: [], left: false, name };
      this.#outbox.set(pid, b);
    }
    return b;
  }

  #item(s: Session, item: Item): void {
    const link = this.#links.get(s);
    if (link === undefined) return;
    switch (item.kind) {
      case "text": {
        const inst = toHex(s.peerProfile!.instance);
        const key = `${link.pid}/${inst}`;
        let last = this.#delivered.get(key);
        if (last === undefined) last = this.#store.delivered(link.pid, inst);
        if (item.id > last) {
          this.#emit({ type: "message", peer: link.name, fingerprint: fingerprint(s.peerIdentity!), id: item.id.toString(), text: item.text, time: Date.now(), private: false });
          last = item.id;
          this.#store.setDelivered(link.pid, inst, last);
        }
        this.#delivered.set(key, last);
        this.#ack(s, link, last);
        return;
      }
      case "ack": {
        const box = this.#outbox.get(link.pid);
        if (box === undefined) return;
        const before = box.unacked.length;
        box.unacked = box.unacked.filter((m) => m.id > item.id);
        if (box.unacked.length < before) this.#store.ack(link.pid, item.id);
        if (box.unacked.length < before) this.#emit({ type: "ack", peer: link.name, id: item.id.toString() });
        return;
      }
      case "profile":
        this.#emit({ type: "nick", peer: item.name, previous: link.name });
        return;
    }
  }

  /** Cumulative ACKs: one per tick per session, for the highest id delivered. */
  #ack(s: Session, link: Link, id: bigint): void {
    const scheduled = link.pendingAck !== null;
    if (link.pendingAck === null || id > link.pendingAck) link.pendingAck = id;
    if (scheduled) return;
    queueMicrotask(() => {
      const a = link.pendingAck;
      link.pendingAck = null;
      if (a !== null && s.state === "open") s.send({ kind: "ack", id: a });
    });
  }

  #closed(s: Session, info: CloseInfo): void {
    const link = this.#links.get(s);
    this.#links.delete(s);
    if (link !== undefined) {
      const stillThere = [...this.#links.values()].some((l) => l.pid === link.pid);
      if (info.byPeer && info.error === null && !stillThere) this.#box(link.pid).left = true;
      if (info.reason === "duplicate session") return;
    }
    if (this.#closing && link === undefined) return;
    const e = info.error;
    this.#emit({
      type: "disconnected",
      peer: link?.name ?? "?",
      address: s.address,
      reason: e ? e.message : info.byPeer ? `closed by peer${info.reason ? `: ${info.reason}` : ""}` : "closed",
      ...(e instanceof ProtocolError ? { code: e.code } : {}),
    });
  }

  #openSessions(pid: string): Session[] {
    return [...this.#links].filter(([s, l]) => l.pid === pid && s.state === "open").map(([s]) => s);
  }

  sendAll(text: string): number {
    const pids = new Set<string>();
    for (const l of this.#links.values()) pids.add(l.pid);
    for (const [pid, box] of this.#outbox) if (!box.left) pids.add(pid);
    for (const pid of pids) this.#queue(pid, text);
    return pids.size;
  }

  sendTo(name: string, text: string): void {
    const pid = this.#pidByName(name);
    this.#queue(pid, text, true);
  }

  #pidByName(name: string): string {
    const fold = (n: string) => n.normalize("NFKC").toLowerCase();
    for (const l of this.#links.values()) if (fold(l.name) === fold(name)) return l.pid;
    for (const [pid, box] of this.#outbox) if (fold(box.name) === fold(name)) return pid;
    throw new ChatError("unknown_peer", `no peer named ${JSON.stringify(name.slice(0, 64))} is connected; /peers lists them`);
  }

  #queue(pid: string, text: string, priv = false): void {
    const box = this.#box(pid);
    if (box.unacked.length >= MAX_OUTBOX) throw new ChatError("not_connected", `${box.name} has ${MAX_OUTBOX} unacknowledged messages; not queueing more`);
    const id = box.nextId++;
    this.#store.queue(pid, id, text);
    box.unacked.push({ id, text });
    for (const s of this.#openSessions(pid)) s.send({ kind: "text", id, text });
    this.#emit({ type: "sent", peer: box.name, id: id.toString(), text, private: priv });
  }

  connect(address: string): void {
    const a = parseAddress(address);
    if (a === null) throw new ChatError("bad_address", `${JSON.stringify(address.slice(0, 80))} is not host:port`);
    const key = `${a.host}:${a.port}`;
    if (this.#dialers.has(key)) return;
    const d: Dialer = new Dialer(a.host, a.port, {
      dial: () => this.#peer.connect(a.host, a.port),
      connectedElsewhere: (s: Session | null): boolean => {
        const pid = s ? toHex(s.peerIdentity!) : d.pid;
        return pid !== null && this.#openSessions(pid).some((o) => o !== s);
      },
      emit: this.#emit,
      isFatal: (e) => e instanceof ConnectError && e.cause instanceof ProtocolError && (e.cause.code === "identity_rejected" || (e.cause.code === "alert" && e.cause.alert === 6)),
    });
    this.#dialers.set(key, d);
    d.start();
  }

  peers(): PeerInfo[] {
    return [...this.#links]
      .filter(([s]) => s.state === "open")
      .map(([s, l]) => ({
        name: l.name,
        address: s.address,
        fingerprint: fingerprint(s.peerIdentity!),
        safetyNumber: safetyNumber(this.#identity.publicKey, s.peerIdentity!),
        verified: this.#known.byKey(s.peerIdentity!)?.verified ?? false,
        role: s.role,
        unacked: this.#outbox.get(l.pid)?.unacked.length ?? 0,
      }));
  }

  verify(name?: string): { name: string; fingerprint: string; safetyNumber: string; verified: boolean }[] {
    const all = this.peers();
    if (name === undefined) return all.map(({ name, fingerprint, safetyNumber, verified }) => ({ name, fingerprint, safetyNumber, verified }));
    const pid = this.#pidByName(name);
    const p = all.find((x) => toHex(this.#keyOf(x.fingerprint) ?? new Uint8Array()) === pid) ?? all.find((x) => x.name.toLowerCase() === name.toLowerCase());
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
      this.#known.trust(Buffer.from(pid, "hex"));
      this.#known.save();
    } catch (e) {
      throw new ChatError("known_peers", (e as Error).message);
    }
    this.#emit({ type: "notice", message: `${this.#outbox.get(pid)?.name ?? name} is now marked verified in ${this.#known.path}` });
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
    let n = 0;
    for (const b of this.#outbox.values()) if (!b.left) n += b.unacked.length;
    return n;
  }

  async drain(timeoutMs: number): Promise<boolean> {
    const until = performance.now() + timeoutMs;
    while (this.queued() > 0 && performance.now() < until) await Bun.sleep(20);
    return this.queued() === 0;
  }

  async close(): Promise<void> {
    this.#closing = true;
    for (const d of this.#dialers.values()) d.stop();
    await this.#peer.close("bye");
    this.#store.close();
  }
}

function checkName(name: string): void {
  const bytes = new TextEncoder().encode(name).length;
  if (name.length === 0 || bytes > MAX_NAME_BYTES || /[\p{Cc}\p{Cf}]/u.test(name)) {
    throw new ChatError("bad_name", `a name must be 1 to ${MAX_NAME_BYTES} bytes of UTF-8 without control characters`);
  }
}
