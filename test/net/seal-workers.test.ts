/**
 * Parallel sealing (src/net/seal-workers.ts): records sealed on worker threads open in
 * order with the ordinary reader, interleave with records sealed inline, and use exactly
 * the sequence numbers they were leased (PROTOCOL §5).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { PooledRandom } from "../../src/crypto/random.ts";
import { SealWorkers, sealWorkersFor } from "../../src/net/seal-workers.ts";
import { RecordReader, RecordWriter } from "../../src/protocol/record.ts";

const pool = new SealWorkers(2);
afterAll(() => pool.close());

function pair() {
  const kb = new Uint8Array(randomBytes(64));
  return { w: RecordWriter.fromKeyBlock(new Uint8Array(kb), new PooledRandom()), r: RecordReader.fromKeyBlock(new Uint8Array(kb)) };
}

/** Split concatenated frames and open each in order. */
function openAll(r: RecordReader, bufs: Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const b of bufs)
    for (let off = 0; off < b.length; ) {
      const len = ((b[off]! << 8) | b[off + 1]!) + 2;
      out.push(new Uint8Array(r.open(b.subarray(off, off + len))));
      off += len;
    }
  return out;
}

describe("seal workers", () => {
  test("records sealed on two workers open in order, between inline records", async () => {
    const { w, r } = pair();
    const sizes = [1, 15, 16, 65280, 70000 - 65280, 4096, 65280, 65280, 3, 65280];
    const pts = sizes.map((n, i) => new Uint8Array(randomBytes(n)).fill(i + 1, 0, 1));
    const wanted = pts.map((p) => new Uint8Array(p));
    const before = w.seal(new Uint8Array([0xaa]));
    const run = await pool.seal(w, pts);
    expect(run.sealed).toBe(sizes.length);
    expect(w.seq).toBe(1 + sizes.length);
    const after = w.seal(new Uint8Array([0xbb]));
    const opened = openAll(r, [before, ...run.frames, after]);
    expect(opened.length).toBe(sizes.length + 2);
    expect([...opened[0]!]).toEqual([0xaa]);
    for (let i = 0; i < sizes.length; i++) expect(Buffer.compare(opened[i + 1]!, wanted[i]!)).toBe(0);
    expect([...opened.at(-1)!]).toEqual([0xbb]);
  });

  test("two writers share the pool without mixing keys", async () => {
    const a = pair(), b = pair();
    const mk = (v: number) => Array.from({ length: 6 }, () => new Uint8Array(65280).fill(v));
    const [ra, rb] = await Promise.all([pool.seal(a.w, mk(1)), pool.seal(b.w, mk(2))]);
    expect(openAll(a.r, ra.frames).every((p) => p.every((x) => x === 1))).toBe(true);
    expect(openAll(b.r, rb.frames).length).toBe(6);
    // A reader under the other writer's keys refuses the first frame.
    expect(() => openAll(pair().r, ra.frames)).toThrow();
  });

  test("closing the pool fails the runs still in flight instead of leaving them pending", async () => {
    const own = new SealWorkers(1);
    const { w } = pair();
    const run = own.seal(w, Array.from({ length: 8 }, () => new Uint8Array(65280)));
    own.close();
    await expect(run).rejects.toThrow("seal workers closed");
    // Nothing was leased after close: the writer's next record is still the next seq.
    const seq = w.seq;
    await expect(own.seal(w, [new Uint8Array(16)])).rejects.toThrow("seal workers closed");
    expect(w.seq).toBe(seq);
  });

  test("the worker count follows the cores: none on two, at most four", () => {
    expect([1, 2, 3, 4, 6, 64].map((c) => sealWorkersFor(c))).toEqual([0, 0, 1, 2, 4, 4]);
  });
});
