/**
 * Implementation limits of the networking edge (not part of the wire format: those are
 * in src/protocol/constants.ts). Every buffer and queue a peer can grow is bounded here.
 */
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
};

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
