/**
 * HELLO, HELLO_REPLY and plaintext ALERT frames, and the checks of what a hello carries
 * (PROTOCOL §3, §7): the key share for its group, and the secret it gives. The machines of
 * handshake.ts use them; pure, like them.
 */
import { concat } from "../crypto/bytes.ts";
import { ctIsZero } from "../crypto/hash.ts";
import { checkFfdheShare, FFDHE, type FfdheGroup } from "../crypto/ffdhe.ts";
import { AlertCode, FRAME_HEADER_LEN, FrameType, Group, GROUP_NAMES, HELLO_FIXED_LEN, isGroup, MAX_FRAME_LENGTH, NONCE_LEN, SHARE_LEN, VERSION } from "./constants.ts";
import { fail, type ProtocolError } from "./errors.ts";
import { encodeFrame, type Frame } from "./frame.ts";

export const FFDHE_OF: Partial<Record<Group, FfdheGroup>> = { [Group.FFDHE2048]: FFDHE.ffdhe2048, [Group.FFDHE3072]: FFDHE.ffdhe3072 };

/** Encode a HELLO or HELLO_REPLY frame. */
export function encodeHello(type: number, group: Group, nonce: Uint8Array, share: Uint8Array): Uint8Array {
  if (nonce.length !== NONCE_LEN) throw new TypeError(`"nonce" expected ${NONCE_LEN} bytes, got ${nonce.length}`);
  // Straight into the frame (one buffer, no body to copy): length:u16 | type | version | group | nonce | share.
  const length = 1 + HELLO_FIXED_LEN + share.length;
  if (length > MAX_FRAME_LENGTH) throw new RangeError(`frame body of ${length - 1} bytes exceeds the u16 length`);
  const out = new Uint8Array(2 + length);
  out[0] = length >>> 8;
  out[1] = length & 0xff;
  out[2] = type;
  out[FRAME_HEADER_LEN] = VERSION;
  out[FRAME_HEADER_LEN + 1] = group;
  out.set(nonce, FRAME_HEADER_LEN + 2);
  out.set(share, FRAME_HEADER_LEN + HELLO_FIXED_LEN);
  return out;
}

/** Encode a plaintext ALERT frame (only before keys exist, PROTOCOL §7). */
export function encodeAlertFrame(code: number, reason: Uint8Array = new Uint8Array(0)): Uint8Array {
  return encodeFrame(FrameType.ALERT, concat(new Uint8Array([code]), reason));
}

/** The ProtocolError for a received plaintext ALERT frame (an unsupported_group alert carries the accepted ids). */
export function alertFrameError(f: Frame): ProtocolError {
  const code = f.body[0]!;
  if (code === AlertCode.unsupported_group) {
    const accepted = [...f.body.subarray(1)].filter(isGroup);
    return fail("alert", "the peer accepts none of our key-exchange groups", { alert: code, accepted });
  }
  return fail("alert", `the peer sent alert ${code}`, { alert: code });
}

/**
 * PROTOCOL §3: read a hello's fields. `share` is a copy (it outlives the chunk the frame
 * is a view of), made straight from the frame: no view of the body, none of the nonce
 * (no one reads the peer's nonce but the transcript, which hashes the whole frame).
 */
export function parseHello(f: Frame): { version: number; group: number; share: Uint8Array } {
  const b = f.bytes;
  return { version: b[FRAME_HEADER_LEN]!, group: b[FRAME_HEADER_LEN + 1]!, share: b.slice(FRAME_HEADER_LEN + HELLO_FIXED_LEN) };
}

/**
 * PROTOCOL §3: validate a peer's key share for its group; `subgroup` false leaves the
 * subgroup check of an FFDHE share out (its caller has it made elsewhere).
 * @throws ProtocolError bad_hello / bad_share.
 */
export function checkShare(group: Group, share: Uint8Array, subgroup = true): void {
  if (share.length !== SHARE_LEN[group]) throw fail("bad_hello", `a ${GROUP_NAMES[group]} key share must be ${SHARE_LEN[group]} bytes, got ${share.length}`);
  const ff = FFDHE_OF[group];
  if (ff !== undefined) {
    const fault = checkFfdheShare(ff, share, subgroup);
    if (fault !== null) throw subgroupFault(ff.name, fault);
  }
}

export const UNREPORTED = "the key exchange did not report the subgroup check it was asked for";

export function subgroupFault(name: string, fault: string): ProtocolError {
  return fail("bad_share", `the peer's ${name} share fails the ${fault} check`);
}

/** PROTOCOL §3: refuse a zero X25519 secret, and Z = 1 for finite-field groups. */
export function checkSecret(group: Group, z: Uint8Array): void {
  if (z.length !== SHARE_LEN[group]) throw new Error(`internal: shared secret of ${z.length} bytes for ${GROUP_NAMES[group]}`);
  if (ctIsZero(z)) throw fail("bad_share", "the key exchange produced an all-zero secret");
  if (group !== Group.X25519 && ctIsZero(z.subarray(0, z.length - 1)) && z[z.length - 1] === 1) {
    throw fail("bad_share", "the key exchange produced the secret 1");
  }
}
