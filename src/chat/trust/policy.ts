/**
 * Trust on first use, applied to sessions: the policy a handshake asks (refuse a changed
 * key at a pinned address, refuse unpinned peers under --strict), and the pin written
 * when a session is ready. Pins live in known_peers (known-peers.ts).
 */
import { fail } from "../../protocol/errors.ts";
import type { ChatListener } from "../events.ts";
import { fingerprint } from "./identity.ts";
import { INBOUND, isValidPeerName, type KnownPeer, type KnownPeers } from "./known-peers.ts";

export class Trust {
  constructor(
    readonly known: KnownPeers,
    readonly strict: boolean,
    readonly emit: ChatListener,
  ) {}

  /**
   * The handshake's policy for a peer key met at `address` (`*` for inbound).
   * @throws ProtocolError identity_rejected for a changed key, or an unpinned one under --strict.
   */
  verify(id: Uint8Array, address: string): void {
    const check = this.known.check(address, id);
    if (check.status === "changed") {
      this.emit({ type: "key_changed", address, pinnedName: check.entry.name, pinned: fingerprint(check.entry.publicKey), presented: fingerprint(id) });
      throw fail("identity_rejected", `the key of ${address} changed; refused`);
    }
    if (check.status === "new" && this.strict) {
      this.emit({ type: "rejected", address, fingerprint: fingerprint(id), reason: "not pinned and --strict is on" });
      throw fail("identity_rejected", "--strict accepts only pinned peers");
    }
  }

  /**
   * Pin a peer whose session is ready: a new key under a free name made from its display
   * name, a known key at a newly dialled address under its pinned name. Saves the file;
   * a failure to save is reported, not thrown (the session stays).
   */
  pinReady(id: Uint8Array, address: string, displayName: string): { name: string; firstContact: boolean; verified: boolean } {
    let entry: KnownPeer | undefined = this.known.byKey(id);
    const firstContact = entry === undefined;
    try {
      if (entry === undefined) entry = this.known.pin(address, this.freeName(displayName), id);
      else if (address !== INBOUND && !this.known.entries().some((e) => e.address === address)) entry = this.known.pin(address, entry.name, id);
      this.known.save();
    } catch (e) {
      this.emit({ type: "error", code: "known_peers", message: (e as Error).message });
    }
    return { name: entry?.name ?? this.freeName(displayName), firstContact, verified: entry?.verified ?? false };
  }

  /** A pin name for a display name: a valid token, not used by another key. */
  freeName(display: string): string {
    let base = display.normalize("NFKC").replace(/[^\p{L}\p{M}\p{N}._-]/gu, "").replace(/^[^\p{L}\p{N}]+/u, "").slice(0, 24);
    if (!isValidPeerName(base)) base = "peer";
    for (let i = 1; ; i++) {
      const n = i === 1 ? base : `${base}-${i}`;
      if (this.known.byName(n) === undefined) return n;
    }
  }

  /** Whether the pinned key is marked verified. */
  verified(id: Uint8Array): boolean {
    return this.known.byKey(id)?.verified ?? false;
  }

  /** The pinned name of a key, if any. */
  nameOf(id: Uint8Array): string | undefined {
    return this.known.byKey(id)?.name;
  }

  /** Mark a key verified and save. @throws KnownPeersError. */
  markVerified(id: Uint8Array): void {
    this.known.trust(id);
    this.known.save();
  }
}
