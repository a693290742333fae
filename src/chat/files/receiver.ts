/**
 * The receiver side of PROTOCOL §11: every check of §11.5, in order, and the bytes to disk.
 *
 *   1. FILE_OFFER: open-id, count, size and name checks; answer at once: FILE_RECEIVED (we
 *      completed this key in this run), ACCEPT (auto, or a partial/earlier acceptance of
 *      the same key: a resume), else PENDING and ask the person;
 *   2. accepting: open `.sotto-<key>.part`, hash what it holds (the resume prefix), send
 *      FILE_ACCEPT(offset = its length, H(prefix)), keep the hasher running;
 *   3. FILE_CHUNK: accepted, at exactly the next offset, within size → write at the
 *      offset (synchronously: nothing is buffered in memory), hash, count;
 *   4. FILE_DONE: all bytes, H = sha256 → link to the final name (never replacing),
 *      FILE_RECEIVED. Any failure deletes the partial and says why;
 *   5. a lost session keeps the partial and pauses the transfer for the next offer.
 */
import { closeSync, constants, fstatSync, ftruncateSync, mkdirSync, openSync, statfsSync, statSync, truncateSync, unlinkSync, writeSync } from "node:fs";
import { FileCode, MAX_OPEN_TRANSFERS } from "../../protocol/constants.ts";
import { fileCodeName, type FileItem } from "../../protocol/files.ts";
import type { TransferEvent, TransferPhase } from "../events.ts";
import { fileKey, hashFile, hex, peekDigest } from "./disk.ts";
import { partialPath, placeFile, safeRelativePath } from "./names.ts";
import { Meter } from "./meter.ts";
import { rememberEnded, sameBytes, type Ctx, type Incoming, type SessionFiles } from "./state.ts";

type Wire<K extends FileItem["kind"]> = Extract<FileItem, { kind: K }>;
type Code = keyof typeof FileCode;

export class Receiver {
  /** Open transfers by resume key (bound to a session or paused). */
  readonly byKey = new Map<string, Incoming>();
  /** Keys completed in this run → where the file is (a re-offer is answered with FILE_RECEIVED). */
  readonly completed = new Map<string, string>();
  readonly #ctx: Ctx;

  constructor(ctx: Ctx) {
    this.#ctx = ctx;
  }

  /** Step 1 (checks 1 and 2, sizes and UTF-8, were made by decodeFileItem). */
  onOffer(sf: SessionFiles, it: Wire<"file_offer">): void {
    const ctx = this.#ctx;
    const old = sf.in.get(it.id);
    if (old !== undefined) return this.fail(old, "protocol", "the same transfer id was offered twice");
    if (sf.in.size >= MAX_OPEN_TRANSFERS) return this.#refuse(sf, it.id, "busy", `at most ${MAX_OPEN_TRANSFERS} open transfers`);
    const sha256 = new Uint8Array(it.sha256);
    const key = fileKey(sf.pid, it.size, sha256, it.name);
    if (this.completed.has(key)) return ctx.send(sf, { kind: "file_received", id: it.id, sha256 });
    const part = partialPath(ctx.downloads, key);
    const have = sizeOf(part);
    if (it.size > ctx.maxFileBytes || it.size - Math.min(have ?? 0, it.size) > freeSpace(ctx.downloads)) return this.#refuse(sf, it.id, "too_large", "the file is too large for this receiver");
    const rel = safeRelativePath(it.name);
    if (rel === null) return this.#refuse(sf, it.id, "bad_name", "no usable file name");
    const known = this.byKey.get(key);
    if (known !== undefined) {
      if (known.sf !== null) return this.#refuse(sf, it.id, "busy", "this file is already being received");
      // The same file again, on a new session (PROTOCOL §11.7): continue where it was.
      this.#bind(known, sf, it.id);
      if (known.accepted) return this.#start(known, true);
      return ctx.send(sf, { kind: "file_pending", id: it.id });
    }
    const t: Incoming = { dir: "receive", local: "", pid: sf.pid, name: it.name, rel, size: it.size, sha256, key, part, state: "offered", accepted: false, sf: null, wireId: 0n, fd: null, next: have ?? 0, hasher: null, meter: null };
    t.local = ctx.register(t);
    this.byKey.set(key, t);
    this.#bind(t, sf, it.id);
    // A partial of this key means the person accepted it before (PROTOCOL §11.7).
    const auto = ctx.autoAccept || have !== null;
    ctx.emit(t, "offered", auto ? { auto } : {});
    if (auto) return this.#start(t, have !== null && have > 0, true);
    ctx.send(sf, { kind: "file_pending", id: it.id });
  }

  #bind(t: Incoming, sf: SessionFiles, id: bigint): void {
    t.sf = sf;
    t.wireId = id;
    sf.in.set(id, t);
  }

  #refuse(sf: SessionFiles, id: bigint, code: Code, reason: string): void {
    this.#ctx.send(sf, { kind: "file_reject", id, code: FileCode[code], reason });
    rememberEnded(sf.endedIn, id);
  }

  /** /accept (or automatic): on a session now, or as soon as the sender offers it again. */
  accept(t: Incoming): void {
    t.accepted = true;
    if (t.sf !== null) this.#start(t);
    else t.state = "paused";
  }

  /**
   * Step 2. A partial is read back before FILE_ACCEPT can go out; `pending` answers the
   * offer with FILE_PENDING first, so a long read never looks like silence (§11.4).
   */
  #start(t: Incoming, pending = false, accept = false): void {
    const sf = t.sf!;
    if (accept) t.accepted = true;
    if (pending) this.#ctx.send(sf, { kind: "file_pending", id: t.wireId });
    let have: number;
    try {
      mkdirSync(this.#ctx.downloads, { recursive: true, mode: 0o700 });
      // Not "a": with O_APPEND, Linux ignores the position of each write.
      t.fd = openSync(t.part, constants.O_RDWR | constants.O_CREAT, 0o600);
      have = fstatSync(t.fd).size;
      if (have > t.size) {
        ftruncateSync(t.fd, 0);
        have = 0;
      }
    } catch (e) {
      return this.fail(t, "io_error", `cannot write to ${this.#ctx.downloads}: ${(e as Error).message}`);
    }
    t.state = "hashing";
    const alive = () => t.state === "hashing" && t.sf === sf;
    hashFile(t.part, have, undefined, alive).then(
      ({ hasher, read }) => {
        if (!alive()) return;
        if (read < have) ftruncateSync(t.fd!, read);
        t.hasher = hasher;
        t.next = read;
        t.state = "receiving";
        t.meter = new Meter(read, this.#ctx.now());
        this.#ctx.send(sf, { kind: "file_accept", id: t.wireId, offset: read, prefix: peekDigest(hasher) });
        this.#ctx.emit(t, "accepted", { offset: read });
      },
      (e: Error) => alive() && this.fail(t, "io_error", `cannot read back ${t.part}: ${e.message}`),
    );
  }

  #lookup(sf: SessionFiles, id: bigint, what: string): Incoming | undefined {
    const t = sf.in.get(id);
    if (t === undefined && !sf.endedIn.has(id)) this.#ctx.report(sf, `the peer sent ${what} for a transfer it never offered; ignored`);
    return t;
  }

  /** Step 3. */
  onChunk(sf: SessionFiles, it: Wire<"file_chunk">): void {
    const t = this.#lookup(sf, it.id, "FILE_CHUNK");
    if (t === undefined) return;
    if (t.state !== "receiving") return this.fail(t, "protocol", "the peer sent file data before the transfer was accepted");
    if (it.offset !== t.next) return this.fail(t, "protocol", `the peer sent bytes at offset ${it.offset}, expected ${t.next}`);
    if (it.offset + it.data.length > t.size) return this.fail(t, "size_mismatch", `the peer sent more than the ${t.size} bytes it offered`);
    try {
      for (let w = 0; w < it.data.length; ) w += writeSync(t.fd!, it.data, w, it.data.length - w, it.offset + w);
    } catch (e) {
      return this.fail(t, "io_error", `cannot write ${t.part}: ${(e as Error).message}`);
    }
    t.hasher!.update(it.data);
    t.next += it.data.length;
    const now = this.#ctx.now();
    if (t.meter!.update(t.next, now)) this.#ctx.emit(t, "progress", { rate: t.meter!.rate(t.next, now), etaSeconds: t.meter!.eta(t.next, t.size, now) });
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
    this.#close(t);
    let path: string;
    try {
      path = placeFile(t.part, this.#ctx.downloads, t.rel);
    } catch (e) {
      return this.fail(t, "io_error", `cannot name the received file: ${(e as Error).message}`);
    }
    this.#ctx.send(sf, { kind: "file_received", id: t.wireId, sha256: t.sha256 });
    this.completed.set(t.key, path);
    const now = this.#ctx.now();
    this.end(t, "done", { sha256: hex(t.sha256), path, elapsedMs: t.meter ? now - t.meter.startedAt : 0, rate: t.meter?.average(t.size, now) ?? 0 }, false);
  }

  onCancel(sf: SessionFiles, it: Wire<"file_cancel">): void {
    const t = sf.in.get(it.id);
    if (t === undefined) return; // never offered, or ended here: nothing to do
    if (it.code === FileCode.resume_mismatch && t.accepted) return this.#restart(t);
    const code = fileCodeName(it.code);
    this.end(t, it.code === FileCode.declined ? "cancelled" : "failed", { code, reason: it.reason === "" ? code : it.reason }, true);
  }

  /**
   * PROTOCOL §11.7: our partial is not a prefix of the sender's file. Empty it (its
   * existence still says the person accepted) and wait for the new offer, which starts at 0.
   */
  #restart(t: Incoming): void {
    this.#close(t);
    try {
      truncateSync(t.part, 0);
    } catch {
      /* gone already: the new offer starts at 0 anyway */
    }
    t.sf!.in.delete(t.wireId);
    rememberEnded(t.sf!.endedIn, t.wireId);
    t.sf = null;
    t.hasher = null;
    t.next = 0;
    t.state = "paused";
  }

  /** A fault of this transfer: REJECT with `code`, delete the partial, tell the person. */
  fail(t: Incoming, code: Code, reason: string): void {
    if (t.sf !== null) this.#ctx.send(t.sf, { kind: "file_reject", id: t.wireId, code: FileCode[code], reason });
    this.end(t, "failed", { code, reason }, true);
  }

  /** A malformed item naming `id` (PROTOCOL §11.5: a fault of that transfer, when there is one). */
  protocolFault(sf: SessionFiles, id: bigint, reason: string): void {
    const t = sf.in.get(id);
    if (t !== undefined) return this.fail(t, "protocol", reason);
    if (sf.endedIn.has(id)) return;
    this.#refuse(sf, id, "protocol", reason);
    this.#ctx.report(sf, `the peer sent a malformed file item (${reason}); refused`);
  }

  /** /reject (an offer) or /cancel (a transfer under way): REJECT declined, partial deleted. */
  refuse(t: Incoming, phase: "rejected" | "cancelled"): void {
    if (t.sf !== null) this.#ctx.send(t.sf, { kind: "file_reject", id: t.wireId, code: FileCode.declined, reason: phase === "rejected" ? "declined" : "cancelled by the receiver" });
    this.end(t, phase, { code: "declined", reason: phase === "rejected" ? "declined here" : "cancelled here" }, true);
  }

  /** Step 5: keep the partial; the next offer of the same key resumes. */
  sessionLost(sf: SessionFiles): void {
    for (const t of sf.in.values()) {
      this.#close(t);
      t.sf = null;
      t.hasher = null;
      if (t.state === "hashing" || t.state === "receiving") {
        t.state = "paused";
        this.#ctx.emit(t, "paused");
      }
    }
    sf.in.clear();
  }

  end(t: Incoming, phase: TransferPhase, extra: Partial<TransferEvent>, deletePartial: boolean): void {
    if (t.state === "ended") return;
    this.#close(t);
    if (deletePartial) {
      try {
        unlinkSync(t.part);
      } catch {
        /* never created, or already gone */
      }
    }
    if (t.sf !== null) {
      t.sf.in.delete(t.wireId);
      rememberEnded(t.sf.endedIn, t.wireId);
      t.sf = null;
    }
    t.state = "ended";
    this.byKey.delete(t.key);
    this.#ctx.forget(t);
    this.#ctx.emit(t, phase, extra);
  }

  #close(t: Incoming): void {
    if (t.fd === null) return;
    try {
      closeSync(t.fd);
    } catch {
      /* already closed */
    }
    t.fd = null;
  }
}

/** The size of a partial file, or null when there is none. */
function sizeOf(path: string): number | null {
  try {
    return statSync(path).size;
  } catch {
    return null;
  }
}

/** Free bytes where the download folder is (or would be); Infinity when it cannot be told. */
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
