/**
 * What the chat reports to its front ends (terminal UI, line mode, --json), as data.
 * Every string that came from a peer is raw here; front ends sanitize before printing
 * (sanitize.ts). JSON mode prints these objects one per line.
 */
export type ChatEvent =
  | { type: "listening"; host: string; port: number; fingerprint: string }
  | { type: "identity"; fingerprint: string; created: boolean; path: string }
  | {
      type: "connected";
      peer: string;
      address: string;
      role: "initiator" | "responder";
      fingerprint: string;
      safetyNumber: string;
      firstContact: boolean;
      verified: boolean;
    }
  | { type: "message"; peer: string; fingerprint: string; id: string; text: string; time: number; private: boolean }
  | { type: "sent"; peer: string; id: string; text: string; private: boolean }
  | { type: "ack"; peer: string; id: string }
  | { type: "nick"; peer: string; previous: string }
  | { type: "disconnected"; peer: string; address: string; reason: string; code?: string }
  | { type: "reconnecting"; address: string; inMs: number; attempt: number }
  | { type: "key_changed"; address: string; pinnedName: string; pinned: string; presented: string }
  | { type: "rejected"; address: string; fingerprint: string; reason: string }
  | { type: "error"; message: string; code?: string }
  | { type: "notice"; message: string }
  | { type: "queued"; count: number };

/** Something that wants chat events. */
export type ChatListener = (e: ChatEvent) => void;

/** Summary of one open session, for /peers. */
export interface PeerInfo {
  name: string;
  address: string;
  fingerprint: string;
  safetyNumber: string;
  verified: boolean;
  role: "initiator" | "responder";
  unacked: number;
}

/** The chat's command surface, as the front ends use it (implemented by ChatNode in node.ts). */
export interface ChatApi {
  /** Our fingerprint (grouped hex). */
  readonly fingerprint: string;
  /** Our display name. */
  readonly name: string;
  /** Send a line to every connected peer; returns how many peers it was queued for. */
  sendAll(text: string): number;
  /** Send a private line to one peer by name. @throws ChatError unknown_peer. */
  sendTo(name: string, text: string): void;
  /** Dial host:port and keep redialling with backoff while the chat runs. @throws ChatError bad_address. */
  connect(address: string): void;
  /** Open sessions. */
  peers(): PeerInfo[];
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
}

export type ChatErrorCode = "unknown_peer" | "bad_address" | "bad_name" | "not_connected" | "listen_failed" | "identity" | "known_peers" | "state" | "bad_command";

/** A mistake a user can make or a local failure: one clear sentence, never a stack trace. */
export class ChatError extends Error {
  constructor(
    readonly code: ChatErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "ChatError";
  }
}
