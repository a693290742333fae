/**
 * The file sender's chunk buffers are reused (src/chat/files/chunks.ts), and only after
 * the session said it sealed their chunk (net/outbound.ts SealedNotice): a fake session
 * (fake-session.ts) holds what is sent, unsealed, under back-pressure, and seals it one
 * item at a time; every unsealed chunk must still hold the file's bytes at its offset,
 * and what was sealed must be the file, byte for byte, with a few buffers for all of it.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ChunkPool } from "../../../src/chat/files/chunks.ts";
import { FileType } from "../../../src/protocol/constants.ts";
import { decodeFileItem, type FileItem } from "../../../src/protocol/files.ts";
import { removeHomes, tempHome } from "../../support/home.ts";
import { until } from "../../support/wait.ts";
import { Harness, type FakeSession } from "./fake-session.ts";

const harnesses: Harness[] = [];
afterEach(() => {
  for (const h of harnesses.splice(0)) h.close();
  removeHomes();
});
const harness = (o: ConstructorParameters<typeof Harness>[1] = {}) => {
  const h = new Harness(tempHome("sotto-chunks-"), o);
  harnesses.push(h);
  return h;
};
const sha = (b: Uint8Array | string) => new Uint8Array(new Bun.CryptoHasher("sha256").update(b).digest());
type Chunk = Extract<FileItem, { kind: "file_chunk" }>;

function file(data: Uint8Array): string {
  const p = join(tempHome("sotto-src-"), "f.bin");
  writeFileSync(p, data);
  return p;
}

/** The chunks of transfer `id` among `items` (sealed copies, or live items), decoded. */
function chunksOf(items: { type: number; content: Uint8Array }[], id: bigint): Chunk[] {
  return items.filter((it) => it.type === FileType.FILE_CHUNK).map((it) => decodeFileItem(FileType.FILE_CHUNK, new Uint8Array(it.content))).filter((c): c is Chunk => c.kind === "file_chunk" && c.id === id);
}

/** Every chunk the session holds unsealed still carries `data` at its offset (its buffer was not filled again). */
function unsealedIntact(s: FakeSession, id: bigint, data: Uint8Array): boolean {
  const live = chunksOf(s.unsealed, id);
  return live.every((c) => Buffer.from(c.data).equals(Buffer.from(data.subarray(c.offset, c.offset + c.data.length))));
}

async function accepted(h: Harness, s: FakeSession, data: Uint8Array): Promise<bigint> {
  const before = s.of("file_offer").length;
  h.ft.send([file(data)]);
  const offer = await until("the offer", () => s.of("file_offer")[before]);
  s.seal();
  s.drain();
  h.deliver(s, { kind: "file_accept", id: offer.id, offset: 0, prefix: sha("") });
  await until("the first chunk", () => s.unsealed.some((it) => it.type === FileType.FILE_CHUNK));
  return offer.id;
}

describe("chunk buffers are filled again only after their chunk was sealed (PROTOCOL §11.8 back-pressure)", () => {
  test("sealed one item at a time behind a full queue: no unsealed chunk is ever written over, the sealed bytes are the file, a few buffers carry it all", async () => {
    const h = harness({ chunkBytes: 10_000, highWater: 25_000 });
    const s = h.open();
    s.holdOutput = true;
    const data = new Uint8Array(randomBytes(300_000 + 123));
    const id = await accepted(h, s, data);
    for (let i = 0; i < 500 && s.of("file_done", id).length === 0; i++) {
      expect(unsealedIntact(s, id, data)).toBe(true);
      // One sealed, the rest still waiting: the sender refills under HIGH_WATER with what came back.
      s.seal(1);
      h.drain(s);
      await Bun.sleep(0);
    }
    s.seal();
    const got = chunksOf(s.sealedCopies, id);
    expect(got.map((c) => c.offset)).toEqual(got.map((_, i) => i * 10_000));
    expect(Buffer.concat(got.map((c) => c.data)).equals(Buffer.from(data))).toBe(true);
    // 31 chunks, and no more buffers than HIGH_WATER lets wait plus the pool's spare ones.
    const buffers = new Set(s.items.filter((it) => it.kind === "ext" && it.type === FileType.FILE_CHUNK).map((it) => (it.kind === "ext" ? it.content.buffer : null)));
    expect(got).toHaveLength(31);
    expect(buffers.size).toBeLessThanOrEqual(6);
  });

  test("a transfer cancelled with chunks unsealed: the next transfer never takes their buffers; sealed later, they still hold the first file's bytes", async () => {
    const h = harness({ chunkBytes: 10_000, highWater: 25_000 });
    const s = h.open();
    s.holdOutput = true;
    const a = new Uint8Array(randomBytes(200_000));
    const b = new Uint8Array(randomBytes(200_000));
    const idA = await accepted(h, s, a);
    for (let i = 0; i < 5; i++) {
      s.seal(1);
      h.drain(s);
      await Bun.sleep(0);
    }
    const waiting = chunksOf(s.unsealed, idA).length;
    expect(waiting).toBeGreaterThan(0);
    expect(h.ft.cancel()).toBe(1);
    // The second transfer runs to its end while A's chunks still wait, unsealed, at the front.
    const keep = s.unsealed.splice(0, s.unsealed.length);
    s.bufferedAmount = 0;
    const idB = await accepted(h, s, b);
    for (let i = 0; i < 500 && s.of("file_done", idB).length === 0; i++) {
      expect(chunksOf(keep, idA).every((c) => Buffer.from(c.data).equals(Buffer.from(a.subarray(c.offset, c.offset + c.data.length))))).toBe(true);
      expect(unsealedIntact(s, idB, b)).toBe(true);
      s.seal(1);
      h.drain(s);
      await Bun.sleep(0);
    }
    s.seal();
    const gotB = chunksOf(s.sealedCopies, idB);
    expect(Buffer.concat(gotB.map((c) => c.data)).equals(Buffer.from(b))).toBe(true);
    // A's chunks sealed at last: their bytes are A's.
    s.unsealed.push(...keep);
    s.seal();
    const lateA = chunksOf(s.sealedCopies.slice(-keep.length), idA);
    expect(lateA).toHaveLength(waiting);
    for (const c of lateA) expect(Buffer.from(c.data).equals(Buffer.from(a.subarray(c.offset, c.offset + c.data.length)))).toBe(true);
  });

  test("a lost session drops its unsealed chunks: the resumed transfer on the next session sends the file's bytes", async () => {
    const h = harness({ chunkBytes: 10_000, highWater: 25_000 });
    const s = h.open();
    s.holdOutput = true;
    const data = new Uint8Array(randomBytes(120_000));
    const id = await accepted(h, s, data);
    s.seal(1);
    h.drain(s);
    s.dropUnsealed();
    h.lose(s);
    const s2 = h.open(s);
    const offer = await until("the offer again", () => s2.of("file_offer")[0]);
    s2.seal();
    h.deliver(s2, { kind: "file_accept", id: offer.id, offset: 10_000, prefix: sha(data.subarray(0, 10_000)) });
    for (let i = 0; i < 200 && s2.of("file_done", offer.id).length === 0; i++) {
      expect(unsealedIntact(s2, offer.id, data)).toBe(true);
      s2.seal(1);
      h.drain(s2);
      await Bun.sleep(1);
    }
    s2.seal();
    expect(id).not.toBe(offer.id);
    const got = chunksOf(s2.sealedCopies, offer.id);
    expect(Buffer.concat(got.map((c) => c.data)).equals(Buffer.from(data.subarray(10_000)))).toBe(true);
  });
});

describe("ChunkPool", () => {
  test("a buffer comes back once, only when active, of its own size; at most max are kept; idle lets them all go", () => {
    const p = new ChunkPool(100, 2);
    const [x, y, z] = [p.take(), p.take(), p.take()];
    expect(p.made).toBe(3);
    p.give(x);
    p.give(x); // given back twice: kept once
    expect(p.free).toBe(1);
    p.give(new Uint8Array(99)); // not one of ours
    p.give(new Uint8Array(200).subarray(0, 100)); // a view of another buffer
    expect(p.free).toBe(1);
    p.give(y.subarray(0, 40)); // the front of a buffer (a short last chunk): the whole buffer comes back
    p.give(z); // past max
    expect(p.free).toBe(2);
    const again = [p.take(), p.take()];
    expect(again.map((b) => b.buffer).sort()).toEqual([x.buffer, y.buffer].sort());
    expect(again.every((b) => b.length === 100)).toBe(true);
    expect(p.made).toBe(3);
    p.give(again[0]!);
    p.idle();
    expect(p.free).toBe(0);
    p.give(again[1]!); // sealed after idle: not kept
    expect(p.free).toBe(0);
    p.take();
    expect(p.made).toBe(4);
  });
});
