/**
 * PROTOCOL §11.11: the files of one transfer as the person sees it (a folder, or one
 * file), under one id on both sides. Every file stays its own §11 transfer (so every
 * check of §11.5–§11.7 holds for each); this module adds what holds for the whole set:
 *
 *   1. receiving, join(): checks S1 to S6 for each offer that names a set (the same
 *      count and total, at most MAX_SET_FILES files adding up to at most `total`, no path
 *      twice, none both a file and a folder), with the sets open bounded per identity;
 *   2. both sides, memberEvent(): the events of a set's files become one transfer's events
 *      (one offer, one bar over `total`, one end), plus a "transfer_file" per file done;
 *   3. one file that ends badly ends the set: the Sender / Receiver end the others.
 */
import { MAX_SET_FILES } from "../../protocol/constants.ts";
import type { ChatEvent, TransferEvent, TransferPhase } from "../events.ts";
import { Meter } from "./meter.ts";
import { rememberEnded, type Incoming, type ReceiverHost, type Outgoing, type RecvSet, type SendSet, type SessionFiles, type Transfer } from "./state.ts";

/** PROTOCOL §11.11 S2: open sets per sender identity, and in all. */
export const MAX_LIVE_SETS_PER_PEER = 16;
export const MAX_LIVE_SETS = 256;
/** PROTOCOL §11.11 S6: files and folders one set may name. */
export const MAX_SET_PATHS = 2 * MAX_SET_FILES;
/** PROTOCOL §11.11 S6: what the paths of one set, and of every set open, may hold in memory (estimated: 2 bytes a character and 64 an entry). */
export const MAX_SET_PATH_BYTES = 8 * 1024 * 1024;
export const MAX_SET_PATH_BYTES_TOTAL = 16 * MAX_SET_PATH_BYTES;

/** Bytes the paths of a set may still take (`used` grows as claimPath adds entries); `why` when they run out. */
export type PathBudget = { used: number; max: number; why: string };

type FileSetItem = { count: number; total: number; label: string };

/** Why an offer cannot join its set, or null. */
export type Refusal = { code: "set_refused" | "busy"; reason: string } | null;

/**
 * PROTOCOL §11.11 S6: claim `rel` (a sanitised path) for the file `key` in `paths`;
 * a reason when it clashes with another file or folder of the set, or `budget` (the bytes
 * the set's paths hold, RecvSets.join keeps it) has no room for its new entries. @throws never
 */
export function claimPath(paths: Map<string, string>, rel: string, key: string, budget: PathBudget = { used: 0, max: Infinity, why: "" }): string | null {
  const parts = rel.split("/");
  for (let i = 1; i < parts.length; i++) {
    const dir = parts.slice(0, i).join("/");
    const v = paths.get(dir);
    if (v !== undefined && v !== "") return `${rel} would be inside ${dir}, which is a file of the same folder`;
  }
  const v = paths.get(rel);
  if (v === "") return `${rel} is both a file and a folder in it`;
  if (v !== undefined) return v === key ? null : `two of its files would both be saved as ${rel}`;
  if (paths.size + parts.length > MAX_SET_PATHS) return `it names more than ${MAX_SET_PATHS} files and folders`;
  let cost = 2 * rel.length + 64;
  for (let i = 1; i < parts.length; i++) {
    const dir = parts.slice(0, i).join("/");
    if (!paths.has(dir)) cost += 2 * dir.length + 64;
  }
  if (budget.used + cost > budget.max) return budget.why || `the paths of its files and folders take more than ${budget.max} bytes`;
  budget.used += cost;
  for (let i = 1; i < parts.length; i++) {
    const dir = parts.slice(0, i).join("/");
    if (!paths.has(dir)) paths.set(dir, "");
  }
  paths.set(rel, key);
  return null;
}

/** The receiving sets: (sender identity, label) → set. */
export class RecvSets {
  readonly live = new Map<string, RecvSet>();
  readonly #perPeer = new Map<string, number>();
  /** The pathBytes of every live set. */
  #pathBytes = 0;
  /** Sets of several files open. */
  #many = 0;

  get(pid: string, label: string): RecvSet | undefined {
    return this.live.get(`${pid}/${label}`);
  }

  /**
   * Checks S1 to S6 for an offer of `size` bytes, resume key `key` and sanitised path `rel`
   * naming the set `fs`; creates the set on its first offer (`make` gives it its id).
   * `room` is how many bytes the receiver could take (its limit and free space, S4).
   */
  join(pid: string, fs: FileSetItem, key: string, size: number, rel: string, room: number, make: (s: RecvSet) => void): { set: RecvSet } | Refusal {
    let s = this.get(pid, fs.label);
    if (s !== undefined && (s.count !== fs.count || s.total !== fs.total)) return refused(`its files disagree on its size (${s.count} files, ${s.total} bytes, then ${fs.count} files, ${fs.total} bytes)`);
    if (s === undefined) {
      // A lone file is bounded as a plain offer is (MAX_PENDING_*); sets of several files here.
      if (fs.count > 1 && ((this.#perPeer.get(pid) ?? 0) >= MAX_LIVE_SETS_PER_PEER || this.#many >= MAX_LIVE_SETS)) return { code: "busy", reason: `at most ${MAX_LIVE_SETS_PER_PEER} transfers of several files may be open at once` };
      if (fs.count > MAX_SET_FILES) return refused(`it has ${fs.count} files; at most ${MAX_SET_FILES} are taken in one transfer`);
      if (fs.total > room) return refused(`its ${fs.total} bytes are more than this receiver can take`);
      const top = rel.split("/")[0]!;
      s = { dir: "receive", id: "", label: fs.label, pid, name: fs.count > 1 ? top : rel, saveAs: fs.count > 1 ? top : rel, count: fs.count, total: fs.total, done: 0, bytes: 0, ended: false, shown: "none", meter: null, accepted: false, sizes: new Map(), sum: 0, paths: new Map(), pathBytes: 0, placed: new Set(), members: new Set() };
      make(s);
      this.live.set(`${pid}/${fs.label}`, s);
      if (s.count > 1) {
        this.#many++;
        this.#perPeer.set(pid, (this.#perPeer.get(pid) ?? 0) + 1);
      }
    }
    if (!s.sizes.has(key)) {
      if (s.sizes.size + 1 > s.count) return refused(`it offered more than the ${s.count} files it announced`);
      if (s.sum + size > s.total) return refused(`its files add up to more than the ${s.total} bytes it announced`);
    }
    // S6 in memory: at most MAX_SET_PATH_BYTES for this set, and what is left of MAX_SET_PATH_BYTES_TOTAL over every set.
    const left = MAX_SET_PATH_BYTES_TOTAL - this.#pathBytes;
    const budget: PathBudget = left < MAX_SET_PATH_BYTES - s.pathBytes ? { used: s.pathBytes, max: s.pathBytes + left, why: "this receiver holds the paths of too many folders now; send it again later" } : { used: s.pathBytes, max: MAX_SET_PATH_BYTES, why: "" };
    const clash = claimPath(s.paths, rel, key, budget);
    this.#pathBytes += budget.used - s.pathBytes;
    s.pathBytes = budget.used;
    if (clash !== null) return refused(clash);
    if (!s.sizes.has(key)) {
      s.sizes.set(key, size);
      s.sum += size;
    }
    return { set: s };
  }

  /** The set is over: forget it (its label may be used again by a later transfer). */
  drop(s: RecvSet): void {
    if (this.live.get(`${s.pid}/${s.label}`) !== s) return;
    this.live.delete(`${s.pid}/${s.label}`);
    this.#pathBytes -= s.pathBytes;
    if (s.count === 1) return;
    this.#many--;
    const n = (this.#perPeer.get(s.pid) ?? 1) - 1;
    if (n > 0) this.#perPeer.set(s.pid, n);
    else this.#perPeer.delete(s.pid);
  }
}

/**
 * Step 1 for an offer that names the set `fs` on `sf`: checks S1 to S6, the refusals
 * answered through `refuse` (and the person told once); the set, or null when refused.
 */
export function joinOrRefuse(sets: RecvSets, host: Pick<ReceiverHost, "register" | "endSet" | "report">, sf: SessionFiles, fs: FileSetItem, key: string, size: number, rel: string | null, room: number, refuse: (code: "busy" | "set_refused", reason: string) => void): RecvSet | null {
  if (sf.refusedSets.has(fs.label)) {
    refuse("set_refused", "the rest of this transfer was refused");
    return null;
  }
  const r = rel === null ? refused("one of its files has no usable name") : sets.join(sf.pid, fs, key, size, rel, room, (s) => void (s.id = host.register(s, fs.label)));
  if (r !== null && "set" in r) return r.set;
  if (r === null) throw new Error("join gave neither a set nor a refusal");
  if (r.code === "busy") {
    refuse("busy", r.reason);
    return null;
  }
  rememberEnded(sf.refusedSets, fs.label);
  refuse("set_refused", r.reason);
  const s = sets.get(sf.pid, fs.label);
  if (s !== undefined) host.endSet(s, "failed", { code: "set_refused", reason: r.reason });
  else host.report(sf, `offered ${fs.count} files (${fs.total} bytes), refused: ${r.reason.replace(/^the transfer was refused: /, "")}`);
  return null;
}

function refused(why: string): Refusal {
  return { code: "set_refused", reason: `the transfer was refused: ${why}` };
}

/** Phases that end a file. */
const ENDS: ReadonlySet<TransferPhase> = new Set(["done", "failed", "rejected", "cancelled", "unsupported"]);

/** What memberEvent needs from the manager. */
export interface SetHost {
  emit(e: ChatEvent): void;
  nameOf(pid: string): string;
  now(): number;
  /** End every other file of the set (it has ended as a whole; its files are told nothing more). */
  endOthers(s: SendSet | RecvSet, t: Transfer | null, code: string, reason: string): void;
  /** The set is over: forget its id. */
  finished(s: SendSet | RecvSet): void;
}

/**
 * Step 2: one event of a file of a set of several files, as the set's events. A lone
 * file's events pass through (under the set's id) and are not handled here.
 */
export function memberEvent(h: SetHost, s: SendSet | RecvSet, t: Transfer, phase: TransferPhase, extra: Partial<TransferEvent>): void {
  if (s.ended) return;
  const now = h.now();
  const base = (p: TransferPhase, more: Partial<TransferEvent> = {}): void => setEvent(h, s, p, more);
  switch (phase) {
    case "offered":
      // Sending: the first file offered; receiving: shown when the set's first offer is (once).
      if (s.shown === "none") {
        s.shown = "offered";
        base("offered", extra.auto ? { auto: true } : {});
      }
      return;
    case "waiting":
      if (s.shown === "offered") {
        s.shown = "waiting";
        base("waiting");
      }
      return;
    case "accepted":
    case "progress":
      if (s.shown !== "accepted") {
        s.shown = "accepted";
        s.meter ??= new Meter(s.bytes, now);
        return base("accepted", s.bytes > 0 ? { offset: s.bytes } : {});
      }
      if (s.meter!.update(s.bytes, now)) base("progress", { rate: s.meter!.rate(s.bytes, now), etaSeconds: s.meter!.eta(s.bytes, s.total, now) });
      return;
    case "paused":
      if (s.shown === "accepted") {
        s.shown = "paused";
        base("paused");
      }
      return;
  }
  if (!ENDS.has(phase)) return;
  if (phase === "done") {
    s.done++;
    h.emit({ type: "transfer_file", id: s.id, direction: s.dir, peer: h.nameOf(s.pid), name: t.name, size: t.size, sha256: extra.sha256 ?? "", ...(extra.path !== undefined ? { path: extra.path } : {}) });
    if (s.dir === "send") unlist(s.members, t as Outgoing);
    else s.members.delete(t as Incoming);
  } else if (s.dir === "send" && phase === "rejected" && extra.code !== "set_refused") {
    // A receiver without FILE_SET refused one of its offers: that file only (§11.11).
    s.refused++;
    unlist(s.members, t as Outgoing);
    h.emit({ type: "transfer_file", id: s.id, direction: s.dir, peer: h.nameOf(s.pid), name: t.name, size: t.size, sha256: "", refused: extra.reason ?? "refused" });
  } else {
    // One file ended badly: so does the set (its other files are ended with it).
    const reason = phase === "failed" && extra.code !== "set_refused" ? `${t.name}: ${extra.reason ?? extra.code ?? "failed"}` : (extra.reason ?? extra.code ?? phase);
    return endSet(h, s, t, phase, { ...(extra.code !== undefined ? { code: extra.code } : {}), reason });
  }
  countDone(h, s);
}

function unlist<T>(list: T[], x: T): void {
  const i = list.indexOf(x);
  if (i >= 0) list.splice(i, 1);
}

/** A file of `s` is done or refused: when every file is, the set ends. */
export function countDone(h: SetHost, s: SendSet | RecvSet): void {
  const refusedAll = s.dir === "send" ? s.refused : 0;
  if (s.ended || s.done + refusedAll < s.count) return;
  s.ended = true;
  const now = h.now();
  if (s.done === 0) setEvent(h, s, "rejected", { code: "declined", reason: "every file was refused" });
  else setEvent(h, s, "done", { elapsedMs: s.meter ? now - s.meter.startedAt : 0, rate: s.meter?.average(s.bytes, now) ?? 0, ...(refusedAll > 0 ? { reason: `${refusedAll} of its files were refused` } : {}) });
  h.finished(s);
}

/** The set ends as a whole (`t`, when given, is the file that ended it): the others are ended, the person told once. */
export function endSet(h: SetHost, s: SendSet | RecvSet, t: Transfer | null, phase: TransferPhase, extra: Partial<TransferEvent>): void {
  if (s.ended) return;
  s.ended = true;
  h.endOthers(s, t, extra.code ?? "declined", extra.reason ?? phase);
  setEvent(h, s, phase, extra);
  h.finished(s);
}

/** One event of the set as a whole. */
export function setEvent(h: SetHost, s: SendSet | RecvSet, p: TransferPhase, more: Partial<TransferEvent> = {}): void {
  const e: TransferEvent = { type: "transfer", id: s.id, direction: s.dir, phase: p, peer: h.nameOf(s.pid), name: s.name, size: s.total, bytes: s.bytes, files: s.count, filesDone: s.done };
  if (s.dir === "receive") {
    e.saveAs = s.saveAs;
    if (s.id !== s.label) e.peerId = s.label;
  }
  h.emit({ ...e, ...more });
}
