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
import { networkInterfaces } from "node:os";
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

/** The one-time tokens a listener made (PROTOCOL §15): at most MAX_INVITE_TOKENS unused, each used once. */
export class InviteTokens {
  readonly #unused: Uint8Array[] = [];

  /** A fresh token (the oldest unused one is dropped beyond the bound). @throws never */
  make(): Uint8Array {
    const t = new Uint8Array(randomBytes(INVITE_TOKEN_LEN));
    this.#unused.push(t);
    if (this.#unused.length > MAX_INVITE_TOKENS) this.#unused.shift();
    return t;
  }

  /** True when `token` is one we made and had not used; it is used now. Constant-time compares. @throws never */
  use(token: Uint8Array): boolean {
    if (token.length !== INVITE_TOKEN_LEN) return false;
    let hit = -1;
    // Compare with every token, so the time does not tell which one (or whether one) matched.
    this.#unused.forEach((t, i) => {
      if (timingSafeEqual(t, token) && hit < 0) hit = i;
    });
    if (hit < 0) return false;
    this.#unused.splice(hit, 1);
    return true;
  }
}
