/**
 * Why a dial failed, in words that match it (connectFailure), and the error that carries it (ConnectError).
 *
 * Is there a route to an IPv4 address? Bun reports every failed connect as ECONNREFUSED
 * (Bun 1.4.5: a dial with no route gives code ECONNREFUSED, errno -111), so a person
 * would be told "refused" when the network is down. Before saying "refused", peer.ts asks
 * here, about the address the host name resolved to (peer.ts keeps it per attempt): on
 * Linux, /proc/net/route (the main table) plus this host's own addresses (the local table)
 * answer it. Anywhere else, or for IPv6, the answer is "unknown" and the error stays as
 * Bun gave it. The same for a host on our own link
 * that does not answer ARP (EHOSTUNREACH after about 3 s): neighbourFailed reads the
 * kernel's neighbour table (/proc/net/arp), where that try is left as a failed entry.
 */
import { readFileSync } from "node:fs";
import { isIPv4 } from "node:net";
import { networkInterfaces } from "node:os";

/** A connection could not be made or the handshake failed; `cause` holds the protocol error, `code` the OS error name (ECONNREFUSED, ETIMEDOUT, …). */
export class ConnectError extends Error {
  readonly code?: string;
  constructor(
    message: string,
    override readonly cause?: Error,
    code?: string,
  ) {
    super(message);
    this.name = "ConnectError";
    if (code !== undefined) this.code = code;
  }
}

/** "yes", "no", or "unknown" (not an IPv4 literal, or no routing table to read). */
export function routeTo(host: string, routes = readRoutes(), local = localAddresses()): "yes" | "no" | "unknown" {
  if (!isIPv4(host) || routes === null) return "unknown";
  if (host.startsWith("127.") || local.includes(host)) return "yes";
  const ip = toU32(host);
  return routes.some((r) => (ip & r.mask) >>> 0 === r.dest) ? "yes" : "no";
}

/** The main table's IPv4 routes (destination and mask as big-endian u32), or null. */
export function readRoutes(): { dest: number; mask: number }[] | null {
  let text: string;
  try {
    text = readFileSync("/proc/net/route", "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT" || (e as NodeJS.ErrnoException).code === "EACCES") return null;
    throw e;
  }
  return text
    .split("\n")
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 8)
    .map((f) => ({ dest: fromProcHex(f[1]!), mask: fromProcHex(f[7]!) }))
    .map((r) => ({ dest: (r.dest & r.mask) >>> 0, mask: r.mask }));
}

function localAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && a.family === "IPv4")
    .map((a) => a!.address);
}

/** /proc/net/route writes addresses as little-endian hex. */
function fromProcHex(h: string): number {
  const n = parseInt(h, 16) >>> 0;
  return (((n & 0xff) << 24) | (((n >>> 8) & 0xff) << 16) | (((n >>> 16) & 0xff) << 8) | ((n >>> 24) & 0xff)) >>> 0;
}

function toU32(ip: string): number {
  return ip.split(".").reduce((n, o) => ((n << 8) | Number(o)) >>> 0, 0);
}

/** ARP flags of a complete entry (ATF_COM); a failed or incomplete resolution has it clear. */
const ATF_COM = 0x2;

/**
 * Did the kernel fail to find `host` on one of our links (an ARP request nobody answered)?
 * False when it found it, never tried, or cannot tell (not IPv4, no /proc/net/arp).
 */
export function neighbourFailed(host: string, table = readArp()): boolean {
  if (!isIPv4(host) || table === null) return false;
  const flags = table.get(host);
  return flags !== undefined && (flags & ATF_COM) === 0;
}

/** /proc/net/arp as address → flags, or null when there is none. */
export function readArp(): Map<string, number> | null {
  let text: string;
  try {
    text = readFileSync("/proc/net/arp", "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT" || (e as NodeJS.ErrnoException).code === "EACCES") return null;
    throw e;
  }
  const out = new Map<string, number>();
  for (const l of text.split("\n").slice(1)) {
    const f = l.trim().split(/\s+/);
    if (f.length >= 4 && isIPv4(f[0]!)) out.set(f[0]!, parseInt(f[2]!, 16));
  }
  return out;
}

/**
 * Bun reports every failed dial as ECONNREFUSED (see above): say ENETUNREACH when there is
 * no route, EHOSTUNREACH when the host is on our link and did not answer ARP.
 */
export function dialErrorCode(host: string, code: string | undefined, route = routeTo, neighbour = neighbourFailed): string | undefined {
  if (code !== "ECONNREFUSED") return code;
  if (route(host) === "no") return "ENETUNREACH";
  return neighbour(host) ? "EHOSTUNREACH" : code;
}

/** What an OS error of a dial means, as a sentence that matches it (ENETUNREACH is not a refusal). */
export function connectFailure(code: string | undefined, fallback: string): string {
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused: nothing listens on that port (is sotto running there?)";
    case "ETIMEDOUT":
      return "no answer: the address may be wrong, or a firewall drops the connection";
    case "ENETUNREACH":
      return "the network is unreachable: this machine has no route to that address (check the network connection)";
    case "EHOSTUNREACH":
      return "the host is unreachable: nothing answers at that address on its network";
    case "ECONNRESET":
      return "the connection was reset before the handshake";
    case "ENOTFOUND":
    case "EAI_NONAME":
    case "EAI_AGAIN":
    case "DNSException":
      return "the host name could not be resolved";
    default:
      return code ?? fallback;
  }
}
