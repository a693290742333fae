/** Outbound (the send side of one connection): paced bulk stops at the pacer's window record by record, so little is sealed ahead of a later line. */
import { describe, expect, test } from "bun:test";
import type { Socket } from "bun";
import { PooledRandom } from "../../src/crypto/random.ts";
import { Outbound } from "../../src/net/outbound.ts";
import { FileType } from "../../src/protocol/constants.ts";
import { RecordReader, RecordWriter } from "../../src/protocol/record.ts";
import { decodeItems } from "../../src/protocol/items.ts";
import { FrameAssembler } from "../../src/protocol/frame.ts";

/** One key block for both ends (the writer and reader take ownership of what they get: each gets a copy). */
const kb = new Uint8Array(64).fill(9);

/** A socket that takes everything and keeps it. */
function sink() {
  const got: Uint8Array[] = [];
  // As Bun's socket.write(data, byteOffset, byteLength).
  const socket = { write: (b: Uint8Array, off = 0, len = b.length - off) => (got.push(b.slice(off, off + len)), len) } as unknown as Socket<unknown>;
  return { socket, got };
}

describe("Outbound, paced bulk", () => {
  test("60 KiB file chunks with 10 KiB of window left: one record is sealed, not a batch of two; a later line goes right behind it", () => {
    const { socket, got } = sink();
    const o = new Outbound(socket);
    const w = RecordWriter.fromKeyBlock(new Uint8Array(kb), new PooledRandom());
    const chunk = new Uint8Array(60 * 1024);
    for (let i = 0; i < 8; i++) o.queue({ kind: "ext", type: FileType.FILE_CHUNK, content: chunk });
    o.bulkUntil = 10 * 1024;
    o.flush(w, () => false);
    o.queue({ kind: "text", id: 1n, text: "a line during the transfer" });
    o.flush(w, () => false);

    const r = RecordReader.fromKeyBlock(new Uint8Array(kb));
    const frames = new FrameAssembler();
    const kinds: string[] = [];
    for (const b of got) for (const f of frames.push(b)) for (const it of decodeItems(r.open(f.bytes))) kinds.push(it.kind === "ext" ? "chunk" : it.kind);
    expect(kinds).toEqual(["chunk", "text"]);
  });

  test("paced bulk records hold at most bulkQuantum bytes: 4 KiB items with a 10 KiB quantum go two to a record; an item over the quantum goes alone", () => {
    const { socket, got } = sink();
    const o = new Outbound(socket);
    const w = RecordWriter.fromKeyBlock(new Uint8Array(kb), new PooledRandom());
    for (let i = 0; i < 6; i++) o.queue({ kind: "ext", type: FileType.FILE_CHUNK, content: new Uint8Array(4096).fill(i) });
    o.queue({ kind: "ext", type: FileType.FILE_CHUNK, content: new Uint8Array(20_000).fill(6) });
    o.bulkQuantum = 10 * 1024;
    o.bulkUntil = 1 << 20;
    o.flush(w, () => false);

    const r = RecordReader.fromKeyBlock(new Uint8Array(kb));
    const frames = new FrameAssembler();
    const records: number[][] = [];
    for (const b of got) for (const f of frames.push(b)) records.push(decodeItems(r.open(f.bytes)).map((it) => (it.kind === "ext" ? it.content[0]! : -1)));
    expect(records).toEqual([[0, 1], [2, 3], [4, 5], [6]]);
  });
});

describe("Outbound, the sealed notice of a bulk item (the file sender reuses its chunk buffers after it)", () => {
  /** A socket that takes at most `room` more bytes (Infinity: all), and keeps what it took. */
  function valve() {
    const got: Uint8Array[] = [];
    const v = { room: Infinity, got, socket: null as unknown as Socket<unknown> };
    v.socket = {
      write: (b: Uint8Array, off = 0, len = b.length - off) => {
        const n = Math.min(len, v.room);
        v.room -= n;
        got.push(b.slice(off, off + n));
        return n;
      },
    } as unknown as Socket<unknown>;
    return v;
  }
  /** The content of every file chunk in `got`, in order. */
  function contents(got: Uint8Array[]): Uint8Array[] {
    const r = RecordReader.fromKeyBlock(new Uint8Array(kb));
    const frames = new FrameAssembler();
    const out: Uint8Array[] = [];
    for (const b of got) for (const f of frames.push(b)) for (const it of decodeItems(r.open(f.bytes))) if (it.kind === "ext") out.push(new Uint8Array(it.content));
    return out;
  }
  /** `n` chunk items of 60 KiB, each filled with its index; `sealed` records the index and then writes over the buffer. */
  function chunkItems(n: number, order: number[]) {
    return Array.from({ length: n }, (_, i) => ({
      kind: "ext" as const,
      type: FileType.FILE_CHUNK,
      content: new Uint8Array(60 * 1024).fill(i + 1),
      sealed: (it: { content: Uint8Array }) => {
        order.push(i);
        it.content.fill(0xee);
      },
    }));
  }

  test("each is told once, in order, after its bytes are sealed: writing over the buffer then changes nothing on the wire", () => {
    const v = valve();
    const o = new Outbound(v.socket);
    const w = RecordWriter.fromKeyBlock(new Uint8Array(kb), new PooledRandom());
    const order: number[] = [];
    for (const it of chunkItems(5, order)) o.queue(it);
    for (let k = 0; k < 5 && o.hasBulk; k++) o.flush(w, () => false);
    expect(order).toEqual([0, 1, 2, 3, 4]);
    expect(contents(v.got).map((c) => [c.length, c.every((x) => x === c[0]) ? c[0] : -1])).toEqual([1, 2, 3, 4, 5].map((i) => [60 * 1024, i]));
  });

  test("under back-pressure only the sealed ones are told; those waiting unsealed behind the socket are told when they are sealed after the drain", () => {
    const v = valve();
    v.room = 1000;
    const o = new Outbound(v.socket);
    const w = RecordWriter.fromKeyBlock(new Uint8Array(kb), new PooledRandom());
    const order: number[] = [];
    for (const it of chunkItems(6, order)) o.queue(it);
    o.flush(w, () => false);
    expect(o.backedUp).toBe(true);
    const first = order.length;
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThan(6);
    expect(order).toEqual([...Array(first).keys()]);
    // Still backed up: nothing more is sealed, nobody else is told.
    o.flush(w, () => false);
    expect(order.length).toBe(first);
    v.room = Infinity;
    expect(o.drain()).toBe(true);
    for (let k = 0; k < 6 && o.hasBulk; k++) o.flush(w, () => false);
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
    expect(contents(v.got).map((c) => c.every((x) => x === c[0]) ? c[0] : -1)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test("items dropped unsealed (clearPending, drop) are never told", () => {
    const v = valve();
    v.room = 0;
    const o = new Outbound(v.socket);
    const w = RecordWriter.fromKeyBlock(new Uint8Array(kb), new PooledRandom());
    const order: number[] = [];
    const items = chunkItems(4, order);
    o.queue(items[0]!);
    o.flush(w, () => false); // sealed, then backed up behind a socket that takes nothing
    for (const it of items.slice(1, 3)) o.queue(it);
    o.clearPending();
    o.queue(items[3]!);
    o.drop();
    v.room = Infinity;
    o.flush(w, () => false);
    expect(order).toEqual([0]);
  });
});
