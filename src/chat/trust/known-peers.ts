/**
 * Trust on first use: the pins of peers seen before, like ssh's known_hosts, in
 * `$SOTTO_HOME/known_peers` (the file format: known-peers-file.ts).
 *
 * A malformed line makes `load` throw (path:line) and no object exists to save over the
 * file; `save` also refuses to replace a file that changed on disk since it was loaded.
 * Like ssh with known_hosts, the chat re-reads the file when it changed on disk
 * (`refresh`, by size, mtime, ctime and inode) before each check, and `update` applies a
 * change to the file as it is now, so an outside edit is taken in, never fought.
 * Lookups are indexed by key, by address and by name: a check or a pin costs the same
 * with 10 pins or 10,000, and a new pin is appended to the file rather than rewriting it.
 */
import { appendFileSync } from "node:fs";
import { writeFileAtomic } from "./identity.ts";
import { decodeUtf8Strict, InvalidUtf8Error } from "../../text/sanitize.ts";
import { nameKey } from "../../text/names.ts";
import { asPublicKey, pidOf, publicKeyOf, type Pid, type PublicKey } from "../peer-id.ts";
import { corrupt, errCode, INBOUND, isValidAddress, isValidPeerName, KnownPeersError, lineText, parseLine, readIfExists, show, stampOf, type Entry, type Line } from "./known-peers-file.ts";

export { BLOCKED_MARKER, INBOUND, isValidAddress, isValidPeerName, KnownPeersError, type KnownPeersFault } from "./known-peers-file.ts";

/** One pinned peer (a copy: changing it changes nothing). */
export interface KnownPeer {
  address: string;
  name: string;
  publicKey: PublicKey;
  verified: boolean;
}

/** The answer of `check`. */
export type PinCheck = { status: "new" } | { status: "match"; entry: KnownPeer } | { status: "changed"; entry: KnownPeer };

const fold = nameKey;
const copy = (e: Entry): KnownPeer => ({ address: e.address, name: e.name, publicKey: publicKeyOf(e.key), verified: e.verified });

/** The pins of one known_peers file. */
export class KnownPeers {
  readonly path: string;
  #lines: Line[] = [];
  #onDisk: string | null; // the file as loaded or last saved (latin1); null = none
  #stamp: string | null = null; // size, mtime, ctime and inode of that file
  // Indexes (rebuilt on load and remove; kept in step by pin and trust).
  #byKey = new Map<Pid, Entry[]>();
  #byAddress = new Map<string, Entry>();
  #byName = new Map<string, Pid>(); // name key → its key
  #blocked = new Set<Pid>();
  /** Lines added since the last save; null when something else changed (rewrite). */
  #appended: Line[] | null = [];
  #version = 0;

  private constructor(path: string, onDisk: string | null) {
    this.path = path;
    this.#onDisk = onDisk;
  }

  /** Read `path`; a missing file gives an empty set. @throws KnownPeersError (corrupt, insecure_mode, io) */
  static load(path: string): KnownPeers {
    const stamp = stampOf(path);
    const peers = new KnownPeers(path, readIfExists(path));
    peers.#stamp = stamp;
    const bytes = Buffer.from(peers.#onDisk ?? "", "latin1");
    let whole: string | null = null;
    try {
      whole = decodeUtf8Strict(bytes); // one decode for the whole file; line by line only to find a bad line
    } catch (e) {
      if (!(e instanceof InvalidUtf8Error)) throw e;
      whole = null;
    }
    const lines = whole !== null ? whole.split("\n") : (peers.#onDisk ?? "").split("\n");
    if (lines.at(-1) === "") lines.pop(); // after the final newline
    lines.forEach((raw, i) => peers.#parseLine(whole !== null ? raw : Buffer.from(raw, "latin1"), i + 1));
    // Appending keeps a file as it is, so only one already in the written form (single
    // spaces, "\n", lowercase) may be appended to; any other is rewritten on first save.
    if (whole === null || whole !== peers.#lines.map(lineText).join("")) peers.#appended = null;
    return peers;
  }

  /**
   * Re-read the file when it changed on disk since it was loaded or saved (an outside
   * edit, another sotto); returns true when it did. Unsaved changes are dropped: the file
   * is the truth. @throws KnownPeersError (corrupt, insecure_mode, io): this object is then unchanged.
   */
  refresh(): boolean {
    const stamp = stampOf(this.path);
    if (stamp === this.#stamp && stamp !== null) return false;
    if (stamp === null && this.#onDisk === null) return false;
    const fresh = KnownPeers.load(this.path);
    this.#lines = fresh.#lines;
    this.#onDisk = fresh.#onDisk;
    this.#stamp = fresh.#stamp;
    this.#byKey = fresh.#byKey;
    this.#byAddress = fresh.#byAddress;
    this.#byName = fresh.#byName;
    this.#blocked = fresh.#blocked;
    this.#appended = fresh.#appended;
    this.#version += fresh.#version + 1;
    return true;
  }

  /**
   * Apply `change` to the file as it is on disk now and save: refresh first, and when
   * another writer got in between, refresh and apply once more.
   * @throws what `change` throws; KnownPeersError (corrupt, insecure_mode, io, changed_on_disk).
   */
  update<T>(change: (peers: KnownPeers) => T): T {
    for (let attempt = 0; ; attempt++) {
      this.refresh();
      const result = change(this);
      try {
        this.save();
        return result;
      } catch (e) {
        this.#stamp = null; // unsaved: the next refresh re-reads the file
        if (!(e instanceof KnownPeersError && e.code === "changed_on_disk" && attempt === 0)) throw e;
      }
    }
  }

  /** One line, by the grammar (known-peers-file.ts), then checked against the lines before it. */
  #parseLine(raw: string | Uint8Array, n: number): void {
    const l = parseLine(this.path, raw, n);
    const bad = (why: string) => corrupt(this.path, n, why);
    if ("text" in l) return void this.#lines.push(l);
    if ("blocked" in l) {
      if (this.#byKey.has(l.blocked)) throw bad("this key is both pinned and blocked");
      this.#blocked.add(l.blocked);
      return void this.#lines.push(l);
    }
    const e = l.entry;
    if (e.address !== INBOUND && this.#byAddress.has(e.address)) throw bad(`the address ${e.address} is pinned twice`);
    const o = this.#byKey.get(e.key)?.[0];
    if (o !== undefined && (o.name !== e.name || o.verified !== e.verified)) throw bad(`this key is pinned as ${o.name} with a different name or flag`);
    const owner = this.#byName.get(fold(e.name));
    if (owner !== undefined && owner !== e.key) throw bad(`the name ${e.name} is already used by another key`);
    if (this.#blocked.has(e.key)) throw bad("this key is both pinned and blocked");
    this.#lines.push(l);
    this.#index(e);
  }

  #index(e: Entry): void {
    this.#version++;
    const list = this.#byKey.get(e.key);
    if (list === undefined) this.#byKey.set(e.key, [e]);
    else list.push(e);
    if (e.address !== INBOUND) this.#byAddress.set(e.address, e);
    this.#byName.set(fold(e.name), e.key);
  }

  #reindex(): void {
    this.#version++;
    this.#byKey = new Map();
    this.#byAddress = new Map();
    this.#byName = new Map();
    this.#blocked = new Set();
    for (const l of this.#lines) {
      if ("entry" in l) this.#index(l.entry);
      else if ("blocked" in l) this.#blocked.add(l.blocked);
    }
    this.#appended = null;
  }

  #all(): Entry[] {
    return this.#lines.flatMap((l) => ("entry" in l ? [l.entry] : []));
  }

  /** Every pin, in file order. @throws never */
  entries(): KnownPeer[] {
    return this.#all().map(copy);
  }

  /** Every pinned name, one per key. @throws never */
  names(): string[] {
    return [...this.#byKey.values()].map((list) => list[0]!.name);
  }

  /** Grows whenever a pin, a name or a flag changes (for caches built from the pins). @throws never */
  get version(): number {
    return this.#version;
  }

  /** How many keys are pinned. @throws never */
  get size(): number {
    return this.#byKey.size;
  }

  /**
   * Compare a peer's key with the pins. A dialled address with a pin gives match or
   * changed; otherwise (address unknown, or `*`) a key pinned anywhere is a match, and
   * an unknown key is new. @throws TypeError on a bad address or a key that is not 32 bytes.
   */
  check(address: string, publicKey: PublicKey): PinCheck {
    const a = checkArgs(address, publicKey);
    const key = pidOf(publicKey);
    const at = a === INBOUND ? undefined : this.#byAddress.get(a);
    if (at !== undefined) return { status: at.key === key ? "match" : "changed", entry: copy(at) };
    const known = this.#byKey.get(key)?.[0];
    return known === undefined ? { status: "new" } : { status: "match", entry: copy(known) };
  }

  /** The pin for a key (at any address), if any. @throws TypeError unless publicKey is 32 bytes. */
  byKey(publicKey: PublicKey): KnownPeer | undefined {
    const e = this.#byKey.get(pidOf(publicKey))?.[0];
    return e && copy(e);
  }

  /** A key's pinned name and verified mark, without copying the pin (the chat asks this per line). @throws never */
  pinOf(pid: Pid): { readonly name: string; readonly verified: boolean } | undefined {
    const e = this.#byKey.get(pid)?.[0];
    return e === undefined ? undefined : { name: e.name, verified: e.verified };
  }

  /** The pin with this name (NFKC, case-insensitive), if any. @throws never */
  byName(name: string): KnownPeer | undefined {
    const key = this.#byName.get(fold(name));
    const e = key === undefined ? undefined : this.#byKey.get(key)?.[0];
    return e && copy(e);
  }

  /** Every dialled address pinned to a key. @throws never */
  addressesOf(publicKey: PublicKey): string[] {
    return (this.#byKey.get(pidOf(publicKey)) ?? []).map((e) => e.address).filter((a) => a !== INBOUND);
  }

  /** True when the key was blocked (`block`). @throws never */
  isBlocked(publicKey: PublicKey): boolean {
    return this.#blocked.has(pidOf(publicKey));
  }

  /**
   * Pin `publicKey` at `address` (`*` for inbound) as `name`, unverified unless the key
   * already is. Pinning what is already there (or `*` for a known key) is a no-op. Never
   * re-pins: another key at the address, or a name or key taken, is a conflict.
   * @throws TypeError on an invalid address, name or key; KnownPeersError (conflict).
   */
  pin(address: string, name: string, publicKey: PublicKey): KnownPeer {
    const a = checkArgs(address, publicKey);
    if (!isValidPeerName(name)) throw new TypeError(`"name" expected one token of letters, digits, ".", "_" or "-", got ${show(name)}`);
    const key = pidOf(publicKey);
    const conflict = (why: string) => new KnownPeersError("conflict", this.path, `cannot pin ${name} at ${a}: ${why}.`);
    if (this.#blocked.has(key)) throw conflict("that key is blocked");
    const at = a === INBOUND ? undefined : this.#byAddress.get(a);
    if (at !== undefined && at.key !== key) throw conflict(`a different key is pinned there (${at.name}); remove that pin first if the change is expected`);
    const same = this.#byKey.get(key)?.[0];
    if (same !== undefined && same.name !== name) throw conflict(`that key is already pinned as ${same.name}`);
    if (same !== undefined && (at !== undefined || a === INBOUND)) return copy(at ?? same);
    const owner = this.#byName.get(fold(name));
    if (owner !== undefined && owner !== key) throw conflict("that name belongs to another key");
    const e: Entry = { address: a, name, key, verified: same?.verified ?? false };
    const line = { entry: e };
    this.#lines.push(line);
    this.#appended?.push(line);
    this.#index(e);
    return copy(e);
  }

  /**
   * Mark a key (given raw, or by its pin name) verified, on all its lines.
   * @throws KnownPeersError (not_found); TypeError when a raw key is not 32 bytes.
   */
  trust(keyOrName: PublicKey | string): KnownPeer {
    const byName = typeof keyOrName === "string";
    const target = byName ? this.byName(keyOrName) : this.byKey(keyOrName);
    if (target === undefined) throw new KnownPeersError("not_found", this.path, `no pinned peer matches ${byName ? show(keyOrName) : "that key"}.`);
    for (const e of this.#byKey.get(pidOf(target.publicKey)) ?? []) e.verified = true;
    this.#appended = null;
    this.#version++;
    return { ...target, verified: true };
  }

  /**
   * Give a contact a new key (`/replace`): every line of the old key's name now holds
   * `publicKey`, unverified (the new key has not been compared yet), and `address`, when
   * it is a dialled one, is pinned to it too.
   * @throws KnownPeersError (not_found, conflict: the new key is pinned or blocked); TypeError on a bad key or address.
   */
  replaceKey(name: string, publicKey: PublicKey, address: string = INBOUND): KnownPeer {
    const a = checkArgs(address, publicKey);
    const old = this.byName(name);
    if (old === undefined) throw new KnownPeersError("not_found", this.path, `no pinned peer matches ${show(name)}.`);
    const key = pidOf(publicKey);
    if (this.#blocked.has(key)) throw new KnownPeersError("conflict", this.path, `cannot give ${old.name} a blocked key.`);
    const other = this.#byKey.get(key)?.[0];
    if (other !== undefined && other.name !== old.name) throw new KnownPeersError("conflict", this.path, `that key is already pinned as ${other.name}.`);
    const oldKey = pidOf(old.publicKey);
    for (const l of this.#lines) {
      if ("entry" in l && l.entry.key === oldKey) l.entry = { ...l.entry, key, verified: false };
    }
    this.#reindex();
    if (a !== INBOUND && this.#byAddress.get(a)?.key !== key) {
      this.remove(a);
      this.pin(a, old.name, publicKey);
    }
    if (this.#byKey.get(key) === undefined) this.pin(INBOUND, old.name, publicKey);
    return this.byName(old.name)!;
  }

  /**
   * A contact moved (PROTOCOL's "contacts are keys"): its pin at the dialled address `from`
   * now names `to`, keeping name and verified mark. Nothing changes (false) when `from` is
   * not this key's pin, or when `to` already holds a pin (another key's, or this one's).
   * @throws TypeError on a bad address or a key that is not 32 bytes.
   */
  moveAddress(from: string, to: string, publicKey: PublicKey): boolean {
    const a = checkArgs(from, publicKey);
    const b = checkArgs(to, publicKey);
    const key = pidOf(publicKey);
    const at = this.#byAddress.get(a);
    if (a === INBOUND || b === INBOUND || at === undefined || at.key !== key || this.#byAddress.has(b)) return false;
    for (const l of this.#lines) if ("entry" in l && l.entry === at) l.entry = { ...at, address: b };
    this.#appended = null;
    this.#reindex();
    return true;
  }

  /** Give a key's lines a new name (a contact's /nick). @throws KnownPeersError (conflict: the name is another key's); TypeError on a bad name. */
  rename(publicKey: PublicKey, name: string): void {
    if (!isValidPeerName(name)) throw new TypeError(`"name" expected one token of letters, digits, ".", "_" or "-", got ${show(name)}`);
    const key = pidOf(publicKey);
    const owner = this.#byName.get(fold(name));
    if (owner !== undefined && owner !== key) throw new KnownPeersError("conflict", this.path, `cannot rename to ${name}: that name belongs to another key.`);
    for (const l of this.#lines) if ("entry" in l && l.entry.key === key) l.entry = { ...l.entry, name };
    this.#reindex();
  }

  /** Refuse a key from now on (`/block`): its pins go, one `@blocked` line stays. @throws TypeError unless 32 bytes. */
  block(publicKey: PublicKey): void {
    const key = pidOf(publicKey);
    if (this.#blocked.has(key)) return;
    this.remove(publicKey);
    this.#lines.push({ blocked: key });
    this.#reindex();
  }

  /** Drop the pin at a dialled address, or every line of a key; returns how many went. @throws TypeError for `*`. */
  remove(addressOrKey: string | PublicKey): number {
    if (addressOrKey === INBOUND) throw new TypeError(`"address" "*" is ambiguous; remove an inbound pin by its key`);
    const match = typeof addressOrKey === "string" ? addressOrKey.toLowerCase() : pidOf(addressOrKey);
    const before = this.#lines.length;
    this.#lines = this.#lines.filter((l) => !("entry" in l) || (typeof addressOrKey === "string" ? l.entry.address : l.entry.key) !== match);
    const removed = before - this.#lines.length;
    if (removed > 0) this.#reindex();
    return removed;
  }

  /**
   * Write the file: only the new lines appended (fsynced) when nothing else changed and
   * the file ends with a newline, else all of it atomically (temp + rename, mode 0600).
   * @throws KnownPeersError (changed_on_disk, insecure_mode, io).
   */
  save(): void {
    if (readIfExists(this.path) !== this.#onDisk) {
      throw new KnownPeersError("changed_on_disk", this.path, "the file changed on disk since it was loaded; not overwriting it.");
    }
    const appendable = this.#appended !== null && this.#onDisk !== null;
    const added = appendable ? this.#appended!.map(lineText).join("") : "";
    if (appendable && added === "") return;
    const text = appendable ? added : this.#lines.map(lineText).join("");
    try {
      if (appendable) appendFileSync(this.path, text, { mode: 0o600, flush: true });
      else writeFileAtomic(this.path, text, true);
    } catch (e) {
      this.#stamp = null;
      throw new KnownPeersError("io", this.path, `could not write the file (${errCode(e)}).`, undefined, { cause: e });
    }
    const bytes = Buffer.from(text, "utf8").toString("latin1");
    this.#onDisk = appendable ? this.#onDisk + bytes : bytes;
    this.#stamp = stampOf(this.path);
    this.#appended = [];
  }
}

/** The normalised address. @throws TypeError on a bad address or key. */
function checkArgs(address: string, publicKey: PublicKey): string {
  asPublicKey(publicKey);
  if (!isValidAddress(address)) throw new TypeError(`"address" expected host:port or *, got ${show(address)}`);
  return address.toLowerCase();
}
