/**
 * One ready session with one peer, as the chat sees it: which TEXT it has sent, how much
 * it may have in flight, and the ACKs it owes.
 *
 * ACK-clocked sending (like TCP's slow start): each side opens a session with an ACK of
 * what it has shown from the other (id 0 when nothing). A line that may already have
 * reached the peer (in flight when the last session broke) waits for the peer's opening
 * ACK, so a reconnect re-sends only what was really lost; when nothing waiting was ever
 * sent, sending starts at once (a line never sent cannot be a duplicate), so the first
 * line rides right behind the handshake. Then it sends WINDOW_START bytes (WINDOW_RESTART
 * after a break with lines in flight) of what the peer has not acknowledged, twice as
 * much after every ACK, up to WINDOW_MAX; nothing
 * overtakes the backlog, which the receiver's "show ids above the last shown" rule needs.
 *
 * Flow control, not self-defence: besides the window, a link adds nothing while the
 * session holds HIGH_WATER bytes not yet taken by the socket, and pumps again on drain.
 * The session's own send-queue bound (Limits.maxSendQueueBytes, 8 MiB, for peers that
 * stop reading) is then never reached by the chat's own lines on an honest slow link.
 */
import { toHex } from "../../crypto/bytes.ts";
import type { PeerSession } from "../../net/types.ts";
import { ID_LEN, ITEM_HEADER_LEN, TEXT_TIME_LEN } from "../../protocol/constants.ts";
import { privateItem, textTimeItem } from "../../protocol/items.ts";
import type { Outbox } from "./outbox.ts";
import type { TokenBucket } from "../../net/limits.ts";
import type { Pid } from "../peer-id.ts";

/**
 * The first window: as much as the session may hold for its socket anyway (HIGH_WATER),
 * about what a 100 Mbit/s path holds in 80 ms. TCP below does congestion control; this
 * window only bounds what a session may have to send again after a break, so a smaller
 * start only makes the first round trips wait for ACKs: 2 KiB (as it once was) cost a
 * piped file eleven round trips of slow start, and 256 KiB still two (the first 1,000
 * lines of 1 KiB shown ≈ 250 ms after "connected" where the path needs ≈ 110 ms,
 * bench/links-processes.ts --shaped: 100 Mbit/s, 50 ms round trip, 625 KB in flight).
 */
export const WINDOW_START = 1 << 20;
/**
 * The first window after a session broke with lines in flight (as TCP restarts small after
 * a loss): the lines go in small records, so a path that breaks every few kilobytes still
 * carries some of them each time (one 64 KiB record would never get through it).
 */
export const WINDOW_RESTART = 2048;
const WINDOW_MAX = 4 << 20;
/** Bytes the session may hold for the socket (its bufferedAmount) before the link waits for drain. */
export const HIGH_WATER = 1 << 20;
/** ACKs of a stream of lines go at most this often (ms), unless ACK_EVERY_LINES wait (Link.ack). */
export const ACK_DELAY_MS = 20;
/** Lines shown that are acknowledged at once, however soon after the last ACK. */
export const ACK_EVERY_LINES = 256;
/** A peer that sends no opening ACK is waited for this long. */
const FIRST_ACK_WAIT_MS = 1000;
/** Wire bytes of one line besides its text: TEXT's header and id. */
const TEXT_OVERHEAD = ITEM_HEADER_LEN + ID_LEN;
/** Wire bytes of a TEXT_TIME item. */
const TEXT_TIME_BYTES = ITEM_HEADER_LEN + TEXT_TIME_LEN;
/**
 * PROTOCOL §12: a line sent this long (ms) or more after it was written carries its
 * TEXT_TIME even on the session it was written on. One sent sooner carries none: its
 * arrival time says as much (the terminal shows a written time only 60 s apart), and
 * the item is 19 of a 1 KiB line's ≈ 1,050 bytes on the wire, decoded on the other side.
 */
export const TEXT_TIME_AFTER_MS = 1000;

export class Link {
  /** The highest TEXT id sent on this session. */
  #sentUpTo = 0n;
  /** When this link was made (Date.now(), the clock of a line's `written`): a line written before waited for this session. */
  readonly openedAt = Date.now();
  /** The peer's fingerprint, as events show it (computed once per session). */
  fingerprint = "";
  /** The peer instance's id in hex, as the shown counters are kept (once per PROFILE, not per TEXT). */
  instanceHex(instance: Uint8Array): string {
    if (this.#instance !== instance) this.#instanceHex = toHex(instance);
    this.#instance = instance;
    return this.#instanceHex;
  }
  #instance: Uint8Array | null = null;
  #instanceHex = "";
  /** PROTOCOL §12: the last TEXT_TIME received (at most one per session). */
  writtenAt: { id: bigint; writtenMs: number } | null = null;
  /** Bytes of TEXT this session may have unacknowledged. */
  /** 0 until the session's first send (WINDOW_START or WINDOW_RESTART, see there). */
  #window = 0;
  #heard = false;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #pendingAck: bigint | null = null;

  constructor(
    readonly s: PeerSession,
    readonly pid: Pid,
    /** The peer's display name; follows its PROFILE (a /nick on its side), and is set again when its PROFILE arrives after an early start. */
    public name: string,
    readonly outbox: Outbox,
    /** The peer's TEXT rate limit (ChatOptions.textPerSecond). */
    readonly inbound: TokenBucket,
    /** Write the shown counters; false when that failed (no ACK then: the peer re-sends). */
    readonly record: () => boolean = () => {
      outbox.recordShown();
      return true;
    },
  ) {}

  #record(): boolean {
    return this.record();
  }

  /** Lines that may already have reached the peer wait: the last session broke with them in flight. */
  #restart = false;

  /** The session is ready: open with our ACK; send at once, or wait (bounded) for the peer's ACK (see the file comment). */
  open(lastShown: bigint): void {
    this.s.send({ kind: "ack", id: lastShown });
    if (this.#window === 0) this.#restart = !this.outbox.mayStartEarly(this.pid);
    if (this.#heard || this.outbox.mayStartEarly(this.pid)) return this.heard();
    this.#timer = setTimeout(() => this.heard(), FIRST_ACK_WAIT_MS);
    this.#timer.unref?.();
  }

  /** An ACK from the peer (the outbox has already taken it; `fresh`: it acknowledged lines not acknowledged before): open the window, send more. */
  acked(fresh = true): void {
    if (fresh) this.#clocked = true;
    if (this.#heard && this.#window > 0) this.#window = Math.min(WINDOW_MAX, this.#window * 2);
    this.heard();
  }

  /** An ACK of our lines came on this session: from then on each ACK pumps, and no look again after sealing is needed (pump). */
  #clocked = false;

  /** The peer's first ACK of the session came (or the wait ended): sending may start. */
  heard(): void {
    this.#heard = true;
    // Only the wait for the first ACK ends here: an ACK we owe the peer (#ackTimer) still goes.
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.pump();
  }

  /**
   * Initiator, once our AUTH is out and before the peer's PROFILE (Peer.connect `early`):
   * send lines never sent before, so the first one rides right behind AUTH (TLS 1.3's
   * 1.5 round trips). Only when mayStartEarly holds; open() follows when the session is ready.
   */
  startEarly(): void {
    this.#heard = true;
    this.pump();
  }

  /** Is our TEXT `id` private to this peer (a /msg)? Set by the chat. */
  isPrivate?: (id: bigint) => boolean;

  /** The peer's TEXT ids it marked private (PRIVATE items), until the TEXT arrives; bounded. */
  readonly privateIn = new Set<bigint>();

  /** Send, in id order, what this session has not sent yet, while the window allows. */
  pump(): void {
    if (!this.#heard || (this.s.state !== "open" && this.s.state !== "profile")) return;
    const { inflight, next } = this.outbox.unsent(this.pid, this.#sentUpTo);
    // Decided once, before the peer's opening ACK can hide that lines were lost.
    if (this.#window === 0) this.#window = this.#restart ? WINDOW_RESTART : WINDOW_START;
    let budget = this.#window - inflight;
    const now = Date.now();
    let sent = 0;
    for (const m of next) {
      // PROTOCOL §12: TEXT_TIME for a line that waited (written before this session opened: queued while the peer was away, or sent again; or a second ago or more).
      const timed = m.written > 0 && (m.written < this.openedAt || now - m.written >= TEXT_TIME_AFTER_MS);
      const size = m.bytes + TEXT_OVERHEAD + (timed ? TEXT_TIME_BYTES : 0);
      // Always let one message through when nothing is in flight, however long.
      if (budget < size && budget < this.#window) break;
      if (this.s.bufferedAmount >= HIGH_WATER) {
        // onDrain pumps again once the socket backed up and drained. But lines not yet
        // sealed count at their bound (3 bytes a character): 1 KiB lines reached HIGH_WATER
        // at ≈ 350 lines, all written at the tick's end without backing the socket up, so no
        // drain came and the link waited for the peer's ACK, a third of the window used.
        // Once sealed they count as they are: look again then (only after sending some, so a
        // socket truly backed up is left to onDrain, not polled), until ACKs of our lines
        // come: each of those pumps, and a look per turn besides made a stream's flushes
        // smaller and more (3–8 % fewer lines a second on loopback).
        if (sent > 0 && !this.#clocked) this.#pumpAfterSeal();
        break;
      }
      // PROTOCOL §6.5: a private line's marker goes first, so it is known when the TEXT arrives.
      if (this.isPrivate?.(m.id)) this.s.send(privateItem(m.id));
      // PROTOCOL §12: TEXT_TIME right before its TEXT.
      if (timed) this.s.send(textTimeItem(m.id, m.written));
      this.s.sendText(m.id, m.text); // the per-message path: no Item object
      this.#sentUpTo = m.id;
      this.outbox.markSent(this.pid, m.id);
      budget -= size;
      sent++;
    }
  }

  #pumpAgain = false;
  #pumpAfterSeal(): void {
    if (this.#pumpAgain) return;
    this.#pumpAgain = true;
    setImmediate(() => {
      this.#pumpAgain = false;
      this.pump();
    });
  }

  /**
   * Cumulative ACKs, for the highest id shown: the tick's counters are recorded at its
   * end (show, record, then ACK), and the ACK goes then when none went in the last
   * ACK_DELAY_MS (a line typed by a person is acknowledged at once) or ACK_EVERY_LINES
   * lines wait for it; otherwise ACK_DELAY_MS after the last one. A pipe read in pieces
   * of ≈ 60 lines sent an ACK each (≈ 330 for 20,000 lines through 100 Mbit/s), each a
   * record here and an ACK's work for the sender.
   */
  ack(id: bigint): void {
    if (this.#pendingAck === null || id > this.#pendingAck) this.#pendingAck = id;
    this.#unacked++;
    if (this.#tickEnds) return;
    this.#tickEnds = true;
    queueMicrotask(() => {
      this.#tickEnds = false;
      // Show, record, then ACK: the counters of this tick are written first (none left: flushAck recorded and sent it).
      if (this.#pendingAck === null || !this.#recordOrDrop()) return;
      const wait = this.#lastAckAt + ACK_DELAY_MS - this.now();
      if (wait <= 0 || this.#unacked >= ACK_EVERY_LINES) return this.#sendAck();
      if (this.#ackTimer === null) {
        this.#ackTimer = setTimeout(() => this.#sendAck(), wait);
        this.#ackTimer.unref?.();
      }
    });
  }

  /**
   * The chat closes: the ACK owed goes now, not on a timer that no longer runs (the
   * counters it covers are recorded first). Without it a receiver that quits within
   * ACK_DELAY_MS of a line leaves the sender waiting on a line it showed.
   */
  flushAck(): void {
    if (this.#pendingAck !== null && this.#recordOrDrop()) this.#sendAck();
  }

  /** Record the shown counters; when that fails, the ACK owed is dropped (the peer sends those lines again). */
  #recordOrDrop(): boolean {
    if (this.#record()) return true;
    this.#pendingAck = null;
    this.#unacked = 0;
    return false;
  }

  #sendAck(): void {
    if (this.#ackTimer !== null) clearTimeout(this.#ackTimer);
    this.#ackTimer = null;
    const a = this.#pendingAck;
    this.#pendingAck = null;
    this.#unacked = 0;
    this.#lastAckAt = this.now();
    if (a !== null && this.s.state === "open") this.s.send({ kind: "ack", id: a });
  }

  /** The clock ACK_DELAY_MS is measured on (ms; a test gives its own). */
  now: () => number = () => performance.now();
  #unacked = 0;
  #tickEnds = false;
  #lastAckAt = -Infinity;
  #ackTimer: ReturnType<typeof setTimeout> | null = null;

  /** The session ended: drop the timers. */
  stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#ackTimer !== null) clearTimeout(this.#ackTimer);
    this.#ackTimer = null;
  }
}
