/** What the record tests (PROTOCOL §5) share: a writer and a reader over one known key block, and records crafted by hand. */
import { createCipheriv } from "node:crypto";
import { concat } from "../../src/crypto/bytes.ts";
import { hmacSha256 } from "../../src/crypto/hash.ts";
import { PooledRandom } from "../../src/crypto/random.ts";
import { FrameType } from "../../src/protocol/constants.ts";
import { encodeItems } from "../../src/protocol/items.ts";
import { RecordReader, RecordWriter } from "../../src/protocol/record.ts";
import { det } from "../protocol/helpers.ts";

/** The random source of the record tests' writers. */
export const random = new PooledRandom();
/** The items of one TEXT, encoded: a record's plaintext. */
export const text = (id: number, s: string) => encodeItems([{ kind: "text", id: BigInt(id), text: s }]);

/** A writer and a reader over one known 64-byte key block (enc | mac). */
export function keyBlockPair(label = "kb") {
  const kb = det(label, 64);
  return { kb: new Uint8Array(kb), writer: RecordWriter.fromKeyBlock(new Uint8Array(kb), random), reader: RecordReader.fromKeyBlock(new Uint8Array(kb)) };
}

/**
 * A RECORD frame built by hand with one-shot primitives: `padded` is encrypted as is (no
 * padding added), and the tag is a valid HMAC over seq | header | iv | ct.
 */
export function craft(kb: Uint8Array, seq: number, padded: Uint8Array, iv = det("craft iv", 16)): Uint8Array {
  const c = createCipheriv("aes-256-cbc", kb.subarray(0, 32), iv).setAutoPadding(false);
  const ct = new Uint8Array(Buffer.concat([c.update(padded), c.final()]));
  const length = 1 + iv.length + ct.length + 32;
  const head = concat(new Uint8Array([length >>> 8, length & 0xff, FrameType.RECORD]), iv, ct);
  const seqBytes = new Uint8Array(8);
  new DataView(seqBytes.buffer).setBigUint64(0, BigInt(seq));
  return concat(head, hmacSha256(kb.subarray(32, 64), seqBytes, head));
}

/** PKCS#7 as the spec defines it, for the control cases. */
export const pad = (m: Uint8Array) => {
  const n = 16 - (m.length % 16);
  return concat(m, new Uint8Array(n).fill(n));
};
