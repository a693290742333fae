/**
 * The chat's sessions: the Link of each ready session, the dials answered early, who
 * waits for a session to close, and the one-session-per-pair rule. Keyed by the
 * PeerSession (src/net/types.ts), never by the socket-owning Session class.
 */
import { ProtocolError } from "../../protocol/errors.ts";
import { ConnectError } from "../../net/route.ts";
import type { CloseInfo, PeerSession } from "../../net/types.ts";
import type { ChatEvent } from "../events.ts";
import { explain } from "../explain.ts";
import type { Link } from "../delivery/link.ts";
import { fingerprint } from "../trust/identity.ts";
import type { Pid } from "../peer-id.ts";

export { holdWhileBackedUp } from "./hold.ts";

/** A dial answered early (our AUTH sent, the peer's PROFILE not yet here): its link, and the dial to settle. */
export interface EarlyDial {
  link: Link | null;
  resolve: () => void;
  reject: (e: Error) => void;
}

/** The CLOSE reason of the session the one-session-per-pair rule ends. */
export const DUPLICATE_SESSION = "duplicate session";
/** How long a session the peer closed as a duplicate still stands for its replacement (ms): a handshake's time. */
const REPLACED_MS = 10_000;

export class Sessions {
  readonly links = new Map<PeerSession, Link>();
  readonly early = new Map<PeerSession, EarlyDial>();
  /** Sessions that carried a TEXT or an ACK (the Dialer's backoff: dialer.ts step 2). */
  readonly useful = new WeakSet<PeerSession>();
  readonly #closeWaiters = new Map<PeerSession, (() => void)[]>();
  /** Per peer: its session the peer closed as a duplicate, and when (the one-session rule ran on its side first). */
  readonly #replaced = new Map<string, { address: string; at: number }>();

  /** `s` is ready: an early dial settles here, as a plain one does (before the duplicate rule). */
  ready(s: PeerSession): EarlyDial | undefined {
    const early = this.early.get(s);
    this.early.delete(s);
    early?.resolve();
    return early;
  }

  /** One session per peer: of two, both ends keep the one with the lower th3. False: `s` is the one closed. */
  keep(s: PeerSession, pid: Pid): boolean {
    for (const [other, link] of this.links) {
      if (link.pid !== pid || other === s) continue;
      const keepOther = Buffer.compare(other.th3!, s.th3!) < 0;
      (keepOther ? s : other).close(DUPLICATE_SESSION);
      if (keepOther) return false;
    }
    return true;
  }

  /** `s` ended: its early dial fails, its waiters wake, its link stops; returns the link it had. */
  closed(s: PeerSession, info: CloseInfo): Link | undefined {
    const early = this.early.get(s);
    if (early !== undefined) {
      // Closed before the peer's PROFILE: the dial fails as a handshake failure would.
      this.early.delete(s);
      early.link?.stop();
      early.reject(new ConnectError(`handshake with ${s.address} failed: ${info.error?.message ?? "the connection closed"}`, info.error ?? undefined));
    }
    for (const wake of this.#closeWaiters.get(s) ?? []) wake();
    this.#closeWaiters.delete(s);
    const link = this.links.get(s);
    link?.stop();
    this.links.delete(s);
    if (link !== undefined && info.byPeer && info.reason === DUPLICATE_SESSION) {
      // Only the address is kept, and only for REPLACED_MS: identities are free to make, so
      // what they leave here must not outlive the handshake it stands in for.
      const now = performance.now();
      for (const [pid, r] of this.#replaced) if (now - r.at >= REPLACED_MS) this.#replaced.delete(pid);
      this.#replaced.set(link.pid, { address: s.address, at: now });
    }
    return link;
  }

  /**
   * The session of `pid` the peer closed as a duplicate within the last REPLACED_MS: the
   * peer kept a newer one that is not ready here yet (both ends run keep(), the peer's may
   * run first), so that newer one continues the conversation rather than starts one.
   */
  replaced(pid: string): { address: string } | undefined {
    const r = this.#replaced.get(pid);
    this.#replaced.delete(pid);
    return r !== undefined && performance.now() - r.at < REPLACED_MS ? { address: r.address } : undefined;
  }

  /** Ask every open session for a KEY_UPDATE; returns how many. */
  rekey(): number {
    let n = 0;
    for (const s of this.links.keys()) {
      if (s.state !== "open") continue;
      s.rekey();
      n++;
    }
    return n;
  }

  /** Resolves when `s` has closed (at once if it already has). */
  whenClosed(s: PeerSession): Promise<void> {
    if (s.state === "closed") return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.#closeWaiters.get(s) ?? [];
      list.push(resolve);
      this.#closeWaiters.set(s, list);
    });
  }

  /** The open sessions with one identity (hex). */
  open(pid: Pid): PeerSession[] {
    return [...this.links].filter(([s, l]) => l.pid === pid && s.state === "open").map(([s]) => s);
  }

  /** The key of a session's peer by its fingerprint. */
  keyOf(fp: string): Uint8Array | undefined {
    for (const s of this.links.keys()) if (s.peerIdentity && fingerprint(s.peerIdentity) === fp) return s.peerIdentity;
    return undefined;
  }
}

/** The `disconnected` event for a session that ended (`link`: the one it had, if it was ready). */
export function closedEvent(s: PeerSession, info: CloseInfo, link: Link | undefined, redialling: boolean, nameOf: (pid: Pid) => string): ChatEvent {
  const e = info.error;
  // Keepalive (limits.ts): "no answer from the peer for 15 s" names the peer.
  const redial = redialling ? "; redialling" : "";
  const silent = e instanceof ProtocolError && e.code === "timeout" && link !== undefined && e.message.startsWith("no answer from the peer") ? `${e.message.replace(/^no answer from the peer/, `no answer from ${link.name}`)}${redial}` : null;
  const x = e ? explain(e, { who: link?.name ?? s.address, address: s.address, established: link !== undefined }) : null;
  return {
    type: "disconnected",
    peer: link === undefined ? s.address : nameOf(link.pid),
    address: s.address,
    reason: silent !== null ? silent : x ? x.message : info.byPeer && info.reason === "disconnect" && link !== undefined ? `${link.name} disconnected from you (/disconnect)` : info.byPeer ? `closed by peer${info.reason ? `: ${info.reason}` : ""}` : "closed",
    ...(x?.code !== undefined ? { code: x.code } : {}),
    ...(x?.alert !== undefined ? { alert: x.alert } : {}),
  };
}
