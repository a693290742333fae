/**
 * A session's established phase, receive side (PROTOCOL §6): the traffic keys from the
 * handshake, and what one RECORD frame may carry.
 *
 *   1. RecordReader.open checks the tag before anything is decrypted (record.ts);
 *   2. decodeItems splits the plaintext; PADDING is skipped, AUTH and ALERT end the
 *      session, KEY_UPDATE is counted (one per record, a bounded rate) and applied after
 *      the record;
 *   3. PING is answered within two rates (this session's, and the process-wide one);
 *   4. CLOSE, PONG, PROFILE and the rest go back to the session, which holds the state
 *      (nothing but PROFILE before the peer's PROFILE).
 * Send side: the writer, when a record must carry KEY_UPDATE, and the pacing of bulk
 * (pacer.ts) by the PINGs this phase keeps in flight.
 */
import { BLOCK_LEN, FrameType } from "../protocol/constants.ts";
import { fail } from "../protocol/errors.ts";
import type { Frame } from "../protocol/frame.ts";
import type { HandshakeResult } from "../protocol/machine.ts";
import { decodeInto, type Decoded, type Item, type TextId } from "../protocol/items.ts";
import type { RecordReader, RecordWriter } from "../protocol/record.ts";
import { TokenBucket, type Limits } from "./limits.ts";
import type { Outbound } from "./outbound.ts";
import { BulkPacer } from "./pacer.ts";
import type { SessionState } from "./types.ts";

/**
 * The entries one record decodes into, reused record after record (no array per record);
 * a record read while another is being handed over (an owner that feeds a session from
 * its callback) takes an array of its own.
 */
let SCRATCH: Decoded[] | null = [];
function takeScratch(): Decoded[] {
  const s = SCRATCH ?? [];
  SCRATCH = null;
  return s;
}
function giveScratch(s: Decoded[]): void {
  s.length = 0;
  SCRATCH = s;
}

/** PINGs within the per-session bucket's memory that make a session a heavy pinger. */
const PING_HEAVY = 1000;

/** What the record path hands back to its session. */
export interface RecordHost {
  readonly state: SessionState;
  /** An item for the session's owner (ACK, ext, …; TEXT goes to `text`). */
  item(item: Item): void;
  /** A TEXT for the session's owner, as its id (a number below 2^53) and its text: no object. */
  text(id: TextId, text: string): void;
  /** The peer's CLOSE. */
  closedByPeer(reason: string): void;
  /** Answer a PING. */
  send(item: Item): void;
  /** A PONG; false when it is not the answer to the session's own probe. */
  pong(item: Extract<Item, { kind: "pong" }>): boolean;
  profile(item: Extract<Item, { kind: "profile" }>): void;
}

export class Established {
  readonly writer: RecordWriter;
  readonly #reader: RecordReader;
  readonly #limits: Limits;
  readonly #now: () => number;
  readonly #keyUpdates: TokenBucket;
  readonly #pings: TokenBucket;
  readonly #pingBudget: TokenBucket | undefined;
  #rekeyRequested = false;
  readonly pacer = new BulkPacer();
  #paceTimer: ReturnType<typeof setTimeout> | null = null;
  #stopped = false;

  constructor(res: HandshakeResult, limits: Limits, now: () => number, pingBudget?: TokenBucket) {
    this.writer = res.writer;
    this.#reader = res.reader;
    this.#limits = limits;
    this.#now = now;
    const t = now();
    this.#keyUpdates = new TokenBucket(8, limits.keyUpdatesPerSecond, t);
    this.#pings = new TokenBucket(limits.pingsPerSecond * 10, limits.pingsPerSecond, t);
    this.#pingBudget = pingBudget;
  }

  /** Ask for a KEY_UPDATE in the next record (/rekey). */
  requestRekey(): void {
    this.#rekeyRequested = true;
  }

  /** Whether the next record must carry KEY_UPDATE (asked once per record). */
  readonly keyUpdateDue = (): boolean => {
    const due = this.#rekeyRequested || this.writer.mustUpdate;
    this.#rekeyRequested = false;
    return due;
  };

  /**
   * pacer.ts: while bulk flows, keep probes out, and come back (`owner.flush()`) when the next
   * probe may go or the pace lets more bulk out, whichever is first.
   */
  pace(s: Outbound, owner: { flush(): void }): void {
    if (this.#paceTimer !== null) return;
    // No bulk sent since the last acknowledged probe and none queued (every chat line):
    // nothing to probe or pace, and no clock read.
    if (!this.#wantProbe(s) && (!s.hasBulk || s.backedUp)) return;
    const now = this.#now();
    if (this.#wantProbe(s)) {
      const data = this.pacer.probe(now, s.written);
      if (data !== null) {
        s.queueUrgent({ kind: "ping", data });
        s.flush(this.writer, this.keyUpdateDue);
      }
    }
    // Backed up: `drain` flushes; nothing bulk left: nothing to pace.
    if (!s.hasBulk || s.backedUp) return;
    let wait = this.pacer.releaseWaitMs(now, s.written);
    if (this.#wantProbe(s)) wait = Math.min(wait, this.pacer.waitMs(now));
    if (wait === Infinity) return; // held by the window: the next PONG flushes
    this.#paceTimer = setTimeout(() => {
      this.#paceTimer = null;
      if (!this.#stopped) owner.flush();
    }, Math.max(1, Math.ceil(wait)));
    this.#paceTimer.unref?.();
  }

  /** The first probe went out (probeFirst). */
  probedFirst = false;

  /**
   * pacer.ts step 1: the first probe goes out ahead of the first file bytes, on a path
   * still empty, so its round trip has no queue in it; a session that never sends a file
   * sends no probe (none at open: a PING and its PONG on every handshake were garbage).
   * Call before sealing a flush.
   */
  probeFirst(s: Outbound, now: number): void {
    if (this.probedFirst || !s.hasFileBulk) return;
    this.probedFirst = true;
    const data = this.pacer.probe(now, s.written);
    if (data !== null) s.queueUrgent({ kind: "ping", data });
  }

  /** Bulk went out past the last acknowledged probe, and no probe is in flight. */
  #wantProbe(s: Outbound): boolean {
    return !this.pacer.probing && s.bulkAt > this.pacer.acked;
  }

  /** The session closed: no more probes. */
  stopPacing(): void {
    this.#stopped = true;
    if (this.#paceTimer !== null) clearTimeout(this.#paceTimer);
  }

  /** One frame after the handshake. @throws ProtocolError */
  read(f: Frame, h: RecordHost): void {
    if (f.type !== FrameType.RECORD) throw fail("unexpected_message", "the peer sent a handshake or alert frame after the handshake");
    const r = this.#reader;
    // A frame the assembler found is read where it lies in its chunk (no view of it, frame.ts).
    const src = f.src;
    const end = src !== undefined ? r.openFrom(src, f.at!, f.size!) : r.openInPlace(f.bytes);
    // The whole record is decoded (and every item checked) before any is handed over.
    const items = takeScratch();
    try {
      decodeInto(r.takeOpened(), BLOCK_LEN, end, items);
      this.#hand(items, h);
    } finally {
      giveScratch(items);
    }
  }

  /** Steps 2-4 for the decoded entries of one record. @throws ProtocolError */
  #hand(items: Decoded[], h: RecordHost): void {
    const l = this.#limits;
    let keyUpdate = false;
    for (let i = 0; i < items.length; i++) {
      const e = items[i]!;
      const state = h.state;
      if (state === "closed") return;
      // TEXT, the per-message case, first: its id and its text (no object), one look at the state, no switch.
      if (typeof e !== "object") {
        if (state === "profile") throw fail("unexpected_message", "the peer sent TEXT before its PROFILE");
        h.text(e as TextId, items[++i] as string);
        continue;
      }
      const item = e;
      switch (item.kind) {
        case "padding":
          continue;
        case "ext":
          // PROTOCOL §6: optional types are ignored by a receiver that does not know them;
          // the owner may know them (file transfer), but only once the session is open.
          if (h.state === "open") h.item(item);
          continue;
        case "auth":
          throw fail("unexpected_message", "the peer sent AUTH after the handshake");
        case "key_update":
          if (keyUpdate) throw fail("unexpected_message", "two KEY_UPDATE items in one record");
          keyUpdate = true;
          if (!this.#keyUpdates.take(this.#now())) throw fail("unexpected_message", "the peer updates its keys too often");
          continue;
        case "alert":
          throw fail("alert", `the peer sent alert ${item.code}`, { alert: item.code });
        case "close":
          h.closedByPeer(item.reason);
          return;
        case "ping":
          if (h.state === "profile") throw fail("unexpected_message", "the peer sent PING before its PROFILE");
          // A PING flood is busy, as HTTP/2's ping flood fix (CVE-2019-9512) does.
          if (!this.#pings.take(this.#now())) throw fail("busy", `the peer sends PINGs faster than ${l.pingsPerSecond} a second`);
          // Process-wide: with the shared budget spent, a session that has been pinging
          // hard (more than PING_HEAVY lately) is cut; one keepalive a while is still answered.
          if (this.#pingBudget && !this.#pingBudget.take(this.#now()) && this.#pings.level(this.#now()) < this.#pings.burst - PING_HEAVY) {
            throw fail("busy", `PINGs from every peer passed ${l.pingsPerSecondTotal} a second (pingsPerSecondTotal); this peer sent many`);
          }
          h.send({ kind: "pong", data: new Uint8Array(item.data) });
          continue;
        case "pong":
          // pacer.ts: the answer to a bulk probe moves the window; others go to the owner.
          if (h.pong(item)) continue;
          if (h.state === "profile") throw fail("unexpected_message", "the peer sent PONG before its PROFILE");
          h.item(item);
          continue;
        case "profile":
          h.profile(item);
          continue;
        default:
          if (h.state === "profile") throw fail("unexpected_message", `the peer sent ${item.kind.toUpperCase()} before its PROFILE`);
          h.item(item);
      }
    }
    if (keyUpdate) this.#reader.update();
  }
}
