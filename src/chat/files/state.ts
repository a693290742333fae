/**
 * The state the file transfer keeps (PROTOCOL §11.4), shared by the sender side
 * (sender.ts), the receiver side (receiver.ts) and the manager that routes items to
 * them (transfers.ts).
 *
 *   Outgoing   one file offered to one peer; lives across sessions until delivered or ended.
 *   Incoming   one file offered by one peer; lives across sessions (paused) until done or ended.
 *   SessionFiles  per open session: the transfers bound to it by wire id, in each direction.
 *   SendSet / RecvSet  PROTOCOL §11.11: the files of one transfer as the person sees it (a
 *              folder), under one id on both sides (sets.ts).
 */
import type { ChunkPool } from "./chunks.ts";
import type { PeerSession } from "../../net/types.ts";
import type { FileItem } from "../../protocol/files.ts";
import type { Item } from "../../protocol/items.ts";
import type { TransferEvent, TransferPhase } from "../events.ts";
import type { Meter } from "./meter.ts";
import type { PartialEntry, Partials } from "./partials.ts";
import type { SegmentCheck, SegmentPrints } from "./segments.ts";

/** How the file transfer of one chat behaves. */
export interface FileOptions {
  /** Where received files land (created when needed). */
  downloads: string;
  /** Accept every offer without asking (--accept-files). */
  autoAccept: boolean;
  /** The sotto home: never offered by /send (the private identity key is there). */
  home?: string;
  /** Where partial files wait (a private 0700 folder; default: ".sotto-partials" in `downloads`). */
  partials?: string;
  /** PROTOCOL §11.4: no file item from the peer this long after an offer → a PING asks whether it reads them. */
  answerTimeoutMs?: number;
  /** Free bytes where `dir` is (a test seam; default: statfs). */
  freeSpace?: (dir: string) => number;
  /** Bytes kept free on disk beyond every accepted transfer (default 64 MiB). */
  diskMarginBytes?: number;
  /** A partial no sender came back for in this long is deleted (default 7 days). */
  partialMaxAgeMs?: number;
  /** The clock of the rate limits and meters (a test seam; default performance.now). */
  now?: () => number;
  /** Largest file accepted, in bytes (default 1 TiB). */
  maxFileBytes?: number;
  /** PROTOCOL §11.8: queue chunks only while the session has fewer unsent bytes than this. */
  highWater?: number;
  /** Data bytes per FILE_CHUNK (1..65,261; default 61,440). */
  chunkBytes?: number;
}

export const DEFAULT_CHUNK = 60 * 1024;
export const DEFAULT_HIGH_WATER = 64 * 1024;
export const DEFAULT_MAX_FILE = 2 ** 40;
/** Bytes kept free beyond the sum of every accepted transfer. */
export const DEFAULT_DISK_MARGIN = 64 * 1024 * 1024;
/** Offers waiting for the person, per sender identity over all its sessions. */
export const MAX_PENDING_PER_PEER = 64;
/** Offers waiting for the person, over every peer. */
export const MAX_PENDING_TOTAL = 1024;
/** Offers a sender identity may make per second, on average, over all its sessions. */
export const OFFERS_PER_SECOND = 200;
/** Offers a sender identity may make at once (five seconds' worth). */
export const OFFER_BURST = 1000;
/** Ids we ended, remembered per session so that items still in flight for them are dropped quietly. */
export const MAX_ENDED_IDS = 4096;
/** Reports of items naming unknown ids, per session (the rest are dropped without a word). */
export const MAX_REPORTS = 5;

export type OutState = "hashing" | "queued" | "offered" | "waiting" | "verifying" | "sending" | "done_sent" | "ended";
export type InState = "offered" | "hashing" | "receiving" | "paused" | "ended";

/** One file we send to one peer. */
export interface Outgoing {
  dir: "send";
  local: string;
  pid: string;
  path: string;
  name: string;
  size: number;
  /** H(file), known once hashed. */
  sha256: Uint8Array | null;
  /** The CRC-32 of each segment, written down while it was hashed (segments.ts). */
  prints: SegmentPrints | null;
  state: OutState;
  /** The session the current offer went out on, and its wire id there. */
  sf: SessionFiles | null;
  wireId: bigint;
  /** Next byte to send. */
  offset: number;
  fd: number | null;
  /** The bytes sent, from byte 0, against the segments hashed for the offer (PROTOCOL §11.5: the sender checks itself; segments.ts). */
  check: SegmentCheck | null;
  /** A resume_mismatch re-offer was used (once per transfer). */
  retried: boolean;
  /** The "offered" event was shown (re-offers after a pause are quiet). */
  announced: boolean;
  meter: Meter | null;
  /** The set this file belongs to (every file we send is in one; a lone file is a set of 1). */
  set: SendSet | null;
  /** Bytes of this file already added to its set's count. */
  counted: number;
}

/** One file a peer sends us. */
export interface Incoming {
  dir: "receive";
  local: string;
  pid: string;
  /** The name as offered (raw). */
  name: string;
  /** The sanitized relative path it will get (PROTOCOL §11.6). */
  rel: string;
  size: number;
  sha256: Uint8Array;
  /** PROTOCOL §11.7: the resume key (hex). */
  key: string;
  /** The partial file, once the first byte arrived (partials.ts). */
  partial: PartialEntry | null;
  state: InState;
  /** The person (or --accept-files, or an earlier session) accepted it. */
  accepted: boolean;
  sf: SessionFiles | null;
  wireId: bigint;
  /** Next byte expected. */
  next: number;
  hasher: Bun.CryptoHasher | null;
  meter: Meter | null;
  /** PROTOCOL §11.11: the set its offer named, or null for a plain offer. */
  set: RecvSet | null;
  counted: number;
}

export type Transfer = Outgoing | Incoming;

/** What the person sees as one transfer, shared by its files (PROTOCOL §11.11). */
interface SetBase {
  /** The id shown (and, sending, the FILE_SET label). */
  id: string;
  pid: string;
  /** The folder's (or the lone file's) name. */
  name: string;
  count: number;
  total: number;
  /** Files done. */
  done: number;
  /** Bytes so far, over every file (each file's `counted`). */
  bytes: number;
  ended: boolean;
  /** What the front ends were last told: nothing yet, offered, accepted (a bar), paused. */
  shown: "none" | "offered" | "waiting" | "accepted" | "paused";
  meter: Meter | null;
}

/** One /send path (a file or a folder) to one peer. */
export interface SendSet extends SetBase {
  dir: "send";
  members: Outgoing[];
  /** Files the peer refused one by one (a receiver without FILE_SET). */
  refused: number;
}

/** The files one peer offered under one FILE_SET label. */
export interface RecvSet extends SetBase {
  dir: "receive";
  label: string;
  /** The folder part of the saved path. */
  saveAs: string;
  accepted: boolean;
  /** Files offered, counted once each: resume key → size. */
  sizes: Map<string, number>;
  sum: number;
  /** Sanitised paths claimed: a file's path → its key; a folder's → "". */
  paths: Map<string, string>;
  /** Resume keys of its files received (each counts once toward `count`, also when offered again). */
  placed: Set<string>;
  /** What `paths` holds in memory, estimated in bytes (S6). */
  pathBytes: number;
  /** Files of the set the receiver holds (open, paused). */
  members: Set<Incoming>;
}

/** What /accept, /reject and /cancel name by id: a set, or a plain offer's file. */
export type Handle = Transfer | SendSet | RecvSet;

/** File state of one open session. */
export interface SessionFiles {
  s: PeerSession;
  pid: string;
  /** Our offers on this session, by our wire id. */
  out: Map<bigint, Outgoing>;
  /** The peer's offers on this session, by its wire id. */
  in: Map<bigint, Incoming>;
  endedOut: Set<bigint>;
  endedIn: Set<bigint>;
  /** A file item arrived from the peer: it implements §11. */
  supported: boolean;
  /** The answer timeout passed without one: it does not. */
  unsupported: boolean;
  /** The session ended (its transfers paused or dropped). */
  closed: boolean;
  answerTimer: ReturnType<typeof setTimeout> | null;
  /** PROTOCOL §11.4: the data of the PING sent when the answer timer ran out, until its PONG. */
  probe: Uint8Array | null;
  pumpScheduled: boolean;
  reports: number;
  /** Offers refused for the sender's rate in this session; past OFFER_BURST the session ends (busy). */
  overRate: number;
  /** PROTOCOL §11.11: the last FILE_SET received, until the next FILE_OFFER takes it. */
  pendingSet: Extract<FileItem, { kind: "file_set" }> | null;
  /** Labels of sets refused in this session: their later offers are refused at once. */
  refusedSets: Set<string>;
  /** The chunk buffers of our transfers on this session, reused once sealed (chunks.ts); made on the first chunk. */
  chunks?: ChunkPool;
}

/**
 * What the Sender (sender.ts) calls back: transfers.ts gives it, and a small fake of it
 * drives the sender alone in its unit tests (test/chat/files/sender-checks.test.ts, fake-hosts.ts).
 */
export interface SenderHost {
  /** The open session with this peer, if any. */
  sessionOf(pid: string): SessionFiles | undefined;
  /** Send a file item, or a FILE_CHUNK already encoded (chunkItem), on the session (dropped when it is no longer open). */
  send(sf: SessionFiles, item: FileItem | Item): void;
  /** PROTOCOL §11.4: wait for the peer's first file item on this session (asked with a PING when it is late). */
  awaitAnswer(sf: SessionFiles): void;
  /** One step of a transfer, for the front ends. */
  show(t: Outgoing, phase: TransferPhase, extra?: Partial<TransferEvent>): void;
  /** The transfer ended: its id is free, and the front ends are told how. */
  ended(t: Outgoing, phase: TransferPhase, extra: Partial<TransferEvent>): void;
  /** A fault of the peer that belongs to no transfer, for the person. */
  report(sf: SessionFiles, message: string): void;
}

/** How the Sender behaves. */
export interface SenderOptions {
  /** Data bytes per FILE_CHUNK. */
  readonly chunkBytes: number;
  /** PROTOCOL §11.8: chunks are queued only while the session holds fewer unsent bytes. */
  readonly highWater: number;
  now(): number;
}

/**
 * What the Receiver (receiver.ts, offers.ts, restore.ts) calls back: transfers.ts gives
 * it, and a small fake of it drives the receiver alone (test/chat/files/receiver-checks.test.ts, offers.test.ts, fake-hosts.ts).
 */
export interface ReceiverHost {
  /** Send a file item on the session (dropped when it is no longer open). */
  send(sf: SessionFiles, item: FileItem): void;
  /** One step of a transfer, for the front ends. */
  show(t: Incoming, phase: TransferPhase, extra?: Partial<TransferEvent>): void;
  /** A fault of the peer that belongs to no transfer, for the person. */
  report(sf: SessionFiles, message: string): void;
  /** The id /accept, /reject and /cancel name `h` by: `want` when it is free, else a fresh one. */
  register(h: Incoming | RecvSet, want?: string): string;
  /** `h` ended: its id is free. */
  forget(h: Incoming | RecvSet): void;
  /** PROTOCOL §11.11: the set ends as a whole (its other files are ended, the person is told once). */
  endSet(s: RecvSet, phase: TransferPhase, extra: Partial<TransferEvent>): void;
  /** A file of the set was completed earlier in this run (answered FILE_RECEIVED): it counts as done. */
  completedInSet(s: RecvSet): void;
  /** Offers come from contacts only (a request's are refused)... */
  isContact(pid: string): boolean;
  /** ...and within the sender identity's rate: one offer taken, false when it is spent. */
  takeOffer(pid: string): boolean;
}

/** How the Receiver behaves, and where its files go. */
export interface ReceiverOptions {
  readonly downloads: string;
  readonly autoAccept: boolean;
  readonly maxFileBytes: number;
  /** Bytes kept free on disk beyond every accepted transfer. */
  readonly diskMargin: number;
  readonly partials: Partials;
  /** Free bytes where `dir` is. */
  freeSpace(dir: string): number;
  now(): number;
}

/** Remember `id` as ended on this session, keeping the set bounded. */
export function rememberEnded<T>(set: Set<T>, id: T): void {
  set.add(id);
  if (set.size > MAX_ENDED_IDS) set.delete(set.values().next().value!);
}

/** Equal byte strings (public values: hashes). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}
