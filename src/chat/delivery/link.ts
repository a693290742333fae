/**
 * One ready session with one peer, as the chat sees it: which TEXT it has sent, how much
 * it may have in flight, and the ACKs it owes.
 *
 * ACK-clocked sending (like TCP's slow start): each side opens a session with an ACK of
 * what it has shown from the other (id 0 when nothing) and sends nothing until it hears
 * the other's, so a reconnect re-sends only what was really lost; then it sends
 * WINDOW_START bytes of what the peer has not acknowledged, twice as much after every
 * ACK, up to WINDOW_MAX. On a good link the window opens within a few round trips; on a
 * link that breaks every few kilobytes both directions still get their turn; and nothing
 * overtakes the backlog, which the receiver's "show ids above the last shown" rule needs.
 */
import type { PeerSession } from "../../net/types.ts";
import type { Outbox } from "./outbox.ts";
import { privateItem } from "../../protocol/items.ts";
import type { TokenBucket } from "../../net/limits.ts";

const WINDOW_START = 2048;
const WINDOW_MAX = 4 << 20;
/** A peer that sends no opening ACK is waited for this long. */
const FIRST_ACK_WAIT_MS = 1000;

export class Link {
  /** The highest TEXT id sent on this session. */
  #sentUpTo = 0n;
  /** Bytes of TEXT this session may have unacknowledged. */
  #window = WINDOW_START;
  #heard = false;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #pendingAck: bigint | null = null;

  constructor(
    readonly s: PeerSession,
    readonly pid: string,
    /** The peer's display name; follows its PROFILE (a /nick on its side). */
    public name: string,
    readonly outbox: Outbox,
    /** The peer's TEXT rate limit (ChatOptions.textPerSecond). */
    readonly inbound: TokenBucket,
  ) {}

  /** The session is ready: open with our ACK, then wait (bounded) for the peer's. */
  open(lastShown: bigint): void {
    this.s.send({ kind: "ack", id: lastShown });
    this.#timer = setTimeout(() => this.heard(), FIRST_ACK_WAIT_MS);
    this.#timer.unref?.();
  }

  /** An ACK from the peer (the outbox has already taken it): open the window, send more. */
  acked(): void {
    if (this.#heard) this.#window = Math.min(WINDOW_MAX, this.#window * 2);
    this.heard();
  }

  /** The peer's first ACK of the session came (or the wait ended): sending may start. */
  heard(): void {
    this.#heard = true;
    this.stop();
    this.pump();
  }

  /** Is our TEXT `id` private to this peer (a /msg)? Set by the chat. */
  isPrivate?: (id: bigint) => boolean;

  /** The peer's TEXT ids it marked private (PRIVATE items), until the TEXT arrives; bounded. */
  readonly privateIn = new Set<bigint>();

  /** Send, in id order, what this session has not sent yet, while the window allows. */
  pump(): void {
    if (!this.#heard || this.s.state !== "open") return;
    const { inflight, next } = this.outbox.unsent(this.pid, this.#sentUpTo);
    let budget = this.#window - inflight;
    for (const m of next) {
      // Always let one message through when nothing is in flight, however long.
      if (budget < m.text.length && budget < this.#window) break;
      // PROTOCOL §6.5: a private line's marker goes first, so it is known when the TEXT arrives.
      if (this.isPrivate?.(m.id)) this.s.send(privateItem(m.id));
      this.s.send({ kind: "text", id: m.id, text: m.text });
      this.#sentUpTo = m.id;
      budget -= m.text.length;
    }
  }

  /** Cumulative ACKs: one per tick, for the highest id shown. */
  ack(id: bigint): void {
    const scheduled = this.#pendingAck !== null;
    if (this.#pendingAck === null || id > this.#pendingAck) this.#pendingAck = id;
    if (scheduled) return;
    queueMicrotask(() => {
      const a = this.#pendingAck;
      this.#pendingAck = null;
      if (a !== null && this.s.state === "open") this.s.send({ kind: "ack", id: a });
    });
  }

  /** The session ended: drop the timer. */
  stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
