/**
 * A typed line's recipients, as the front ends show them: who it went to, ✓ per contact
 * once that contact acknowledged it, "queued" for contacts that are away.
 *
 *   1. the front end calls `begin` before it hands a typed line to the api, and `end`
 *      after: the `sent` events the chat emits in between (one per recipient, each with
 *      that recipient's own message id) belong to that line;
 *   2. an `ack` (cumulative, per contact) marks every tracked line of that contact whose
 *      id it covers; one ack covering many lines is one update, not one per line;
 *   3. a `nick` renames the recipient in the lines already tracked;
 *   4. a contact forgotten, blocked or given a new key (`gone`) acknowledges no more.
 *
 * Lines stay tracked until every recipient acknowledged them, at most MAX_TRACKED (the
 * oldest are dropped: their ACKs still arrive as `ack` events, but change no mark).
 */
import type { ChatEvent } from "../chat/events.ts";
import { sanitizeLine } from "../text/sanitize.ts";

/** Lines whose marks are kept up to date. */
export const MAX_TRACKED = 10_000;

/** The `contact` changes after which that contact acknowledges nothing more under its name (Recipients.gone). */
export const GONE: ReadonlySet<string> = new Set(["forgotten", "blocked", "replaced"]);

/** One recipient of a line: `sent` (on its way, no ACK yet), `queued` (away), or `delivered` (acknowledged). */
export interface Recipient {
  peer: string;
  id: string;
  state: "sent" | "queued" | "delivered";
}

/** One typed line and its recipients. `line`: a local number, counting from 1 in this run. */
export interface TrackedLine {
  line: number;
  text: string;
  private: boolean;
  time: number;
  recipients: Recipient[];
}

type Sent = Extract<ChatEvent, { type: "sent" }>;
type Ack = Extract<ChatEvent, { type: "ack" }>;

/** A recipient not yet acknowledged, in its peer's queue: its line and its id as a number (idOf). */
interface Waiting {
  line: TrackedLine;
  r: Recipient;
  id: number | bigint;
}

/**
 * A message id as a number an ACK's id can be compared with: a number when it is at most
 * 15 decimal digits (below 2^53, so exact), else BigInt's reading of it (ids past 2^53
 * stay exact); null when BigInt refuses it. A number and a bigint compare exactly (`<=`).
 * The chat's ids are small counters: a number, no BigInt made per line or per ACK. @throws never
 */
export function idOf(s: string): number | bigint | null {
  if (SMALL_ID.test(s)) return Number(s);
  try {
    return BigInt(s);
  } catch {
    return null;
  }
}
/** An id written as at most 15 decimal digits (a regular expression: compiled even while the code around it is not yet). */
const SMALL_ID = /^[0-9]{1,15}$/;

/**
 * The recipients of the lines typed in one run (see the file comment). Each peer has a
 * queue of its recipients not yet acknowledged, oldest first (its ids grow line by line),
 * so an ACK costs the lines it marks, not every line tracked.
 */
export class Recipients {
  #next = 1;
  /** Between begin and end: whether a line is open, its first `sent` event and its recipients so far. */
  #opened = false;
  #first: Sent | null = null;
  #open: Recipient[] = [];
  /**
   * Tracked lines, oldest first, from #head on; lines every recipient acknowledged (done)
   * are skipped where they are and taken out in bulk: a Set's add and delete per line cost
   * as much as all the rest of the tracking.
   */
  #lines: TrackedLine[] = [];
  #head = 0;
  /** How many lines from #head on are not done: the lines tracked. */
  #tracked = 0;
  /** Per peer name: its recipients waiting for an ACK, oldest first; exactly those of the tracked lines. */
  readonly #waiting = new Map<string, Waiting[]>();
  /** Recipients queued when their line was typed (their peer was away). */
  readonly #away = new WeakSet<Recipient>();

  /** Step 1: the next `sent` events belong to one typed line. @throws never */
  begin(): void {
    this.#opened = true;
    this.#first = null;
  }

  /** A `sent` event: true when it was taken into the line being sent (the caller then prints nothing for it). @throws never */
  sent(e: Sent): boolean {
    if (!this.#opened) return false;
    const r: Recipient = { peer: e.peer, id: e.id, state: e.queued ? "queued" : "sent" };
    if (this.#first === null) {
      // The line's own list, made once its first recipient is known (no list for a command).
      this.#first = e;
      this.#open = [r];
    } else this.#open.push(r);
    return true;
  }

  /** Step 1 ends: the line, or null when it reached no one (a command, a refused line). @throws never */
  end(): TrackedLine | null {
    const first = this.#first;
    this.#opened = false;
    this.#first = null;
    if (first === null) return null;
    const recipients = this.#open;
    this.#open = [];
    const line: TrackedLine = { line: this.#next++, text: first.text, private: first.private, time: first.time ?? Date.now(), recipients };
    for (let i = 0; i < recipients.length; i++) {
      const r = recipients[i]!;
      if (r.state === "queued") this.#away.add(r);
      const id = idOf(r.id);
      if (id === null) continue; // not an id an ACK can cover
      const q = this.#waiting.get(r.peer);
      if (q === undefined) this.#waiting.set(r.peer, [{ line, r, id }]);
      else q.push({ line, r, id });
    }
    this.#lines.push(line);
    if (++this.#tracked > MAX_TRACKED) this.#drop();
    return line;
  }

  /** The oldest line is no longer tracked: its waiting recipients are at the front of their queues. */
  #drop(): void {
    // A line done right behind the last one dropped may be at #head: skipped, the oldest tracked one is next.
    this.#trim();
    const line = this.#lines[this.#head++]!;
    this.#tracked--;
    for (const r of line.recipients) {
      const q = this.#waiting.get(r.peer);
      if (q?.[0]?.line !== line) continue;
      q.shift();
      if (q.length === 0) this.#waiting.delete(r.peer);
    }
  }

  /** Step 2: the lines `e` marks delivered for `e.peer` now, oldest first. @throws never */
  ack(e: Ack): TrackedLine[] {
    const upTo = idOf(e.id);
    if (upTo === null) return [];
    const q = this.#waiting.get(e.peer);
    if (q === undefined) return [];
    const hit: TrackedLine[] = [];
    let n = 0;
    for (; n < q.length; n++) {
      const w = q[n]!;
      if (w.id > upTo) break;
      w.r.state = "delivered";
      hit.push(w.line);
      // A line every recipient acknowledged changes no more (a line to one: this one).
      if (done(w.line)) this.#tracked--;
    }
    if (n === q.length) this.#waiting.delete(e.peer);
    else if (n > 0) q.splice(0, n);
    if (n > 0) this.#trim();
    return hit;
  }

  /** Take the done lines out of #lines: those at its front, and all of them when they outnumber the tracked ones (a contact away keeps an old line tracked). */
  #trim(): void {
    const lines = this.#lines;
    while (this.#head < lines.length && done(lines[this.#head]!)) this.#head++;
    const left = lines.length - this.#head;
    if (left === 0) {
      this.#lines = [];
      this.#head = 0;
    } else if (left > 2 * this.#tracked + 1024) {
      this.#lines = lines.slice(this.#head).filter((l) => !done(l));
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head > left) {
      this.#lines = lines.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Whether `peer` was away when `l` was typed (the chat itself says when it got it). @throws never */
  queuedWhenTyped(l: TrackedLine, peer: string): boolean {
    return l.recipients.some((r) => r.peer === peer && this.#away.has(r));
  }

  /**
   * `peer` acknowledges nothing more under that name: the contact was forgotten or blocked,
   * or its key replaced. Its lines still waiting keep their marks; a new key given the name
   * (its ids count from 1 again) starts a queue of its own, so its ACKs mark only its lines,
   * not the old key's as delivered. @throws never
   */
  gone(peer: string): void {
    this.#waiting.delete(peer);
  }

  /** Step 3: `previous` is called `peer` from now on. @throws never */
  renamed(previous: string, peer: string): void {
    for (let i = this.#head; i < this.#lines.length; i++) {
      const l = this.#lines[i]!;
      if (!done(l)) for (const r of l.recipients) if (r.peer === previous) r.peer = peer;
    }
    const q = this.#waiting.get(previous);
    if (q === undefined || previous === peer) return;
    this.#waiting.delete(previous);
    const into = this.#waiting.get(peer);
    this.#waiting.set(peer, into === undefined ? q : [...into, ...q].sort((a, b) => a.line.line - b.line.line));
  }
}

/** Whether every recipient of `l` acknowledged it. */
function done(l: TrackedLine): boolean {
  const rs = l.recipients;
  return rs.length === 1 ? rs[0]!.state === "delivered" : rs.every((r) => r.state === "delivered");
}

/** The marks of a line as text: `b ✓, c queued` (`b …` while on its way). Names are sanitized by the caller's `name`. @throws never */
export function recipientMarks(l: TrackedLine, name: (s: string) => string): string {
  return l.recipients.map((r) => `${name(r.peer)} ${r.state === "delivered" ? "✓" : r.state === "queued" ? "queued" : "…"}`).join(", ");
}

/** An own line (`own`, as printed) with its recipients' marks: "12:04 alice › hi  → bob ✓, carol queued"; a /msg gets its one mark. @throws never */
export function withMarks(own: string, l: TrackedLine | null, color: boolean): string {
  if (l === null) return own;
  const marks = l.private ? recipientMarks(l, () => "").trim() : `→ ${recipientMarks(l, (s) => sanitizeLine(s, 40))}`;
  return `${own}  ${color ? `\x1b[2m${marks}\x1b[22m` : marks}`;
}
