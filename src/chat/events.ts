/**
 * What the chat reports to its front ends (terminal UI, line mode, --json), as data.
 * Every string that came from a peer is raw here; front ends sanitize before printing
 * (sanitize.ts). JSON mode prints these objects one per line.
 */
/** The version of the --json events (docs/EVENTS.md); carried by the first event, `identity`. */
export const EVENTS_VERSION = 1;

export type ChatEvent =
  /** `addresses`: host:port a friend can dial (every local interface address for a wildcard bind). */
  | { type: "listening"; host: string; port: number; fingerprint: string; addresses?: string[] }
  | { type: "identity"; fingerprint: string; created: boolean; path: string; version?: number }
  | {
      type: "connected";
      peer: string;
      address: string;
      role: "initiator" | "responder";
      fingerprint: string;
      safetyNumber: string;
      /** The key-exchange group of this session ("x25519", "ffdhe2048", "ffdhe3072"). */
      group?: string;
      firstContact: boolean;
      verified: boolean;
      /** The peer is a message request (an unknown key that dialled us), with its id for /allow and /block. */
      request?: string;
      /** request: the contact whose name the claimed name equals or looks like. */
      lookalike?: string;
    }
  | {
      type: "message";
      peer: string;
      fingerprint: string;
      id: string;
      text: string;
      time: number;
      private: boolean;
      /** When the sender wrote it (PROTOCOL §12), when the sender said. */
      written?: number;
      /** From a contact whose safety number was compared (/trust). */
      verified?: boolean;
      /** From a message request: its id; `peer` is then the name it claims, not a contact's. */
      request?: string;
      /** request: the contact whose name the claimed name equals or looks like. */
      lookalike?: string;
    }
  /** `queued`: the peer is away; the line waits in the outbox and goes when it is back (an "ack" follows delivery). */
  | { type: "sent"; peer: string; id: string; text: string; private: boolean; time?: number; queued?: boolean }
  /** A line that was not sent after all (state.db could not save it): `text` is offered back to the person. */
  | { type: "unsent"; peer: string; id: string; text: string; reason: string; code: string }
  | { type: "ack"; peer: string; id: string }
  /** A typed line's recipients, once it was handed to the chat (the front end's numbering, src/ui/recipients.ts): each with its own message id and `sent`, `queued` (away) or `delivered`. */
  | { type: "recipients"; line: string; text: string; private: boolean; time: number; recipients: { peer: string; id: string; state: "sent" | "queued" | "delivered" }[] }
  /** `peer` acknowledged the typed lines `lines` (one event per ACK, however many lines it covers). */
  | { type: "delivered"; peer: string; lines: string[] }
  /** A peer renamed itself; `request`: it is that request (a stranger's claimed name, which may be a contact's: SECURITY.md §12), not a contact. */
  | { type: "nick"; peer: string; previous: string; request?: string }
  /** `code`: the ProtocolError code or OS errno; `alert`: the alert number the peer sent (PROTOCOL §7). */
  | { type: "disconnected"; peer: string; address: string; reason: string; code?: string; alert?: number }
  /** The next dial in `inMs`; `since` (wall clock ms) and `reason`: since when and why the contact is unreachable. */
  | { type: "reconnecting"; address: string; inMs: number; attempt: number; peer?: string; since?: number; reason?: string }
  /** Dialling `address` stopped for good: a permanent refusal, /disconnect, or the contact moved. */
  | { type: "dial_stopped"; address: string; reason: string; code: string; alert?: number }
  /**
   * A contact's key connected from `host` (an authenticated session it dialled): the dial
   * to `from` stopped; `pinned`: the address known_peers names for it now (host with the
   * old pin's port), or null when the pin stayed (a host name, or a pin already there).
   */
  | { type: "moved"; peer: string; fingerprint: string; from: string; host: string; pinned: string | null }
  | {
      type: "key_changed";
      address: string;
      pinnedName: string;
      pinned: string;
      presented: string;
      /** outbound: at a pinned address we dialled; inbound: a key that dialled us claims the name. */
      direction?: "outbound" | "inbound";
      /** The safety number with the presented key, to compare before /replace. */
      safetyNumber?: string;
      /** The name the new key claims (raw, from the peer). */
      claimed?: string;
    }
  | { type: "rejected"; address: string; fingerprint: string; reason: string }
  /** Connections turned away at accept with ALERT busy (a cap was full), counted per second. */
  | { type: "refused"; address: string; reason: string; count: number }
  | { type: "error"; message: string; code?: string; alert?: number }
  | { type: "notice"; message: string }
  | { type: "queued"; count: number }
  /** Answers to commands (src/ui/commands.ts), as data; docs/EVENTS.md. */
  | { type: "help"; text: string }
  /** /peers: who is connected, and (`away`) every address still dialled without a session. */
  | { type: "peers"; peers: PeerInfo[]; away?: AwayInfo[] }
  | { type: "safety_numbers"; you: string; peers: { name: string; fingerprint: string; safetyNumber: string; verified: boolean }[] }
  | { type: "transfers"; transfers: TransferInfo[] }
  | { type: "rekeyed"; sessions: number }
  | { type: "dialling"; address: string }
  | { type: "renamed"; name: string }
  | { type: "offering"; files: number; peer?: string }
  /** /send asked for a path that is also a contact's name (the contact was meant; `path` was not sent). */
  | { type: "send_name_is_path"; peer: string; path: string }
  /** /send of a folder that holds the sotto home (the private identity key is there): its `files` were left out of the offer. */
  | { type: "send_skipped"; home: string; files: number }
  /** One file of a transfer of several files (PROTOCOL §11.11) is done (`sha256`), or was refused by the peer (`refused`). */
  | { type: "transfer_file"; id: string; direction: "send" | "receive"; peer: string; name: string; size: number; sha256: string; path?: string; refused?: string }
  /** A dial reached `peer`, who was connected already (at `via`: it dialled us, or another address of it); one session is kept, and `address` is redialled if it drops. */
  | { type: "already_connected"; peer: string; address: string; via: string }
  /** /connect to an address already connected or being dialled: nothing new was started; `reason` says which. */
  | { type: "not_dialling"; address: string; reason: string }
  /** /disconnect NAME: `ended` dials and sessions stopped (0: nothing was open). */
  | { type: "disconnecting"; peer: string; ended: number }
  /** /invite: the lines to send a friend (empty: not listening). */
  | { type: "invites"; invites: string[] }
  /** /contacts. */
  | { type: "contacts"; contacts: { name: string; fingerprint: string; verified: boolean; connected: boolean }[] }
  /** /requests. */
  | { type: "requests"; requests: RequestInfo[] }
  /** A contact changed: /allow (or an invite's token) made one, /block, /replace, /forget, /trust; `message` says what it means. */
  | { type: "contact"; change: "allowed" | "invited" | "blocked" | "replaced" | "forgotten" | "verified"; peer: string; message: string }
  /** Kept lines (src/chat/delivery/history.ts): the last ones per contact at `start`, or a /history page (of `peer`, or of everyone). */
  | { type: "history"; peer?: string; lines: HistoryEntry[]; start: boolean }
  /** /clear NAME: `count` lines with `peer` were forgotten. */
  | { type: "history_cleared"; peer: string; count: number }
  | TransferEvent;

/** One kept line of a conversation: `from` "in" (the contact wrote it) or "out" (we did); `peer` is the contact. */
export interface HistoryEntry {
  peer: string;
  fingerprint: string;
  from: "in" | "out";
  text: string;
  time: number;
  private: boolean;
}

/** Conversation history (absent with --no-history). */
export interface HistoryApi {
  /** Emit a "history" event with the last `n` lines with `name`, or with everyone. @throws ChatError unknown_peer. */
  show(name?: string, n?: number): void;
  /** Forget every line with `name`; returns how many. @throws ChatError unknown_peer. */
  clear(name: string): number;
  /** Emit the last lines per contact (the chat's start). */
  atStart(): void;
  /** Each contact's latest name (Tab completion offers contacts that are away too). */
  names(): string[];
}

/** Where a transfer is (PROTOCOL §11.4), as the front ends show it. */
export type TransferPhase =
  | "offered" // send: our offer went out; receive: an offer waits for /accept (or is being accepted: `auto`)
  | "waiting" // send: the peer's person was asked (FILE_PENDING)
  | "accepted" // both: bytes start flowing from `offset` (0, or where a resume picks up)
  | "progress" // both: `bytes` so far, `rate` in B/s, `etaSeconds`
  | "paused" // both: the session was lost; it resumes when the peer is back
  | "done" // both: verified; `sha256`, and `path` on the receiving side
  | "failed" // both: ended by a fault (`code`, `reason`): a hash or size mismatch, a disk error, …
  | "rejected" // send: the peer refused (`code`, `reason`)
  | "cancelled" // both: /cancel here, or the peer cancelled
  | "unsupported"; // send: the peer cannot receive files (no answer to the offer)

/** One step of a file transfer. `name` is the name as offered (raw, from the peer when receiving). */
export interface TransferEvent {
  type: "transfer";
  /** The id for /accept, /reject and /cancel: the same on both sides when the sender sent FILE_SET (PROTOCOL §11.11). */
  id: string;
  /** receive: the sender's id of this transfer, when it differs from ours (ours was taken). */
  peerId?: string;
  /** A transfer of several files (a folder): how many, and how many are done. `size` and `bytes` are over all of them. */
  files?: number;
  filesDone?: number;
  direction: "send" | "receive";
  phase: TransferPhase;
  peer: string;
  name: string;
  size: number;
  bytes: number;
  /** receive: the sanitized relative path the file will get in the download folder. */
  saveAs?: string;
  /** receive, offered: accepted without asking (--accept-files, or a resume). */
  auto?: boolean;
  /** accepted: where the bytes start (> 0 on a resume). */
  offset?: number;
  rate?: number;
  etaSeconds?: number | null;
  elapsedMs?: number;
  /** done: the verified SHA-256 (hex). */
  sha256?: string;
  /** receive, done: where the file is. */
  path?: string;
  code?: string;
  reason?: string;
}

/**
 * The front end's pending output, as the chat sees it (docs/SECURITY.md §10, R5): while
 * `full`, incoming TEXT is neither shown nor acknowledged (src/chat/node/hold.ts).
 */
export interface OutputGate {
  /** More than the front end's budget of output waits for stdout. */
  readonly full: boolean;
  /** Call `wake` once, when the output has drained (soon, if it is not full now). */
  whenDrained(wake: () => void): void;
}

/** Something that wants chat events. */
export type ChatListener = (e: ChatEvent) => void;

/** Summary of one open session, for /peers. */
/** A dialled address with no session now (/peers): the first try under way, or unreachable and retried. */
export interface AwayInfo {
  address: string;
  /** The contact's name, once a session with it authenticated. */
  peer?: string;
  state: "dialling" | "reconnecting";
  /** reconnecting: unreachable since (ms since 1970), why, and the next try in `inMs`. */
  since?: number;
  reason?: string;
  inMs?: number;
}

export interface PeerInfo {
  /** The contact's local name, or a request's claimed name. */
  name: string;
  /** Set for a message request: its id. */
  request?: string;
  address: string;
  fingerprint: string;
  safetyNumber: string;
  verified: boolean;
  role: "initiator" | "responder";
  /** The key-exchange group of this session. */
  group?: string;
  unacked: number;
}

/** One message request, for /requests. */
export interface RequestInfo {
  id: string;
  /** The name it claims (raw, from the peer). */
  claimed: string;
  fingerprint: string;
  safetyNumber: string;
  connected: boolean;
  /** The contact whose name the claimed name equals or looks like. */
  lookalike?: string;
}

/** One open transfer, for /transfers. */
export interface TransferInfo {
  id: string;
  direction: "send" | "receive";
  peer: string;
  name: string;
  size: number;
  bytes: number;
  state: string;
  /** A transfer of several files: how many. */
  files?: number;
}

/** File transfer (PROTOCOL §11), as the front ends use it (implemented in transfer.ts). */
export interface FileApi {
  /** The download folder. */
  readonly downloads: string;
  /**
   * Offer files and folders to one peer by name, or to every connected peer; returns how
   * many offers were queued. Hashing and offering continue in the background (events).
   * @throws ChatError bad_command (missing path, …) / unknown_peer / not_connected / files_unsupported.
   */
  send(paths: string[], to?: string): number;
  /** Accept one offer by id, or every waiting offer; returns how many. @throws ChatError unknown_transfer. */
  accept(id?: string): number;
  /** Refuse one offer by id, or every waiting offer; returns how many. @throws ChatError unknown_transfer. */
  reject(id?: string): number;
  /** Stop one transfer by id (either direction), or all; returns how many. @throws ChatError unknown_transfer. */
  cancel(id?: string): number;
  /** Transfers not yet finished. */
  list(): TransferInfo[];
  /** Is `name` one of the contacts? (/send's optional first word: names resolve among contacts only) */
  isPeer(name: string): boolean;
}

/** Contacts and message requests (chat/trust/policy.ts), as the front ends use them. */
export interface ContactsApi {
  /** Every contact (one per key), with its local name. */
  list(): { name: string; fingerprint: string; verified: boolean; connected: boolean }[];
  /** Message requests waiting for /allow or /block. */
  requests(): RequestInfo[];
  /** Accept a request (by id, claimed name, or the only one) as a contact; returns its local name. @throws ChatError unknown_peer / bad_name / known_peers. */
  allow(ref?: string, localName?: string): string;
  /** Refuse a request's key (or a contact's, by name) from now on; returns who. @throws ChatError unknown_peer / known_peers. */
  block(ref?: string): string;
  /** Accept the new key seen for contact `name` (after comparing safety numbers). @throws ChatError unknown_peer / known_peers. */
  replace(name: string): void;
  /** Drop contact `name` (its key is a stranger again). @throws ChatError unknown_peer / known_peers. */
  forget(name: string): void;
  /** True when the key (hex) is a contact. */
  isContact(pid: string): boolean;
  /** `sotto://host:port#fingerprint` lines for every address we listen at (none when not listening). */
  invites(): string[];
}

/** The chat's command surface, as the front ends use it (implemented by ChatNode in node.ts). */
export interface ChatApi {
  /** Our fingerprint (grouped hex). */
  readonly fingerprint: string;
  /** Our display name. */
  readonly name: string;
  /** Send a line to every connected peer; returns how many peers it was queued for. */
  sendAll(text: string): number;
  /**
   * sendAll for many lines in one call, in order: `each` runs after each line, before the
   * next one is queued, with sendAll's result for it or the ChatError that refused it
   * (the later lines are still sent). Absent in front ends' fakes (they loop on sendAll).
   */
  sendAllMany?(texts: readonly string[], each: (result: number | ChatError) => void): void;
  /** Send a private line to one peer by name. @throws ChatError unknown_peer. */
  sendTo(name: string, text: string): void;
  /** Dial host:port and keep redialling with backoff while the chat runs; returns a sentence when nothing new was started (already connected or dialling). @throws ChatError bad_address. */
  connect(address: string): string | void;
  /** Stop redialling a contact by name (or host:port) and close its sessions; returns how many dials and sessions ended. @throws ChatError unknown_peer. */
  disconnect?(name: string): number;
  /** Open sessions. */
  peers(): PeerInfo[];
  /** Addresses dialled with no session now (absent in front ends' fakes). */
  away?(): AwayInfo[];
  /** Safety numbers: of one peer by name, or of every connected peer. @throws ChatError unknown_peer. */
  verify(name?: string): { name: string; fingerprint: string; safetyNumber: string; verified: boolean }[];
  /** Mark a peer verified in known_peers. @throws ChatError unknown_peer. */
  trust(name: string): void;
  /** Change our display name (sent to every peer). @throws ChatError bad_name. */
  nick(name: string): void;
  /** Update the sending keys of every session now; returns the session count. */
  rekey(): number;
  /** Messages not yet acknowledged, over all peers. */
  queued(): number;
  /** Wait until every queued message is acknowledged, at most timeoutMs; true when all were. */
  drain(timeoutMs: number): Promise<boolean>;
  /** CLOSE every session and stop. */
  close(): Promise<void>;
  /** File transfer; absent when this chat runs without it. */
  readonly files?: FileApi;
  /** Contacts and requests; absent in front-end test fakes. */
  readonly contacts?: ContactsApi;
  /** Conversation history; absent with --no-history. */
  readonly history?: HistoryApi;
}

export type ChatErrorCode = "unknown_peer" | "bad_address" | "bad_name" | "not_connected" | "listen_failed" | "identity" | "known_peers" | "state" | "bad_command" | "unknown_transfer" | "files_unsupported" | "too_long" | "outbox_full" | "home_locked" | "home" | "not_listening";

/** A mistake a user can make or a local failure: one clear sentence, never a stack trace. */
export class ChatError extends Error {
  constructor(
    readonly code: ChatErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "ChatError";
  }
}
