/**
 * sotto/1 vectors (test/vectors/sotto-v1.json): the core must reproduce every frame and
 * key from the fixed inputs, and the records must check out with one-shot primitives,
 * independently of the record layer.
 */
import { describe, expect, test } from "bun:test";
import { aesCbcDecrypt } from "../../src/crypto/aes-cbc.ts";
import { fromHex, toHex, concat } from "../../src/crypto/bytes.ts";
import { hmacSha256, sha256 } from "../../src/crypto/hash.ts";
import { ed25519Verify } from "../../src/crypto/ed25519.ts";
import { buildTranscript, type VectorInputs } from "../vectors/transcript.ts";
import vectors from "../vectors/sotto-v1.json";

type V = VectorInputs & { derived: Record<string, string>; frames: Record<string, string>; records_i2r: { plaintext: string; frame: string }[]; records_r2i: { plaintext: string; frame: string }[] };

/** Open a record with one-shot HMAC and CBC, from a 64-byte key block and a sequence number. */
function openByHand(keyBlockHex: string, seq: number, frameHex: string): string {
  const kb = fromHex(keyBlockHex), f = fromHex(frameHex);
  const seqBytes = new Uint8Array(8);
  new DataView(seqBytes.buffer).setBigUint64(0, BigInt(seq));
  const tag = hmacSha256(kb.subarray(32), seqBytes, f.subarray(0, f.length - 32));
  expect(toHex(tag)).toBe(toHex(f.subarray(f.length - 32)));
  return toHex(aesCbcDecrypt(kb.subarray(0, 32), f.subarray(3, 19), f.subarray(19, f.length - 32)));
}

for (const v of vectors.vectors as V[]) {
  describe(`sotto-v1 ${v.group}`, () => {
    test("the core reproduces every frame, hash, key and record", () => {
      expect(buildTranscript(v)).toEqual(v as unknown as Record<string, unknown>);
    });

    test("transcript hashes are SHA-256 over whole frames", () => {
      const f = v.frames;
      expect(v.derived.th1).toBe(toHex(sha256(fromHex(f.hello!), fromHex(f.hello_reply!))));
      expect(v.derived.th3).toBe(toHex(sha256(...[f.hello!, f.hello_reply!, f.responder_auth!, f.initiator_auth!].map(fromHex))));
    });

    test("AUTH records open by hand under hk_r2i / hk_i2r at sequence 0 and carry valid signatures", () => {
      const d = v.derived;
      const ptR = fromHex(openByHand(d.hk_r2i!, 0, v.frames.responder_auth!));
      expect([...ptR.subarray(0, 3)]).toEqual([0x01, 0, 96]);
      expect(toHex(ptR.subarray(3, 35))).toBe(d.responder_identity!);
      const msgR = concat(new TextEncoder().encode("sotto/1 responder auth"), fromHex(d.th1!), ptR.subarray(3, 35));
      expect(ed25519Verify(ptR.subarray(3, 35), msgR, ptR.subarray(35))).toBe(true);
      const ptI = fromHex(openByHand(d.hk_i2r!, 0, v.frames.initiator_auth!));
      const msgI = concat(new TextEncoder().encode("sotto/1 initiator auth"), fromHex(d.th2!), ptI.subarray(3, 35));
      expect(ed25519Verify(ptI.subarray(3, 35), msgI, ptI.subarray(35))).toBe(true);
    });

    test("application records open by hand, sequence 0 and 1, then 0 again under keys(next(ts))", () => {
      for (const [recs, keys, next] of [
        [v.records_i2r, v.derived.keys_ts_i2r!, v.derived.keys_next_ts_i2r!],
        [v.records_r2i, v.derived.keys_ts_r2i!, v.derived.keys_next_ts_r2i!],
      ] as const) {
        expect(openByHand(keys, 0, recs[0]!.frame)).toBe(recs[0]!.plaintext);
        expect(openByHand(keys, 1, recs[1]!.frame)).toBe(recs[1]!.plaintext);
        expect(recs[1]!.plaintext).toBe("060000"); // KEY_UPDATE, empty
        expect(openByHand(next, 0, recs[2]!.frame)).toBe(recs[2]!.plaintext);
      }
    });
  });
}
