/**
 * Trust on first use: the public keys of peers seen before, like ssh's known_hosts,
 * in `$SOTTO_HOME/known_peers`. File format: UTF-8 text, "\n" or "\r\n" line ends, one
 * pin per line, fields split by spaces or tabs (written back with single spaces):
 *
 *   # comments and blank lines are kept as they are when the file is saved
 *   <address> <name> <public key> <verified|unverified>
 *   10.0.0.7:7000 alice 3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c unverified
 *
 * - address: `host:port` or `[ipv6]:port` as dialled (lowercased; port 1-65535, no
 *   leading zero), or `*` for a peer that connected to us: its source address proves
 *   nothing, so an inbound pin is found by its key alone.
 * - name: a local label, one token: a letter or digit, then up to 31 letters, marks,
 *   digits, `.`, `_` or `-`. Names with spaces are refused, not escaped. Two keys never
 *   share a name (compared after NFKC and lowercasing: "Alice" and "ａlice" collide).
 * - public key: the raw 32-byte Ed25519 key as 64 hex digits.
 * - verified: the user compared the safety number out of band (`trust`). Like the
 *   name, it belongs to the key: all lines for one key agree.
 *
 * A malformed line makes `load` throw (path:line) and no object exists to save over the
 * file; `save` also refuses to replace a file that changed on disk since it was loaded.
 */
import { readFileSync, statSync } from "node:fs";
import { expectBytes, fromHex, toHex } from "../../crypto/bytes.ts";
import { ED25519_PUBLIC_LEN } from "../../crypto/ed25519.ts";
import { writeFileAtomic } from "./identity.ts";
import { decodeUtf8Strict, sanitizeLine } from "../../text/sanitize.ts";

/** The address of an inbound pin. */
export const INBOUND = "*";

/** One pinned peer (a copy: changing it changes nothing). */
export interface KnownPeer {
  address: string;
  name: string;
  publicKey: Uint8Array;
  verified: boolean;
}

/** The answer of `check`. */
export type PinCheck = { status: "new" } | { status: "match"; entry: KnownPeer } | { status: "changed"; entry: KnownPeer };

/** Why a known_peers operation failed. */
export type KnownPeersFault = "corrupt" | "insecure_mode" | "io" | "conflict" | "changed_on_disk" | "not_found";

/** A known_peers failure; the message is one sentence naming the path (and line). */
export class KnownPeersError extends Error {
  constructor(
    readonly code: KnownPeersFault,
    readonly path: string,
    detail: string,
    readonly line?: number,
  ) {
    super(`${line === undefined ? path : `${path}:${line}`}: ${detail}`);
    this.name = "KnownPeersError";
  }
}

const ADDRESS_RE = /^(?:[a-z0-9._-]+|\[[0-9a-f:.]+(?:%[a-z0-9._-]+)?\]):([1-9][0-9]{0,4})$/;

/** True when `name` can be stored as a pin name. @throws never */
export function isValidPeerName(name: string): boolean {
  return /^[\p{L}\p{N}][\p{L}\p{M}\p{N}._-]{0,31}$/u.test(name);
}

/** True for `*` or a `host:port` / `[ipv6]:port` with port 1-65535 (case-insensitive). @throws never */
export function isValidAddress(address: string): boolean {
  const m = ADDRESS_RE.exec(address.toLowerCase());
  return address === INBOUND || (m !== null && Number(m[1]) <= 65535);
}

interface Entry {
  address: string;
  name: string;
  key: string; // lowercase hex
  verified: boolean;
}
type Line = { text: string } | { entry: Entry };

const fold = (name: string) => name.normalize("NFKC").toLowerCase();
const copy = (e: Entry): KnownPeer => ({ address: e.address, name: e.name, publicKey: fromHex(e.key), verified: e.verified });
const show = (s: string) => `"${sanitizeLine(s, 40)}"`;
const errCode = (e: unknown) => (e instanceof Error && "code" in e ? String(e.code) : "error");

/** The pins of one known_peers file. */
export class KnownPeers {
  readonly path: string;
  #lines: Line[] = [];
  #onDisk: string | null; // the file as loaded or last saved (latin1); null = none

  private constructor(path: string, onDisk: string | null) {
    this.path = path;
    this.#onDisk = onDisk;
  }

  /** Read `path`; a missing file gives an empty set. @throws KnownPeersError (corrupt, insecure_mode, io) */
  static load(path: string): KnownPeers {
    const peers = new KnownPeers(path, readIfExists(path));
    const lines = (peers.#onDisk ?? "").split("\n"); // latin1: one char per byte
    if (lines.at(-1) === "") lines.pop(); // after the final newline
    lines.forEach((raw, i) => peers.#parseLine(Buffer.from(raw, "latin1"), i + 1));
    return peers;
  }

  #parseLine(raw: Uint8Array, n: number): void {
    const bad = (why: string) => new KnownPeersError("corrupt", this.path, `${why}; fix or delete this line (the file was left unchanged).`, n);
    let text: string;
    try {
      text = decodeUtf8Strict(raw).replace(/\r$/, "");
    } catch {
      throw bad("the line is not valid UTF-8");
    }
    const t = text.trim();
    if (t === "" || t.startsWith("#")) return void this.#lines.push({ text });
    const f = t.split(/[ \t]+/);
    if (f.length !== 4) throw bad(`expected 4 fields (address name key verified), got ${f.length}`);
    const [address, name, key, flag] = f as [string, string, string, string];
    if (!isValidAddress(address)) throw bad(`${show(address)} is not an address (host:port or *)`);
    if (!isValidPeerName(name)) throw bad(`${show(name)} is not a valid name`);
    if (!/^[0-9a-fA-F]{64}$/.test(key)) throw bad(`the public key must be ${ED25519_PUBLIC_LEN * 2} hex digits`);
    if (flag !== "verified" && flag !== "unverified") throw bad(`${show(flag)} must be "verified" or "unverified"`);
    const e: Entry = { address: address.toLowerCase(), name, key: key.toLowerCase(), verified: flag === "verified" };
    for (const o of this.#all()) {
      if (o.address === e.address && e.address !== INBOUND) throw bad(`the address ${e.address} is pinned twice`);
      if (o.key === e.key && (o.name !== name || o.verified !== e.verified)) throw bad(`this key is pinned as ${o.name} with a different name or flag`);
      if (o.key !== e.key && fold(o.name) === fold(name)) throw bad(`the name ${name} is already used by another key`);
    }
    this.#lines.push({ entry: e });
  }

  #all(): Entry[] {
    return this.#lines.flatMap((l) => ("entry" in l ? [l.entry] : []));
  }

  /** Every pin, in file order. @throws never */
  entries(): KnownPeer[] {
    return this.#all().map(copy);
  }

  /**
   * Compare a peer's key with the pins. A dialled address with a pin gives match or
   * changed; otherwise (address unknown, or `*`) a key pinned anywhere is a match, and
   * an unknown key is new. @throws TypeError on a bad address or a key that is not 32 bytes.
   */
  check(address: string, publicKey: Uint8Array): PinCheck {
    const a = checkArgs(address, publicKey);
    const key = toHex(publicKey);
    const at = a === INBOUND ? undefined : this.#all().find((e) => e.address === a);
    if (at !== undefined) return { status: at.key === key ? "match" : "changed", entry: copy(at) };
    const known = this.#all().find((e) => e.key === key);
    return known === undefined ? { status: "new" } : { status: "match", entry: copy(known) };
  }

  /** The pin for a key (at any address), if any. @throws TypeError unless publicKey is 32 bytes. */
  byKey(publicKey: Uint8Array): KnownPeer | undefined {
    expectBytes("publicKey", publicKey, ED25519_PUBLIC_LEN);
    const e = this.#all().find((o) => o.key === toHex(publicKey));
    return e && copy(e);
  }

  /** The pin with this name (NFKC, case-insensitive), if any. @throws never */
  byName(name: string): KnownPeer | undefined {
    const e = this.#all().find((o) => fold(o.name) === fold(name));
    return e && copy(e);
  }

  /**
   * Pin `publicKey` at `address` (`*` for inbound) as `name`, unverified unless the key
   * already is. Pinning what is already there (or `*` for a known key) is a no-op. Never
   * re-pins: another key at the address, or a name or key taken, is a conflict.
   * @throws TypeError on an invalid address, name or key; KnownPeersError (conflict).
   */
  pin(address: string, name: string, publicKey: Uint8Array): KnownPeer {
    const a = checkArgs(address, publicKey);
    if (!isValidPeerName(name)) throw new TypeError(`"name" expected one token of letters, digits, ".", "_" or "-", got ${show(name)}`);
    const key = toHex(publicKey);
    const conflict = (why: string) => new KnownPeersError("conflict", this.path, `cannot pin ${name} at ${a}: ${why}.`);
    const at = a === INBOUND ? undefined : this.#all().find((o) => o.address === a);
    if (at !== undefined && at.key !== key) throw conflict(`a different key is pinned there (${at.name}); remove that pin first if the change is expected`);
    const same = this.#all().find((o) => o.key === key);
    if (same !== undefined && same.name !== name) throw conflict(`that key is already pinned as ${same.name}`);
    if (same !== undefined && (at !== undefined || a === INBOUND)) return copy(at ?? same);
    if (this.#all().find((o) => fold(o.name) === fold(name) && o.key !== key)) throw conflict("that name belongs to another key");
    const e: Entry = { address: a, name, key, verified: same?.verified ?? false };
    this.#lines.push({ entry: e });
    return copy(e);
  }

  /**
   * Mark a key (given raw, or by its pin name) verified, on all its lines.
   * @throws KnownPeersError (not_found); TypeError when a raw key is not 32 bytes.
   */
  trust(keyOrName: Uint8Array | string): KnownPeer {
    const byName = typeof keyOrName === "string";
    const target = byName ? this.byName(keyOrName) : this.byKey(keyOrName);
    if (target === undefined) throw new KnownPeersError("not_found", this.path, `no pinned peer matches ${byName ? show(keyOrName) : "that key"}.`);
    const key = toHex(target.publicKey);
    for (const e of this.#all()) if (e.key === key) e.verified = true;
    return { ...target, verified: true };
  }

  /** Drop the pin at a dialled address, or every line of a key; returns how many went. @throws TypeError for `*`. */
  remove(addressOrKey: string | Uint8Array): number {
    if (addressOrKey === INBOUND) throw new TypeError(`"address" "*" is ambiguous; remove an inbound pin by its key`);
    const match = typeof addressOrKey === "string" ? addressOrKey.toLowerCase() : toHex(addressOrKey);
    const before = this.#lines.length;
    this.#lines = this.#lines.filter((l) => !("entry" in l) || (typeof addressOrKey === "string" ? l.entry.address : l.entry.key) !== match);
    return before - this.#lines.length;
  }

  /** Write the file atomically (temp + rename, mode 0600). @throws KnownPeersError (changed_on_disk, insecure_mode, io). */
  save(): void {
    if (readIfExists(this.path) !== this.#onDisk) {
      throw new KnownPeersError("changed_on_disk", this.path, "the file changed on disk since it was loaded; not overwriting it.");
    }
    const text = this.#lines.map((l) => ("entry" in l ? `${l.entry.address} ${l.entry.name} ${l.entry.key} ${l.entry.verified ? "" : "un"}verified\n` : `${l.text}\n`)).join("");
    try {
      writeFileAtomic(this.path, text, true);
    } catch (e) {
      throw new KnownPeersError("io", this.path, `could not write the file (${errCode(e)}).`);
    }
    this.#onDisk = Buffer.from(text, "utf8").toString("latin1");
  }
}

/** The normalised address. @throws TypeError on a bad address or key. */
function checkArgs(address: string, publicKey: Uint8Array): string {
  expectBytes("publicKey", publicKey, ED25519_PUBLIC_LEN);
  if (!isValidAddress(address)) throw new TypeError(`"address" expected host:port or *, got ${show(address)}`);
  return address.toLowerCase();
}

/** The file's bytes as latin1 (one char per byte), or null when there is no file. */
function readIfExists(path: string): string | null {
  try {
    const mode = statSync(path).mode;
    // Whoever can write this file can pin their key for anyone (like ssh's StrictModes).
    if (process.platform !== "win32" && (mode & 0o022) !== 0) {
      throw new KnownPeersError("insecure_mode", path, `the file is writable by group or others (mode ${(mode & 0o777).toString(8)}); run \`chmod 600 ${path}\`.`);
    }
    return readFileSync(path, "latin1");
  } catch (e) {
    if (e instanceof KnownPeersError) throw e;
    if (errCode(e) === "ENOENT") return null;
    throw new KnownPeersError("io", path, `could not read the file (${errCode(e)}).`);
  }
}
