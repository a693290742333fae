/**
 * Exactly-once delivery of TEXT between two identities, across reconnects and restarts.
 * Sending: each line gets the next id for its peer and stays (in memory and in the
 * store) until a cumulative ACK covers it; it is sent again on every new session.
 * Receiving: an id is shown once per (peer identity, peer instance); anything at or
 * below the last shown id is acknowledged again but not shown.
 */
import { ChatError } from "../events.ts";
import type { ChatStore } from "./store.ts";

/** Most unacknowledged messages kept for one peer. */
export const MAX_OUTBOX = 10_000;

interface Box {
  nextId: bigint;
  unacked: { id: bigint; text: string }[];
  /** The peer left with CLOSE: new lines are not queued for it. */
  left: boolean;
  name: string;
}

export class Outbox {
  readonly #boxes = new Map<string, Box>();
  readonly #delivered = new Map<string, bigint>(); // pid/instance → last shown id
  readonly #store: ChatStore;

  /** Load what an earlier run left unacknowledged; `nameOf` names its peers. */
  constructor(store: ChatStore, nameOf: (pid: string) => string) {
    this.#store = store;
    for (const [pid, unacked] of store.pending()) this.#boxes.set(pid, { nextId: store.nextId(pid), unacked, left: false, name: nameOf(pid) });
  }

  #box(pid: string): Box {
    let b = this.#boxes.get(pid);
    if (b === undefined) {
      b = { nextId: this.#store.nextId(pid), unacked: [], left: false, name: "?" };
      this.#boxes.set(pid, b);
    }
    return b;
  }

  /** A session with this peer is ready: it is here again, under this name. */
  arrived(pid: string, name: string): void {
    const b = this.#box(pid);
    b.left = false;
    b.name = name;
  }

  /** The peer said CLOSE (and no other session with it remains). */
  left(pid: string): void {
    this.#box(pid).left = true;
  }

  /** Peers a line to "everyone" is queued for, besides those connected: any not gone. */
  waiting(): string[] {
    return [...this.#boxes].filter(([, b]) => !b.left).map(([pid]) => pid);
  }

  /** The name a peer had when last seen (or "?"). */
  nameOf(pid: string): string | undefined {
    return this.#boxes.get(pid)?.name;
  }

  /** A pid by its last known name (NFKC, case-insensitive). */
  pidByName(name: string): string | undefined {
    const fold = (n: string) => n.normalize("NFKC").toLowerCase();
    for (const [pid, b] of this.#boxes) if (fold(b.name) === fold(name)) return pid;
    return undefined;
  }

  /** Queue a line for a peer; returns its id. @throws ChatError when the peer's outbox is full. */
  queue(pid: string, text: string): bigint {
    const b = this.#box(pid);
    if (b.unacked.length >= MAX_OUTBOX) throw new ChatError("not_connected", `${b.name} has ${MAX_OUTBOX} unacknowledged messages; not queueing more`);
    const id = b.nextId++;
    this.#store.queue(pid, id, text);
    b.unacked.push({ id, text });
    return id;
  }

  /** A cumulative ACK from the peer; true when it acknowledged something new. */
  acked(pid: string, id: bigint): boolean {
    const b = this.#boxes.get(pid);
    if (b === undefined) return false;
    const before = b.unacked.length;
    b.unacked = b.unacked.filter((m) => m.id > id);
    if (b.unacked.length === before) return false;
    this.#store.ack(pid, id);
    return true;
  }

  /** The highest id shown from this peer instance (0 when none). */
  lastShown(pid: string, instance: string): bigint {
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
   * two can show a line twice, the other order could lose one).
   */
  shown(pid: string, instance: string, id: bigint): void {
    this.#delivered.set(`${pid}/${instance}`, id);
    this.#store.setDelivered(pid, instance, id);
  }

  /**
   * For a session that has sent every id up to `sentUpTo`: the bytes of text it has in
   * flight (sent, not acknowledged) and the messages it has not sent yet, in order.
   */
  unsent(pid: string, sentUpTo: bigint): { inflight: number; next: { id: bigint; text: string }[] } {
    const b = this.#boxes.get(pid);
    if (b === undefined) return { inflight: 0, next: [] };
    let inflight = 0;
    let i = 0;
    for (; i < b.unacked.length && b.unacked[i]!.id <= sentUpTo; i++) inflight += b.unacked[i]!.text.length;
    return { inflight, next: b.unacked.slice(i) };
  }

  /** Unacknowledged lines for one peer. */
  unackedFor(pid: string): number {
    return this.#boxes.get(pid)?.unacked.length ?? 0;
  }

  /** Unacknowledged lines over every peer that has not left. */
  total(): number {
    let n = 0;
    for (const b of this.#boxes.values()) if (!b.left) n += b.unacked.length;
    return n;
  }
}
