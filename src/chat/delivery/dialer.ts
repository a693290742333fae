/**
 * Redialling one outbound address with exponential backoff and jitter, for as long as
 * the chat runs, and knowing when to stop:
 *
 *   1. dial (Peer.connect: a connect deadline, then the handshake deadline);
 *   2. a session that lasts less than STABLE_SESSION_MS and carried nothing from the peer
 *      (no TEXT, no ACK: `hooks.useful`) counts as a failure: the backoff goes on growing
 *      (a responder that closes every session at once is not redialled several times a
 *      second forever); a longer one, or one that moved messages, resets it (a path
 *      that is cut mid-conversation is redialled at once);
 *   3. a permanent refusal (`hooks.fatal` gives its sentence: our key refused, a version
 *      the peer does not speak, the address is this sotto itself) stops the dialling with
 *      one `dial_stopped` event; so do stop() (/disconnect) and the contact moving (node.ts);
 *   4. every wait is announced as one `reconnecting` event that carries why and since
 *      when the contact has been unreachable, so a front end can keep one status line.
 * A session closed because another one to the same peer exists is not redialled while
 * that other session lasts.
 */
import type { PeerSession } from "../../net/types.ts";
import type { ChatListener } from "../events.ts";
import { explain } from "../explain.ts";
import { pidOf, type Pid } from "../peer-id.ts";

export const BACKOFF_BASE_MS = 250;
export const BACKOFF_MAX_MS = 15_000;
/** A session shorter than this is a failed attempt for the backoff (issue: redial storms). */
export const STABLE_SESSION_MS = 10_000;
/** How often a dialer whose contact is reachable through another session looks again. */
const ELSEWHERE_POLL_MS = 1000;

/** host:port (or [v6]:port) → parts, or null. Ports 1..65535. */
export function parseAddress(s: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s\[\]]+)):(\d{1,5})$/.exec(s.trim());
  if (!m) return null;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return null;
  return { host: (m[1] ?? m[2])!, port };
}

/** The smallest first backoff (ms): a base of 0 (or not a number) would redial at once, for ever. */
const BACKOFF_MIN_BASE_MS = 10;

/** The delay before attempt n (0-based): base·2^n capped, times a jitter in [0.8, 1.2). */
export function backoffMs(attempt: number, random: () => number = Math.random, baseMs: number = BACKOFF_BASE_MS): number {
  const base = baseMs >= BACKOFF_MIN_BASE_MS ? baseMs : BACKOFF_MIN_BASE_MS;
  const d = Math.min(BACKOFF_MAX_MS, base * 2 ** Math.min(attempt, 16));
  return Math.round(d * (0.8 + 0.4 * random()));
}

export interface DialerHooks {
  dial(): Promise<PeerSession>;
  /** Is the peer reachable through another open session? (s: the session that just closed, if any) */
  connectedElsewhere(s: PeerSession | null): boolean;
  emit: ChatListener;
  /** The sentence that stops the dialling for this failure, or null to retry. */
  fatal(e: Error): { code: string; message: string } | null;
  /** Resolves when the session has closed. */
  closed(s: PeerSession): Promise<void>;
  /** The contact's name, once known (for the status line). */
  nameOf?(pid: Pid): string;
  /** Did the session carry anything from the peer (a TEXT or an ACK)? */
  useful?(s: PeerSession): boolean;
  /** Clock (ms) for session lengths; default performance.now. */
  now?(): number;
  /** Wall clock (ms) for "unreachable since"; default Date.now. */
  wallClock?(): number;
  random?(): number;
  /** The first backoff (ms); default BACKOFF_BASE_MS (ChatOptions.backoffBaseMs, for tests). */
  backoffBaseMs?: number;
}

export class Dialer {
  pid: Pid | null = null;
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #stopped = false;
  #session: PeerSession | null = null;
  #wake: (() => void) | null = null;
  /** When the contact became unreachable (wall clock ms; 0 while connected). */
  #since = 0;
  #reason = "";
  /** Wall clock ms of the next try while one is scheduled, else 0. */
  #nextAt = 0;

  constructor(
    readonly host: string,
    readonly port: number,
    readonly hooks: DialerHooks,
  ) {}

  /** Failed attempts in a row (short sessions included). */
  get attempt(): number {
    return this.#attempt;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Where this dial stands when it has no session (null while it has one, or once stopped). */
  status(): { address: string; pid: Pid | null; state: "dialling" | "reconnecting"; since: number; reason: string; inMs: number } | null {
    if (this.#stopped || this.#session !== null) return null;
    const inMs = this.#nextAt === 0 ? 0 : Math.max(0, this.#nextAt - this.#wall());
    return { address: this.#address(), pid: this.pid, state: this.#since === 0 ? "dialling" : "reconnecting", since: this.#since, reason: this.#reason, inMs };
  }

  #wall(): number {
    return this.hooks.wallClock ? this.hooks.wallClock() : Date.now();
  }

  start(): void {
    void this.#run();
  }

  /** Stop dialling; `reason` (when given) is announced once as `dial_stopped`. The session, if any, stays. */
  stop(reason?: string, code = "stopped", alert?: number): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#wake?.();
    if (reason !== undefined) this.hooks.emit({ type: "dial_stopped", address: this.#address(), reason, code, ...(alert !== undefined ? { alert } : {}) });
  }

  #address(): string {
    return this.host.includes(":") ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`;
  }

  #now(): number {
    return this.hooks.now ? this.hooks.now() : performance.now();
  }

  async #run(): Promise<void> {
    this.#nextAt = 0;
    if (this.#stopped) return;
    if (this.hooks.connectedElsewhere(null)) return this.#later(ELSEWHERE_POLL_MS, false);
    let s: PeerSession;
    try {
      s = await this.hooks.dial();
    } catch (e) {
      if (this.#stopped) return;
      // The first failure in a row, and a permanent one, say why (chat/explain.ts); the
      // retries after it only update the status (`reconnecting`).
      const x = explain(e, { who: this.#address(), address: this.#address() });
      const stop = this.hooks.fatal(e as Error);
      // A permanent refusal is one sentence, the dial_stopped itself (its code and alert kept for --json).
      if (stop !== null) return this.stop(stop.message, stop.code, x.alert);
      if (this.#attempt === 0) this.hooks.emit({ type: "error", ...x });
      this.#unreachable(x.message);
      this.#later(backoffMs(this.#attempt++, this.hooks.random, this.hooks.backoffBaseMs), true);
      return;
    }
    if (this.#stopped) return s.close("bye");
    const began = this.#now();
    this.#session = s;
    this.#since = 0;
    this.pid = pidOf(s.peerIdentity!);
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      void this.hooks.closed(s).then(resolve);
    });
    this.#wake = null;
    this.#session = null;
    if (this.#stopped) return;
    if (this.hooks.connectedElsewhere(s)) return this.#later(ELSEWHERE_POLL_MS, false);
    // Step 2: only a session that lasted counts as a success.
    if (this.#now() - began >= STABLE_SESSION_MS || this.hooks.useful?.(s) === true) this.#attempt = 0;
    this.#unreachable("the session ended");
    this.#later(backoffMs(this.#attempt++, this.hooks.random, this.hooks.backoffBaseMs), true);
  }

  #unreachable(reason: string): void {
    if (this.#since === 0) this.#since = this.#wall();
    this.#reason = reason;
  }

  #later(ms: number, announce: boolean): void {
    if (this.#stopped) return;
    if (announce) {
      const peer = this.pid !== null ? this.hooks.nameOf?.(this.pid) : undefined;
      this.hooks.emit({ type: "reconnecting", address: this.#address(), inMs: ms, attempt: this.#attempt, since: this.#since, reason: this.#reason, ...(peer !== undefined ? { peer } : {}) });
    }
    this.#nextAt = this.#wall() + ms;
    this.#timer = setTimeout(() => void this.#run(), ms);
    this.#timer.unref?.();
  }
}
