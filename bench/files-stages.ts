/**
 * The file path's stages in one process, CPU per 256 MB (process.cpuUsage), with no
 * socket and no second process: what each side's work costs on its own, against which
 * bench/files-cpu.ts's two processes can be read.
 *
 *   1. sender: a file read 60 KiB at a time into chunk buffers, each a FILE_CHUNK queued
 *      on an Outbound (the session's send side) and flushed: encoded, sealed (AES-256-CBC,
 *      HMAC-SHA256) into one write; the chunk buffer new for every chunk (as before files
 *      round 2) or reused once Outbound says it was sealed (SealedNotice, chunks.ts);
 *   2. receiver: the same records opened (HMAC checked, then CBC), the chunk decoded,
 *      then hashed (SHA-256), written to a file (pwrite into the page cache), or both;
 *   3. the primitives alone for the same bytes: SHA-256, HMAC, CBC encrypt and decrypt.
 * Before anything is timed, the sender's records of each variant are opened in order and
 * their chunks compared with the file (STYLE: prove what is timed).
 *
 *   bun bench/files-stages.ts [MB] [rounds]     prints one line per stage: min and median ms
 */
import { createCipheriv, createDecipheriv } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PooledRandom } from "../src/crypto/random.ts";
import { Outbound, type SealedNotice } from "../src/net/outbound.ts";
import { CHUNK_HEADER_LEN, FileType } from "../src/protocol/constants.ts";
import { chunkItem, decodeFileItem } from "../src/protocol/files.ts";
import { FrameAssembler } from "../src/protocol/frame.ts";
import { decodeItems, type Item } from "../src/protocol/items.ts";
import { RecordReader, RecordWriter } from "../src/protocol/record.ts";
import type { Transport } from "../src/net/types.ts";

const CHUNK = 61_440;
const KEYS = new Uint8Array(64).fill(7);
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
/** Minor page faults of this process so far (fresh memory touched). */
const faults = () => process.resourceUsage().minorPageFault;

/** Step 1: every chunk of `path` (`size` bytes) sealed into records; `keep` collects the socket's bytes. */
function send(path: string, size: number, reuse: boolean, keep?: Uint8Array[]): number {
  const socket = { write: (b: Uint8Array, off = 0, len = b.length - off) => (keep?.push(b.slice(off, off + len)), len) } as unknown as Transport;
  const o = new Outbound(socket);
  const w = RecordWriter.fromKeyBlock(new Uint8Array(KEYS), new PooledRandom());
  const free: Uint8Array[] = [];
  const sealed = (it: Item) => void (it.kind === "ext" && free.push(it.content));
  const fd = openSync(path, "r");
  const c0 = cpu();
  for (let off = 0; off < size; off += CHUNK) {
    const n = Math.min(CHUNK, size - off);
    const buf = reuse ? (free.pop() ?? new Uint8Array(CHUNK_HEADER_LEN + CHUNK)) : new Uint8Array(CHUNK_HEADER_LEN + CHUNK);
    readSync(fd, buf, CHUNK_HEADER_LEN, n, off);
    const item: Item & SealedNotice = chunkItem(n === CHUNK ? buf : buf.subarray(0, CHUNK_HEADER_LEN + n), 1n, off);
    if (reuse) item.sealed = sealed;
    o.queue(item);
    o.flush(w, () => false);
  }
  const ms = cpu() - c0;
  closeSync(fd);
  return ms;
}

/** The chunks in `stream`, opened in order. @throws Error when one is not the file's bytes at its offset. */
function check(stream: Uint8Array[], file: Uint8Array): void {
  const r = RecordReader.fromKeyBlock(new Uint8Array(KEYS));
  const asm = new FrameAssembler();
  let at = 0;
  for (const b of stream)
    for (const f of asm.push(b))
      for (const it of decodeItems(r.open(f.bytes))) {
        if (it.kind !== "ext") continue;
        const c = decodeFileItem(it.type, it.content);
        if (c.kind !== "file_chunk" || c.offset !== at || Buffer.compare(c.data, file.subarray(at, at + c.data.length)) !== 0) throw new Error(`chunk at ${at} is not the file's bytes`);
        at += c.data.length;
      }
  if (at !== file.length) throw new Error(`the records carry ${at} of ${file.length} bytes`);
}

/** Step 2: `frames` (a sample of records, opened again and again up to `size` bytes) through the receiver's work. */
function receive(frames: Uint8Array[], size: number, hash: boolean, write: string | null): number {
  const h = new Bun.CryptoHasher("sha256");
  const fd = write === null ? -1 : openSync(write, "w");
  let r = RecordReader.fromKeyBlock(new Uint8Array(KEYS));
  const c0 = cpu();
  for (let off = 0, i = 0; off < size; i++) {
    // The sample's records carry seq 0..n-1: a fresh reader at each pass over it.
    if (i % frames.length === 0 && i > 0) r = RecordReader.fromKeyBlock(new Uint8Array(KEYS));
    const it = decodeItems(r.open(frames[i % frames.length]!))[0]!;
    if (it.kind !== "ext" || it.type !== FileType.FILE_CHUNK) throw new Error("not a chunk");
    const c = decodeFileItem(it.type, it.content);
    if (c.kind !== "file_chunk") throw new Error("not a chunk");
    if (hash) h.update(c.data);
    if (fd >= 0) for (let w = 0; w < c.data.length; ) w += writeSync(fd, c.data, w, c.data.length - w, off + w);
    off += c.data.length;
  }
  const ms = cpu() - c0;
  if (fd >= 0) closeSync(fd);
  return ms;
}

/** Step 3: one primitive over `size` bytes, 60 KiB (or 61,456-byte records) at a time. */
function primitive(kind: string, size: number): number {
  const b = new Uint8Array(61_456).map((_, i) => i * 31);
  const key = KEYS.subarray(0, 32), out = new Uint8Array(64);
  const enc = createCipheriv("aes-256-cbc", key, new Uint8Array(16)).setAutoPadding(false);
  const dec = createDecipheriv("aes-256-cbc", key, new Uint8Array(16)).setAutoPadding(false);
  const sha = new Bun.CryptoHasher("sha256"), mac = new Bun.CryptoHasher("sha256", key);
  const c0 = cpu();
  for (let done = 0; done < size; done += b.length) {
    if (kind === "sha256") sha.update(b);
    else if (kind === "hmac") mac.copy().update(b).digest(out);
    else if (kind === "cbc encrypt") enc.update(b);
    else dec.update(b);
  }
  return cpu() - c0;
}

async function main(): Promise<void> {
  const pos = process.argv.slice(2);
  const size = Math.floor(Number(pos[0] ?? 256) * 1e6);
  const rounds = Number(pos[1] ?? 5);
  const dir = mkdtempSync(join(tmpdir(), "sotto-bench-stages-"));
  try {
    const path = join(dir, "file.bin");
    const piece = new Uint8Array(1 << 20).map((_, i) => (i * 167 + 13) & 0xff);
    const fd = openSync(path, "w");
    for (let off = 0; off < size; off += piece.length) writeSync(fd, piece, 0, Math.min(piece.length, size - off));
    closeSync(fd);
    // Prove both sender variants on the first 8 MB, and keep their records for the receiver.
    const small = Math.min(size, 8_000_000);
    const file = new Uint8Array(small);
    const rfd = openSync(path, "r");
    readSync(rfd, file, 0, small, 0);
    closeSync(rfd);
    let sample: Uint8Array[] = [];
    for (const reuse of [false, true]) {
      const got: Uint8Array[] = [];
      send(path, small, reuse, got);
      check(got, file);
      const asm = new FrameAssembler();
      sample = got.flatMap((b) => asm.push(b).map((f) => new Uint8Array(f.bytes)));
    }
    const stages: [string, () => number][] = [
      ["sender: read + seal, new chunk buffers", () => send(path, size, false)],
      ["sender: read + seal, reused chunk buffers", () => send(path, size, true)],
      ["receiver: open + decode", () => receive(sample, size, false, null)],
      ["receiver: open + decode + SHA-256", () => receive(sample, size, true, null)],
      ["receiver: open + decode + write", () => receive(sample, size, false, join(dir, "out.bin"))],
      ["receiver: open + decode + SHA-256 + write", () => receive(sample, size, true, join(dir, "out.bin"))],
      ["SHA-256 alone", () => primitive("sha256", size)],
      ["HMAC-SHA256 alone (one per record)", () => primitive("hmac", size)],
      ["AES-256-CBC encrypt alone", () => primitive("cbc encrypt", size)],
      ["AES-256-CBC decrypt alone", () => primitive("cbc decrypt", size)],
    ];
    const ms = new Map<string, number[]>();
    const pf = new Map<string, number[]>();
    const add = (m: Map<string, number[]>, k: string, v: number) => (m.get(k) ?? m.set(k, []).get(k)!).push(v);
    // Rounds in turn, every stage once per round: a shared machine's load moves them all.
    for (let r = 0; r < rounds; r++)
      for (const [name, f] of stages) {
        const f0 = faults();
        add(ms, name, f());
        add(pf, name, faults() - f0);
      }
    const scale = 256e6 / size;
    const med = (v: number[]) => v.sort((a, b) => a - b)[v.length >> 1]!;
    for (const [name, v] of ms) {
      v.sort((a, b) => a - b);
      console.log(`${name.padEnd(44)} min ${(v[0]! * scale).toFixed(0).padStart(5)}  median ${(med(v) * scale).toFixed(0).padStart(5)} ms CPU per 256 MB, ${Math.round(med(pf.get(name)!) * scale)} page faults`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) await main();
