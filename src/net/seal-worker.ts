/**
 * The worker side of parallel sealing (seal-workers.ts), one thread per instance:
 *   1. "key" messages install a RecordSealer for (writer, epoch);
 *   2. "seal" messages carry plaintexts (transferred) and the sequence number of the first;
 *   3. each is sealed at its own seq into one output buffer, which is transferred back.
 * The worker never chooses a sequence number: the main thread leased them (RecordWriter.lease).
 */
import { wipe } from "../crypto/bytes.ts";
import { PooledRandom } from "../crypto/random.ts";
import { BLOCK_LEN, MAX_PLAINTEXT } from "../protocol/constants.ts";
import { recordFrameLength, RecordSealer } from "../protocol/record.ts";

declare const self: Worker;

/** Messages the main thread sends. */
export type ToSealWorker =
  | { t: "key"; writer: number; epoch: number; keyBlock: Uint8Array }
  | { t: "forget"; writer: number }
  | { t: "seal"; id: number; writer: number; epoch: number; seq: number; pts: Uint8Array[] };
/** Messages the worker sends back: the frames in sequence order, or what went wrong. */
export type FromSealWorker = { id: number; frames: Uint8Array } | { id: number; error: string };

const random = new PooledRandom();
const sealers = new Map<number, { epoch: number; sealer: RecordSealer }>();
const scratch = new Uint8Array(MAX_PLAINTEXT + BLOCK_LEN);

self.onmessage = (ev: MessageEvent<ToSealWorker>) => {
  const m = ev.data;
  if (m.t === "key") {
    sealers.set(m.writer, { epoch: m.epoch, sealer: new RecordSealer(m.keyBlock, random) });
    wipe(m.keyBlock);
    return;
  }
  if (m.t === "forget") {
    sealers.delete(m.writer);
    return;
  }
  const s = sealers.get(m.writer);
  if (s === undefined || s.epoch !== m.epoch) {
    self.postMessage({ id: m.id, error: "no keys for this writer and epoch" } satisfies FromSealWorker);
    return;
  }
  try {
    let total = 0;
    for (const pt of m.pts) total += recordFrameLength(pt.length);
    const out = new Uint8Array(total);
    let off = 0;
    for (let i = 0; i < m.pts.length; i++) {
      const pt = m.pts[i]!;
      scratch.set(pt);
      off += s.sealer.sealInto(m.seq + i, scratch, pt.length, out, off);
    }
    self.postMessage({ id: m.id, frames: out } satisfies FromSealWorker, [out.buffer]);
  } catch (e) {
    self.postMessage({ id: m.id, error: (e as Error).message } satisfies FromSealWorker);
  }
};
