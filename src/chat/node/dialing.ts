/**
 * Dial policy: one Dialer (delivery/dialer.ts) per host:port we were asked to reach, the
 * invites they came from, a contact that moved (it dialled us from elsewhere), the dials
 * answered early (the first message in TLS 1.3's time), and which refusals end a dial.
 */
import { isIP } from "node:net";
import { AlertCode } from "../../protocol/constants.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import type { Peer } from "../../net/peer.ts";
import { ConnectError } from "../../net/route.ts";
import type { CloseInfo, PeerSession } from "../../net/types.ts";
import { ChatError, type AwayInfo, type ChatListener } from "../events.ts";
import { explain } from "../explain.ts";
import { Dialer, parseAddress } from "../delivery/dialer.ts";
import type { Link } from "../delivery/link.ts";
import { DUPLICATE_SESSION } from "./sessions.ts";
import type { Outbox } from "../delivery/outbox.ts";
import { fingerprint } from "../trust/identity.ts";
import { parseInvite } from "../trust/invite.ts";
import { isValidPeerName } from "../trust/known-peers.ts";
import type { Trust } from "../trust/policy.ts";
import type { Contacts } from "./contacts.ts";
import type { Delivery } from "./delivery.ts";
import type { Sessions } from "./sessions.ts";
import { pidOf, type Pid } from "../peer-id.ts";

export interface DialingDeps {
  emit: ChatListener;
  peer: Peer;
  trust: Trust;
  outbox: Outbox;
  sessions: Sessions;
  contacts: Contacts;
  delivery: Delivery;
  /** ChatOptions.backoffBaseMs. */
  backoffBaseMs?: number;
}

export class Dialing {
  /** When a dial of ours last reached this sotto itself (performance.now; 0: never). */
  #selfDialledAt = 0;

  /**
   * Is this end of an inbound handshake the answering half of our own dial to ourselves?
   * The dialling half found our key (PROTOCOL §8, reflection) and ended it with auth_failed,
   * which arrives here just after; it was said once already (dial_stopped).
   */
  selfDialEcho(info: CloseInfo): boolean {
    const e = info.error;
    return performance.now() - this.#selfDialledAt < SELF_DIAL_ECHO_MS && e instanceof ProtocolError && e.code === "alert" && e.alert === AlertCode.auth_failed;
  }
  readonly #d: DialingDeps;
  readonly #dialers = new Map<string, Dialer>();

  constructor(d: DialingDeps) {
    this.#d = d;
  }

  /** Whether host:port is being dialled (and so redialled when its session ends). */
  has(address: string): boolean {
    return this.#dialers.has(address);
  }

  connect(address: string): string | void {
    const { sessions, contacts } = this.#d;
    const invite = parseInvite(address);
    if (invite !== null) {
      this.#d.trust.invited.set(invite.address, invite.fingerprint);
      if (invite.token !== undefined) contacts.inviteTokens.set(invite.address, invite.token);
      address = invite.address;
    }
    const a = parseAddress(address);
    if (a === null) return this.#connectContact(address);
    const key = `${a.host}:${a.port}`;
    const existing = this.#dialers.get(key);
    if (existing !== undefined) {
      const open = existing.pid !== null ? sessions.open(existing.pid) : [];
      if (open.length > 0) return `Already connected to ${contacts.nameOf(existing.pid!)} at ${key}.`;
      return `Already dialling ${key}; it is retried with backoff.`;
    }
    for (const [s, l] of sessions.links) if (s.state === "open" && s.address === key) return `Already connected to ${l.name} at ${key}.`;
    const d: Dialer = new Dialer(a.host, a.port, {
      dial: () => this.#d.peer.connect(a.host, a.port, undefined, { early: true }).then((s) => this.#dialedEarly(s)),
      connectedElsewhere: (s: PeerSession | null): boolean => {
        const pid = s ? pidOf(s.peerIdentity!) : d.pid;
        return pid !== null && sessions.open(pid).some((o) => o !== s);
      },
      emit: this.#d.emit,
      closed: (s) => sessions.whenClosed(s),
      nameOf: (pid) => contacts.nameOf(pid),
      useful: (s) => sessions.useful.has(s),
      backoffBaseMs: this.#d.backoffBaseMs,
      fatal: (e) => {
        const stop = dialStop(e, key);
        // The dialer ends on a permanent refusal; forget it, so /connect (after /replace or an edit of known_peers) dials again.
        if (stop !== null && this.#dialers.get(key) === d) this.#dialers.delete(key);
        if (stop?.code === "reflection") this.#selfDialledAt = performance.now();
        return stop;
      },
    });
    this.#dialers.set(key, d);
    d.start();
  }

  /** A contact's name dials the addresses known_peers pins for it (where it moved to, too). @throws ChatError bad_address */
  #connectContact(name: string): string | void {
    const c = isValidPeerName(name) ? this.#d.trust.contact(name) : undefined;
    if (c === undefined) throw new ChatError("bad_address", `${JSON.stringify(name.slice(0, 80))} is not host:port, nor the name of a contact`);
    const pins = this.#d.trust.known.addressesOf(c.publicKey);
    if (pins.length === 0) throw new ChatError("bad_address", `${c.name} has no address to dial in known_peers (it only ever dialled in); /connect host:port dials one`);
    const said = pins.map((p) => this.connect(p)).filter((m): m is string => typeof m === "string");
    if (said.length > 0) return said.join(" ");
  }

  /**
   * `s` ended. However the peer left (CLOSE, crash, cut), its lines stay queued for its
   * return; a /disconnect from it stops our dials to it. True when no `disconnected` is
   * due: a duplicate session; a dial that never became a session (its Dialer says why:
   * error, reconnecting or dial_stopped, once); the answering half of a dial to ourselves.
   */
  ended(s: PeerSession, info: CloseInfo, link: Link | undefined): boolean {
    if (link !== undefined) {
      if (info.reason === DUPLICATE_SESSION) return true;
      if (info.byPeer && info.reason === DISCONNECT_REASON) {
        // A request's claimed name may be a contact's (SECURITY.md §12): it is named as the request.
        const r = this.#d.trust.requests.get(link.pid);
        this.peerDisconnected(link.pid, r === undefined ? link.name : `request ${r.id} (calling itself ${JSON.stringify(r.claimed)})`);
      }
      return false;
    }
    return s.role === "initiator" ? this.has(s.address) : this.selfDialEcho(info);
  }

  /**
   * The peer ended the conversation with /disconnect (PROTOCOL §6, CLOSE `disconnect`):
   * dialling it stops, with one sentence, until /connect.
   */
  peerDisconnected(pid: Pid, name: string): void {
    for (const [key, d] of this.#dialers) {
      if (d.pid !== pid) continue;
      this.#dialers.delete(key);
      d.stop(`${name} ended the conversation (/disconnect); not dialling it again until you /connect ${key}`, "peer_disconnect");
    }
  }

  disconnect(who: string): number {
    let n = 0;
    const a = parseAddress(who);
    const byAddress = a !== null ? this.#dialers.get(`${a.host}:${a.port}`) : undefined;
    const pid = byAddress?.pid ?? (byAddress !== undefined ? null : this.#d.contacts.pidByName(who));
    for (const [key, d] of this.#dialers) {
      if (d !== byAddress && (pid === null || d.pid !== pid)) continue;
      this.#dialers.delete(key);
      d.stop(`/disconnect ${who.slice(0, 64)}`, "disconnect");
      n++;
    }
    if (pid !== null) {
      for (const s of this.#d.sessions.open(pid)) {
        // What we showed is acknowledged before bye: no one redials, so an ACK still on its timer would never go.
        this.#d.sessions.links.get(s)?.flushAck();
        s.close(DISCONNECT_REASON);
        n++;
      }
    }
    return n;
  }

  /**
   * Contacts are keys, not addresses: an authenticated session from a contact we dial
   * elsewhere means it moved (as WireGuard takes a peer's endpoint from its latest
   * authenticated packet). The dial to the stale address stops, an IP pin moves to the
   * new host (Trust.moved: a contact's only), and the person is told ("moved").
   */
  movedTo(pid: Pid, s: PeerSession): void {
    const from = hostOf(s.address);
    const nameOf = (p: Pid) => this.#d.contacts.nameOf(p);
    for (const [key, d] of this.#dialers) {
      if (d.pid !== pid || d.host === from) continue;
      this.#dialers.delete(key);
      d.stop(`${nameOf(pid)} now connects from ${from}`, "moved");
      const pinned = movedPin(key, from);
      const moved = pinned !== null && this.#d.trust.moved(s.peerIdentity!, key, pinned);
      this.#d.emit({ type: "moved", peer: nameOf(pid), fingerprint: fingerprint(s.peerIdentity!), from: key, host: from, pinned: moved ? pinned : null });
    }
  }

  /**
   * The first message in TLS 1.3's time: the dial resolved as soon as our AUTH went
   * out (the responder's key is verified and pinned policy passed, PROTOCOL §4.5). Lines
   * never sent before go now; the dial itself settles when the session is ready or ends.
   */
  #dialedEarly(s: PeerSession): Promise<PeerSession> {
    if (s.state === "open") return Promise.resolve(s);
    if (s.state === "closed") return Promise.reject(new ConnectError(`handshake with ${s.address} failed: the connection closed`));
    const { outbox, sessions } = this.#d;
    return new Promise((resolve, reject) => {
      const pid = pidOf(s.peerIdentity!);
      let link: Link | null = null;
      if (sessions.open(pid).length === 0 && outbox.unackedFor(pid) > 0 && outbox.mayStartEarly(pid)) {
        link = this.#d.delivery.newLink(s, pid, this.#d.contacts.nameOf(pid));
        link.startEarly();
      }
      sessions.early.set(s, { link, resolve: () => resolve(s), reject });
    });
  }

  /** Addresses dialled with no session now, for /peers (a contact reachable through another session is not away). */
  away(): AwayInfo[] {
    const out: AwayInfo[] = [];
    for (const d of this.#dialers.values()) {
      const st = d.status();
      if (st === null || (st.pid !== null && this.#d.sessions.open(st.pid).length > 0)) continue;
      const peer = st.pid !== null ? this.#d.contacts.nameOf(st.pid) : undefined;
      out.push({ address: st.address, ...(peer !== undefined ? { peer } : {}), state: st.state, ...(st.state === "reconnecting" ? { since: st.since, reason: st.reason, inMs: st.inMs } : {}) });
    }
    return out;
  }

  /** Stop every dial (the chat closes). */
  close(): void {
    for (const d of this.#dialers.values()) d.stop();
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

/** The CLOSE reason of /disconnect (PROTOCOL §6): the receiver does not dial us again. */
export const DISCONNECT_REASON = "disconnect";

/** Within this long after a dial reached ourselves, an inbound handshake ended with auth_failed is its other half. */
const SELF_DIAL_ECHO_MS = 2000;

/**
 * Dialling `key` stops for good on a refusal that a retry cannot change (issue: dialling
 * that knows when to stop); null: try again later.
 */
function dialStop(e: Error, key: string): { code: string; message: string } | null {
  const p = e instanceof ConnectError && e.cause instanceof ProtocolError ? e.cause : null;
  if (p === null) return null;
  if (p.code === "reflection") return { code: "reflection", message: `${key} answered with our own key: it is this sotto itself (you dialled yourself); dial your friend's address instead` };
  const code =
    p.code === "identity_rejected" || (p.code === "alert" && p.alert === AlertCode.identity_rejected) ? "identity_rejected" : p.code === "unsupported_version" || (p.code === "alert" && p.alert === AlertCode.unsupported_version) ? "unsupported_version" : null;
  if (code === null) return null;
  // The sentence of the failure itself (chat/explain.ts), and that it is final.
  return { code, message: `${explain(e, { who: key, address: key }).message.replace(/\.$/, "")}. Not dialling it again; /connect ${key} dials again once that is settled` };
}
