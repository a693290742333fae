/**
 * Delivery of TEXT across sessions: each TEXT gets an id per (our instance, peer
 * identity), stays in the outbox until a cumulative ACK covers it, and is re-sent on
 * every new session with that peer; the receiver delivers an id only once per (our
 * identity, peer identity, peer instance). Lines of one tick are saved in one
 * transaction before any of them is sent (commit).
 *
 * Received: TEXT (shown once, kept, acknowledged), ACK (the outbox moves on), and the
 * two items that describe a TEXT, TEXT_TIME (PROTOCOL §12) and PRIVATE (§6.5).
 */
import { fail, ProtocolError } from "../../protocol/errors.ts";
import { TEXT_TIME } from "../../protocol/constants.ts";
import { PRIVATE_TYPE, privateId, readTextTime, type Item } from "../../protocol/items.ts";
import type { PeerSession } from "../../net/types.ts";
import { ChatError, type ChatEvent, type ChatListener } from "../events.ts";
import type { History, HistoryLine } from "../delivery/history.ts";
import { Link } from "../delivery/link.ts";
import type { Outbox } from "../delivery/outbox.ts";
import { describeSqliteError } from "../delivery/home-files.ts";
import { StateError } from "../delivery/store.ts";
import { fingerprint } from "../trust/identity.ts";
import type { Trust } from "../trust/policy.ts";
import type { Contacts } from "./contacts.ts";
import type { IdentityRates } from "./rates.ts";
import type { Sessions } from "./sessions.ts";
import type { Pid } from "../peer-id.ts";

/** Peer instances whose shown ids are remembered per request (in memory). */
const MAX_REQUEST_INSTANCES = 8;
/**
 * How long an ACK's delete may wait for others to share its statement (outbox.ts
 * flushDueAcks): a crash meanwhile only re-sends lines the peer acknowledges again
 * without showing them.
 */
export const ACK_DELETE_MS = 1000;
/** PRIVATE marks a peer may have outstanding per session (PROTOCOL §6.5); older ones are dropped. */
export const MAX_PRIVATE_MARKS = 1024;

export interface DeliveryDeps {
  emit: ChatListener;
  trust: Trust;
  outbox: Outbox;
  /** Conversation history (absent with ChatOptions.history false). */
  kept?: History;
  sessions: Sessions;
  contacts: Contacts;
  rates: IdentityRates;
}

export class Delivery {
  readonly #d: DeliveryDeps;
  /** Ids queued while their peer was away, per peer: said delivered when an ACK covers them. */
  readonly #queuedAway = new Map<string, bigint[]>();
  /** Lines queued this tick wait for one commit, then the links pump (setImmediate). */
  #commitScheduled = false;
  /** Storage failures already reported, by sentence (each is said once). */
  readonly #storageSaid = new Set<string>();
  /** Our private TEXT ids per peer until acknowledged (PROTOCOL §6.5); restored from the history at start (with --no-history, a re-send after a restart goes unmarked). */
  readonly #privateOut = new Map<string, Set<bigint>>();

  constructor(d: DeliveryDeps) {
    this.#d = d;
    // Private lines still in the outbox keep their PRIVATE mark when re-sent after a restart.
    if (d.kept !== undefined) for (const [pid, ids] of d.kept.privateOut(MAX_PRIVATE_MARKS)) this.#privateOut.set(pid, ids);
    // The history is written by a thread of its own (history-worker.ts): its failures come later, said once as any storage failure.
    const kept = d.kept;
    // /clear leaves no acknowledged line's text in state.db: deletes not yet due go first.
    if (kept !== undefined) kept.beforeClear = () => this.#flushAcks();
    if (kept !== undefined) kept.onError = (e) => void this.storage(() => {
      const { doing, path } = e as { doing?: string; path?: string };
      throw new StateError(describeSqliteError(path ?? kept.path, doing ?? "keeping the conversation history", e), { cause: e });
    });
  }

  newLink(s: PeerSession, pid: Pid, name: string): Link {
    const outbox = this.#d.outbox;
    const link = new Link(s, pid, name, outbox, this.#d.rates.of(pid).text, () => this.storage(() => (outbox.recordShown(), true)) === true);
    link.fingerprint = fingerprint(s.peerIdentity!);
    link.isPrivate = (id) => this.#privateOut.get(pid)?.has(id) ?? false;
    return link;
  }

  /** Who a line to "everyone" goes to: every contact connected, seen or waited for, however it left; never a request (SECURITY.md §12). */
  #recipients(): Pid[] {
    const pids = new Set<Pid>();
    for (const l of this.#d.sessions.links.values()) if (this.#d.trust.isContact(l.pid)) pids.add(l.pid);
    for (const pid of this.#d.outbox.waiting()) if (this.#d.trust.isContact(pid)) pids.add(pid);
    return [...pids];
  }

  sendAll(text: string): number {
    const pids = this.#recipients();
    const bytes = this.#d.outbox.check(pids, text);
    for (const pid of pids) this.#queue(pid, text, bytes);
    return pids.length;
  }

  /**
   * sendAll for each line (ChatApi.sendAllMany): the recipients, their names and whether
   * they are away are found once for all (nothing in between can change them: the batch
   * runs in one go, and the events it emits only print).
   */
  sendAllMany(texts: readonly string[], each: (result: number | ChatError) => void): void {
    const pids = this.#recipients();
    const to = pids.map((pid) => this.#to(pid));
    for (const text of texts) {
      let result: number | ChatError;
      try {
        const bytes = this.#d.outbox.check(pids, text);
        for (const t of to) this.#queue(t.pid, text, bytes, false, t);
        result = pids.length;
      } catch (e) {
        if (!(e instanceof ChatError)) throw e;
        result = e;
      }
      each(result);
    }
  }

  sendTo(name: string, text: string): void {
    const pid = this.#d.contacts.pidByName(name);
    const bytes = this.#d.outbox.check([pid], text);
    this.#queue(pid, text, bytes, true);
  }

  /** A recipient as #queue needs it: its name, and whether no session with it is open. */
  #to(pid: Pid): { pid: Pid; peer: string; away: boolean } {
    return { pid, peer: this.#d.contacts.nameOf(pid), away: this.#d.sessions.open(pid).length === 0 };
  }

  #queue(pid: Pid, text: string, bytes: number, priv = false, to = this.#to(pid)): void {
    const time = Date.now();
    const id = this.#d.outbox.queue(pid, text, bytes, time);
    if (priv) this.#privateOut.set(pid, (this.#privateOut.get(pid) ?? new Set()).add(id));
    const { peer, away } = to;
    if (away) {
      const ids = this.#queuedAway.get(pid) ?? [];
      // Bounded by the outbox's own limit (MAX_OUTBOX lines per peer).
      ids.push(id);
      this.#queuedAway.set(pid, ids);
    }
    const e: Extract<ChatEvent, { type: "sent" }> = { type: "sent", peer, id: id.toString(), text, private: priv, time };
    if (away) e.queued = true;
    this.#d.emit(e);
    this.#keep({ pid, peer, dir: "out", text, time, private: priv, id, bytes });
    this.#schedule();
  }

  /** Lines typed while the peer was away are said delivered (the person saw them as queued). */
  #deliveredAway(link: Link, upTo: bigint): void {
    const ids = this.#queuedAway.get(link.pid);
    if (ids === undefined) return;
    let n = 0;
    while (n < ids.length && ids[n]! <= upTo) n++;
    if (n === 0) return;
    ids.splice(0, n);
    if (ids.length === 0) this.#queuedAway.delete(link.pid);
    this.#d.emit({ type: "notice", message: `${link.name} is back: ${n === 1 ? "the line" : `${n} lines`} queued while ${link.name} was away ${n === 1 ? "was" : "were"} delivered.` });
  }

  /** Once a tick: the outbox's writes (store.ts batches), then the links pump. */
  #schedule(): void {
    if (this.#commitScheduled) return;
    this.#commitScheduled = true;
    setImmediate(() => this.#commit());
  }

  /** At close: the tick's lines, history and ACK deletes are written now, and the ACKs owed sent, not lost to a timer that never runs. */
  flush(): void {
    for (const link of this.#d.sessions.links.values()) link.flushAck();
    if (this.#commitScheduled) this.#commit();
    if (this.#keptScheduled) this.#flushKept();
    this.#flushAcks();
  }

  /** ACK deletes not yet due (outbox.ts flushDueAcks) are written at the latest ACK_DELETE_MS later. */
  #ackTimer: ReturnType<typeof setTimeout> | null = null;
  #acksLater(): void {
    if (this.#ackTimer !== null) return;
    this.#ackTimer = setTimeout(() => this.#flushAcks(), ACK_DELETE_MS);
    this.#ackTimer.unref?.();
  }

  /** Every ACK's delete now (the timer, close, and before /clear: no acknowledged line's text is left behind). */
  #flushAcks(): void {
    if (this.#ackTimer !== null) clearTimeout(this.#ackTimer);
    this.#ackTimer = null;
    this.storage(() => this.#d.outbox.flushAcks());
  }

  /**
   * One transaction for every line of the tick, then the links send them (store.ts); the
   * history of the tick is written in the next turn, once the lines are on their way (it
   * is no part of delivery: no ACK waits for it, and every read of it writes it first).
   */
  #commit(): void {
    this.#commitScheduled = false;
    const failed = this.#d.outbox.commit();
    if (failed !== null) {
      this.#d.emit({ type: "error", code: "state", message: `${failed.error.message}.` });
      for (const l of failed.lines) this.#d.emit({ type: "unsent", peer: l.name, id: l.id.toString(), text: l.text, reason: failed.error.message, code: "state" });
    }
    if (this.storage(() => this.#d.outbox.flushDueAcks()) === true) this.#acksLater();
    for (const link of this.#d.sessions.links.values()) link.pump();
    if (this.#d.kept !== undefined && !this.#keptScheduled) {
      this.#keptScheduled = true;
      setImmediate(() => this.#flushKept());
    }
  }

  /** The history's flush waits for the next turn (see #commit). */
  #keptScheduled = false;

  /** Keep a line in the history; a storage failure there is said once and the chat goes on (the line itself is unaffected). */
  #keep(l: HistoryLine): void {
    if (this.#d.kept === undefined) return;
    this.#d.kept.add(l);
    this.#schedule(); // #commit flushes it with the tick's other writes
  }

  /** Write the history lines of this tick (see #keep). */
  #flushKept(): void {
    this.#keptScheduled = false;
    const kept = this.#d.kept;
    if (kept === undefined) return;
    this.storage(() => {
      try {
        kept.flush();
      } catch (e) {
        if (!(typeof (e as { code?: unknown }).code === "string" && (e as { code: string }).code.startsWith("SQLITE_"))) throw e;
        throw new StateError(describeSqliteError(kept.path, "keeping the conversation history", e), { cause: e });
      }
    });
  }

  /** Run a store step whose failure must not end the chat: say it (once per sentence) and go on. */
  storage<T>(f: () => T): T | undefined {
    try {
      return f();
    } catch (e) {
      if (!(e instanceof StateError)) throw e;
      if (!this.#storageSaid.has(e.message)) {
        this.#storageSaid.add(e.message);
        this.#d.emit({ type: "error", code: "state", message: `${e.message}.` });
      }
      return undefined;
    }
  }

  /**
   * Take one token of the peer's TEXT rate (docs/SECURITY.md §3.E); when none is left the
   * session ends with ALERT busy and a clear reason, and false is returned.
   */
  #withinRate(s: PeerSession, link: Link): boolean {
    if (link.inbound.take(performance.now())) return true;
    s.abort(fail("busy", `${link.name} sent messages faster than ${this.#d.rates.textPerSecond} a second`));
    return false;
  }

  /** A TEXT: shown once per peer instance (kept in the history for a contact), then acknowledged. */
  text(s: PeerSession, link: Link, item: Extract<Item, { kind: "text" }>): void {
    // docs/SECURITY.md §3.E: a contact that floods is cut off with a clear reason, not rendered.
    if (!this.#withinRate(s, link)) return;
    const inst = link.instanceHex(s.peerProfile!.instance);
    // PROTOCOL §12: the TEXT_TIME just before, if it names this TEXT.
    const at = link.writtenAt;
    link.writtenAt = null;
    const written = at !== null && at.id === item.id ? at.writtenMs : undefined;
    // The highest id shown from this instance once this TEXT is handled (undefined: the store failed, said once).
    const last = this.storage(() => {
      const shown = this.lastShown(link.pid, inst);
      if (item.id > shown) {
        const time = Date.now();
        const priv = link.privateIn.size > 0 && link.privateIn.delete(item.id);
        const r = this.#d.trust.requests.get(link.pid);
        const [fp, id, text] = [link.fingerprint, item.id.toString(), item.text];
        // The event's keys in one order (--json writes them so), made as they are rather than spread: a line each.
        const e: Extract<ChatEvent, { type: "message" }> =
          r === undefined
            ? { type: "message", peer: this.#d.contacts.nameOf(link.pid), verified: this.#d.trust.known.pinOf(link.pid)?.verified ?? false, fingerprint: fp, id, text, time, private: priv }
            : r.lookalike === undefined
              ? { type: "message", peer: r.claimed, request: r.id, fingerprint: fp, id, text, time, private: priv }
              : { type: "message", peer: r.claimed, request: r.id, lookalike: r.lookalike, fingerprint: fp, id, text, time, private: priv };
        if (written !== undefined) e.written = written;
        this.#d.emit(e);
        // History keeps contacts' lines only: a stranger writes nothing to disk.
        if (r === undefined) this.#keep({ pid: link.pid, peer: e.peer, dir: "in", text, time, private: priv });
        this.#setShown(link.pid, inst, item.id);
        return item.id;
      }
      return shown;
    });
    link.ack(last ?? this.lastShown(link.pid, inst));
  }

  /** A cumulative ACK: the outbox lets go of what it covers. */
  ack(s: PeerSession, link: Link, item: Extract<Item, { kind: "ack" }>): void {
    const outbox = this.#d.outbox;
    // PROTOCOL §6.3: an ACK for a line never sent (as TCP refuses an ACK for unsent data).
    // Not the highest queued: a line past the window is queued but not sent, and must not be marked delivered.
    const ackable = outbox.ackableUpTo(link.pid);
    if (item.id > ackable) return s.abort(fail("unexpected_message", `${link.name} acknowledged message ${item.id}, but the highest sent is ${ackable}`));
    for (const id of this.#privateOut.get(link.pid) ?? []) if (id <= item.id) this.#privateOut.get(link.pid)!.delete(id);
    const fresh = outbox.acked(link.pid, item.id);
    if (fresh) {
      this.#d.emit({ type: "ack", peer: link.name, id: item.id.toString() });
      this.#deliveredAway(link, item.id);
      this.#schedule();
    }
    link.acked(fresh);
  }

  /** An optional item that describes a TEXT (TEXT_TIME, PRIVATE): true when it was one (and is handled). */
  describes(s: PeerSession, link: Link, item: Extract<Item, { kind: "ext" }>): boolean {
    // TEXT_TIME and PRIVATE describe a TEXT: they share its rate, so a flood of them is cut as a TEXT flood is.
    if ((item.type === TEXT_TIME || item.type === PRIVATE_TYPE) && !this.#withinRate(s, link)) return true;
    // PROTOCOL §12: when the next TEXT was written (one slot per session).
    if (item.type === TEXT_TIME) {
      link.writtenAt = readTextTime(item.content);
      return true;
    }
    // PROTOCOL §6.5: remember which TEXT ids are private, at most MAX_PRIVATE_MARKS per session.
    let pv: bigint | null;
    try {
      pv = privateId(item);
    } catch (e) {
      if (e instanceof ProtocolError) {
        s.abort(e); // a PRIVATE of the wrong size
        return true;
      }
      throw e;
    }
    if (pv === null) return false;
    if (link.privateIn.size >= MAX_PRIVATE_MARKS) link.privateIn.delete(link.privateIn.values().next().value!);
    link.privateIn.add(pv);
    return true;
  }

  /** Highest TEXT id shown from a peer instance: a request's only in memory, a contact's in the store. */
  lastShown(pid: Pid, instance: string): bigint {
    const r = this.#d.trust.requests.get(pid);
    return r === undefined ? this.#d.outbox.lastShown(pid, instance) : (r.shown.get(instance) ?? 0n);
  }

  #setShown(pid: Pid, instance: string, id: bigint): void {
    const r = this.#d.trust.requests.get(pid);
    if (r === undefined) return this.#d.outbox.shown(pid, instance, id);
    r.shown.delete(instance);
    r.shown.set(instance, id);
    // A stranger could reconnect with a new instance id each time: keep only the latest few.
    if (r.shown.size > MAX_REQUEST_INSTANCES) r.shown.delete(r.shown.keys().next().value!);
  }
}
