/**
 * The receiver side of PROTOCOL §11: every check of §11.5, in order, and the bytes to disk.
 *
 *   1. FILE_OFFER: admitted or refused by offers.ts (contacts only, open-id, count, rate,
 *      size and name checks; FILE_RECEIVED, ACCEPT or PENDING at once);
 *   2. accepting: the sum of every accepted transfer must fit the free disk space with a
 *      margin; with no partial, FILE_ACCEPT(0, H("")) at once; with one, PENDING, read it
 *      back, FILE_ACCEPT(offset = its length, H(prefix)), keep the hasher running;
 *   3. FILE_CHUNK: accepted, at exactly the next offset, within size → the partial is
 *      created on the first byte (partials.ts: private folder, random name), written at
 *      the offset (synchronously: nothing is buffered in memory), hashed, counted;
 *   4. FILE_DONE: all bytes, H = sha256 → placed under its final name in the download
 *      folder without following links (names.ts), FILE_RECEIVED. Any failure deletes
 *      the partial and says why;
 *   5. a lost session keeps the transfers the person accepted (paused, for the next
 *      offer) and drops the rest: offers never answered, and auto-accepted ones with no byte.
 */
import { FileCode } from "../../protocol/constants.ts";
import { fileCodeName, type FileItem } from "../../protocol/files.ts";
import { writeSync } from "node:fs";
import type { TransferEvent, TransferPhase } from "../events.ts";
import { hashFile, hex, peekDigest } from "./disk.ts";
import { placeFile } from "./names.ts";
import { Meter } from "./meter.ts";
import { restorePartials, span, stale } from "./restore.ts";
import { RecvSets } from "./sets.ts";
import { onOffer } from "./offers.ts";
import { rememberEnded, sameBytes, type Incoming, type ReceiverHost, type ReceiverOptions, type RecvSet, type SessionFiles } from "./state.ts";

type Wire<K extends FileItem["kind"]> = Extract<FileItem, { kind: K }>;
type Code = keyof typeof FileCode;
type FileSetItem = Wire<"file_set">;

/** Keys completed in this run that are remembered (the oldest are forgotten first). */
export const MAX_COMPLETED = 4096;
const EMPTY_SHA256 = new Uint8Array(new Bun.CryptoHasher("sha256").digest());

export class Receiver {
  /** Open transfers by resume key (bound to a session or paused). */
  readonly byKey = new Map<string, Incoming>();
  /** Keys completed in this run → where the file is (a re-offer is answered with FILE_RECEIVED). */
  readonly completed = new Map<string, string>();
  readonly #host: ReceiverHost;
  readonly #o: ReceiverOptions;
  /** Offers waiting for the person, and their count per sender identity. */
  readonly waiting = new Set<Incoming>();
  readonly waitingBy = new Map<string, number>();
  /** PROTOCOL §11.11: the sets of files being offered or received. */
  readonly sets = new RecvSets();
  /** Partials of an earlier run not yet offered again in this one (their first offer is shown). */
  readonly restored = new Set<Incoming>();

  constructor(host: ReceiverHost, o: ReceiverOptions) {
    this.#host = host;
    this.#o = o;
  }

  /** Step 1 (offers.ts). `fs`: the FILE_SET just before it that names it (PROTOCOL §11.11). */
  onOffer(sf: SessionFiles, it: Wire<"file_offer">, fs: FileSetItem | null = null): void {
    onOffer(this, this.#host, this.#o, sf, it, fs);
  }

  /** Partials left by an earlier run become paused transfers (restore.ts). */
  loadPartials(maxAgeMs: number): void {
    restorePartials(this.#o.partials, (t) => this.#host.register(t), this.byKey, this.restored, maxAgeMs);
  }

  /** Paused partials no sender came back for within `maxAgeMs` are deleted. */
  sweep(maxAgeMs: number): void {
    for (const t of stale(this.#o.partials, this.byKey, maxAgeMs)) this.end(t, "cancelled", { code: "declined", reason: `the sender did not come back within ${span(maxAgeMs)}; the partial file was deleted` }, true);
  }


  forgetSet(set: RecvSet): void {
    set.ended = true;
    this.sets.drop(set);
    this.#host.forget(set);
  }

  /**
   * PROTOCOL §11.11: the person accepted the set (or --accept-files did): the whole of it
   * is charged against the disk before any file is accepted; then every file of it.
   */
  acceptSet(s: RecvSet): void {
    const need = s.total - s.bytes;
    const committed = this.#committed(null, s);
    const free = this.free();
    if (committed + need + this.#o.diskMargin > free) {
      const reason = `not enough free disk space: the transfer needs ${need} bytes and other accepted transfers ${committed}, ${free} are free and ${this.#o.diskMargin} are kept spare`;
      return this.#host.endSet(s, "failed", { code: "too_large", reason });
    }
    s.accepted = true;
    for (const t of [...s.members]) {
      if (t.sf !== null && t.state === "offered" && !t.accepted) this.start(t, false);
      else if (t.state !== "ended") {
        this.setWaiting(t, false);
        t.accepted = true;
      }
    }
  }

  /** Bytes still to come of every accepted transfer but `t` and the set `but` (a set counts as a whole). */
  #committed(t: Incoming | null, but: RecvSet | null): number {
    let n = 0;
    for (const o of this.byKey.values()) if (o !== t && o.accepted && o.state !== "ended" && (o.set === null || !o.set.accepted)) n += o.size - o.next;
    for (const s of this.sets.live.values()) if (s.accepted && !s.ended && s !== but) n += Math.max(0, s.total - s.bytes);
    return n;
  }

  setWaiting(t: Incoming, on: boolean): void {
    if (on === this.waiting.has(t)) return;
    const n = (this.waitingBy.get(t.pid) ?? 0) + (on ? 1 : -1);
    if (on) this.waiting.add(t);
    else this.waiting.delete(t);
    if (n > 0) this.waitingBy.set(t.pid, n);
    else this.waitingBy.delete(t.pid);
  }

  bind(t: Incoming, sf: SessionFiles, id: bigint): void {
    t.sf = sf;
    t.wireId = id;
    sf.in.set(id, t);
  }

  refuseId(sf: SessionFiles, id: bigint, code: Code, reason: string): void {
    this.#host.send(sf, { kind: "file_reject", id, code: FileCode[code], reason });
    rememberEnded(sf.endedIn, id);
  }

  /** Free bytes for partials and for the placed files (the smaller, when they are on two disks). */
  free(): number {
    return Math.min(this.#o.freeSpace(this.#o.partials.dir), this.#o.freeSpace(this.#o.downloads));
  }

  /** /accept (or automatic): on a session now, or as soon as the sender offers it again. */
  accept(t: Incoming): void {
    if (t.sf !== null) return this.start(t, false);
    this.setWaiting(t, false);
    t.accepted = true;
    t.state = "paused";
  }

  /**
   * Step 2. `resume`: the offer found a transfer accepted earlier, so a partial may have
   * to be read back first: FILE_PENDING goes out at once, so a long read never looks like
   * silence (§11.4).
   */
  start(t: Incoming, resume: boolean): void {
    const o = this.#o;
    const sf = t.sf!;
    // The sum of every accepted transfer, not this one alone, must fit (with a margin); a set of several files counts as a whole.
    const inSet = t.set !== null && t.set.accepted;
    const committed = this.#committed(t, inSet ? t.set : null);
    const need = inSet ? Math.max(t.size - t.next, t.set!.total - t.set!.bytes) : t.size - t.next;
    const free = this.free();
    if (committed + need + o.diskMargin > free) {
      return this.fail(t, "too_large", `not enough free disk space: accepted transfers need ${committed + need} bytes, ${free} are free and ${o.diskMargin} are kept spare`);
    }
    this.setWaiting(t, false);
    t.accepted = true;
    if (resume) this.#host.send(sf, { kind: "file_pending", id: t.wireId });
    let have = 0;
    if (t.partial !== null) {
      const held = o.partials.size(t.partial);
      if (held === null || held > t.size) {
        o.partials.remove(t.partial);
        t.partial = null;
      } else have = held;
    }
    if (t.partial === null) return this.#receiving(t, sf, new Bun.CryptoHasher("sha256"), 0);
    t.state = "hashing";
    const e = t.partial;
    const alive = () => t.state === "hashing" && t.sf === sf;
    o.partials.release(e);
    hashFile(o.partials.path(e), have, undefined, alive).then(
      ({ hasher, read }) => {
        if (!alive()) return;
        try {
          if (read < have) o.partials.truncate(e, read);
        } catch (err) {
          return this.fail(t, "io_error", `cannot cut the partial file back: ${(err as Error).message}`);
        }
        o.partials.release(e);
        this.#receiving(t, sf, hasher, read);
      },
      (err: Error) => alive() && this.fail(t, "io_error", `cannot read back the partial file: ${err.message}`),
    );
  }

  #receiving(t: Incoming, sf: SessionFiles, hasher: Bun.CryptoHasher, at: number): void {
    t.hasher = hasher;
    t.next = at;
    t.state = "receiving";
    t.meter = new Meter(at, this.#o.now());
    this.#host.send(sf, { kind: "file_accept", id: t.wireId, offset: at, prefix: at === 0 ? EMPTY_SHA256 : peekDigest(hasher) });
    this.#host.show(t, "accepted", { offset: at });
  }

  #lookup(sf: SessionFiles, id: bigint, what: string): Incoming | undefined {
    const t = sf.in.get(id);
    if (t === undefined && !sf.endedIn.has(id)) this.#host.report(sf, `the peer sent ${what} for a transfer it never offered; ignored`);
    return t;
  }

  /** The partial's descriptor, creating the partial on the first byte. @throws Error from the filesystem. */
  #fd(t: Incoming): number {
    const store = this.#o.partials;
    t.partial ??= store.create(t.key, t.pid, hex(t.sha256), t.size, t.name);
    return store.fd(t.partial);
  }

  /** Step 3. */
  onChunk(sf: SessionFiles, it: Wire<"file_chunk">): void {
    const t = this.#lookup(sf, it.id, "FILE_CHUNK");
    if (t === undefined) return;
    if (t.state !== "receiving") return this.fail(t, "protocol", "the peer sent file data before the transfer was accepted");
    if (it.offset !== t.next) return this.fail(t, "protocol", `the peer sent bytes at offset ${it.offset}, expected ${t.next}`);
    if (it.offset + it.data.length > t.size) return this.fail(t, "size_mismatch", `the peer sent more than the ${t.size} bytes it offered`);
    try {
      const fd = this.#fd(t);
      for (let w = 0; w < it.data.length; ) w += writeSync(fd, it.data, w, it.data.length - w, it.offset + w);
    } catch (e) {
      if (e instanceof RangeError || e instanceof TypeError) throw e;
      return this.fail(t, "io_error", `cannot write the partial file: ${(e as Error).message}`);
    }
    t.hasher!.update(it.data);
    t.next += it.data.length;
    const now = this.#o.now();
    if (t.meter!.update(t.next, now)) this.#host.show(t, "progress", { rate: t.meter!.rate(t.next, now), etaSeconds: t.meter!.eta(t.next, t.size, now) });
  }

  /** Step 4. */
  onDone(sf: SessionFiles, it: Wire<"file_done">): void {
    const t = this.#lookup(sf, it.id, "FILE_DONE");
    if (t === undefined) return;
    if (t.state !== "receiving") return this.fail(t, "protocol", "the peer ended a transfer that was not accepted");
    if (t.next !== t.size) return this.fail(t, "size_mismatch", `the peer offered ${t.size} bytes but sent ${t.next}; the partial file was deleted`);
    const got = new Uint8Array(t.hasher!.digest());
    t.hasher = null;
    if (!sameBytes(got, t.sha256)) return this.fail(t, "hash_mismatch", `the bytes received do not match the SHA-256 the peer offered (got ${hex(got)}); the partial file was deleted`);
    let path: string;
    try {
      this.#fd(t); // an empty file has no chunk: its partial is made here
      this.#o.partials.release(t.partial!);
      path = placeFile(this.#o.partials.path(t.partial!), this.#o.downloads, t.rel);
    } catch (e) {
      if (e instanceof RangeError || e instanceof TypeError) throw e;
      return this.fail(t, "io_error", `cannot place the received file in ${this.#o.downloads}: ${(e as Error).message}`);
    }
    this.#host.send(sf, { kind: "file_received", id: t.wireId, sha256: t.sha256 });
    this.completed.set(t.key, path);
    t.set?.placed.add(t.key);
    if (this.completed.size > MAX_COMPLETED) this.completed.delete(this.completed.keys().next().value!);
    const now = this.#o.now();
    this.end(t, "done", { sha256: hex(t.sha256), path, elapsedMs: t.meter ? now - t.meter.startedAt : 0, rate: t.meter?.average(t.size, now) ?? 0 }, true);
  }

  onCancel(sf: SessionFiles, it: Wire<"file_cancel">): void {
    const t = sf.in.get(it.id);
    if (t === undefined) return; // never offered, or ended here: nothing to do
    if (it.code === FileCode.resume_mismatch && t.accepted) return this.#restart(t);
    const code = fileCodeName(it.code);
    this.end(t, it.code === FileCode.declined ? "cancelled" : "failed", { code, reason: it.reason === "" ? code : it.reason }, true);
  }

  /**
   * PROTOCOL §11.7: our partial is not a prefix of the sender's file. Delete it (the
   * transfer stays accepted) and wait for the new offer, which starts at 0.
   */
  #restart(t: Incoming): void {
    if (t.partial !== null) this.#o.partials.remove(t.partial);
    t.partial = null;
    t.sf!.in.delete(t.wireId);
    rememberEnded(t.sf!.endedIn, t.wireId);
    t.sf = null;
    t.hasher = null;
    t.next = 0;
    t.state = "paused";
  }

  /** A fault of this transfer: REJECT with `code`, delete the partial, tell the person. */
  fail(t: Incoming, code: Code, reason: string): void {
    if (t.sf !== null) this.#host.send(t.sf, { kind: "file_reject", id: t.wireId, code: FileCode[code], reason });
    this.end(t, "failed", { code, reason }, true);
  }

  /** A malformed item naming `id` (PROTOCOL §11.5: a fault of that transfer, when there is one). */
  protocolFault(sf: SessionFiles, id: bigint, reason: string): void {
    const t = sf.in.get(id);
    if (t !== undefined) return this.fail(t, "protocol", reason);
    if (sf.endedIn.has(id)) return;
    this.refuseId(sf, id, "protocol", reason);
    this.#host.report(sf, `the peer sent a malformed file item (${reason}); refused`);
  }

  /** /reject (an offer) or /cancel (a transfer under way, or a paused partial): REJECT declined, partial deleted. */
  refuse(t: Incoming, phase: "rejected" | "cancelled"): void {
    if (t.sf !== null) this.#host.send(t.sf, { kind: "file_reject", id: t.wireId, code: FileCode.declined, reason: phase === "rejected" ? "declined" : "cancelled by the receiver" });
    this.end(t, phase, { code: "declined", reason: phase === "rejected" ? "declined here" : "cancelled here" }, true);
  }

  /** PROTOCOL §11.11: a file of a refused set: REJECT set_refused, partial deleted (the set's end is told once, by the caller). */
  dropFromSet(t: Incoming, reason: string): void {
    if (t.sf !== null) {
      rememberEnded(t.sf.refusedSets, t.set!.label);
      this.#host.send(t.sf, { kind: "file_reject", id: t.wireId, code: FileCode.set_refused, reason });
    }
    this.end(t, "cancelled", { code: "set_refused", reason }, true);
  }

  /** Step 5: keep the partials of accepted transfers (the next offer of the same key resumes); drop the rest. */
  sessionLost(sf: SessionFiles): void {
    const list = [...sf.in.values()];
    sf.in.clear();
    for (const t of list) {
      if (t.partial !== null) this.#o.partials.release(t.partial);
      t.sf = null;
      t.hasher = null;
      // What --accept-files took without a byte costs the sender nothing to offer again, so it is not kept;
      // what the person accepted is (the next offer of it goes on without asking).
      // A file of an accepted set stays with its set (its next offer goes on without asking).
      if (!t.accepted || (t.partial === null && this.#o.autoAccept && t.set === null)) {
        const reason = t.accepted ? "the peer left before sending any of it; it is offered again when the peer is back" : "the peer left before the offer was answered";
        this.end(t, "cancelled", { code: "declined", reason }, false);
      } else if (t.state === "hashing" || t.state === "receiving") {
        t.state = "paused";
        this.#host.show(t, "paused");
      }
    }
    for (const s of [...this.sets.live.values()]) {
      if (s.pid !== sf.pid || s.ended || [...s.members].some((t) => t.sf !== null || t.partial !== null)) continue;
      if (!s.accepted) {
        // Not accepted, no file open (its offers were all of files already received): it would keep
        // its S2 slot for ever; it ends with the session, as its offers do.
        if (s.shown === "none") this.forgetSet(s);
        else this.#host.endSet(s, "cancelled", { code: "declined", reason: "the peer left before the offer was answered" });
      } else if (this.#o.autoAccept) {
        // What --accept-files took, with no partial to resume, is not kept (as a lone file is, §11.4):
        // it would hold its whole total against the disk, and its files in memory, for ever.
        this.#host.endSet(s, "cancelled", { code: "declined", reason: "the peer left before sending all of it; the rest is taken when the peer offers it again" });
      }
    }
  }

  end(t: Incoming, phase: TransferPhase, extra: Partial<TransferEvent>, deletePartial: boolean): void {
    if (t.state === "ended") return;
    this.setWaiting(t, false);
    this.restored.delete(t);
    if (t.partial !== null) {
      if (deletePartial) this.#o.partials.remove(t.partial);
      else this.#o.partials.release(t.partial);
    }
    if (t.sf !== null) {
      t.sf.in.delete(t.wireId);
      rememberEnded(t.sf.endedIn, t.wireId);
      t.sf = null;
    }
    t.state = "ended";
    this.byKey.delete(t.key);
    this.#host.forget(t);
    this.#host.show(t, phase, extra);
  }

  /** Close every partial's descriptor (partials stay for a resume). */
  close(): void {
    this.#o.partials.close();
  }
}
