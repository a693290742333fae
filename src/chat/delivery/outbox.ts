/**
 * Exactly-once delivery of TEXT between two identities, across reconnects and restarts.
 *
 * Sending:
 *   1. check(): a line that cannot be one TEXT, or that the peer's outbox has no room
 *      for, is refused before anything is queued (one sentence for the person);
 *   2. queue(): the line gets the next id for its peer and is kept in memory; the store
 *      writes every line of one tick in one transaction at commit();
 *   3. only committed lines are handed to a session (unsent()), so an id is durable
 *      before a peer can see it and a restart can never reuse it for another line;
 *   4. a line stays until a cumulative ACK covers it and is sent again on every new
 *      session, whoever ended the last one and however (PROTOCOL §6.3).
 * Receiving: an id is shown once per (our identity, peer identity, peer instance);
 * anything at or below the last shown id is acknowledged again but not shown. The
 * counters of one tick are written together, before the ACK that covers them.
 */
import { ID_LEN, ITEM_HEADER_LEN, MAX_PLAINTEXT } from "../../protocol/constants.ts";
import { ChatError } from "../events.ts";
import { StateError, type ChatStore, type StoredLine } from "./store.ts";
import type { Pid } from "../peer-id.ts";

/** Most unacknowledged messages kept for one peer. */
export const MAX_OUTBOX = 10_000;
/** Most bytes of unacknowledged text kept for one peer (UTF-8). */
export const MAX_OUTBOX_BYTES = 32 << 20;
/** Acknowledged bytes of one peer after which their delete is due though other lines still wait (flushDueAcks). */
export const ACK_DELETE_BYTES = 1 << 20;
/** Most bytes of unacknowledged text kept for every peer together. */
export const MAX_OUTBOX_TOTAL_BYTES = 128 << 20;
/**
 * The longest line one TEXT can carry (PROTOCOL §5, §6): a record's 65,280 bytes, less a
 * KEY_UPDATE item's header that may have to share it, less TEXT's header and id.
 */
export const MAX_TEXT_BYTES = MAX_PLAINTEXT - ITEM_HEADER_LEN - ITEM_HEADER_LEN - ID_LEN;

/** One line in memory: the stored fields and its UTF-8 size. */
export interface OutLine extends StoredLine {
  bytes: number;
  /** Bytes of the box's lines queued before this one (Box.queued then), for unsent()'s in-flight sum. */
  before?: number;
}

/**
 * One peer's lines. The unacknowledged ones are `lines[head..]`, in id order: an ACK moves
 * `head` (the array is compacted now and then), so neither an ACK nor unsent() walks or
 * copies the backlog; unsent() finds its place by binary search and sums the bytes in
 * flight from `before`.
 */
interface Box {
  nextId: bigint;
  lines: OutLine[];
  head: number;
  /** Bytes of every line ever put in `lines` (what the next one's `before` is). */
  queued: number;
  bytes: number;
  name: string;
  /** Lines up to this id are in state.db. */
  committedUpTo: bigint;
  /** The highest id that may have reached the wire (this run, or before a restart). */
  sentHigh: bigint;
}

/** A line the store could not save: it was not sent, and the person gets it back. */
export interface UnsavedLine {
  pid: Pid;
  name: string;
  id: bigint;
  text: string;
}

const fmt = (n: number) => n.toLocaleString("en-US");

export class Outbox {
  readonly #boxes = new Map<Pid, Box>();
  readonly #delivered = new Map<string, bigint>(); // pid/instance → last shown id
  readonly #store: ChatStore;
  /** Shown counters not yet written (recordShown). */
  /** Cumulative ACKs not yet applied to the store (flushAcks), with the bytes they freed since. */
  readonly #acks = new Map<Pid, { id: bigint; bytes: number }>();
  readonly #dirty = new Map<string, { pid: Pid; instance: string; id: bigint }>();
  #bytes = 0;
  /** Stored lines that could never be sent, moved aside when the outbox was loaded. */
  readonly setAsideAtStart: { pid: Pid; id: bigint; bytes: number }[] = [];

  /** Load what an earlier run left unacknowledged; `nameOf` names its peers. @throws StateError */
  constructor(store: ChatStore, nameOf: (pid: Pid) => string) {
    this.#store = store;
    for (const [key, stored] of store.pending()) {
      const pid = key as Pid; // state.db's rows hold only what queue() wrote
      const unacked: OutLine[] = [];
      for (const l of stored) {
        const bytes = Buffer.byteLength(l.text, "utf8");
        if (bytes > MAX_TEXT_BYTES) {
          // Item 1: reported once and set aside; retrying it could only fail again.
          store.setAside(pid, l, `longer than one message (${bytes} bytes)`);
          this.setAsideAtStart.push({ pid, id: l.id, bytes });
          continue;
        }
        unacked.push({ ...l, bytes });
      }
      const high = stored.length > 0 ? stored[stored.length - 1]!.id : 0n;
      const nextId = store.nextId(pid);
      const box: Box = { nextId, lines: [], head: 0, queued: 0, bytes: 0, name: nameOf(pid), committedUpTo: nextId - 1n, sentHigh: high };
      for (const l of unacked) push(box, l);
      this.#bytes += box.bytes;
      this.#boxes.set(pid, box);
    }
  }

  #box(pid: Pid): Box {
    let b = this.#boxes.get(pid);
    if (b === undefined) {
      const nextId = this.#store.nextId(pid);
      b = { nextId, lines: [], head: 0, queued: 0, bytes: 0, name: "?", committedUpTo: nextId - 1n, sentHigh: 0n };
      this.#boxes.set(pid, b);
    }
    return b;
  }

  /** A session with this peer is ready: it is here again, under this name. */
  arrived(pid: Pid, name: string): void {
    this.#box(pid).name = name;
  }

  /** Peers a line to "everyone" is queued for besides those connected: every peer seen this run or with lines waiting, however it left. */
  waiting(): Pid[] {
    return [...this.#boxes.keys()];
  }

  /** The name a peer had when last seen (or "?"). */
  nameOf(pid: Pid): string | undefined {
    return this.#boxes.get(pid)?.name;
  }

  /**
   * Refuse, before anything is queued, a line that cannot be sent to these peers.
   * @throws ChatError too_long (over one TEXT) / outbox_full (a peer's limit, or the process's).
   */
  check(pids: Pid[], text: string): number {
    const bytes = Buffer.byteLength(text, "utf8");
    if (bytes > MAX_TEXT_BYTES) {
      throw new ChatError("too_long", `This line is ${fmt(bytes)} bytes and one message holds at most ${fmt(MAX_TEXT_BYTES)}; it was not sent. Save long text to a file and send it with /send.`);
    }
    if (this.#bytes + bytes * pids.length > MAX_OUTBOX_TOTAL_BYTES) {
      throw new ChatError("outbox_full", `${fmt(MAX_OUTBOX_TOTAL_BYTES >> 20)} MiB of messages already wait for acknowledgement; this line was not sent. Wait for peers to catch up, then send it again.`);
    }
    for (const pid of pids) {
      const b = this.#boxes.get(pid);
      if (b === undefined) continue;
      if (count(b) >= MAX_OUTBOX || b.bytes + bytes > MAX_OUTBOX_BYTES) {
        throw new ChatError("outbox_full", `${b.name} has not acknowledged ${fmt(count(b))} messages yet (at most ${fmt(MAX_OUTBOX)} or ${MAX_OUTBOX_BYTES >> 20} MiB wait per peer); this line was not sent. Send it again once ${b.name} has caught up.`);
      }
    }
    return bytes;
  }

  /** Queue a line (already check()ed) for a peer; returns its id. It is saved at the next commit(). */
  queue(pid: Pid, text: string, bytes: number, written: number): bigint {
    const b = this.#box(pid);
    const id = b.nextId++;
    const line: OutLine = { id, text, written, bytes };
    this.#store.queue(pid, line);
    push(b, line);
    this.#bytes += bytes;
    return id;
  }

  /**
   * Save every line queued since the last commit, in one transaction. On a storage
   * failure those lines are taken back out (they were never sent) and returned.
   */
  commit(): { error: StateError; lines: UnsavedLine[] } | null {
    if (this.#store.uncommitted === 0) return null;
    try {
      this.#store.commit();
    } catch (e) {
      if (!(e instanceof StateError)) throw e;
      const lines: UnsavedLine[] = [];
      for (const [pid, b] of this.#boxes) {
        const keep = after(b, b.committedUpTo);
        for (const l of b.lines.slice(keep)) {
          lines.push({ pid, name: b.name, id: l.id, text: l.text });
          b.bytes -= l.bytes;
          this.#bytes -= l.bytes;
        }
        if (keep < b.lines.length) b.queued = b.lines[keep]!.before!;
        b.lines.length = keep;
        b.nextId = b.committedUpTo + 1n;
      }
      return { error: e, lines };
    }
    for (const b of this.#boxes.values()) b.committedUpTo = b.nextId - 1n;
    return null;
  }

  /** The highest id that exists for this peer (saved); an ACK may name less (ackableUpTo). */
  highestId(pid: Pid): bigint {
    return this.#boxes.get(pid)?.committedUpTo ?? 0n;
  }

  /**
   * The highest id an ACK from `pid` may name (PROTOCOL §6.3: none above what was ever
   * sent): below the first line waiting that no session has put on the wire yet, else the
   * highest committed (lines no longer waiting were acknowledged or set aside: an ACK of
   * them again is harmless). A line past the window is committed but not sent: an ACK of
   * it would mark a line delivered, and drop it, that the peer never had.
   */
  ackableUpTo(pid: Pid): bigint {
    const b = this.#boxes.get(pid);
    if (b === undefined) return 0n;
    const i = after(b, b.sentHigh);
    return i < b.lines.length && b.lines[i]!.id <= b.committedUpTo ? b.lines[i]!.id - 1n : b.committedUpTo;
  }

  /**
  /** A cumulative ACK from the peer; true when it acknowledged something new. */
  acked(pid: Pid, id: bigint): boolean {
    const b = this.#boxes.get(pid);
    if (b === undefined) return false;
    const end = after(b, id);
    if (end === b.head) return false;
    const freed = (end < b.lines.length ? b.lines[end]!.before! : b.queued) - b.lines[b.head]!.before!;
    b.bytes -= freed;
    this.#bytes -= freed;
    b.head = end;
    // Compacted once the acknowledged part is most of the array: each line is copied O(1) times.
    if (b.head === b.lines.length) (b.lines = []), (b.head = 0);
    else if (b.head >= 1024 && b.head * 2 >= b.lines.length) (b.lines = b.lines.slice(b.head)), (b.head = 0);
    // The store forgets them at a later flushAcks (one DELETE for many ACKs): a crash
    // before it only re-sends lines the receiver acknowledges again without showing.
    this.#acks.set(pid, { id, bytes: (this.#acks.get(pid)?.bytes ?? 0) + freed });
    return true;
  }

  /** Forget in the store what ACKs covered since the last call. @throws StateError */
  flushAcks(): void {
    if (this.#acks.size === 0) return;
    const acks = [...this.#acks];
    this.#acks.clear();
    for (const [pid, a] of acks) this.#store.ack(pid, a.id);
  }

  /**
   * flushAcks for the peers whose deletes are due: every line acknowledged (the box is
   * empty), or ACK_DELETE_BYTES freed since the last delete. A pipe's ACKs of ≈ 60 lines
   * each were a DELETE each (≈ 330 for 20,000 lines through 100 Mbit/s, each a message to
   * the history's thread and a transaction that overwrites the lines); now one per MiB.
   * True when ACKs not yet applied remain (flushAcks writes them: the chat's timer, close,
   * /clear). @throws StateError
   */
  flushDueAcks(): boolean {
    for (const [pid, a] of this.#acks) {
      const b = this.#boxes.get(pid);
      if (b !== undefined && count(b) > 0 && a.bytes < ACK_DELETE_BYTES) continue;
      this.#acks.delete(pid);
      this.#store.ack(pid, a.id);
    }
    return this.#acks.size > 0;
  }

  /** The highest id shown from this peer instance (0 when none). @throws StateError */
  lastShown(pid: Pid, instance: string): bigint {
    const key = `${pid}/${instance}`;
    let last = this.#delivered.get(key);
    if (last === undefined) {
      last = this.#store.delivered(pid, instance);
      this.#delivered.set(key, last);
    }
    return last;
  }

  /**
   * Record that `id` was shown to the person (call after showing it: a crash between the
   * two can show a line twice, the other order could lose one); recordShown() writes it.
   */
  shown(pid: Pid, instance: string, id: bigint): void {
    const key = `${pid}/${instance}`;
    this.#delivered.set(key, id);
    this.#dirty.set(key, { pid, instance, id });
  }

  /**
   * Write the shown counters changed since the last call, in one transaction: call it
   * before sending the ACK that covers them (show, record, then ACK). @throws StateError
   */
  recordShown(): void {
    if (this.#dirty.size === 0) return;
    const rows = [...this.#dirty.values()];
    this.#dirty.clear();
    this.#store.setDeliveredMany(rows);
  }

  /**
   * For a session that has sent every id up to `sentUpTo`: the bytes of text it has in
   * flight (sent, not acknowledged) and the saved messages it has not sent yet, in order.
   */
  unsent(pid: Pid, sentUpTo: bigint): { inflight: number; next: OutLine[] } {
    const b = this.#boxes.get(pid);
    if (b === undefined || b.head === b.lines.length) return { inflight: 0, next: [] };
    const i = after(b, sentUpTo);
    const inflight = (i < b.lines.length ? b.lines[i]!.before! : b.queued) - b.lines[b.head]!.before!;
    return { inflight, next: b.lines.slice(i, after(b, b.committedUpTo, i)) };
  }

  /** A session put `id` on the wire. */
  markSent(pid: Pid, id: bigint): void {
    const b = this.#boxes.get(pid);
    if (b !== undefined && id > b.sentHigh) b.sentHigh = id;
  }

  /**
   * May a new session send before it hears the peer's opening ACK? Only when no line
   * waiting could already have reached the peer: a line never sent cannot be a
   * duplicate, while one in flight when the last session broke waits for the ACK (so
   * nothing overtakes it and the receiver's "above the last shown" rule holds).
   */
  mayStartEarly(pid: Pid): boolean {
    const b = this.#boxes.get(pid);
    return b === undefined || count(b) === 0 || b.lines[b.head]!.id > b.sentHigh;
  }

  /** Unacknowledged lines for one peer. */
  unackedFor(pid: Pid): number {
    const b = this.#boxes.get(pid);
    return b === undefined ? 0 : count(b);
  }

  /** Unacknowledged lines over every peer. */
  total(): number {
    let n = 0;
    for (const b of this.#boxes.values()) n += count(b);
    return n;
  }
}

/** Unacknowledged lines in a box. */
function count(b: Box): number {
  return b.lines.length - b.head;
}

/** Append a line (ids grow) and count its bytes. */
function push(b: Box, l: OutLine): void {
  l.before = b.queued;
  b.queued += l.bytes;
  b.bytes += l.bytes;
  b.lines.push(l);
}

/** The index of the first unacknowledged line (from `from` on) with an id above `id` (lines.length when none): a binary search. */
function after(b: Box, id: bigint, from = b.head): number {
  let lo = Math.max(from, b.head);
  let hi = b.lines.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (b.lines[mid]!.id <= id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
