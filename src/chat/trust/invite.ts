/**
 * Invites: an address and the inviter's fingerprint in one line to paste, so that first
 * contact is authenticated rather than trust on first use (like WireGuard's configured
 * public keys, without a server):
 *
 *   sotto://HOST:PORT#FINGERPRINT      FINGERPRINT = SHA-256 of the Ed25519 public key,
 *   sotto://[IPV6]:PORT#FINGERPRINT    64 lowercase hex digits (spaces of the grouped
 *                                      form are not allowed in the line)
 *
 * Dialling an invite pins the fingerprint for that address before the handshake: any
 * other key there is refused as a key change (policy.ts), and the expected key becomes a
 * contact, marked verified, since the invite came over a channel the two people trust.
 */
import { networkInterfaces } from "node:os";
import { isValidAddress } from "./known-peers.ts";

/** The scheme of an invite line. */
export const INVITE_SCHEME = "sotto://";

/** A parsed invite: where to dial, and the fingerprint (64 hex digits, no spaces) expected there. */
export interface Invite {
  address: string;
  fingerprint: string;
}

/** The invite in `s`, or null when `s` is not one. @throws never */
export function parseInvite(s: string): Invite | null {
  const t = s.trim();
  if (!t.toLowerCase().startsWith(INVITE_SCHEME)) return null;
  const m = /^([^#]+)#([0-9a-fA-F]{64})$/.exec(t.slice(INVITE_SCHEME.length));
  if (m === null || !isValidAddress(m[1]!) || m[1] === "*") return null;
  return { address: m[1]!.toLowerCase(), fingerprint: m[2]!.toLowerCase() };
}

/** The invite line for one address and a grouped or plain fingerprint. @throws never */
export function formatInvite(host: string, port: number, fingerprint: string): string {
  const h = host.includes(":") ? `[${host}]` : host;
  return `${INVITE_SCHEME}${h}:${port}#${fingerprint.replace(/ /g, "").toLowerCase()}`;
}

/**
 * Every invite a listener on `host:port` can be reached at: that host, or, for 0.0.0.0
 * and ::, each address of each up interface (loopback last). @throws never
 */
export function localInvites(host: string, port: number, fingerprint: string): string[] {
  if (host !== "0.0.0.0" && host !== "::") return [formatInvite(host, port, fingerprint)];
  const all = Object.values(networkInterfaces()).flatMap((list) => list ?? []);
  const usable = all.filter((a) => (host === "::" || a.family === "IPv4") && !(a.family === "IPv6" && a.address.startsWith("fe80")));
  usable.sort((a, b) => Number(a.internal) - Number(b.internal));
  return usable.map((a) => formatInvite(a.address, port, fingerprint));
}
