/**
 * Invites: an address and the inviter's fingerprint in one line to paste, so that first
 * contact is authenticated rather than trust on first use (like WireGuard's configured
 * public keys, without a server):
 *
 *   sotto://HOST:PORT#FINGERPRINT      FINGERPRINT = SHA-256 of the Ed25519 public key,
 *   sotto://[IPV6]:PORT#FINGERPRINT    64 lowercase hex digits (spaces of the grouped
 *   sotto://HOST:PORT?t=TOKEN#FP       form are not allowed in the line); TOKEN = a
 *                                      one-time secret, 32 hex digits (PROTOCOL §15)
 *
 * Dialling an invite pins the fingerprint for that address before the handshake: any
 * other key there is refused as a key change (policy.ts), and the expected key becomes a
 * contact, marked verified, since the invite came over a channel the two people trust.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { closeSync, constants, lstatSync, mkdirSync, openSync, readdirSync, readSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { fromHex, toHex } from "../../crypto/bytes.ts";
import { isValidAddress } from "./known-peers.ts";

/** The scheme of an invite line. */
export const INVITE_SCHEME = "sotto://";

/** PROTOCOL §15.1: the optional item that carries an invite's token. */
export const INVITE_TOKEN_TYPE = 0xb0;
/** PROTOCOL §15.1: token length in bytes. */
export const INVITE_TOKEN_LEN = 16;
/** PROTOCOL §15.1: unused tokens a listener keeps. */
export const MAX_INVITE_TOKENS = 16;

/** A parsed invite: where to dial, the fingerprint (64 hex digits, no spaces) expected there, and its token if any. */
export interface Invite {
  address: string;
  fingerprint: string;
  token?: Uint8Array;
}

/** The invite in `s`, or null when `s` is not one. @throws never */
export function parseInvite(s: string): Invite | null {
  const t = s.trim();
  if (!t.toLowerCase().startsWith(INVITE_SCHEME)) return null;
  const m = /^([^#?]+)(?:\?t=([0-9a-fA-F]{32}))?#([0-9a-fA-F]{64})$/.exec(t.slice(INVITE_SCHEME.length));
  if (m === null || !isValidAddress(m[1]!) || m[1] === "*") return null;
  return { address: m[1]!.toLowerCase(), fingerprint: m[3]!.toLowerCase(), ...(m[2] === undefined ? {} : { token: fromHex(m[2].toLowerCase()) }) };
}

/** The invite line for one address and a grouped or plain fingerprint. @throws never */
export function formatInvite(host: string, port: number, fingerprint: string, token?: Uint8Array): string {
  const h = host.includes(":") ? `[${host}]` : host;
  return `${INVITE_SCHEME}${h}:${port}${token === undefined ? "" : `?t=${toHex(token)}`}#${fingerprint.replace(/ /g, "").toLowerCase()}`;
}

/**
 * Every invite a listener on `host:port` can be reached at: that host, or, for 0.0.0.0
 * and ::, each address of each up interface (loopback last). @throws never
 */
export function localInvites(host: string, port: number, fingerprint: string, token?: Uint8Array): string[] {
  if (host !== "0.0.0.0" && host !== "::") return [formatInvite(host, port, fingerprint, token)];
  const all = Object.values(networkInterfaces()).flatMap((list) => list ?? []);
  const usable = all.filter((a) => (host === "::" || a.family === "IPv4") && !(a.family === "IPv6" && a.address.startsWith("fe80")));
  usable.sort((a, b) => Number(a.internal) - Number(b.internal));
  return usable.map((a) => formatInvite(a.address, port, fingerprint, token));
}

/** How long an invite's token may be used (a line sent today can be used this week). */
export const INVITE_TOKEN_TTL_MS = 7 * 24 * 3600 * 1000;
/** The folder of a home that keeps the unused tokens. */
export const INVITE_TOKENS_DIR = "invites";

/**
 * The one-time tokens a home made (PROTOCOL §15), kept on disk so that `sotto invite`
 * and a listener started before or after it share them: one 0600 file per unused token
 * in `HOME/invites/` (0700), named by the SHA-256 of the token (the token itself is not
 * written), holding the time it expires. At most MAX_INVITE_TOKENS are kept (the oldest
 * dropped), each for INVITE_TOKEN_TTL_MS. Using one deletes its file: of two processes
 * that try, the one whose unlink succeeds used it, so a token works once.
 */
export class InviteTokens {
  readonly #dir: string;
  readonly #now: () => number;

  /** `dir`: HOME/invites (created 0700 on the first token). */
  constructor(dir: string, now: () => number = Date.now) {
    this.#dir = dir;
    this.#now = now;
  }

  /** A fresh token, kept until used or expired (the oldest unused one is dropped beyond the bound). @throws Error when the folder cannot be written */
  make(): Uint8Array {
    const t = new Uint8Array(randomBytes(INVITE_TOKEN_LEN));
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    // The monotonic clock orders tokens made in the same millisecond (by any process on this machine).
    writeFileSync(join(this.#dir, hashOf(t)), `${this.#now() + INVITE_TOKEN_TTL_MS} ${process.hrtime.bigint()}\n`, { mode: 0o600, flag: "wx" });
    this.#trim(this.#list());
    return t;
  }

  /** The newest MAX_INVITE_TOKENS of `kept`; the older ones are deleted. */
  #trim(kept: Kept[]): Kept[] {
    kept.sort((a, b) => a.expires - b.expires || (a.made < b.made ? -1 : a.made > b.made ? 1 : 0));
    const drop = Math.max(0, kept.length - MAX_INVITE_TOKENS);
    for (const k of kept.slice(0, drop)) rmSync(join(this.#dir, k.name), { force: true });
    return kept.slice(drop);
  }

  /** True when `token` is one this home made, unused and unexpired; it is used now. Constant-time compares. @throws never */
  use(token: Uint8Array): boolean {
    if (token.length !== INVITE_TOKEN_LEN) return false;
    const want = Buffer.from(hashOf(token), "hex");
    let hit: Kept | undefined;
    // Compare with every kept hash, so the time does not tell which one (or whether one) matched.
    // More than MAX_INVITE_TOKENS (files not made by make): the oldest go now, so the next look is short.
    for (const k of this.#trim(this.#list())) if (timingSafeEqual(Buffer.from(k.name, "hex"), want) && hit === undefined) hit = k;
    if (hit === undefined || hit.expires <= this.#now()) return false;
    try {
      unlinkSync(join(this.#dir, hit.name));
      return true;
    } catch {
      // ENOENT: another process used it first. Any other failure leaves it unused: fail closed.
      return false;
    }
  }

  /**
   * The kept tokens (expired ones are deleted as they are seen). Only small regular files
   * of ours, not writable by others, count: a FIFO, device, symlink, huge or foreign file
   * in the folder is not read (it would block or fill memory) and honours no token.
   */
  #list(): Kept[] {
    let names: string[];
    try {
      names = readdirSync(this.#dir);
    } catch {
      return []; // no token was ever made in this home (or the folder is unreadable: none is honoured)
    }
    const out: Kept[] = [];
    for (const name of names) {
      if (!/^[0-9a-f]{64}$/.test(name)) continue;
      const fields = readSmall(join(this.#dir, name))?.trim().split(" ");
      if (fields === undefined) continue; // used meanwhile, or not a token file
      const expires = Number(fields[0]);
      const made = /^[0-9]{1,30}$/.test(fields[1] ?? "") ? BigInt(fields[1]!) : 0n;
      if (!Number.isFinite(expires) || expires <= this.#now()) rmSync(join(this.#dir, name), { force: true });
      else out.push({ name, expires, made });
    }
    return out;
  }
}

type Kept = { name: string; expires: number; made: bigint };

/** What make() writes is under this many bytes. */
const TOKEN_FILE_MAX = 64;

/** The text of a token file, or undefined when it is gone or not one make() could have written (see #list). */
function readSmall(path: string): string | undefined {
  let fd: number;
  try {
    const st = lstatSync(path);
    const uid = process.getuid?.();
    if (!st.isFile() || st.size > TOKEN_FILE_MAX || (st.mode & 0o022) !== 0 || (uid !== undefined && st.uid !== uid)) return undefined;
    // O_NOFOLLOW | O_NONBLOCK: swapped for a link or a FIFO since lstat, it is refused, not waited on.
    fd = openSync(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0));
  } catch {
    return undefined;
  }
  try {
    const buf = Buffer.alloc(TOKEN_FILE_MAX + 1);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return n > TOKEN_FILE_MAX ? undefined : buf.subarray(0, n).toString("utf8");
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function hashOf(token: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(token).digest("hex");
}
