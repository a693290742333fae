/**
 * Sealing scaling: full records (65,280 B of plaintext) sealed with no receiver, by
 *   1. this thread (RecordWriter.sealInto, the inline path every sender uses today);
 *   2. 1, 2 and 4 worker threads (src/net/seal-workers.ts), the sender keeping up to two
 *      runs per worker in flight and taking the frames back in sequence order.
 * Machine-independent in design (the same records, the same count, only sealing); the
 * figures say how sealing scales on the machine at hand, with its core count reported.
 * Before a figure is kept, every frame timed is opened in order by one RecordReader and
 * compared with the plaintext it carries (STYLE: prove what is timed).
 *
 *   bun bench/seal-scaling.ts [--smoke | --quick]
 */
import { randomBytes } from "node:crypto";
import { PooledRandom } from "../src/crypto/random.ts";
import { SealWorkers, sealWorkersFor } from "../src/net/seal-workers.ts";
import { BLOCK_LEN, MAX_PLAINTEXT } from "../src/protocol/constants.ts";
import { recordFrameLength, RecordReader, RecordWriter } from "../src/protocol/record.ts";
import { parseMode, type Mode } from "./common.ts";

/** Sealing throughput with one number of sealers. */
export interface SealRow {
  /** 0 = this thread. */
  workers: number;
  mbps: number;
  vsInline: number;
}
/** The scaling table and what `sealWorkersFor()` picks on this machine. */
export interface SealScaling {
  size: number;
  records: number;
  cores: number;
  /** What sealWorkersFor() picks here. */
  chosen: number;
  rows: SealRow[];
}

const RECORDS: Record<Mode, number> = { full: 2048, quick: 768, smoke: 32 };
/** Records per run handed to the pool: 16 × 65,280 B ≈ 1 MiB, one flush of outbound.ts. */
const RUN = 16;

function plaintext(i: number, base: Uint8Array): Uint8Array {
  const p = new Uint8Array(base); // a fresh buffer per record (its own ArrayBuffer), as a file sender's read gives
  p[0] = i & 0xff;
  p[1] = (i >>> 8) & 0xff;
  return p;
}

/** Open every frame in order and compare it with the plaintext it should carry. */
function verify(kb: Uint8Array, frames: Uint8Array[], base: Uint8Array, records: number): void {
  const r = RecordReader.fromKeyBlock(new Uint8Array(kb));
  let i = 0;
  for (const buf of frames) {
    for (let off = 0; off < buf.length; i++) {
      const len = ((buf[off]! << 8) | buf[off + 1]!) + 2;
      const pt = r.open(buf.subarray(off, off + len));
      const want = plaintext(i, base);
      if (pt.length !== want.length || Buffer.compare(pt, want) !== 0) throw new Error(`seal scaling self-check failed at record ${i}`);
      off += len;
    }
  }
  if (i !== records) throw new Error(`seal scaling self-check: ${i} of ${records} records`);
}

async function inline(records: number, base: Uint8Array): Promise<{ ms: number; kb: Uint8Array; frames: Uint8Array[] }> {
  const kb = randomBytes(64);
  const w = RecordWriter.fromKeyBlock(new Uint8Array(kb), new PooledRandom());
  const pt = new Uint8Array(MAX_PLAINTEXT + BLOCK_LEN);
  const frames: Uint8Array[] = [];
  const t0 = performance.now();
  for (let i = 0; i < records; i += RUN) {
    const n = Math.min(RUN, records - i);
    const out = new Uint8Array(n * recordFrameLength(MAX_PLAINTEXT));
    for (let j = 0, off = 0; j < n; j++) {
      pt.set(plaintext(i + j, base));
      off += w.sealInto(pt, MAX_PLAINTEXT, out, off);
    }
    frames.push(out);
  }
  return { ms: performance.now() - t0, kb, frames };
}

async function pooled(pool: SealWorkers, records: number, base: Uint8Array): Promise<{ ms: number; kb: Uint8Array; frames: Uint8Array[] }> {
  const kb = randomBytes(64);
  const w = RecordWriter.fromKeyBlock(new Uint8Array(kb), new PooledRandom());
  const frames: Uint8Array[] = [];
  const inFlight: Promise<Uint8Array[]>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < records; i += RUN * pool.size) {
    const n = Math.min(RUN * pool.size, records - i);
    const pts = Array.from({ length: n }, (_, j) => plaintext(i + j, base));
    inFlight.push(pool.seal(w, pts).then((r) => {
      if (r.sealed !== n) throw new Error(`lease cut short: ${r.sealed} of ${n}`);
      return r.frames;
    }));
    // Keep two runs in flight, in order (the socket writes them as they come back).
    if (inFlight.length >= 2) frames.push(...(await inFlight.shift()!));
  }
  for (const p of inFlight) frames.push(...(await p));
  return { ms: performance.now() - t0, kb, frames };
}

/** Run the scaling case. @throws Error when a sealed frame does not open to its plaintext. */
export async function runSealScaling(mode: Mode, log: (s: string) => void = () => {}): Promise<SealScaling> {
  const records = RECORDS[mode];
  const base = new Uint8Array(randomBytes(MAX_PLAINTEXT));
  const mbps = (ms: number) => (records * MAX_PLAINTEXT) / 1e3 / ms;
  await inline(Math.min(64, records), base); // warm the JIT
  const first = await inline(records, base);
  verify(first.kb, first.frames, base, records);
  const inlineMbps = mbps(first.ms);
  const rows: SealRow[] = [{ workers: 0, mbps: inlineMbps, vsInline: 1 }];
  log(`  seal this thread: ${inlineMbps.toFixed(0)} MB/s`);
  for (const n of [1, 2, 4]) {
    const pool = new SealWorkers(n);
    try {
      await pooled(pool, Math.min(RUN * n * 2, records), base); // start the threads, warm them
      const r = await pooled(pool, records, base);
      verify(r.kb, r.frames, base, records);
      rows.push({ workers: n, mbps: mbps(r.ms), vsInline: mbps(r.ms) / inlineMbps });
      log(`  seal ${n} worker${n > 1 ? "s" : ""}: ${mbps(r.ms).toFixed(0)} MB/s (${(mbps(r.ms) / inlineMbps).toFixed(2)}× this thread)`);
    } finally {
      pool.close();
    }
  }
  const cores = navigator.hardwareConcurrency ?? 1;
  return { size: MAX_PLAINTEXT, records, cores, chosen: sealWorkersFor(cores), rows };
}

if (import.meta.main) {
  const mode = parseMode();
  console.log(JSON.stringify(await runSealScaling(mode, (s) => console.error(s)), null, 2));
}
