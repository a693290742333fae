/**
 * Records read where they lie in a chunk (frame.ts AssembledFrame, record.ts openFrom):
 * a good record, one with a bad tag, and a good one after it, in one stream cut in two at
 * every offset. The listener acts on the first (it echoes its TEXT), never on the bad one
 * or anything behind it, sends one encrypted ALERT bad_record and closes; the good peer
 * goes on chatting.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { concat } from "../../src/crypto/bytes.ts";
import { AlertCode } from "../../src/protocol/constants.ts";
import type { Item } from "../../src/protocol/items.ts";
import { flip } from "../protocol/helpers.ts";
import { Evil, Scene, verdict } from "./harness.ts";

let sc: Scene;
beforeAll(async () => {
  sc = await Scene.start();
});
afterAll(() => sc.stop());

const text = (id: bigint, t: string): Item => ({ kind: "text", id, text: t });

async function cutAt(size: number, at: (len: number) => number[]): Promise<number> {
  let runs = 0;
  const probe = await Evil.open(sc.port);
  const len = concat(probe.seal([text(1n, "a".repeat(size))]), probe.seal([text(2n, "b".repeat(size))]), probe.seal([text(3n, "c".repeat(size))])).length;
  probe.a.destroy();
  for (const k of at(len)) {
    const e = await Evil.open(sc.port);
    const r1 = e.seal([text(1n, "a".repeat(size))]);
    const r2 = e.seal([text(2n, "b".repeat(size))]);
    const bad = flip(r2, r2.length - 1 - (k % 32), k % 8);
    const r3 = e.seal([text(3n, "c".repeat(size))]);
    const stream = concat(r1, bad, r3);
    e.a.write(stream.subarray(0, k));
    await new Promise((r) => setImmediate(r));
    e.a.write(stream.subarray(k));
    await verdict(sc, e, { code: "bad_record", alerts: [AlertCode.bad_record] });
    // Only the record before the bad one was acted on, once.
    const echoed = e.items.filter((i) => i.kind === "text").map((i) => (i as { id: bigint }).id);
    expect(echoed.every((id) => id === 1n)).toBe(true);
    expect(echoed.length).toBeLessThanOrEqual(1);
    runs++;
  }
  return runs;
}

test("small records: a bad tag between good ones, the stream cut at every offset", async () => {
  expect(await cutAt(40, (len) => Array.from({ length: len - 1 }, (_, i) => i + 1))).toBeGreaterThan(200);
}, 120_000);

test("records past the scratch size (3 KiB lines): cut at every 61st offset", async () => {
  expect(await cutAt(3000, (len) => Array.from({ length: Math.floor((len - 1) / 61) }, (_, i) => 1 + i * 61))).toBeGreaterThan(100);
}, 120_000);
