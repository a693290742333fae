/**
 * The AUTH item (PROTOCOL §4.3, §6): sealed alone in its handshake record, it carries the
 * sender's identity key and its signature of label | transcript hash | identity_pub. The
 * machines of handshake.ts seal and verify it here; pure, like them.
 */
import { concat } from "../crypto/bytes.ts";
import { ctEqual } from "../crypto/hash.ts";
import { ed25519Sign, ed25519Verify } from "../crypto/ed25519.ts";
import { AUTH_LEN, BLOCK_LEN, ContentType, IDENTITY_LEN, ITEM_HEADER_LEN, Label } from "./constants.ts";
import { fail } from "./errors.ts";
import { decodeItems, type Item } from "./items.ts";
import type { Identity } from "./machine.ts";
import { recordFrameLength, type RecordWriter } from "./record.ts";

/** Pull the single AUTH (or ALERT) item out of a handshake record's plaintext. */
export function authItem(pt: Uint8Array): Extract<Item, { kind: "auth" }> {
  const all = decodeItems(pt);
  let only: Item | undefined;
  let count = 0;
  for (let i = 0; i < all.length; i++) {
    const it = all[i]!;
    if (it.kind === "padding" || it.kind === "ext") continue;
    if (count++ === 0) only = it;
  }
  if (count === 1 && only?.kind === "alert") throw fail("alert", `the peer sent alert ${only.code}`, { alert: only.code });
  if (count !== 1 || only?.kind !== "auth") throw fail("unexpected_message", "a handshake record must hold exactly one AUTH item");
  return only;
}

/**
 * The signed message of an AUTH item, label | transcript hash | identity_pub, built in one
 * scratch buffer (both labels have the same length; it holds public values only and is
 * read at once by sign or verify, never kept).
 */
const AUTH_MSG = new Uint8Array(Label.responder_auth.length + 32 + IDENTITY_LEN);
function authMessage(label: Uint8Array, th: Uint8Array, identity: Uint8Array): Uint8Array {
  if (label.length + th.length + identity.length !== AUTH_MSG.length) return concat(label, th, identity);
  AUTH_MSG.set(label, 0);
  AUTH_MSG.set(th, label.length);
  AUTH_MSG.set(identity, label.length + th.length);
  return AUTH_MSG;
}

/** The AUTH item's plaintext, written here (16 spare bytes after it for the record's padding). */
const AUTH_PT = new Uint8Array(ITEM_HEADER_LEN + AUTH_LEN + BLOCK_LEN);

/** Seal our AUTH item over `label` | `th` as the one record of `writer`; returns its RECORD frame. */
export function sealAuth(writer: RecordWriter, identity: Identity, label: Uint8Array, th: Uint8Array): Uint8Array {
  const sig = ed25519Sign(identity.privateKey, authMessage(label, th, identity.publicKey));
  if (identity.publicKey.length !== IDENTITY_LEN || sig.length !== AUTH_LEN - IDENTITY_LEN) throw new Error("internal: an identity key or signature of the wrong size");
  // PROTOCOL §6: AUTH = type | length:u16 | identity_pub | sig, alone in its record.
  AUTH_PT[0] = ContentType.AUTH;
  AUTH_PT[1] = AUTH_LEN >>> 8;
  AUTH_PT[2] = AUTH_LEN & 0xff;
  AUTH_PT.set(identity.publicKey, ITEM_HEADER_LEN);
  AUTH_PT.set(sig, ITEM_HEADER_LEN + IDENTITY_LEN);
  const n = ITEM_HEADER_LEN + AUTH_LEN;
  const frame = new Uint8Array(recordFrameLength(n));
  writer.sealInto(AUTH_PT, n, frame, 0);
  return frame;
}

/**
 * Check the peer's AUTH item against `label` and `th`; returns a copy of its identity key.
 * @throws ProtocolError reflection (our own key), auth_failed (a bad signature).
 */
export function verifyAuth(item: Extract<Item, { kind: "auth" }>, label: Uint8Array, th: Uint8Array, own: Uint8Array): Uint8Array {
  if (ctEqual(item.identity, own)) throw fail("reflection", "the peer presented our own identity key");
  if (!ed25519Verify(item.identity, authMessage(label, th, item.identity), item.sig)) {
    throw fail("auth_failed", "the peer's handshake signature is invalid");
  }
  return new Uint8Array(item.identity);
}
