/**
 * Every size, label, limit and code of sotto/1 (docs/PROTOCOL.md), in one place.
 * Implementation limits that are not part of the wire format live in src/net/limits.ts.
 */
import { utf8 } from "../crypto/bytes.ts";

/** PROTOCOL §2: the only version this implementation speaks. */
export const VERSION = 1;

// PROTOCOL §2: frames are length:u16 | type:u8 | body, length = 1 + len(body).
export const FRAME_HEADER_LEN = 3;
export const MAX_FRAME_LENGTH = 0xffff;

/** PROTOCOL §2: frame types. */
export const FrameType = { HELLO: 0x01, HELLO_REPLY: 0x02, RECORD: 0x03, ALERT: 0x04 } as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** PROTOCOL §3: key-exchange groups. */
export const Group = { X25519: 0x01, FFDHE2048: 0x02, FFDHE3072: 0x03 } as const;
export type Group = (typeof Group)[keyof typeof Group];
export const GROUP_NAMES: Record<Group, string> = { 1: "x25519", 2: "ffdhe2048", 3: "ffdhe3072" };
/** PROTOCOL §3: exact share length per group (finite-field shares are left-padded to len(p)). */
export const SHARE_LEN: Record<Group, number> = { 1: 32, 2: 256, 3: 384 };
export const MAX_SHARE_LEN = 384;

/** Is `g` a group id sotto/1 defines? */
export function isGroup(g: number): g is Group {
  return g === 1 || g === 2 || g === 3;
}

// PROTOCOL §3: HELLO body = version:u8 | group:u8 | nonce:32 | key_share.
export const NONCE_LEN = 32;
export const HELLO_FIXED_LEN = 1 + 1 + NONCE_LEN;

// PROTOCOL §5: RECORD body = iv:16 | ct:16k | tag:32.
export const IV_LEN = 16;
export const BLOCK_LEN = 16;
export const TAG_LEN = 32;
export const MIN_RECORD_BODY = IV_LEN + BLOCK_LEN + TAG_LEN;
/** PROTOCOL §5: the items of one record total at most this many bytes. */
export const MAX_PLAINTEXT = 65280;
/** The longest ciphertext a valid record can carry: MAX_PLAINTEXT padded with a full block. */
export const MAX_CIPHERTEXT = MAX_PLAINTEXT + BLOCK_LEN;
export const MAX_RECORD_BODY = IV_LEN + MAX_CIPHERTEXT + TAG_LEN;
/** PROTOCOL §5: seq:u64 is the first field of the MAC input. */
export const SEQ_LEN = 8;

// PROTOCOL §6: items are content_type:u8 | len:u16 | content.
export const ITEM_HEADER_LEN = 3;

/** PROTOCOL §6: content types. */
export const ContentType = {
  AUTH: 0x01,
  TEXT: 0x02,
  ACK: 0x03,
  PING: 0x04,
  PONG: 0x05,
  KEY_UPDATE: 0x06,
  CLOSE: 0x07,
  PROFILE: 0x08,
  ALERT: 0x09,
  PADDING: 0x80,
} as const;
export type ContentType = (typeof ContentType)[keyof typeof ContentType];
/** PROTOCOL §12 (optional): when the TEXT with the same id was written. */
export const TEXT_TIME = 0x90;
/** PROTOCOL §12: id:u64 | written_ms:u64. */
export const TEXT_TIME_LEN = 16;
/** PROTOCOL §6: unknown types at or above this value are ignored; below it they are an error. */
export const FIRST_OPTIONAL_CONTENT_TYPE = 0x80;

export const ID_LEN = 8;
export const PING_LEN = 8;
export const INSTANCE_LEN = 8;
/** PROTOCOL §6: PROFILE display name, UTF-8, at most this many bytes. */
export const MAX_NAME_LEN = 64;
export const IDENTITY_LEN = 32;
export const SIG_LEN = 64;
export const AUTH_LEN = IDENTITY_LEN + SIG_LEN;

/** PROTOCOL §6: a sender updates its keys at least every 2^20 records. */
export const KEY_UPDATE_INTERVAL = 2 ** 20;

/** PROTOCOL §7: alert codes. */
export const AlertCode = {
  protocol_error: 1,
  unsupported_version: 2,
  unsupported_group: 3,
  bad_record: 4,
  auth_failed: 5,
  identity_rejected: 6,
  timeout: 7,
  busy: 8,
  internal_error: 9,
} as const;
export type AlertName = keyof typeof AlertCode;
export type AlertCode = (typeof AlertCode)[AlertName];
export const ALERT_NAMES: Record<number, AlertName> = Object.fromEntries(
  Object.entries(AlertCode).map(([k, v]) => [v, k as AlertName]),
);

/** PROTOCOL §4: key-schedule labels, as bytes. */
export const Label = {
  salt: utf8("sotto/1"),
  hs_i2r: utf8("sotto/1 hs i2r"),
  hs_r2i: utf8("sotto/1 hs r2i"),
  ap_i2r: utf8("sotto/1 ap i2r"),
  ap_r2i: utf8("sotto/1 ap r2i"),
  key: utf8("sotto/1 key"),
  next: utf8("sotto/1 next"),
  responder_auth: utf8("sotto/1 responder auth"),
  initiator_auth: utf8("sotto/1 initiator auth"),
} as const;

/** PROTOCOL §4: length of hk_* key blocks and of keys(ts): enc key | mac key. */
export const KEY_BLOCK_LEN = 64;
export const SECRET_LEN = 32;

// PROTOCOL §11 (optional extension): file transfer, in the optional content-type range.

/** PROTOCOL §11.3: the content types of the extension. */
export const FileType = {
  FILE_OFFER: 0xa0,
  FILE_ACCEPT: 0xa1,
  FILE_CHUNK: 0xa2,
  FILE_DONE: 0xa3,
  FILE_CANCEL: 0xa4,
  FILE_REJECT: 0xa5,
  FILE_PENDING: 0xa6,
  FILE_RECEIVED: 0xa7,
  /** PROTOCOL §11.11: the offer that follows belongs to a set (one transfer as the person sees it). */
  FILE_SET: 0xa8,
} as const;
export type FileType = (typeof FileType)[keyof typeof FileType];

// PROTOCOL §11.3 and §11.9: field sizes and wire limits.
export const TRANSFER_ID_LEN = 8;
export const FILE_SHA256_LEN = 32;
/** transfer_id:u64 | offset:u64: the header of FILE_CHUNK content. */
export const CHUNK_HEADER_LEN = 16;
export const OFFER_FIXED_LEN = TRANSFER_ID_LEN + 8 + FILE_SHA256_LEN;
export const ACCEPT_LEN = TRANSFER_ID_LEN + 8 + FILE_SHA256_LEN;
export const RECEIVED_LEN = TRANSFER_ID_LEN + FILE_SHA256_LEN;
export const MAX_FILE_NAME_BYTES = 1024;
export const MAX_FILE_REASON_BYTES = 256;
/** PROTOCOL §11.3: sizes and offsets fit a double exactly. */
export const MAX_FILE_SIZE = Number.MAX_SAFE_INTEGER;
/** PROTOCOL §11.9: 65,277 (the largest item content) − 16. */
export const MAX_CHUNK_DATA = MAX_PLAINTEXT - ITEM_HEADER_LEN - CHUNK_HEADER_LEN;
/** PROTOCOL §11.5: open transfers per session and direction. */
export const MAX_OPEN_TRANSFERS = 64;
/** PROTOCOL §11.4: no file item from the peer this long after an offer → it cannot receive files. */
export const OFFER_ANSWER_TIMEOUT_MS = 10_000;

/** PROTOCOL §11.3: the codes of FILE_CANCEL and FILE_REJECT. */
export const FileCode = {
  declined: 1,
  busy: 2,
  too_large: 3,
  bad_name: 4,
  protocol: 5,
  size_mismatch: 6,
  hash_mismatch: 7,
  resume_mismatch: 8,
  io_error: 9,
  changed: 10,
  /** PROTOCOL §11.11: the receiver refused the whole set this file belongs to. */
  set_refused: 11,
} as const;

/** PROTOCOL §11.11: transfer_id:u64 | count:u32 | total:u64, before the label. */
export const FILE_SET_FIXED_LEN = 20;
/** PROTOCOL §11.11: a FILE_SET label is 1 to 16 ASCII letters and digits. */
export const MAX_SET_LABEL_BYTES = 16;
/** PROTOCOL §11.11: most files one set may have (receiver policy; sotto's /send offers at most as many). */
export const MAX_SET_FILES = 10_000;
