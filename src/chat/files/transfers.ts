/**
 * File transfer for the chat (PROTOCOL §11): the FileApi behind /send, /accept, /reject,
 * /cancel and /transfers, and an extension of each session (src/chat/node/files.ts).
 *
 *   1. open: the session gets its SessionFiles, which the chat keeps in its one record
 *      of the session and hands back with each of the calls below; transfers waiting
 *      for this peer are offered (again: that is how a cut transfer resumes after a redial);
 *   2. handlers: one per file item type (0xA0..0xA8, route.ts), which the chat's table
 *      of optional item types calls directly: the item is decoded (a malformed one is a
 *      fault of its transfer, never of the connection) and goes to the Sender or the
 *      Receiver; a PONG may answer the probe of §11.4 (pong);
 *   3. drain (and a 500 ms safety tick): the Sender queues more chunks;
 *   4. closed: every accepted transfer on the session pauses, partials are kept (in a
 *      private folder, partials.ts); offers never answered are dropped with it;
 *   5. every step is a { type: "transfer" } event for the front ends.
 */
import type { PeerSession } from "../../net/types.ts";
import { ITEM_HEADER_LEN } from "../../protocol/constants.ts";
import { MAX_CHUNK_DATA, OFFER_ANSWER_TIMEOUT_MS } from "../../protocol/constants.ts";
import { encodeFileItem, type FileItem } from "../../protocol/files.ts";
import type { Item } from "../../protocol/items.ts";
import { ChatError, type ChatListener, type FileApi, type TransferEvent, type TransferInfo, type TransferPhase } from "../events.ts";
import { TokenBucket } from "../../net/limits.ts";
import { randomBytes } from "node:crypto";
import { statfsSync } from "node:fs";
import { join } from "node:path";
import { collectSets } from "./disk.ts";
import { DEFAULT_PARTIAL_MAX_AGE_MS, Partials, PartialsError } from "./partials.ts";
import { Receiver } from "./receiver.ts";
import { fileHandlers, type FileHandler } from "./route.ts";
import { Sender } from "./sender.ts";
import { Handles, info } from "./handles.ts";
import { countDone, endSet, memberEvent, type SetHost } from "./sets.ts";
import { sameBytes } from "./state.ts";
import { DEFAULT_CHUNK, DEFAULT_DISK_MARGIN, DEFAULT_HIGH_WATER, DEFAULT_MAX_FILE, MAX_REPORTS, OFFER_BURST, OFFERS_PER_SECOND, type FileOptions, type Handle, type SendSet, type SessionFiles, type Transfer } from "./state.ts";

export type { FileOptions } from "./state.ts";

/** What the file transfer needs from the chat. */
export interface TransferHost {
  emit: ChatListener;
  /** The pin name of a peer identity (hex). */
  nameOf(pid: string): string;
  /** @throws ChatError unknown_peer */
  pidByName(name: string): string;
  /** Peers with an open session. */
  connectedPids(): string[];
  /** Is this identity a contact? Offers from anyone else (requests) are refused. */
  isContact(pid: string): boolean;
}

/** Sender identities whose offer rate is remembered (a forgotten one had refilled anyway). */
const MAX_RATED_PEERS = 4096;
/** How often paused partials are checked against their bounded age (more often when the age is shorter). */
const SWEEP_EVERY_MS = 3_600_000;

const ENDS: ReadonlySet<TransferPhase> = new Set(["done", "failed", "rejected", "cancelled", "unsupported"]);

export class FileTransfers implements FileApi {
  readonly downloads: string;
  /** The handler of each file item type (PROTOCOL §11.3, route.ts): the chat routes each of them here alone. */
  readonly handlers: ReadonlyMap<number, FileHandler>;
  readonly #host: TransferHost;
  readonly #answerTimeoutMs: number;
  readonly #sender: Sender;
  readonly #receiver: Receiver;
  /** The open session of each peer (the chat keeps each session's SessionFiles in its record of the session). */
  readonly #byPid = new Map<string, SessionFiles>();
  /** What the person names by id: sets, and the files of plain offers (PROTOCOL §11.11). */
  readonly #ids = new Handles();
  readonly #setHost: SetHost;
  readonly #home: string | undefined;
  #quiet = false;
  readonly #tick: ReturnType<typeof setInterval>;
  readonly #sweep: ReturnType<typeof setInterval>;
  readonly #offerRates = new Map<string, TokenBucket>();

  /** @throws RangeError when chunkBytes is outside 1..65,258; PartialsError when the partials folder is unsafe. */
  constructor(host: TransferHost, o: FileOptions) {
    this.#host = host;
    this.downloads = o.downloads;
    const chunkBytes = o.chunkBytes ?? DEFAULT_CHUNK;
    // The wire allows 65,261 data bytes; our session keeps 3 bytes of every record free for a KEY_UPDATE.
    const most = MAX_CHUNK_DATA - ITEM_HEADER_LEN;
    if (!Number.isInteger(chunkBytes) || chunkBytes < 1 || chunkBytes > most) throw new RangeError(`"chunkBytes" expected 1..${most}, got ${chunkBytes}`);
    const self = this;
    const now = o.now ?? (() => performance.now());
    let partials: Partials;
    try {
      partials = new Partials(o.partials ?? join(o.downloads, ".sotto-partials"));
    } catch (e) {
      if (!(e instanceof PartialsError)) throw e;
      throw Object.assign(new ChatError("state", e.message), { cause: e });
    }
    const report = (sf: SessionFiles, message: string) => {
      if (sf.reports++ < MAX_REPORTS) self.#host.emit({ type: "error", code: "file_protocol", message: `${self.#host.nameOf(sf.pid)}: ${message}` });
    };
    const send = (sf: SessionFiles, item: FileItem | Item) => self.#send(sf, item);
    const show = (t: Transfer, phase: TransferPhase, extra?: Partial<TransferEvent>) => self.#emit(t, phase, extra);
    this.#answerTimeoutMs = o.answerTimeoutMs ?? OFFER_ANSWER_TIMEOUT_MS;
    this.#sender = new Sender(
      {
        sessionOf: (pid) => self.#byPid.get(pid),
        send,
        awaitAnswer: (sf) => self.#armAnswerTimer(sf),
        show,
        ended: (t, phase, extra) => {
          self.#ids.forget(t);
          self.#emit(t, phase, extra);
        },
        report,
      },
      { chunkBytes, highWater: o.highWater ?? DEFAULT_HIGH_WATER, now },
    );
    this.#receiver = new Receiver(
      {
        send,
        show,
        report,
        register: (h, want) => self.#ids.register(h, want),
        forget: (h) => self.#ids.forget(h),
        endSet: (s, phase, extra) => endSet(self.#setHost, s, null, phase, extra),
        completedInSet: (s) => {
          // A lone file already received is not news (as before sets); one file of a folder counts as done.
          if (s.count === 1 && s.members.size === 0) {
            s.ended = true;
            return self.#setHost.finished(s);
          }
          s.done++;
          countDone(self.#setHost, s);
        },
        isContact: (pid) => host.isContact(pid),
        takeOffer: (pid) => self.#takeOffer(pid, now()),
      },
      { downloads: o.downloads, autoAccept: o.autoAccept, maxFileBytes: o.maxFileBytes ?? DEFAULT_MAX_FILE, diskMargin: o.diskMarginBytes ?? DEFAULT_DISK_MARGIN, partials, freeSpace: o.freeSpace ?? freeSpace, now },
    );
    this.handlers = fileHandlers({ receiver: this.#receiver, sender: this.#sender, report, heard: (sf) => this.#heard(sf) });
    this.#home = o.home;
    this.#setHost = {
      emit: (e) => !self.#quiet && host.emit(e),
      nameOf: (pid) => host.nameOf(pid),
      now,
      endOthers: (set, t, _code, reason) => {
        if (set.dir === "send") for (const m of [...set.members]) m !== t && m.state !== "ended" && self.#sender.cancel(m);
        else for (const m of [...set.members]) m !== t && m.state !== "ended" && self.#receiver.dropFromSet(m, reason);
      },
      finished: (set) => {
        self.#ids.forget(set);
        if (set.dir === "receive") self.#receiver.sets.drop(set);
      },
    };
    this.#tick = setInterval(() => {
      // A session replaced by a newer one of the same peer is closing already: there is nothing to pump on it.
      for (const sf of this.#byPid.values()) this.#sender.pump(sf);
    }, 500);
    this.#tick.unref?.();
    const maxAge = o.partialMaxAgeMs ?? DEFAULT_PARTIAL_MAX_AGE_MS;
    this.#receiver.loadPartials(maxAge);
    this.#sweep = setInterval(() => this.#receiver.sweep(maxAge), Math.max(1, Math.min(SWEEP_EVERY_MS, maxAge)));
    this.#sweep.unref?.();
  }

  #takeOffer(pid: string, now: number): boolean {
    let b = this.#offerRates.get(pid);
    if (b === undefined) {
      b = new TokenBucket(OFFER_BURST, OFFERS_PER_SECOND, now);
      if (this.#offerRates.size >= MAX_RATED_PEERS) this.#offerRates.delete(this.#offerRates.keys().next().value!);
    } else this.#offerRates.delete(pid);
    this.#offerRates.set(pid, b);
    return b.take(now);
  }

  #send(sf: SessionFiles, item: FileItem | Item): void {
    if (sf.s.state !== "open") return;
    try {
      sf.s.send(item.kind === "ext" || item.kind === "ping" ? item : encodeFileItem(item as FileItem));
    } catch (e) {
      // The session closed under us (onClose pauses the transfer); an item that cannot fit is our bug.
      if (e instanceof RangeError || e instanceof TypeError) throw e;
    }
  }

  /** One step of one file: its own event (a plain offer, a lone file's set), or a step of its set's (sets.ts). */
  #emit(t: Transfer, phase: TransferPhase, extra: Partial<TransferEvent> = {}): void {
    if (this.#quiet) return;
    const bytes = t.dir === "send" ? t.offset : t.next;
    const set = t.set;
    if (set !== null) {
      set.bytes += bytes - t.counted;
      t.counted = bytes;
      if (set.count > 1) return memberEvent(this.#setHost, set, t, phase, extra);
      if (phase === "offered" || phase === "waiting" || phase === "accepted" || phase === "paused") set.shown = phase;
    }
    const e: TransferEvent = { type: "transfer", id: t.local, direction: t.dir, phase, peer: this.#host.nameOf(t.pid), name: t.name, size: t.size, bytes };
    if (t.dir === "receive") {
      e.saveAs = t.rel;
      if (set !== null && set.dir === "receive" && set.id !== set.label) e.peerId = set.label;
    }
    this.#host.emit({ ...e, ...extra });
    if (set !== null && ENDS.has(phase) && !set.ended) {
      set.ended = true;
      this.#setHost.finished(set);
    }
  }

  /**
   * PROTOCOL §11.4: when no file item came within the answer time, ask with a PING; the
   * peer reads items in order and answers an offer before it reads a later PING, so a
   * PONG with still no file item means it skipped the offer. A slow or stalled path
   * delays the PONG as much as the answer, so it is never mistaken for a missing one.
   */
  #armAnswerTimer(sf: SessionFiles): void {
    if (sf.answerTimer !== null || sf.probe !== null || sf.supported) return;
    sf.answerTimer = setTimeout(() => {
      sf.answerTimer = null;
      if (sf.supported || sf.closed || sf.s.state !== "open") return;
      sf.probe = new Uint8Array(randomBytes(8));
      this.#send(sf, { kind: "ping", data: sf.probe });
    }, this.#answerTimeoutMs);
    sf.answerTimer.unref?.();
  }

  /** PROTOCOL §11.4: a PONG with no file item before it answers our probe: the peer cannot receive files. */
  pong(sf: SessionFiles, data: Uint8Array): void {
    if (sf.probe === null || sf.supported || !sameBytes(sf.probe, data)) return;
    sf.probe = null;
    sf.unsupported = true;
    this.#sender.unsupported(sf);
  }

  /** Step 1: the session's SessionFiles, kept in the chat's record of the session. */
  open(s: PeerSession, pid: string): SessionFiles {
    const sf: SessionFiles = { s, pid, out: new Map(), in: new Map(), endedOut: new Set(), endedIn: new Set(), supported: false, unsupported: false, closed: false, answerTimer: null, probe: null, pumpScheduled: false, reports: 0, overRate: 0, pendingSet: null, refusedSets: new Set() };
    this.#byPid.set(pid, sf);
    this.#sender.offerQueued(pid);
    return sf;
  }

  /** Step 2, before each file item's handler (route.ts): the peer reads file items, so no probe is needed (§11.4). */
  #heard(sf: SessionFiles): void {
    if (sf.supported) return;
    sf.supported = true;
    sf.probe = null;
    if (sf.answerTimer !== null) clearTimeout(sf.answerTimer);
    sf.answerTimer = null;
  }

  /** Step 3. */
  drain(sf: SessionFiles): void {
    this.#sender.pump(sf);
  }

  /** Step 4. */
  closed(sf: SessionFiles): void {
    if (sf.closed) return;
    sf.closed = true;
    if (this.#byPid.get(sf.pid) === sf) this.#byPid.delete(sf.pid);
    if (sf.answerTimer !== null) clearTimeout(sf.answerTimer);
    this.#sender.sessionLost(sf);
    this.#receiver.sessionLost(sf);
  }

  /** Stop: close every file (partials stay for a resume), no more events. */
  close(open: SessionFiles[]): void {
    this.#quiet = true;
    clearInterval(this.#tick);
    clearInterval(this.#sweep);
    for (const sf of open) this.closed(sf);
    this.#receiver.close();
  }

  send(paths: string[], to?: string): number {
    const { sets, skipped } = collectSets(paths, process.cwd(), this.#home);
    let pids = to !== undefined ? [this.#host.pidByName(to)] : this.#host.connectedPids();
    // Files go to contacts only: a request (an unknown key that dialled us) learns nothing of them.
    if (to !== undefined && !this.#host.isContact(pids[0]!)) throw new ChatError("unknown_peer", `${this.#host.nameOf(pids[0]!)} is not one of your contacts, so no file was offered`);
    pids = pids.filter((pid) => this.#host.isContact(pid));
    if (pids.length === 0) throw new ChatError("not_connected", "No contact is connected, so there is no one to send files to; /connect host:port dials one.");
    pids = pids.filter((pid) => this.#byPid.get(pid)?.unsupported !== true);
    if (pids.length === 0) throw new ChatError("files_unsupported", `${to === undefined ? "no connected peer" : this.#host.nameOf(this.#host.pidByName(to))} can receive files (the peer cannot receive files: it did not answer an offer)`);
    if (skipped > 0 && this.#home !== undefined) this.#host.emit({ type: "send_skipped", home: this.#home, files: skipped });
    let n = 0;
    for (const ls of sets) {
      // One transfer per path and peer (PROTOCOL §11.11): its id is the FILE_SET label both sides show.
      const shas = ls.files.map((f) => this.#sender.hashOnce(f.path, f.size));
      const total = ls.files.reduce((a, f) => a + f.size, 0);
      for (const pid of pids) {
        const set: SendSet = { dir: "send", id: "", pid, name: ls.name, count: ls.files.length, total, done: 0, bytes: 0, ended: false, shown: "none", meter: null, members: [], refused: 0 };
        set.id = this.#ids.register(set);
        ls.files.forEach((f, i) => this.#sender.add(pid, f, shas[i]!, set));
        n += ls.files.length;
      }
    }
    return n;
  }

  accept(id?: string): number {
    const list = this.#ids.answerable(id, "accept");
    for (const h of list) {
      if (h.dir !== "receive") continue;
      if ("label" in h) this.#receiver.acceptSet(h);
      else this.#receiver.accept(h);
    }
    return list.length;
  }

  reject(id?: string): number {
    const list = this.#ids.answerable(id, "reject");
    for (const h of list) if (h.dir === "receive") this.#endReceiving(h, "rejected");
    return list.length;
  }

  cancel(id?: string): number {
    const list = this.#ids.pick(id, () => [...this.#ids.byId.values()], "transfer", () => true);
    for (const h of list) {
      if (h.dir === "receive") this.#endReceiving(h, "cancelled");
      else if ("members" in h) {
        // The first file's cancel ends the set, and the set ends its other files (sets.ts).
        if (h.members.length > 0) this.#sender.cancel(h.members[0]!);
        else endSet(this.#setHost, h, null, "cancelled", { code: "declined", reason: "cancelled here" });
      } else this.#sender.cancel(h);
    }
    return list.length;
  }

  /** /reject or /cancel of something we receive: a set of several files is refused as a whole (set_refused). */
  #endReceiving(h: Exclude<Handle, SendSet | Transfer> | Extract<Transfer, { dir: "receive" }>, phase: "rejected" | "cancelled"): void {
    if (!("label" in h)) return this.#receiver.refuse(h, phase);
    const only = h.count === 1 ? [...h.members][0] : undefined;
    if (only !== undefined) return this.#receiver.refuse(only, phase);
    endSet(this.#setHost, h, null, phase, { code: "declined", reason: phase === "rejected" ? "declined here" : "cancelled here" });
  }

  list(): TransferInfo[] {
    return [...this.#ids.byId.values()].map((h) => info(h, (pid) => this.#host.nameOf(pid)));
  }

  /** Is `name` a peer the host knows? */
  isPeer(name: string): boolean {
    try {
      this.#host.pidByName(name);
      return true;
    } catch (e) {
      // Only "no such peer" means no; anything else is a bug and must surface.
      if (e instanceof ChatError) return false;
      throw e;
    }
  }
}

/** Free bytes where the folder is (or would be); Infinity when it cannot be told. */
function freeSpace(dir: string): number {
  for (let d = dir; ; ) {
    try {
      const s = statfsSync(d);
      return Number(s.bavail) * Number(s.bsize);
    } catch {
      const up = d.replace(/[/\\][^/\\]*$/, "");
      if (up === d || up === "") return Infinity;
      d = up;
    }
  }
}
