/**
 * Redialling one outbound address with exponential backoff and jitter, for as long as
 * the chat runs. A dial that ends in a refused identity stops for good (the user must
 * act); a session that is closed because another one to the same peer exists is not
 * redialled while that other session lasts.
 */
import type { PeerSession } from "../../net/types.ts";
import type { ChatListener } from "../events.ts";
import { explain } from "../explain.ts";
import { toHex } from "../../crypto/bytes.ts";

export const BACKOFF_BASE_MS = 250;
export const BACKOFF_MAX_MS = 15_000;

/** host:port (or [v6]:port) → parts, or null. Ports 1..65535. */
export function parseAddress(s: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s\[\]]+)):(\d{1,5})$/.exec(s.trim());
  if (!m) return null;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return null;
  return { host: (m[1] ?? m[2])!, port };
}

/** The delay before attempt n (0-based): base·2^n capped, times a jitter in [0.8, 1.2). */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const d = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, 16));
  return Math.round(d * (0.8 + 0.4 * random()));
}

export interface DialerHooks {
  dial(): Promise<PeerSession>;
  /** Is the peer reachable through another open session? (s: the session that just closed, if any) */
  connectedElsewhere(s: PeerSession | null): boolean;
  emit: ChatListener;
  isFatal(e: Error): boolean;
  /** Resolves when the session has closed. */
  closed(s: PeerSession): Promise<void>;
}

export class Dialer {
  pid: string | null = null;
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #stopped = false;
  #session: PeerSession | null = null;
  #wake: (() => void) | null = null;

  constructor(
    readonly host: string,
    readonly port: number,
    readonly hooks: DialerHooks,
  ) {}

  start(): void {
    void this.#run();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#wake?.();
  }

  async #run(): Promise<void> {
    if (this.#stopped) return;
    if (this.hooks.connectedElsewhere(null)) return this.#later(1000, false);
    try {
      const s = await this.hooks.dial();
      if (this.#stopped) return s.close("bye");
      this.#attempt = 0;
      this.#session = s;
      this.pid = toHex(s.peerIdentity!);
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        void this.hooks.closed(s).then(resolve);
      });
      this.#wake = null;
      this.#session = null;
      if (this.#stopped) return;
      this.#later(this.hooks.connectedElsewhere(s) ? 1000 : backoffMs(0), !this.hooks.connectedElsewhere(s));
    } catch (e) {
      if (this.#stopped) return;
      if (this.hooks.isFatal(e as Error)) {
        const x = explain(e, { who: `${this.host}:${this.port}`, address: `${this.host}:${this.port}` });
        this.hooks.emit({ type: "error", ...x, code: "identity_rejected", message: `stopped dialling ${this.host}:${this.port}: ${x.message}` });
        return;
      }
      // The first failure in a row says why; the retries after it only say when.
      if (this.#attempt === 0) this.hooks.emit({ type: "error", ...explain(e, { who: `${this.host}:${this.port}`, address: `${this.host}:${this.port}` }) });
      this.#later(backoffMs(this.#attempt++), true);
    }
  }

  #later(ms: number, announce: boolean): void {
    if (this.#stopped) return;
    if (announce) this.hooks.emit({ type: "reconnecting", address: `${this.host}:${this.port}`, inMs: ms, attempt: this.#attempt });
    this.#timer = setTimeout(() => void this.#run(), ms);
    this.#timer.unref?.();
  }
}
