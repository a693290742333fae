/**
 * Implementation limits of the networking edge (not part of the wire format: those are
 * in src/protocol/constants.ts). Every buffer and queue a peer can grow is bounded here.
 *
 * Process-wide budgets (docs/SECURITY.md §10, which gives each default, why, and its
 * test): one Peer is one process's listener, so a Peer's budgets are the process's.
 * A per-session bound alone lets an attacker that respects it one session at a time
 * multiply it by the session count; these are charged across sessions, in real bytes.
 */
import { readFileSync } from "node:fs";

export interface Limits {
  /** A handshake must finish within this many ms (timeout alert otherwise). */
  handshakeTimeoutMs: number;
  /** Established plus handshaking sessions, in and out. Beyond: ALERT busy. */
  maxSessions: number;
  /** Handshakes in progress at once. Beyond: ALERT busy. */
  maxHalfOpen: number;
  /** Handshakes in progress at once from one remote address. */
  maxHalfOpenPerAddress: number;
  /** Bytes waiting to be written to one socket; a peer that does not read past this is cut off. */
  maxSendQueueBytes: number;
  /** Frames held while the key exchange computes (the peer should not send more). */
  maxPendingFrames: number;
  /** A frame begun must be complete within this many ms. */
  partialFrameTimeoutMs: number;
  /**
   * Silence from the peer before we send a PING (ms); 0 disables keepalive. A PING left
   * unanswered (nothing at all heard) for as long again ends the session: a dead peer is
   * found within about 2× this, whatever we send meanwhile.
   */
  keepaliveMs: number;
  /** A dial must reach the peer and hear its first byte within this many ms (then the next attempt). */
  connectTimeoutMs: number;
  /** No bytes from the peer for this long (ms) ends the session; 0 disables. */
  idleTimeoutMs: number;
  /** KEY_UPDATEs a peer may send per second on average (burst of 8 allowed). */
  keyUpdatesPerSecond: number;
  /**
   * Handshakes in progress at once from one address prefix (/24 for IPv4, /64 for IPv6):
   * default 1,024, a quarter of maxHalfOpen, so one network needs four prefixes to fill
   * them (test: hostile/budgets-admission › 5.).
   */
  maxHalfOpenPerPrefix: number;
  /**
   * At a global cap (maxSessions or maxHalfOpen), a newcomer under its own address and
   * prefix caps takes the place of the oldest inbound handshake that has run this long
   * (ms), which is refused busy; only when none has, the newcomer is. Default 1,000: a
   * handshake takes two round trips, so an honest peer on a path of up to ≈ 400 ms round
   * trip finishes within it, while silent connections (which last the whole
   * handshakeTimeoutMs) cannot keep a good peer out (test: hostile/exhaustion-caps › maxHalfOpen
   * full of silent connections older than halfOpenEvictAfterMs …).
   */
  halfOpenEvictAfterMs: number;
  /**
   * Bytes one handshaking session may hold for later (frames held during the key
   * exchange): default 4 KiB; a responder's AUTH record is ≈ 150 bytes, the only frame a
   * good peer sends then (test: hostile/budgets › 1.).
   */
  maxHeldBytes: number;
  /**
   * Process-wide: bytes held by every session before authentication (held frames, and
   * partial frames at their declared size): default 32 MiB, ≈ 500 of the largest frames
   * at once (test: hostile/budgets › 1.).
   */
  maxPreAuthBytes: number;
  /**
   * Process-wide: real memory of every session's queued output (sealed bytes and pending
   * items with their heap): default 128 MiB, sixteen full per-session queues; past it the
   * largest queue is cut with busy (test: hostile/budgets › 2. the process-wide output budget).
   */
  maxOutputBytes: number;
  /**
   * PINGs a peer may send per second on average (a burst of 10 s worth): default 20,000;
   * keepalive needs one per 15 s, the burst lets a bulk probe of 40,000 through (tests:
   * hostile/exhaustion-stalls › control: … 40 × 1,000 PINGs …, hostile/budgets › 2.).
   */
  pingsPerSecond: number;
  /**
   * Process-wide: PINGs answered per second across every session (a burst of 1 s worth):
   * default 100,000, ≈ 10 % of a core; when spent, a session that pinged more than 1,000
   * lately is cut with busy (test: hostile/budgets › 2.; `bun run stress --attack ping`).
   */
  pingsPerSecondTotal: number;
  /**
   * FFDHE exchanges waiting for (or inside) the worker, process-wide: default 64, ≈ 90 ms
   * of ffdhe3072 work, well inside a handshake deadline; beyond, ALERT busy. Known
   * addresses go first, with a bound of their own of twice it, counted apart (neither
   * class can hold the other out: hostile/final-pass › 2.).
   */
  maxKexQueue: number;
  /**
   * FFDHE HELLOs one address prefix may start per second (a burst of 4 s worth): default
   * 50, a seventh of what the worker does; addresses that authenticated before are exempt
   * (test: hostile/budgets › 3.).
   */
  ffdhePerPrefixPerSecond: number;
  /**
   * Longest peer string (a CLOSE reason) kept for display, in UTF-16 units: default 256,
   * one screen line or so; the same cut reaches every output format (test: hostile/budgets-events › 6.).
   */
  maxPeerStringLength: number;
  /**
   * Reading is paused while output is backed up past half of maxSendQueueBytes; when it
   * then drains nothing for this long (ms) the session is cut with busy: default 3 s.
   * This also ends two peers that stop reading each other (tests: hostile/exhaustion-stalls ›
   * a peer that stops reading …, hostile/budgets › 2.).
   */
  outputStallMs: number;
  /**
   * Plaintext alerts (busy at accept, or a handshake fault) sent to one address prefix per
   * second before authentication, a burst of 2 s worth: default 64. Beyond, the
   * connection is reset without an alert (PROTOCOL §7.3): a flood's refusal then costs no
   * write, no FIN exchange and no socket left in TIME_WAIT, and the rest of what it sent
   * is never read; a peer that hits a cap now and then still gets the busy sentence
   * (test: hostile/budgets-admission › 5. refusals …). While a prefix floods (past its alerts, a further second's worth of resets), a new connection
   * from one of its addresses that has not authenticated lately is reset at accept,
   * before any byte of it is read (test: hostile/budgets-admission › 5. a prefix whose refusals are
   * a flood …).
   */
  preAuthAlertsPerPrefixPerSecond: number;
  /**
   * The listening socket's accept queue (listen(2) backlog), capped by the kernel's
   * net.core.somaxconn: default 4,096, Bun's own being 512. A flood that keeps the event
   * loop busy for a moment fills a queue of 512 at once, and a good peer's SYN is then
   * dropped and retransmitted a second later (test: hostile/budgets-admission › 5. the accept queue …).
   */
  listenBacklog: number;
}

/**
 * Real heap held by one queued item object beyond its encoded size: measured ≈ 108 bytes
 * of heap (≈ 154 of RSS) for a PONG object with its own 8-byte Uint8Array; charged at 160.
 */
export const ITEM_HEAP_BYTES = 160;

/**
 * Process-wide: bytes of front-end output written but not yet taken by stdout (a reader
 * that stops or reads slowly: a pipe, a paused terminal): default 8 MiB, a few hundred
 * screens of text, about 130 of the largest TEXTs. Past it no incoming TEXT is shown nor
 * acknowledged: the sessions that bring one are not read from until stdout took all of it
 * (src/chat/node/hold.ts), so the bytes wait in the kernel and in the sender, and nothing
 * is lost (docs/SECURITY.md §10, R5; tests: e2e/output-backlog, ui/output).
 */
export const FRONT_END_OUTPUT_BYTES = 8 * 1024 * 1024;

/**
 * Process-wide: past this much unread front-end output (4 × FRONT_END_OUTPUT_BYTES) the
 * other events (connections, notices) are left out and counted, and one line says how
 * many once the output drained: they come at handshake and event rates, not as TEXT.
 */
export const FRONT_END_DROP_BYTES = 4 * FRONT_END_OUTPUT_BYTES;

/** Descriptors kept free for files, the SQLite store, known_peers and the listener itself. */
export const FD_HEADROOM = 256;

/**
 * The soft limit on open descriptors (`ulimit -n`), read from /proc/self/limits; null
 * where it cannot be read (not Linux).
 */
export function descriptorLimit(text?: string): number | null {
  let t = text;
  if (t === undefined) {
    try {
      t = readFileSync("/proc/self/limits", "utf8");
    } catch (e) {
      if ((e as { code?: string }).code === "ENOENT") return null;
      throw new Error("cannot read /proc/self/limits", { cause: e });
    }
  }
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(t);
  if (m === null || m[1] === "unlimited") return null;
  return Number(m[1]);
}

/**
 * maxSessions that leaves FD_HEADROOM descriptors free: each session holds one socket,
 * so a cap equal to the descriptor limit is no cap (accept fails first, with no alert).
 */
export function sessionsFor(fdLimit: number | null, wanted: number): number {
  if (fdLimit === null) return wanted;
  return Math.max(1, Math.min(wanted, fdLimit - FD_HEADROOM, Math.floor(fdLimit * 0.9)));
}

export const DEFAULT_LIMITS: Limits = {
  handshakeTimeoutMs: 10_000,
  maxSessions: 20_000,
  maxHalfOpen: 4_096,
  maxHalfOpenPerAddress: 256,
  maxSendQueueBytes: 8 * 1024 * 1024,
  maxPendingFrames: 4,
  partialFrameTimeoutMs: 10_000,
  // 7.5 s: an idle session costs one PING and one PONG record (~90 bytes each) per 7.5 s,
  // and a dead peer is found in 15-16 s (under 20 s with the 1 s sweep).
  keepaliveMs: 7_500,
  // A few seconds: a TCP handshake plus an X25519 HELLO_REPLY takes one round trip; a SYN
  // into a blackhole otherwise waits for the kernel's retries (over a minute).
  connectTimeoutMs: 5_000,
  idleTimeoutMs: 45_000,
  keyUpdatesPerSecond: 4,
  maxHalfOpenPerPrefix: 1_024,
  halfOpenEvictAfterMs: 1_000,
  maxHeldBytes: 4 * 1024,
  maxPreAuthBytes: 32 * 1024 * 1024,
  maxOutputBytes: 128 * 1024 * 1024,
  pingsPerSecond: 20_000,
  pingsPerSecondTotal: 100_000,
  maxKexQueue: 64,
  ffdhePerPrefixPerSecond: 50,
  maxPeerStringLength: 256,
  outputStallMs: 3_000,
  preAuthAlertsPerPrefixPerSecond: 64,
  listenBacklog: 4_096,
};

/** The defaults with maxSessions fitted under this process's descriptor limit. */
export function defaultLimits(): Limits {
  return { ...DEFAULT_LIMITS, maxSessions: sessionsFor(descriptorLimit(), DEFAULT_LIMITS.maxSessions) };
}

/**
 * A process-wide byte budget shared by every session of a Peer: each holder's charge is
 * set (not added) so it can never drift, and `over` says when the total passes `limit`.
 */
export class ByteBudget<K = unknown> {
  readonly #charges = new Map<K, number>();
  #total = 0;
  // The holder charged last keeps its charge here rather than in the map (a session that
  // queues many items in a row is charged once per item: no map lookup for each).
  #last: K | undefined = undefined;
  #lastBytes = 0;
  constructor(readonly limit: number) {}
  /** Bytes charged across every holder. */
  get total(): number {
    return this.#total;
  }
  /** Set `holder`'s charge to `bytes` (0 forgets it). True when the total is now over the limit. */
  set(holder: K, bytes: number): boolean {
    if (holder !== this.#last || this.#last === undefined) {
      // Put the previous holder's charge in the map, take this one's out of it.
      if (this.#last !== undefined && this.#lastBytes !== 0) this.#charges.set(this.#last, this.#lastBytes);
      this.#last = holder;
      this.#lastBytes = this.#charges.get(holder) ?? 0;
      this.#charges.delete(holder);
    }
    this.#total += bytes - this.#lastBytes;
    this.#lastBytes = bytes;
    if (bytes === 0) this.#last = undefined; // forgotten: no reference kept to a holder charged nothing
    return this.#total > this.limit;
  }
  /** The holder with the largest charge (the first offender to cut), or undefined. */
  largest(): K | undefined {
    let best: K | undefined;
    let max = -1;
    if (this.#last !== undefined && this.#lastBytes > 0) [best, max] = [this.#last, this.#lastBytes];
    for (const [k, v] of this.#charges) if (v > max) [best, max] = [k, v];
    return best;
  }
}

/** `host` from `from` on is four dot-separated runs of 1–3 digits. */
function isDottedQuad(host: string, from: number): boolean {
  let dots = 0;
  let run = 0;
  for (let i = from; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c === 46) {
      if (run === 0 || ++dots > 3) return false;
      run = 0;
    } else if (c >= 48 && c <= 57 && ++run <= 3) continue;
    else return false;
  }
  return dots === 3 && run > 0;
}

/** The key for an address's prefix: /24 for IPv4 (and IPv4-mapped IPv6), /64 for IPv6. */
export function addressPrefix(host: string): string {
  // IPv4 (and IPv4-mapped) without a regular expression: it runs for every refusal of a flood.
  const from = host.lastIndexOf(":") + 1;
  if (isDottedQuad(host, from) && (from === 0 || /^::ffff:$/i.test(host.slice(0, from)))) return `${host.slice(from, host.lastIndexOf("."))}.0/24`;
  if (!host.includes(":")) return host;
  // Expand "::" so that the first four groups are the /64.
  const [head, tail = ""] = host.split("::");
  const h = head ? head.split(":") : [];
  const t = host.includes("::") ? (tail ? tail.split(":") : []) : [];
  const groups = [...h, ...Array(Math.max(0, 8 - h.length - t.length)).fill("0"), ...t];
  return `${groups.slice(0, 4).map((g) => parseInt(g || "0", 16).toString(16)).join(":")}::/64`;
}

/** Cut a peer string to `max` UTF-16 units, saying how much was left out. */
export function capPeerString(s: string, max: number): string {
  if (s.length <= max) return s;
  return `${s.slice(0, max)}… (${s.length - max} more characters)`;
}

/** A token bucket: `burst` tokens, refilled at `perSecond`; for rate limits a peer can trigger. */
export class TokenBucket {
  #tokens: number;
  #at: number;
  constructor(
    readonly burst: number,
    readonly perSecond: number,
    now: number,
  ) {
    this.#tokens = burst;
    this.#at = now;
  }
  /** Tokens left at `now`, without taking one. */
  level(now: number): number {
    return Math.min(this.burst, this.#tokens + ((now - this.#at) / 1000) * this.perSecond);
  }
  /** Whether the bucket is full again at `now` (an idle source that can be forgotten). */
  full(now: number): boolean {
    return this.#tokens + ((now - this.#at) / 1000) * this.perSecond >= this.burst;
  }
  /** Take one token at time `now` (ms); false when none is left. */
  take(now: number): boolean {
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) / 1000) * this.perSecond);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/** The clocks of one session that its deadlines read (ms, performance.now()). */
export interface SessionClocks {
  /** When the frame being gathered began (0: none). */
  partialSince: number;
  startedAt: number;
  lastRecv: number;
  lastSend: number;
  /** The handshake (with the PROFILE exchange) is not over yet. */
  handshaking: boolean;
  /** When our last PING went out (0: none yet). */
  pingSentAt?: number;
}

/**
 * What a session's deadlines ask at time `now`: the sentence of a `timeout` that has
 * passed, "keepalive" when a PING is due, or null.
 */
export function dueAt(now: number, c: SessionClocks, l: Limits): string | "keepalive" | null {
  if (c.partialSince !== 0 && now - c.partialSince > l.partialFrameTimeoutMs) return `a frame stayed incomplete for ${l.partialFrameTimeoutMs} ms`;
  if (c.handshaking) return now - c.startedAt > l.handshakeTimeoutMs ? `the handshake did not finish within ${l.handshakeTimeoutMs} ms` : null;
  if (l.idleTimeoutMs > 0 && now - c.lastRecv > l.idleTimeoutMs) return `nothing heard from the peer for ${l.idleTimeoutMs} ms`;
  if (l.keepaliveMs <= 0) return null;
  // A PING is answered if anything at all arrived after it (a PONG or any other record).
  const ping = c.pingSentAt ?? 0;
  const unanswered = ping !== 0 && c.lastRecv < ping;
  if (unanswered && now - ping > l.keepaliveMs) return `no answer from the peer for ${Math.round((now - c.lastRecv) / 1000)} s`;
  if (!unanswered && now - c.lastRecv > l.keepaliveMs) return "keepalive";
  return null;
}
