/**
 * The known_peers file (`$SOTTO_HOME/known_peers`, the pins of known-peers.ts). Format: UTF-8 text, "\n" or "\r\n" line ends, one
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
 * A blocked key (`/block`) is one line `@blocked <public key>` (a marker line, as ssh's
 * `@revoked`): it is refused at the handshake in both directions and never pinned.
 *
 * This module is the format: the grammar of one line, how a line is written back, and
 * how the file is read from disk (refusing one others can write); known-peers.ts is the
 * store that indexes the lines and saves them.
 */
import { readFileSync, statSync } from "node:fs";
import { ED25519_PUBLIC_LEN } from "../../crypto/ed25519.ts";
import { asPid, type Pid } from "../peer-id.ts";
import { decodeUtf8Strict, sanitizeLine } from "../../text/sanitize.ts";

/** The address of an inbound pin. */
export const INBOUND = "*";

/** Why a known_peers operation failed. */
export type KnownPeersFault = "corrupt" | "insecure_mode" | "io" | "conflict" | "changed_on_disk" | "not_found";

/** A known_peers failure; the message is one sentence naming the path (and line). */
export class KnownPeersError extends Error {
  constructor(
    readonly code: KnownPeersFault,
    readonly path: string,
    detail: string,
    readonly line?: number,
    options?: ErrorOptions,
  ) {
    super(`${line === undefined ? path : `${path}:${line}`}: ${detail}`, options);
    this.name = "KnownPeersError";
  }
}

const ADDRESS_RE = /^(?:[a-z0-9._-]+|\[[0-9a-f:.]+(?:%[a-z0-9._-]+)?\]):([1-9][0-9]{0,4})$/;

/** True when `name` can be stored as a pin name. @throws never */
export function isValidPeerName(name: string): boolean {
  if (/^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/.test(name)) return true; // the common case, without Unicode property tables
  return /^[\p{L}\p{N}][\p{L}\p{M}\p{N}._-]{0,31}$/u.test(name);
}

/** True for `*` or a `host:port` / `[ipv6]:port` with port 1-65535 (case-insensitive). @throws never */
export function isValidAddress(address: string): boolean {
  const m = ADDRESS_RE.exec(address.toLowerCase());
  return address === INBOUND || (m !== null && Number(m[1]) <= 65535);
}

/** One pin line, normalised. */
export interface Entry {
  address: string;
  name: string;
  key: Pid;
  verified: boolean;
}
/** A line of the file: kept text (comment, blank), a pin, or a blocked key. */
export type Line = { text: string } | { entry: Entry } | { blocked: Pid };

/** The marker of a blocked key's line. */
export const BLOCKED_MARKER = "@blocked";

/** The line as it is written back (single spaces, "\n", lowercase). */
export const lineText = (l: Line): string =>
  "entry" in l ? `${l.entry.address} ${l.entry.name} ${l.entry.key} ${l.entry.verified ? "" : "un"}verified\n` : "blocked" in l ? `${BLOCKED_MARKER} ${l.blocked}\n` : `${l.text}\n`;
/** A peer string quoted for a message, made safe and short. */
export const show = (s: string) => `"${sanitizeLine(s, 40)}"`;
export const errCode = (e: unknown) => (e instanceof Error && "code" in e ? String(e.code) : "error");

/** A corrupt line: one sentence naming path:line and what to do. */
export function corrupt(path: string, n: number, why: string): KnownPeersError {
  return new KnownPeersError("corrupt", path, `${why}; fix or delete this line (the file was left unchanged).`, n);
}

/**
 * Line `n` by the grammar alone: already decoded (a string), or its bytes when the file
 * as a whole was not valid UTF-8. Whether it agrees with the other lines is the store's
 * question (known-peers.ts). @throws KnownPeersError corrupt
 */
export function parseLine(path: string, raw: string | Uint8Array, n: number): Line {
  const bad = (why: string) => corrupt(path, n, why);
  let text: string;
  try {
    text = typeof raw === "string" ? raw : decodeUtf8Strict(raw);
    if (text.endsWith("\r")) text = text.slice(0, -1);
  } catch (e) {
    throw new KnownPeersError("corrupt", path, "the line is not valid UTF-8; fix or delete this line (the file was left unchanged).", n, { cause: e });
  }
  const t = text.trim();
  if (t === "" || t.startsWith("#")) return { text };
  const f = t.split(/[ \t]+/);
  if (f[0] === BLOCKED_MARKER) {
    if (f.length !== 2 || !/^[0-9a-fA-F]{64}$/.test(f[1]!)) throw bad(`expected "${BLOCKED_MARKER} <public key>" with a key of ${ED25519_PUBLIC_LEN * 2} hex digits`);
    return { blocked: asPid(f[1]!.toLowerCase()) };
  }
  if (f.length !== 4) throw bad(`expected 4 fields (address name key verified), got ${f.length}`);
  const [address, name, key, flag] = f as [string, string, string, string];
  if (!isValidAddress(address)) throw bad(`${show(address)} is not an address (host:port or *)`);
  if (!isValidPeerName(name)) throw bad(`${show(name)} is not a valid name`);
  if (!/^[0-9a-fA-F]{64}$/.test(key)) throw bad(`the public key must be ${ED25519_PUBLIC_LEN * 2} hex digits`);
  if (flag !== "verified" && flag !== "unverified") throw bad(`${show(flag)} must be "verified" or "unverified"`);
  return { entry: { address: address.toLowerCase(), name, key: asPid(key.toLowerCase()), verified: flag === "verified" } };
}

/** What tells that a file changed (size, mtime, ctime, inode), or null when it is missing. */
export function stampOf(path: string): string | null {
  try {
    const st = statSync(path, { bigint: true });
    return `${st.size}/${st.mtimeNs}/${st.ctimeNs}/${st.ino}`;
  } catch (e) {
    if (errCode(e) === "ENOENT") return null;
    throw new KnownPeersError("io", path, `could not read the file (${errCode(e)}).`, undefined, { cause: e });
  }
}

/** The file's bytes as latin1 (one char per byte), or null when there is no file. */
export function readIfExists(path: string): string | null {
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
    throw new KnownPeersError("io", path, `could not read the file (${errCode(e)}).`, undefined, { cause: e });
  }
}
