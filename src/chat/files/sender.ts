/**
 * The sender side of PROTOCOL §11: offers, the answer to each, and the chunk pump.
 *
 *   1. add(): hash the file (one file at a time, 1 MiB pieces), writing down each
 *      segment's CRC-32 as it goes (segments.ts), then offer it on the peer's session,
 *      at most MAX_OPEN_TRANSFERS open per session (the rest wait);
 *   2. FILE_ACCEPT: check offset ≤ size and the prefix hash against our own first
 *      `offset` bytes (§11.7), those bytes against their segments' CRC-32 too;
 *   3. pump(): open the file, read 60 KiB at a time straight into the item's buffer (one
 *      the session has sealed already, chunks.ts, or a new one),
 *      check it against its segment's CRC-32 (no second SHA-256 pass), queue it,
 *      round robin over the session's transfers, only while session.bufferedAmount is
 *      under HIGH_WATER (§11.8); close the files; go on at the next drain (or the next turn);
 *   4. every byte sent and every segment as it was hashed for the offer: FILE_DONE
 *      (a segment that changed is CANCEL changed at its end, before the rest is sent);
 *   5. FILE_RECEIVED with our hash: delivered. A lost session pauses every transfer on it;
 *      the next session with the peer offers them again and they resume.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { CHUNK_HEADER_LEN, FileCode, MAX_OPEN_TRANSFERS } from "../../protocol/constants.ts";
import { chunkItem, fileCodeName, type FileItem } from "../../protocol/files.ts";
import type { TransferEvent, TransferPhase } from "../events.ts";
import type { Item } from "../../protocol/items.ts";
import type { SealedNotice } from "../../net/outbound.ts";
import { ChunkPool } from "./chunks.ts";
import { hashFile, hex, peekDigest, type LocalFile } from "./disk.ts";
import { Meter } from "./meter.ts";
import { SegmentPrints } from "./segments.ts";
import { rememberEnded, sameBytes, type Outgoing, type SenderHost, type SenderOptions, type SendSet, type SessionFiles } from "./state.ts";

type Wire<K extends FileItem["kind"]> = Extract<FileItem, { kind: K }>;
/** Free chunk buffers kept per session: what HIGH_WATER lets be queued, and two more (at most 16). */
const poolMax = (o: SenderOptions) => Math.min(16, Math.ceil(o.highWater / o.chunkBytes) + 2);
const ACTIVE = new Set(["offered", "waiting", "verifying", "sending", "done_sent"]);

/** A file as hashed for its offer: the SHA-256 the offer carries, and its segments' CRC-32 (segments.ts). */
export interface FileDigest {
  sha256: Uint8Array;
  prints: SegmentPrints;
}

export class Sender {
  readonly all = new Set<Outgoing>();
  readonly #host: SenderHost;
  readonly #o: SenderOptions;
  #hashing: Promise<unknown> = Promise.resolve();
  /** The wire id of the next offer (one space for every session). */
  #nextWire = 1n;

  constructor(host: SenderHost, o: SenderOptions) {
    this.#host = host;
    this.#o = o;
  }

  /** Step 1: a new transfer of `file` to `pid`, one file of `set` (PROTOCOL §11.11); `sha` is shared when one file goes to several peers. */
  add(pid: string, file: LocalFile, sha: Promise<FileDigest>, set: SendSet): Outgoing {
    const t: Outgoing = { dir: "send", local: set.id, pid, path: file.path, name: file.name, size: file.size, sha256: null, prints: null, state: "hashing", sf: null, wireId: 0n, offset: 0, fd: null, check: null, retried: false, announced: false, meter: null, set, counted: 0 };
    set.members.push(t);
    this.all.add(t);
    sha.then(
      (h) => {
        if (t.state !== "hashing") return;
        t.sha256 = h.sha256;
        t.prints = h.prints;
        t.state = "queued";
        this.offerQueued(pid);
      },
      (e: Error) => this.end(t, "failed", { code: "io_error", reason: `cannot read ${t.path}: ${e.message}` }),
    );
    return t;
  }

  /** SHA-256 of a file and its segments' CRC-32, one file at a time for the whole chat (no burst of open files). */
  hashOnce(path: string, size: number): Promise<FileDigest> {
    const run = this.#hashing.then(async () => {
      const prints = new SegmentPrints(size);
      const { hasher, read } = await hashFile(path, size, undefined, undefined, (piece) => prints.record(piece));
      if (read !== size || !prints.complete) throw new Error("the file changed size while it was hashed");
      return { sha256: new Uint8Array(hasher.digest()), prints };
    });
    this.#hashing = run.catch(() => {});
    return run;
  }

  /** Offer what waits for this peer, while the session has room (MAX_OPEN_TRANSFERS). */
  offerQueued(pid: string): void {
    const sf = this.#host.sessionOf(pid);
    if (sf === undefined || sf.unsupported) return;
    for (const t of this.all) {
      if (sf.out.size >= MAX_OPEN_TRANSFERS) return;
      if (t.pid === pid && t.state === "queued") this.#offer(sf, t);
    }
  }

  #offer(sf: SessionFiles, t: Outgoing): void {
    t.wireId = this.#nextWire++;
    t.sf = sf;
    t.state = "offered";
    t.offset = 0;
    sf.out.set(t.wireId, t);
    // PROTOCOL §11.11: the set goes just before its offer, the same every time it is offered.
    if (t.set !== null) this.#host.send(sf, { kind: "file_set", id: t.wireId, count: t.set.count, total: t.set.total, label: t.set.id });
    this.#host.send(sf, { kind: "file_offer", id: t.wireId, size: t.size, sha256: t.sha256!, name: t.name });
    if (!sf.supported) this.#host.awaitAnswer(sf);
    if (!t.announced) this.#host.show(t, "offered");
    t.announced = true;
  }

  #lookup(sf: SessionFiles, id: bigint, what: string): Outgoing | undefined {
    const t = sf.out.get(id);
    if (t === undefined && !sf.endedOut.has(id)) this.#host.report(sf, `the peer sent ${what} for a transfer it was never offered; ignored`);
    return t;
  }

  /** Step 2. */
  onAccept(sf: SessionFiles, it: Wire<"file_accept">): void {
    const t = this.#lookup(sf, it.id, "FILE_ACCEPT");
    if (t === undefined) return;
    if (t.state !== "offered" && t.state !== "waiting") return this.fault(t, "protocol", "the peer accepted the same transfer twice");
    if (it.offset > t.size) return this.fault(t, "protocol", `the peer asked to resume at byte ${it.offset} of ${t.size}`);
    t.state = "verifying";
    const prefix = new Uint8Array(it.prefix);
    const alive = () => t.state === "verifying" && t.sf === sf;
    // The bytes before `offset` are checked against their segments too: DONE covers every byte of the file.
    const check = t.prints!.check();
    hashFile(t.path, it.offset, undefined, alive, (piece) => check.feed(piece)).then(
      ({ hasher, read }) => {
        if (!alive()) return;
        if (read !== it.offset) return this.fault(t, "changed", "the file got shorter while it was being sent");
        if (!check.ok) return this.fault(t, "changed", "the file changed after it was offered");
        if (!sameBytes(peekDigest(hasher), prefix)) return this.#resumeMismatch(sf, t);
        t.check = check;
        t.offset = it.offset;
        t.state = "sending";
        t.meter = new Meter(t.offset, this.#o.now());
        this.#host.show(t, "accepted", { offset: t.offset });
        this.pump(sf);
      },
      (e: Error) => alive() && this.fault(t, "io_error", `cannot read ${t.path}: ${e.message}`),
    );
  }

  /** PROTOCOL §11.7: the peer's partial is not a prefix of our file: cancel, offer again once, from 0. */
  #resumeMismatch(sf: SessionFiles, t: Outgoing): void {
    if (t.retried) return this.fault(t, "resume_mismatch", "the peer's partial file does not match ours, twice");
    this.#host.send(sf, { kind: "file_cancel", id: t.wireId, code: FileCode.resume_mismatch, reason: "your partial file does not match; offering it again" });
    this.#unbind(t);
    t.retried = true;
    t.state = "queued";
    this.offerQueued(t.pid);
  }

  onPending(sf: SessionFiles, it: Wire<"file_pending">): void {
    const t = this.#lookup(sf, it.id, "FILE_PENDING");
    if (t?.state !== "offered") return;
    t.state = "waiting";
    // A resume answers PENDING while the peer reads its partial back: not news to the person.
    if (t.meter === null) this.#host.show(t, "waiting");
  }

  onReject(sf: SessionFiles, it: Wire<"file_reject">): void {
    const t = this.#lookup(sf, it.id, "FILE_REJECT");
    if (t === undefined) return;
    const code = fileCodeName(it.code);
    const refused = it.code === FileCode.declined || it.code === FileCode.busy || it.code === FileCode.too_large || it.code === FileCode.bad_name || it.code === FileCode.set_refused;
    this.end(t, refused ? "rejected" : "failed", { code, reason: it.reason === "" ? code : it.reason });
  }

  onReceived(sf: SessionFiles, it: Wire<"file_received">): void {
    const t = this.#lookup(sf, it.id, "FILE_RECEIVED");
    if (t === undefined) return;
    if (t.state !== "done_sent" && t.state !== "offered" && t.state !== "waiting") return this.fault(t, "protocol", "the peer confirmed a file before it had all of it");
    if (!sameBytes(it.sha256, t.sha256!)) return this.fault(t, "hash_mismatch", "the peer confirmed a different SHA-256");
    const elapsedMs = t.meter ? this.#o.now() - t.meter.startedAt : 0;
    t.offset = t.size;
    this.end(t, "done", { sha256: hex(t.sha256!), elapsedMs, rate: t.meter?.average(t.size, this.#o.now()) ?? 0 });
  }

  /** Step 3. Returns when the session is full, closed, or has nothing to send. */
  pump(sf: SessionFiles): void {
    const s = sf.s;
    let sent = false;
    for (let again = true; again && s.state === "open" && s.bufferedAmount < this.#o.highWater; ) {
      again = false;
      for (const t of sf.out.values()) {
        if (t.state !== "sending") continue;
        if (s.bufferedAmount >= this.#o.highWater) break;
        this.#step(sf, t);
        again = sent = true;
      }
    }
    // A file is open only while its chunks are read (no descriptor per waiting transfer).
    for (const t of sf.out.values()) this.#close(t);
    // The queued chunks are sealed in a microtask; when the socket takes them all there is
    // no drain event, so look again on the next turn of the loop.
    if (sent && !sf.pumpScheduled) {
      sf.pumpScheduled = true;
      setImmediate(() => {
        sf.pumpScheduled = false;
        this.pump(sf);
      });
    }
  }

  #step(sf: SessionFiles, t: Outgoing): void {
    // No larger than one paced bulk record of this path (net/pacer.ts: a line waits behind one).
    const n = Math.min(this.#o.chunkBytes, Math.max(1, (sf.s.bulkItemBytes ?? Infinity) - CHUNK_HEADER_LEN), t.size - t.offset);
    if (n > 0) {
      // A buffer the session has sealed already, or a new one (chunks.ts).
      const pool = (sf.chunks ??= new ChunkPool(CHUNK_HEADER_LEN + this.#o.chunkBytes, poolMax(this.#o)));
      const buf = pool.take();
      let got: number;
      try {
        t.fd ??= openSync(t.path, "r");
        got = readSync(t.fd, buf, CHUNK_HEADER_LEN, n, t.offset);
      } catch (e) {
        pool.give(buf);
        return this.fault(t, "io_error", `cannot read ${t.path}: ${(e as Error).message}`);
      }
      const end = CHUNK_HEADER_LEN + got;
      // A segment that ends in this chunk and does not match: the rest of it is not sent.
      const bad = got === 0 ? "the file got shorter while it was being sent" : t.check!.feed(buf.subarray(CHUNK_HEADER_LEN, end)) ? null : "the file changed while it was being sent";
      if (bad !== null) {
        pool.give(buf);
        return this.fault(t, "changed", bad);
      }
      const item: Item & SealedNotice = chunkItem(end === buf.length ? buf : buf.subarray(0, end), t.wireId, t.offset);
      // The buffer comes back when the session has sealed this chunk, not before.
      item.sealed = pool.sealed;
      this.#host.send(sf, item);
      t.offset += got;
      const now = this.#o.now();
      if (t.meter!.update(t.offset, now)) this.#host.show(t, "progress", { rate: t.meter!.rate(t.offset, now), etaSeconds: t.meter!.eta(t.offset, t.size, now) });
    }
    if (t.offset >= t.size) this.#finish(sf, t);
  }

  /** Step 4. */
  #finish(sf: SessionFiles, t: Outgoing): void {
    this.#close(t);
    this.#idle(sf, t);
    if (!t.check!.whole) return this.fault(t, "changed", "the file changed while it was being sent");
    t.check = null;
    t.state = "done_sent";
    this.#host.send(sf, { kind: "file_done", id: t.wireId });
  }

  /** The session is gone: every transfer on it waits for the next one. */
  sessionLost(sf: SessionFiles): void {
    for (const t of sf.out.values()) {
      if (!ACTIVE.has(t.state)) continue;
      const was = t.state;
      this.#close(t);
      t.sf = null;
      t.check = null;
      t.state = "queued";
      if (was !== "offered" && was !== "waiting") this.#host.show(t, "paused");
    }
    sf.out.clear();
    sf.chunks?.idle();
  }

  /** PROTOCOL §11.4: no answer in time: the peer cannot receive files; nothing more is offered to it. */
  unsupported(sf: SessionFiles): void {
    for (const t of [...this.all]) {
      // Those still being hashed too: they would wait for this peer forever.
      if (t.pid === sf.pid && (t.sf === sf || t.state === "queued" || t.state === "hashing")) this.end(t, "unsupported", { reason: "the peer cannot receive files" });
    }
  }

  /** A fault of this transfer: CANCEL with `code`, tell the person. */
  fault(t: Outgoing, code: keyof typeof FileCode, reason: string): void {
    if (t.sf !== null) this.#host.send(t.sf, { kind: "file_cancel", id: t.wireId, code: FileCode[code], reason });
    this.end(t, "failed", { code, reason });
  }

  /** /cancel. */
  cancel(t: Outgoing): void {
    if (t.sf !== null) this.#host.send(t.sf, { kind: "file_cancel", id: t.wireId, code: FileCode.declined, reason: "cancelled by the sender" });
    this.end(t, "cancelled", { code: "declined", reason: "cancelled here" });
  }

  /** The transfer is over, one way or another; a slot is free for the next offer. */
  end(t: Outgoing, phase: TransferPhase, extra: Partial<TransferEvent> = {}): void {
    if (t.state === "ended") return;
    this.#close(t);
    this.#idle(t.sf, t);
    this.#unbind(t);
    t.state = "ended";
    this.all.delete(t);
    this.#host.ended(t, phase, extra);
    this.offerQueued(t.pid);
  }

  #unbind(t: Outgoing): void {
    if (t.sf === null) return;
    t.sf.out.delete(t.wireId);
    rememberEnded(t.sf.endedOut, t.wireId);
    t.sf = null;
  }

  /** No transfer but `t` is sending on `sf`: its free chunk buffers are let go (chunks.ts). */
  #idle(sf: SessionFiles | null, t: Outgoing): void {
    if (sf?.chunks === undefined) return;
    for (const o of sf.out.values()) if (o !== t && o.state === "sending") return;
    sf.chunks.idle();
  }

  #close(t: Outgoing): void {
    if (t.fd === null) return;
    try {
      closeSync(t.fd);
    } catch {
      /* already closed */
    }
    t.fd = null;
  }
}
