/**
 * Contacts and requests as the chat sees them: one resolution of name ↔ key across the
 * trust pins, the requests, the links and the outbox; the ContactsApi (/contacts,
 * /allow, /block, /replace, /forget, /invite); what a peer's PROFILE changes; and the
 * peers and safety numbers of the open sessions.
 */
import { toHex } from "../../crypto/bytes.ts";
import { GROUP_NAMES } from "../../protocol/constants.ts";
import { fail } from "../../protocol/errors.ts";
import type { Item } from "../../protocol/items.ts";
import type { PeerSession } from "../../net/types.ts";
import { nameKey } from "../../text/names.ts";
import { ChatError, type ChatListener, type ContactsApi, type PeerInfo, type RequestInfo } from "../events.ts";
import type { Link } from "../delivery/link.ts";
import type { Outbox } from "../delivery/outbox.ts";
import { fingerprint } from "../trust/identity.ts";
import { INBOUND, KnownPeersError } from "../trust/known-peers.ts";
import { INVITE_TOKEN_LEN, INVITE_TOKEN_TYPE, InviteTokens, localInvites } from "../trust/invite.ts";
import type { Standing, Trust } from "../trust/policy.ts";
import { safetyNumber } from "../trust/safety-number.ts";
import { NICKS_PER_SECOND, type IdentityRates } from "./rates.ts";
import type { Sessions } from "./sessions.ts";
import { pidOf, type Pid } from "../peer-id.ts";

/** The key-exchange group a session uses, by its spec name (PROTOCOL §3). */
export function groupName(s: PeerSession): string | undefined {
  return s.group ? GROUP_NAMES[s.group] : undefined;
}

export interface ContactsDeps {
  emit: ChatListener;
  trust: Trust;
  /** Our Ed25519 key. */
  publicKey: Uint8Array;
  /** Our fingerprint (for invites). */
  fingerprint: string;
  outbox: Outbox;
  sessions: Sessions;
  rates: IdentityRates;
  /** Dial an address (after /replace of a contact we dial). */
  connect: (address: string) => void;
  /** HOME/invites: the unused invite tokens, shared with `sotto invite` (trust/invite.ts). */
  tokensDir: string;
}

export class Contacts implements ContactsApi {
  readonly #d: ContactsDeps;
  /** Tokens we made for /invite (listener side). */
  readonly #tokens: InviteTokens;
  /** Tokens of invites we dial (dialler side): address → token, sent once on the first session. */
  readonly inviteTokens = new Map<string, Uint8Array>();
  /** Where we listen, once we do (for /invite). */
  listening: { host: string; port: number } | null = null;

  constructor(d: ContactsDeps) {
    this.#d = d;
    this.#tokens = new InviteTokens(d.tokensDir);
  }

  nameOf(pid: Pid): string {
    // A pid is the key in lowercase hex, as known_peers indexes it: no round trip through bytes (asked per line).
    const contact = this.#d.trust.known.pinOf(pid)?.name;
    if (contact !== undefined) return contact;
    const r = this.#d.trust.requests.get(pid);
    if (r !== undefined) return r.claimed;
    for (const l of this.#d.sessions.links.values()) if (l.pid === pid) return l.name;
    return this.#d.outbox.nameOf(pid) ?? "?";
  }

  /** A contact's key (hex) by its exact local name (names.ts); never a request's claimed name. @throws ChatError unknown_peer */
  pidByName(name: string): Pid {
    return pidOf(this.#d.trust.requireContact(name).publicKey);
  }

  /** A connected contact by its local name (names resolve among contacts only). */
  connectedContact(name: string): string | undefined {
    const c = this.#d.trust.contact(name);
    const pid = c === undefined ? undefined : pidOf(c.publicKey);
    return pid !== undefined && this.#d.sessions.open(pid).length > 0 ? pid : undefined;
  }

  invites(): string[] {
    // One fresh one-time token per /invite, shared by its lines (PROTOCOL §15).
    if (this.listening === null) return [];
    let token: Uint8Array;
    try {
      token = this.#tokens.make();
    } catch (e) {
      throw new ChatError("state", `could not keep the invite's one-time secret in ${this.#d.tokensDir} (${(e as Error).message}); check that the folder is yours and the disk is not full`, { cause: e });
    }
    return localInvites(this.listening.host, this.listening.port, this.#d.fingerprint, token);
  }

  /** Sessions that presented a token already: one per session (PROTOCOL §15.1), so a peer cannot try one token after another, nor make us read HOME/invites once per item. */
  readonly #presented = new WeakSet<PeerSession>();

  /** PROTOCOL §15: a request that presents one of our unused tokens (the first of its session) becomes a contact. */
  inviteToken(s: PeerSession, pid: Pid, token: Uint8Array): void {
    if (token.length !== INVITE_TOKEN_LEN || this.#presented.has(s)) return;
    this.#presented.add(s);
    const r = this.#d.trust.requests.get(pid);
    if (!this.#tokens.use(token) || r === undefined) return;
    if (r.lookalike !== undefined) {
      this.#d.emit({ type: "notice", message: `Request ${r.id} used one of your invites but claims the name of your contact ${r.lookalike}; it stays a request (/allow ${r.id} NAME to add it under another name).` });
      return;
    }
    const name = this.#allow(r.id);
    this.#d.emit({ type: "contact", change: "invited", peer: name, message: `${name} came with one of your invites: it is a contact now.` });
  }

  isContact(pid: Pid): boolean {
    return this.#d.trust.isContact(pid);
  }

  list(): { name: string; fingerprint: string; verified: boolean; connected: boolean }[] {
    return this.#d.trust.contacts().map((c) => ({ name: c.name, fingerprint: fingerprint(c.publicKey), verified: c.verified, connected: this.#d.sessions.open(pidOf(c.publicKey)).length > 0 }));
  }

  requests(): RequestInfo[] {
    return this.#d.trust.requests.list().map((r) => ({
      id: r.id,
      claimed: r.claimed,
      fingerprint: fingerprint(r.publicKey),
      safetyNumber: safetyNumber(this.#d.publicKey, r.publicKey),
      connected: r.sessions > 0,
      ...(r.lookalike === undefined ? {} : { lookalike: r.lookalike }),
    }));
  }

  allow(ref?: string, localName?: string): string {
    const name = this.#allow(ref, localName);
    this.#d.emit({ type: "contact", change: "allowed", peer: name, message: `${name} is now a contact: what you type reaches it. Compare safety numbers with /verify ${name}.` });
    return name;
  }

  #allow(ref?: string, localName?: string): string {
    const { name, pid, shown } = this.#d.trust.allow(ref, localName);
    this.#becameContact(pid, name, shown);
    return name;
  }

  /** A request (or a new key) is a contact now: it gets an outbox, what it showed is kept (no line twice), and its sessions send. */
  #becameContact(pid: Pid, name: string, shown: Map<string, bigint>): void {
    const outbox = this.#d.outbox;
    for (const [instance, id] of shown) if (id > outbox.lastShown(pid, instance)) outbox.shown(pid, instance, id);
    outbox.arrived(pid, name);
    for (const link of this.#d.sessions.links.values()) if (link.pid === pid) link.pump();
  }

  block(ref?: string): string {
    const { label, pid } = this.#d.trust.block(ref);
    for (const s of this.#d.sessions.open(pid)) s.close("blocked");
    this.#d.emit({ type: "contact", change: "blocked", peer: label, message: `Blocked ${label}: its key is refused from now on (${this.#d.trust.known.path}).` });
    return label;
  }

  replace(name: string): void {
    const r = this.#d.trust.replace(name);
    this.#d.emit({ type: "contact", change: "replaced", peer: r.name, message: `${r.name} now has the new key (safety number ${r.safetyNumber}); the old key is refused. Mark it verified with /trust ${r.name} once you have compared the numbers.` });
    for (const s of this.#d.sessions.open(r.oldPid)) s.close("key replaced");
    this.#becameContact(r.pid, r.name, r.shown);
    if (r.address !== INBOUND && this.#d.sessions.open(r.pid).length === 0) this.#d.connect(r.address);
  }

  forget(name: string): void {
    const f = this.#d.trust.forget(name);
    for (const s of this.#d.sessions.open(f.pid)) s.close("forgotten");
    this.#d.emit({ type: "contact", change: "forgotten", peer: f.name, message: `Forgot ${f.name}: it is no longer a contact, and its key is a stranger's again.` });
  }

  /** /trust: mark a contact verified in known_peers. @throws ChatError unknown_peer / known_peers */
  markVerified(name: string): void {
    const pid = this.pidByName(name);
    try {
      this.#d.trust.markVerified(Buffer.from(pid, "hex"));
    } catch (e) {
      if (!(e instanceof KnownPeersError)) throw e;
      throw new ChatError("known_peers", e.message, { cause: e });
    }
    this.#d.emit({ type: "contact", change: "verified", peer: this.nameOf(pid), message: `${this.nameOf(pid)} is now marked verified in ${this.#d.trust.known.path}` });
  }

  /** PROTOCOL §15: the dialler of an invite with a token sends it once, in its first record. */
  presentInvite(s: PeerSession): void {
    const token = s.role === "initiator" ? this.inviteTokens.get(s.address.toLowerCase()) : undefined;
    if (token === undefined) return;
    this.inviteTokens.delete(s.address.toLowerCase());
    s.send({ kind: "ext", type: INVITE_TOKEN_TYPE, content: token });
  }

  /** A session is ready with a contact or a request: the person is told who, and how to check the key. */
  /**
   * One session per peer (Sessions.keep); a dial of ours that reached a peer connected
   * already (it dialled us, or at another address) is said once, as already_connected.
   */
  join(s: PeerSession, pid: Pid): { kept: boolean; other?: { address: string } } {
    const other = this.#d.sessions.open(pid).find((o) => o !== s) ?? this.#d.sessions.replaced(pid);
    const kept = this.#d.sessions.keep(s, pid);
    if (other !== undefined && s.role === "initiator") this.#d.emit({ type: "already_connected", peer: this.nameOf(pid), address: s.address, via: other.address });
    return other === undefined ? { kept } : { kept, other };
  }

  /** The `connected` event; none when the session joined one already open (`other`: join said it). */
  announce(s: PeerSession, standing: Exclude<Standing, { kind: "refused" }>, other?: { address: string }): void {
    if (other !== undefined) return;
    const id = s.peerIdentity!;
    const request = standing.kind === "request" ? standing.request : undefined;
    this.#d.emit({
      type: "connected",
      peer: standing.kind === "contact" ? standing.name : standing.request.claimed,
      address: s.address,
      role: s.role,
      fingerprint: fingerprint(id),
      safetyNumber: safetyNumber(this.#d.publicKey, id),
      group: groupName(s),
      firstContact: standing.kind === "contact" && standing.firstContact,
      verified: standing.kind === "contact" && standing.verified,
      ...(request === undefined ? {} : { request: request.id, ...(request.lookalike === undefined ? {} : { lookalike: request.lookalike }) }),
    });
  }

  /** A peer's PROFILE after the first: a request's claimed name, or a contact's /nick. */
  profile(s: PeerSession, link: Link, item: Extract<Item, { kind: "profile" }>): void {
    const trust = this.#d.trust;
    if (!this.#d.rates.of(link.pid).nick.take(performance.now())) return s.abort(fail("busy", `${link.name} changed its name more than ${NICKS_PER_SECOND} times a second`));
    const r = trust.requests.get(link.pid);
    if (r !== undefined) {
      this.#d.emit({ type: "nick", peer: item.name, previous: r.claimed, request: r.id });
      r.claimed = item.name;
      r.lookalike = trust.lookalike(item.name)?.name;
      return;
    }
    // A contact's /nick: shown and addressed by the new name, unless that name is taken by
    // (or looks like) another contact, which would let it squat (policy.ts renamed).
    const previous = this.nameOf(link.pid);
    const name = trust.renamed(s.peerIdentity!, item.name);
    link.name = name;
    this.#d.outbox.arrived(link.pid, name);
    if (name === previous && nameKey(item.name) !== nameKey(previous)) {
      this.#d.emit({ type: "notice", message: `${previous} now calls itself "${item.name}", which is, or looks like, another contact's name; you still address it as ${previous}.` });
    } else this.#d.emit({ type: "nick", peer: name, previous });
  }

  peers(): PeerInfo[] {
    const trust = this.#d.trust;
    return [...this.#d.sessions.links]
      .filter(([s]) => s.state === "open")
      .map(([s, l]) => ({
        name: this.nameOf(l.pid),
        ...(trust.requests.get(l.pid) === undefined ? {} : { request: trust.requests.get(l.pid)!.id }),
        address: s.address,
        fingerprint: fingerprint(s.peerIdentity!),
        safetyNumber: safetyNumber(this.#d.publicKey, s.peerIdentity!),
        verified: trust.verified(s.peerIdentity!),
        role: s.role,
        group: groupName(s),
        unacked: this.#d.outbox.unackedFor(l.pid),
      }));
  }

  verify(name?: string): { name: string; fingerprint: string; safetyNumber: string; verified: boolean }[] {
    const all = this.peers().filter((p) => p.request === undefined);
    if (name === undefined) return all.map(({ name, fingerprint, safetyNumber, verified }) => ({ name, fingerprint, safetyNumber, verified }));
    const pid = this.pidByName(name);
    const p = all.find((x) => toHex(this.#d.sessions.keyOf(x.fingerprint) ?? new Uint8Array()) === pid);
    if (p === undefined) throw new ChatError("unknown_peer", `${name} is not connected now`);
    return [{ name: p.name, fingerprint: p.fingerprint, safetyNumber: p.safetyNumber, verified: p.verified }];
  }
}
