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
