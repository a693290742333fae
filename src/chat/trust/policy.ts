/**
 * Who a peer is to us, decided in one place: a *contact* (a key pinned in known_peers,
 * under a local name unique among contacts) or a *request* (a key that dialled us and
 * that the person has not accepted; requests.ts). docs/SECURITY.md §12 has each case and
 * its test.
 *
 *   1. handshake (`verify`): a blocked key is refused; a changed key at a pinned address
 *      is refused with `key_changed`; under --strict an unpinned key is refused.
 *   2. session ready (`admit`): a contact is a contact. An unknown key whose claimed name
 *      equals or looks like a contact's (names.ts: UTS #39 skeletons) is a key change:
 *      `key_changed`, and it stays a request until `/replace NAME`. Otherwise a key we
 *      dialled (an address the person chose: trust on first use) or any key under
 *      --allow-new becomes a contact; a key that dialled us is a request.
 *   3. the person answers: `allow` (request → contact), `block` (refused from then on,
 *      persisted), `replace` (a contact's new key), `forget` (drop a contact).
 * known_peers is re-read when it changed on disk before each decision (known-peers.ts).
 */
import { toHex } from "../../crypto/bytes.ts";
import { fail } from "../../protocol/errors.ts";
import { ChatError, type ChatListener } from "../events.ts";
import { nameKey, nameSkeleton } from "../../text/names.ts";
import { sanitizeLine } from "../../text/sanitize.ts";
import { fingerprint } from "./identity.ts";
import { INBOUND, isValidPeerName, KnownPeersError, type KnownPeer, type KnownPeers } from "./known-peers.ts";
import { Requests, type Request } from "./requests.ts";
import { safetyNumber } from "./safety-number.ts";
import { asPublicKey, isPid, pidOf, type Pid, type PublicKey } from "../peer-id.ts";

/** How new keys are met. */
export interface TrustOptions {
  /** --strict: only pinned keys complete a handshake. */
  strict: boolean;
  /** --allow-new: every new key (inbound too) becomes a contact at once, as for bots. */
  allowNew: boolean;
}

/** What a ready session's peer is. */
export type Standing =
  | { kind: "contact"; name: string; verified: boolean; firstContact: boolean }
  | { kind: "request"; request: Request }
  | { kind: "refused"; reason: string };

/** A key change seen in this run, waiting for `/replace`. */
interface PendingChange {
  publicKey: PublicKey;
  address: string;
}

const show = (s: string) => JSON.stringify(sanitizeLine(s, 40));

export class Trust {
  readonly requests = new Requests();
  /** Invites dialled in this run: address → the fingerprint (plain hex) expected there (invite.ts). */
  readonly invited = new Map<string, string>();
  readonly #pending = new Map<string, PendingChange>(); // contact name key → newest key seen
  #skeletons = new Map<string, string>(); // skeleton → contact name
  #skeletonsAt = -1;

  constructor(
    readonly known: KnownPeers,
    readonly opts: TrustOptions,
    readonly emit: ChatListener,
    readonly ownKey: Uint8Array,
  ) {}

  /** Re-read known_peers if it changed on disk; a broken file is reported and the last good pins kept. */
  refresh(): void {
    try {
      this.known.refresh();
    } catch (e) {
      if (!(e instanceof KnownPeersError)) throw e;
      this.emit({ type: "error", code: "known_peers", message: `${e.message} Keeping the pins read before.` });
    }
  }

  /**
   * The handshake's policy for a peer key met at `address` (`*` for inbound).
   * @throws ProtocolError identity_rejected for a blocked or changed key, an unpinned one under --strict, or when requests are full.
   */
  verify(raw: Uint8Array, address: string): void {
    const id = asPublicKey(raw);
    this.refresh();
    if (this.known.isBlocked(id)) throw fail("identity_rejected", "this key is blocked");
    const check = this.known.check(address, id);
    const invited = address === INBOUND ? undefined : this.invited.get(address.toLowerCase());
    if (invited !== undefined && fingerprint(id).replace(/ /g, "") !== invited) {
      // The invite pinned this address before the dial: another key is a key change, whatever known_peers says.
      const expected = invited.match(/.{4}/g)!.join(" ");
      this.emit({ type: "key_changed", address, pinnedName: "the invited peer", pinned: expected, presented: fingerprint(id), direction: "outbound" });
      throw fail("identity_rejected", `the key at ${address} is not the one in the invite; refused`);
    }
    if (check.status === "changed") {
      this.#keyChanged(check.entry, id, address, "outbound");
      throw fail("identity_rejected", `the key of ${address} changed; refused`);
    }
    if (check.status === "new" && this.opts.strict && invited === undefined) {
      this.emit({ type: "rejected", address, fingerprint: fingerprint(id), reason: "not pinned and --strict is on" });
      throw fail("identity_rejected", "--strict accepts only pinned peers");
    }
    // A flood of strangers gets no event each: the bound is the answer (SECURITY.md §12).
    if (check.status === "new" && address === INBOUND && !this.opts.allowNew && !this.requests.hasRoom(toHex(id))) {
      throw fail("identity_rejected", "too many requests are waiting; try again later");
    }
  }

  #keyChanged(pinned: KnownPeer, presented: PublicKey, address: string, direction: "outbound" | "inbound", claimed?: string): void {
    this.#pending.set(nameKey(pinned.name), { publicKey: presented, address });
    this.emit({
      type: "key_changed",
      address,
      pinnedName: pinned.name,
      pinned: fingerprint(pinned.publicKey),
      presented: fingerprint(presented),
      direction,
      safetyNumber: safetyNumber(this.ownKey, presented),
      ...(claimed === undefined ? {} : { claimed }),
    });
  }

  /**
   * A session is ready: is its peer a contact (pinned now if it is a first contact) or a
   * request? `address` is the dialled host:port, or `*` for inbound. A failure to save
   * known_peers is reported, not thrown (the session stays, unpinned this run).
   */
  admit(raw: Uint8Array, address: string, claimed: string): Standing {
    const id = asPublicKey(raw);
    this.refresh();
    const known = this.known.byKey(id);
    if (known !== undefined) {
      if (address !== INBOUND && !this.known.addressesOf(id).includes(address.toLowerCase())) this.#save((k) => k.pin(address, known.name, id));
      return { kind: "contact", name: known.name, verified: known.verified, firstContact: false };
    }
    const look = this.lookalike(claimed);
    if (look !== undefined) {
      this.#keyChanged(look, id, address, address === INBOUND ? "inbound" : "outbound", claimed);
      return this.#request(id, claimed, look.name);
    }
    if (address !== INBOUND || this.opts.allowNew) {
      const name = this.freeName(claimed);
      // verify() let only the invited key through at an invited address: it is verified (the invite came over a trusted channel).
      const invited = address !== INBOUND && this.invited.has(address.toLowerCase());
      const pinned = this.#save((k) => {
        const p = k.pin(address, name, id);
        return invited ? k.trust(id) : p;
      });
      return { kind: "contact", name: pinned?.name ?? name, verified: invited && pinned !== undefined, firstContact: true };
    }
    return this.#request(id, claimed, undefined);
  }

  #request(id: PublicKey, claimed: string, lookalike: string | undefined): Standing {
    const r = this.requests.open(id, claimed);
    if (r === null) return { kind: "refused", reason: "too many requests are waiting" };
    r.lookalike = lookalike;
    r.keyChangeOf = lookalike;
    return { kind: "request", request: r };
  }

  #save<T>(change: (k: KnownPeers) => T): T | undefined {
    try {
      return this.known.update(change);
    } catch (e) {
      if (!(e instanceof KnownPeersError)) throw e;
      this.emit({ type: "error", code: "known_peers", message: e.message });
      return undefined;
    }
  }

  /** The contact whose name equals or looks like `name` (UTS #39 skeleton), if any. @throws never */
  lookalike(name: string): KnownPeer | undefined {
    if (this.#skeletonsAt !== this.known.version) {
      this.#skeletons = new Map(this.known.names().map((n) => [nameSkeleton(n), n]));
      this.#skeletonsAt = this.known.version;
    }
    const exact = this.known.byName(name);
    if (exact !== undefined) return exact;
    const hit = this.#skeletons.get(nameSkeleton(name));
    return hit === undefined ? undefined : this.known.byName(hit);
  }

  /**
   * A contact's new PROFILE name: its local name follows, unless the name is invalid, or is
   * (or looks like) another contact's; returns the local name now. @throws never (a save failure is reported).
   */
  renamed(raw: Uint8Array, claimed: string): string {
    const id = asPublicKey(raw);
    const c = this.known.byKey(id);
    if (c === undefined) return claimed;
    if (!isValidPeerName(claimed) || nameKey(claimed) === nameKey(c.name)) return c.name;
    const look = this.lookalike(claimed);
    if (look !== undefined && toHex(look.publicKey) !== toHex(id)) return c.name;
    return this.#save((k) => {
      k.rename(id, claimed);
      return claimed;
    }) ?? c.name;
  }

  /**
   * A contact's key, authenticated in a session from a new host, moved away from the
   * pinned dial address `from`: the pin now names `to` (so a restart dials there). Only
   * for a contact: a request never moves a pin. Returns whether the file changed. @throws never (a save failure is reported).
   */
  moved(raw: Uint8Array, from: string, to: string): boolean {
    const id = asPublicKey(raw);
    if (this.known.pinOf(pidOf(id)) === undefined) return false;
    return this.#save((k) => k.moveAddress(from, to, id)) ?? false;
  }

  /** A session of `pid` ended. */
  closed(pid: string): void {
    this.requests.closed(pid);
  }

  /** True when the key (a Pid) is a contact. @throws never */
  isContact(pid: string): boolean {
    return isPid(pid) && this.known.pinOf(pid) !== undefined;
  }

  /** The contact with exactly this local name (names.ts nameKey), if any. @throws never */
  contact(name: string): KnownPeer | undefined {
    this.refresh();
    return this.known.byName(name);
  }

  /**
   * The contact named `name`. @throws ChatError unknown_peer, saying when a request claims that name.
   */
  requireContact(name: string): KnownPeer {
    const c = this.contact(name);
    if (c !== undefined) return c;
    const claimer = this.requests.list().find((r) => nameKey(r.claimed) === nameKey(name));
    const hint = claimer ? `; a request (${claimer.id}) calls itself ${show(claimer.claimed)}, which is not the same: /allow ${claimer.id} to accept it as a contact` : "; /contacts lists them";
    throw new ChatError("unknown_peer", `you have no contact named ${show(name)}${hint}`);
  }

  /** Every contact, one per key. @throws never */
  contacts(): KnownPeer[] {
    this.refresh();
    const seen = new Set<string>();
    return this.known.entries().filter((e) => {
      const k = toHex(e.publicKey);
      return !seen.has(k) && seen.add(k);
    });
  }

  /** A request by id ("r3" or "3"), or the only one when `ref` is undefined. @throws ChatError unknown_peer */
  #findRequest(ref: string | undefined): Request {
    const list = this.requests.list();
    if (ref === undefined) {
      if (list.length === 1) return list[0]!;
      throw new ChatError("unknown_peer", list.length === 0 ? "no request is waiting" : `${list.length} requests are waiting; name one by its id (/requests lists them)`);
    }
    const id = /^r?\d+$/i.test(ref) ? `r${ref.replace(/^r/i, "")}` : null;
    const byId = id === null ? undefined : list.find((r) => r.id === id);
    if (byId !== undefined) return byId;
    const byClaim = list.filter((r) => nameKey(r.claimed) === nameKey(ref));
    if (byClaim.length === 1 && this.lookalike(ref) === undefined) return byClaim[0]!;
    if (byClaim.length > 1) throw new ChatError("unknown_peer", `${byClaim.length} requests call themselves ${show(ref)}; name one by its id (/requests lists them)`);
    throw new ChatError("unknown_peer", `no request has the id or name ${show(ref)}; /requests lists them`);
  }

  /**
   * Accept a request as a contact under `localName` (default: from its claimed name).
   * @throws ChatError unknown_peer / bad_name (taken, or looks like a contact's) / known_peers.
   */
  allow(ref: string | undefined, localName?: string): { name: string; pid: Pid; shown: Map<string, bigint> } {
    const r = this.#findRequest(ref);
    let name: string;
    if (localName !== undefined) {
      if (!isValidPeerName(localName)) throw new ChatError("bad_name", `a contact name is 1 to 32 letters, digits, ".", "_" or "-", starting with a letter or digit; got ${show(localName)}`);
      const look = this.lookalike(localName);
      if (look !== undefined) throw new ChatError("bad_name", `${show(localName)} is, or looks like, your contact ${show(look.name)}; choose another name`);
      name = localName;
    } else {
      if (r.keyChangeOf !== undefined) throw new ChatError("bad_name", `${r.id} claims the name of your contact ${show(r.keyChangeOf)}: /replace ${r.keyChangeOf} if it is ${r.keyChangeOf}'s new key, or /allow ${r.id} NAME to add it under another name`);
      name = this.freeName(r.claimed);
    }
    try {
      this.known.update((k) => k.pin(INBOUND, name, r.publicKey));
    } catch (e) {
      if (!(e instanceof KnownPeersError)) throw e;
      throw new ChatError("known_peers", e.message, { cause: e });
    }
    this.requests.delete(r.pid);
    return { name, pid: r.pid, shown: r.shown };
  }

  /**
   * Refuse a key from now on: a request by id (the only one when `ref` is undefined), or a
   * contact by its local name. @throws ChatError unknown_peer / known_peers.
   */
  block(ref: string | undefined): { label: string; pid: Pid } {
    const c = ref === undefined || /^r?\d+$/i.test(ref) ? undefined : this.contact(ref);
    const key = c?.publicKey ?? this.#findRequest(ref).publicKey;
    const pid = pidOf(key);
    const label = c !== undefined ? c.name : `${this.requests.get(pid)!.id} (${show(this.requests.get(pid)!.claimed)})`;
    try {
      this.known.update((k) => k.block(key));
    } catch (e) {
      if (!(e instanceof KnownPeersError)) throw e;
      throw new ChatError("known_peers", e.message, { cause: e });
    }
    this.requests.delete(pid);
    return { label, pid };
  }

  /**
   * Give contact `name` the new key last seen claiming it or at its address (after the
   * person compared safety numbers). @throws ChatError unknown_peer / known_peers.
   */
  replace(name: string): { name: string; pid: Pid; oldPid: Pid; address: string; safetyNumber: string; shown: Map<string, bigint> } {
    const c = this.requireContact(name);
    const p = this.#pending.get(nameKey(c.name));
    if (p === undefined) throw new ChatError("unknown_peer", `no new key for ${show(c.name)} was seen in this run; nothing to replace`);
    try {
      this.known.update((k) => k.replaceKey(c.name, p.publicKey, p.address));
    } catch (e) {
      if (!(e instanceof KnownPeersError)) throw e;
      throw new ChatError("known_peers", e.message, { cause: e });
    }
    this.#pending.delete(nameKey(c.name));
    const pid = pidOf(p.publicKey);
    const shown = this.requests.get(pid)?.shown ?? new Map<string, bigint>();
    this.requests.delete(pid);
    return { name: c.name, pid, oldPid: pidOf(c.publicKey), address: p.address, safetyNumber: safetyNumber(this.ownKey, p.publicKey), shown };
  }

  /** Drop a contact: its key becomes unknown again. @throws ChatError unknown_peer / known_peers. */
  forget(name: string): { name: string; pid: Pid } {
    const c = this.requireContact(name);
    try {
      this.known.update((k) => k.remove(c.publicKey));
    } catch (e) {
      if (!(e instanceof KnownPeersError)) throw e;
      throw new ChatError("known_peers", e.message, { cause: e });
    }
    this.#pending.delete(nameKey(c.name));
    return { name: c.name, pid: pidOf(c.publicKey) };
  }

  /** A local name for a display name: a valid token, neither taken nor looking like a contact's. */
  freeName(display: string): string {
    let base = display.normalize("NFKC").replace(/[^\p{L}\p{M}\p{N}._-]/gu, "").replace(/^[^\p{L}\p{N}]+/u, "").slice(0, 24);
    if (!isValidPeerName(base)) base = "peer";
    for (let i = 1; ; i++) {
      const n = i === 1 ? base : `${base}-${i}`;
      if (this.lookalike(n) === undefined) return n;
    }
  }

  /** Whether the pinned key is marked verified. */
  verified(raw: Uint8Array): boolean {
    const id = asPublicKey(raw);
    return this.known.pinOf(pidOf(id))?.verified ?? false;
  }

  /** The pinned name of a key, if any. */
  nameOf(raw: Uint8Array): string | undefined {
    const id = asPublicKey(raw);
    return this.known.pinOf(pidOf(id))?.name;
  }

  /** Mark a key verified and save. @throws KnownPeersError. */
  markVerified(raw: Uint8Array): void {
    const id = asPublicKey(raw);
    this.known.update((k) => k.trust(id));
  }
}
