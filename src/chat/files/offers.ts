/**
 * Step 1 of the receiver (PROTOCOL §11.5): a FILE_OFFER admitted or refused, in order —
 * only from a contact; open-id, count, rate, size and name checks; the set it names
 * (§11.11 S1–S6); offers waiting for the person counted per sender identity; then the
 * answer at once: FILE_RECEIVED (completed in this run), ACCEPT (auto, or a resume of a
 * partial of the same key and sender), else PENDING and ask the person. The rest of the
 * receiver (accepting, chunks, done, a lost session) is receiver.ts.
 */
import { MAX_OPEN_TRANSFERS, type FileCode } from "../../protocol/constants.ts";
import type { FileItem } from "../../protocol/files.ts";
import { fail } from "../../protocol/errors.ts";
import { fileKey } from "./disk.ts";
import { safeRelativePath } from "./names.ts";
import { joinOrRefuse, type RecvSets } from "./sets.ts";
import { MAX_PENDING_PER_PEER, MAX_PENDING_TOTAL, OFFER_BURST, OFFERS_PER_SECOND, type Incoming, type ReceiverHost, type ReceiverOptions, type RecvSet, type SessionFiles } from "./state.ts";

type Wire<K extends FileItem["kind"]> = Extract<FileItem, { kind: K }>;
type Code = keyof typeof FileCode;
type FileSetItem = Wire<"file_set">;

/** What an offer reads and calls of the Receiver (receiver.ts), named here so offers.ts does not import receiver.ts. */
export interface OfferHost {
  readonly byKey: Map<string, Incoming>;
  readonly completed: Map<string, string>;
  readonly sets: RecvSets;
  readonly waiting: Set<Incoming>;
  readonly waitingBy: Map<string, number>;
  readonly restored: Set<Incoming>;
  fail(t: Incoming, code: Code, reason: string): void;
  refuseId(sf: SessionFiles, id: bigint, code: Code, reason: string): void;
  forgetSet(set: RecvSet): void;
  bind(t: Incoming, sf: SessionFiles, id: bigint): void;
  start(t: Incoming, resume: boolean): void;
  free(): number;
  setWaiting(t: Incoming, on: boolean): void;
  acceptSet(s: RecvSet): void;
}

/**
 * Step 1 (checks 1 and 2, sizes and UTF-8, were made by decodeFileItem). `fs`: the
 * FILE_SET just before it that names it (PROTOCOL §11.11), checked after 4a (S1 to S6).
 */
export function onOffer(r: OfferHost, host: ReceiverHost, o: Pick<ReceiverOptions, "maxFileBytes" | "autoAccept">, sf: SessionFiles, it: Wire<"file_offer">, fs: FileSetItem | null): void {
  const old = sf.in.get(it.id);
  if (old !== undefined) return r.fail(old, "protocol", "the same transfer id was offered twice");
  if (!host.isContact(sf.pid)) {
    r.refuseId(sf, it.id, "declined", "files are accepted from contacts only");
    return host.report(sf, "offered a file, refused: it is not one of your contacts");
  }
  if (sf.in.size >= MAX_OPEN_TRANSFERS) return r.refuseId(sf, it.id, "busy", `at most ${MAX_OPEN_TRANSFERS} open transfers`);
  // An offer costs a hash, a lookup and an event: its rate is per identity (one identity can open many sessions).
  if (!host.takeOffer(sf.pid)) {
    // A sender that keeps on past its rate is flooding, as a TEXT flood is: the session ends with ALERT busy.
    if (++sf.overRate > OFFER_BURST) return sf.s.abort(fail("busy", `the peer offered files faster than ${OFFERS_PER_SECOND} a second`));
    return r.refuseId(sf, it.id, "busy", "too many offers; offer fewer at a time");
  }
  const sha256 = new Uint8Array(it.sha256);
  const key = fileKey(sf.pid, it.size, sha256, it.name);
  const rel = safeRelativePath(it.name);
  // PROTOCOL §11.11 S1–S6: the set this offer names (a refused one refuses its later offers at once).
  let set: RecvSet | null = null;
  if (fs !== null) {
    set = joinOrRefuse(r.sets, host, sf, fs, key, it.size, rel, Math.min(o.maxFileBytes, r.free()), (code, reason) => r.refuseId(sf, it.id, code, reason));
    if (set === null) return;
  }
  if (r.completed.has(key)) {
    // A file of the set received already (offered again after a redial) counts once.
    if (set !== null && !set.placed.has(key)) {
      set.placed.add(key);
      host.completedInSet(set);
    }
    return host.send(sf, { kind: "file_received", id: it.id, sha256 });
  }
  const known = r.byKey.get(key);
  const have = known?.next ?? 0;
  const no = (code: Code, reason: string): void => {
    r.refuseId(sf, it.id, set !== null && set.count > 1 ? "set_refused" : code, reason);
    if (set !== null) host.endSet(set, "failed", { code, reason: `${it.name}: ${reason}` });
  };
  if (it.size > o.maxFileBytes || it.size - have > r.free()) return no("too_large", "the file is too large for this receiver");
  if (rel === null) return no("bad_name", "no usable file name");
  if (known !== undefined) {
    if (known.sf !== null) {
      unjoin(r, set);
      return r.refuseId(sf, it.id, "busy", "this file is already being received");
    }
    // The same file from the same sender (the key holds its identity and the hash), on a new session (PROTOCOL §11.7).
    r.bind(known, sf, it.id);
    if (set !== null && known.set !== set) {
      // A partial of an earlier run, or of a set the sender offers again after a restart (under a
      // new label): it joins the new set; an old set left with no file is forgotten.
      const old = known.set;
      if (old === null) host.forget(known);
      else if (old.members.delete(known) && old.members.size === 0) r.forgetSet(old);
      known.set = set;
      known.local = set.id;
      known.counted = 0; // its bytes count toward the new set from the start
      set.members.add(known);
    }
    // Its own bytes resume without asking; the rest of a set not yet accepted waits for the person, who is shown it.
    const restored = r.restored.delete(known);
    if (restored || (set !== null && set.shown === "none")) host.show(known, "offered", set !== null && set.count > 1 && !set.accepted ? {} : { auto: true });
    if (known.accepted || set?.accepted) return r.start(known, true);
    return host.send(sf, { kind: "file_pending", id: it.id });
  }
  // A lone file waits as a plain offer does (MAX_PENDING_*); a set of several counts once, as a set (S2).
  const lone = set === null || set.count === 1;
  if (lone && !o.autoAccept && ((r.waitingBy.get(sf.pid) ?? 0) >= MAX_PENDING_PER_PEER || r.waiting.size >= MAX_PENDING_TOTAL)) {
    unjoin(r, set);
    return r.refuseId(sf, it.id, "busy", `at most ${MAX_PENDING_PER_PEER} offers may wait for an answer`);
  }
  const t: Incoming = { dir: "receive", local: set?.id ?? "", pid: sf.pid, name: it.name, rel, size: it.size, sha256, key, partial: null, state: "offered", accepted: false, sf: null, wireId: 0n, next: 0, hasher: null, meter: null, set, counted: 0 };
  if (set === null) t.local = host.register(t);
  else set.members.add(t);
  r.byKey.set(key, t);
  r.bind(t, sf, it.id);
  const auto = o.autoAccept || set?.accepted === true;
  host.show(t, "offered", auto ? { auto: true } : {});
  if (auto) return set !== null && !set.accepted ? r.acceptSet(set) : r.start(t, false);
  // A set waits for the person as one offer (S2 bounds the sets); its files are answered PENDING.
  if (lone) r.setWaiting(t, true);
  host.send(sf, { kind: "file_pending", id: it.id });
}

/** An offer refused for now (busy) that made its set: a set with no file is forgotten (nothing was shown). */
function unjoin(r: OfferHost, set: RecvSet | null): void {
  if (set !== null && set.members.size === 0 && set.shown === "none") r.forgetSet(set);
}
