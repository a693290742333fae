/**
 * TEXT that the front end cannot print yet is not taken in (docs/SECURITY.md §10, R5).
 *
 * While the front end's output is `full` (OutputGate, src/ui/output.ts):
 *   1. a session that brings a TEXT is held: that TEXT and every item after it wait here,
 *      in order, neither shown nor acknowledged, and the session's socket is not read;
 *      what the peer sends meanwhile waits in the kernel and in its own outbox;
 *   2. only what one read already brought can still arrive (≤ one socket read), bounded
 *      by MAX_HELD_BYTES a session; past that the session ends with busy;
 *   3. once the output drained, every held session's items are handled as if they had
 *      just arrived, oldest session first (one that fills the output again is held again,
 *      behind the others, and those not yet released keep their place for the next
 *      drain), and reading resumes;
 *   4. a session that ends while held drops its items: none was shown or acknowledged,
 *      so the sender's outbox sends them again on the next session, and each is shown once.
 * A request's flood costs what one read holds; a contact's lines all arrive, once, in order.
 *
 * Turns (docs/SECURITY.md §7, R6): a session whose items took more than TURN_ITEMS in one
 * turn of the event loop is held the same way until the next turn (setImmediate), so
 * that one session's flood (up to textPerSecond TEXTs, each shown, stored and
 * acknowledged) is handled a slice at a time, with every other session's reads, and a
 * newcomer's handshake, in between.
 */
import type { PeerEvents } from "../../net/peer-types.ts";
import type { PeerSession } from "../../net/types.ts";
import { fail } from "../../protocol/errors.ts";
import type { Item } from "../../protocol/items.ts";
import type { OutputGate } from "../events.ts";

/**
 * Heap of held items one session may have: only what one socket read brought can arrive
 * after the socket is paused (64 KiB to 512 KiB in Bun; 512 KiB of the smallest TEXTs are
 * ≈ 20,000 items, ≈ 3.6 MB as charged here).
 */
export const MAX_HELD_BYTES = 16 * 1024 * 1024;
/**
 * Heap of held items all sessions together may have: past it, the session holding the
 * most is cut with busy (as the output budget does), so that many sessions each holding
 * one read (40 of them × 16 MiB would be 640 MiB) cannot grow the process without bound,
 * and a contact holding a few lines is not the one cut.
 */
export const MAX_HELD_TOTAL = 64 * 1024 * 1024;
/**
 * Items one session may have handled in one turn of the event loop before it waits for
 * the next: 256 TEXTs are ≈ 4 ms of the chat's work (shown, stored, acknowledged), so a
 * second session waits at most that long for its turn (`bun run stress --attack text`).
 */
export const TURN_ITEMS = 256;
/** What a held item object costs beyond its payload (charged, as limits.ts ITEM_HEAP_BYTES). */
const ITEM_BYTES = 160;

function itemBytes(item: Item): number {
  if (item.kind === "text") return ITEM_BYTES + 2 * item.text.length;
  if (item.kind === "ext") return ITEM_BYTES + item.content.length;
  return ITEM_BYTES;
}

export class ItemHold<S extends PeerSession = PeerSession> {
  readonly #held = new Map<S, { items: Item[]; bytes: number }>();
  #total = 0;
  #waiting = false;
  /** Items each session had handled in this turn (cleared at the next). */
  readonly #turn = new Map<S, number>();
  #turnEnds = false;
  #nextTurn = false;

  /** `handle` is the chat's own item handler: `onItem` calls it for each item not held, now or on release. */
  constructor(
    readonly gate: OutputGate | undefined,
    readonly handle: (s: S, item: Item) => void,
  ) {}

  /** The session's item handler (SessionEvents.onItem). */
  readonly onItem = (s: S, item: Item): void => {
    if (!this.take(s, item)) this.handle(s, item);
  };

  /** Sessions held now. */
  get size(): number {
    return this.#held.size;
  }

  /** Heap charged for every session's held items now. */
  get heldBytes(): number {
    return this.#total;
  }

  /** Step 1: true when `item` is held for later (the caller does nothing more with it). */
  take(s: S, item: Item): boolean {
    const h = this.#held.get(s);
    if (h !== undefined) {
      const n = itemBytes(item);
      h.bytes += n;
      this.#total += n;
      h.items.push(item);
      // Step 2.
      if (h.bytes > MAX_HELD_BYTES) {
        this.drop(s);
        s.abort(fail("busy", `this peer sent more than ${MAX_HELD_BYTES} bytes while its earlier items waited (sotto's output not being read, or its turn)`));
      } else this.#overTotal();
      return true;
    }
    if (item.kind === "text" && this.gate !== undefined && this.gate.full) {
      this.#hold(s, item);
      this.#wait();
      return true;
    }
    // Turns: past TURN_ITEMS in this turn, the rest waits for the next.
    const n = (this.#turn.get(s) ?? 0) + 1;
    this.#turn.set(s, n);
    if (!this.#turnEnds) {
      this.#turnEnds = true;
      setImmediate(() => {
        this.#turnEnds = false;
        this.#turn.clear();
      });
    }
    if (n <= TURN_ITEMS) return false;
    this.#hold(s, item);
    if (!this.#nextTurn) {
      this.#nextTurn = true;
      setImmediate(() => {
        this.#nextTurn = false;
        this.#release();
      });
    }
    return true;
  }

  #hold(s: S, item: Item): void {
    const n = itemBytes(item);
    this.#held.set(s, { items: [item], bytes: n });
    this.#total += n;
    s.pauseReading?.(true);
    this.#overTotal();
  }

  /** Past MAX_HELD_TOTAL for all sessions, the one holding the most is cut with busy. */
  #overTotal(): void {
    while (this.#total > MAX_HELD_TOTAL) {
      let worst: S | undefined;
      let most = -1;
      for (const [t, h] of this.#held) if (h.bytes > most) [worst, most] = [t, h.bytes];
      if (worst === undefined) return;
      this.drop(worst);
      worst.abort(fail("busy", `sessions together sent more than ${MAX_HELD_TOTAL} bytes while their earlier items waited (sotto's output not being read); this one held the most`));
    }
  }

  /** Step 4: `s` ended. */
  drop(s: S): void {
    const h = this.#held.get(s);
    if (h === undefined) return;
    this.#held.delete(s);
    this.#total -= h.bytes;
  }

  #wait(): void {
    if (this.#waiting) return;
    this.#waiting = true;
    this.gate!.whenDrained(() => {
      this.#waiting = false;
      this.#release();
    });
  }

  /** Step 3. */
  #release(): void {
    for (const [s, h] of [...this.#held]) {
      if (this.#held.get(s) !== h) continue; // dropped (or held again) meanwhile
      // Output full again (a session released before filled it): the rest keep their
      // place, ahead of the one that filled it (held again, at the back), so a session
      // whose lines refill the output at every drain cannot keep others behind it.
      if (this.gate?.full === true) return this.#wait();
      this.drop(s);
      for (const item of h.items) {
        if (s.state === "closed") break;
        this.onItem(s, item); // may hold s again: the rest then queues behind, in order
      }
      if (!this.#held.has(s) && s.state !== "closed") s.pauseReading?.(false);
    }
  }
}

/** The Peer's events with each session's items held while `gate` is full (steps 1-3), dropped when it ends (step 4). */
export function holdWhileBackedUp(gate: OutputGate | undefined, events: PeerEvents): PeerEvents {
  const hold = new ItemHold<Parameters<NonNullable<PeerEvents["onItem"]>>[0]>(gate, (s, item) => events.onItem?.(s, item));
  return {
    ...events,
    onItem: (s, item) => hold.onItem(s, item),
    // TEXT comes as (id, text) (PeerEvents.onText); the chat holds and handles it as an Item.
    onText: (s, id, text) => hold.onItem(s, { kind: "text", id: typeof id === "bigint" ? id : BigInt(id), text }),
    onClose: (s, info) => {
      hold.drop(s);
      events.onClose?.(s, info);
    },
  };
}
