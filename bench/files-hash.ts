/**
 * The offer's hash (the part of `/send → verified` before the offer can go) against its
 * floor: the sender's `hashFile` as `/send` runs it, other ways of reading the file, and
 * SHA-256 alone over bytes already in memory, in one process, per 256 MB.
 *
 *   1. a file of `MB` megabytes is written (it stays in the page cache, as in bench/files.ts);
 *   2. each variant reads and hashes all of it, with the segments' CRC-32 as /send takes
 *      them (segments.ts), rounds in turn so a shared machine's load moves them all;
 *   3. every variant's digest must be the file's (STYLE: prove what is timed).
 *
 *   bun bench/files-hash.ts [MB] [rounds]     prints one line per variant: min and median wall and CPU ms
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashFile } from "../src/chat/files/disk.ts";
import { SegmentPrints } from "../src/chat/files/segments.ts";

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** The file read with the next piece's read under way while this one is hashed (as hashFile does), `piece` bytes at a time. */
async function overlapped(path: string, size: number, piece: number): Promise<string> {
  const fh = await open(path, "r");
  const bufs = [new Uint8Array(piece), new Uint8Array(piece)];
  const h = new Bun.CryptoHasher("sha256");
  const prints = new SegmentPrints(size);
  let pos = 0;
  let k = 0;
  let ahead: Promise<{ bytesRead: number }> | null = fh.read(bufs[0]!, 0, Math.min(piece, size), 0);
  try {
    while (ahead !== null) {
      const { bytesRead } = await ahead;
      ahead = null;
      if (bytesRead === 0) break;
      const p = bufs[k]!.subarray(0, bytesRead);
      pos += bytesRead;
      k ^= 1;
      if (pos < size) ahead = fh.read(bufs[k]!, 0, Math.min(piece, size - pos), pos);
      h.update(p);
      prints.record(p);
    }
  } finally {
    await fh.close();
  }
  return h.digest("hex");
}

/** The file read on this thread, `piece` bytes at a time, each hashed before the next is read. */
function inline(path: string, size: number, piece: number): string {
  const fd = openSync(path, "r");
  const b = new Uint8Array(piece);
  const h = new Bun.CryptoHasher("sha256");
  const prints = new SegmentPrints(size);
  try {
    for (let pos = 0; pos < size; ) {
      const n = readSync(fd, b, 0, Math.min(piece, size - pos), pos);
      if (n === 0) break;
      const p = n === piece ? b : b.subarray(0, n);
      h.update(p);
      prints.record(p);
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
  return h.digest("hex");
}

async function main(): Promise<void> {
  const pos = process.argv.slice(2);
  const size = Math.floor(Number(pos[0] ?? 256) * 1e6);
  const rounds = Number(pos[1] ?? 5);
  const dir = mkdtempSync(join(tmpdir(), "sotto-bench-hash-"));
  try {
    const path = join(dir, "file.bin");
    const piece = new Uint8Array(1 << 20).map((_, i) => (i * 167 + 13) & 0xff);
    const want = new Bun.CryptoHasher("sha256");
    const fd = openSync(path, "w");
    for (let off = 0; off < size; off += piece.length) {
      const n = Math.min(piece.length, size - off);
      writeSync(fd, piece, 0, n);
      want.update(piece.subarray(0, n));
    }
    closeSync(fd);
    const sha = want.digest("hex");
    const variants: [string, () => Promise<string> | string][] = [
      ["hashFile (the offer's: 1 MiB, read ahead)", async () => {
        const prints = new SegmentPrints(size);
        const { hasher } = await hashFile(path, size, undefined, undefined, (p) => prints.record(p));
        return hasher.digest("hex");
      }],
      ["read ahead, 4 MiB pieces", () => overlapped(path, size, 4 << 20)],
      ["read ahead, 256 KiB pieces", () => overlapped(path, size, 256 << 10)],
      ["read on this thread, 1 MiB pieces", () => inline(path, size, 1 << 20)],
      ["read on this thread, 4 MiB pieces", () => inline(path, size, 4 << 20)],
      ["SHA-256 alone, bytes in memory (floor)", () => {
        const h = new Bun.CryptoHasher("sha256");
        for (let off = 0; off < size; off += piece.length) h.update(piece.subarray(0, Math.min(piece.length, size - off)));
        return h.digest("hex");
      }],
    ];
    const wall = new Map<string, number[]>();
    const used = new Map<string, number[]>();
    const add = (m: Map<string, number[]>, k: string, v: number) => (m.get(k) ?? m.set(k, []).get(k)!).push(v);
    for (let r = 0; r < rounds; r++)
      for (const [name, f] of variants) {
        const c0 = cpu();
        const t0 = performance.now();
        const got = await f();
        add(wall, name, performance.now() - t0);
        add(used, name, cpu() - c0);
        if (got !== sha) throw new Error(`${name}: digest ${got}, the file's is ${sha}`);
      }
    const scale = 256e6 / size;
    const fmt = (v: number[]) => {
      v.sort((a, b) => a - b);
      return `min ${(v[0]! * scale).toFixed(0).padStart(4)}  median ${(v[v.length >> 1]! * scale).toFixed(0).padStart(4)}`;
    };
    for (const [name] of variants) console.log(`${name.padEnd(42)} wall ${fmt(wall.get(name)!)}  CPU ${fmt(used.get(name)!)} ms per 256 MB`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) await main();
