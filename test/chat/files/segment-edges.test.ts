/**
 * The sender's per-segment CRC-32 (segments.ts) is no security check: a change to a file
 * between its offer and its send that keeps every segment's CRC-32 is sent to the end,
 * and the receiver's SHA-256 must still refuse it. And the segment edges end to end:
 * files of 0 bytes, exactly 1 MiB, a multiple of 1 MiB, and one byte past it.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, writeSync } from "node:fs";
import { join } from "node:path";
import { SEGMENT_MIN } from "../../../src/chat/files/segments.ts";
import { Fixture, makeFile, sha256File, transfers, until, waitPhase } from "./fixtures.ts";
import { of } from "../../support/events.ts";

const fx = new Fixture();
afterEach(async () => {
  await fx.cleanup();
});

async function pair(autoAccept: boolean) {
  const bobHome = fx.dir();
  const downloads = join(bobHome, "downloads");
  const bob = await fx.node("bob", { home: bobHome, files: { downloads, autoAccept } });
  const alice = await fx.node("alice", { listen: null, connect: [`127.0.0.1:${bob.port}`], files: { downloads: join(fx.dir(), "dl"), autoAccept: false } });
  await until("connected", () => of(alice.events, "connected").length > 0 && of(bob.events, "connected").length > 0);
  return { alice, bob, downloads, bobHome };
}

/**
 * New bytes for `seg` that differ at `at` (one byte flipped) and in the four bytes at
 * `fix`, chosen so that the CRC-32 of the whole stays the same: CRC-32 is affine over
 * GF(2) for a fixed length, so the four bytes solve 32 linear equations.
 */
function sameCrc32(seg: Uint8Array, at: number, fix: number): Uint8Array {
  const zero = Bun.hash.crc32(new Uint8Array(seg.length));
  // f(d) = crc(d) ^ crc(0…0): linear in d.
  const f = (d: Uint8Array) => (Bun.hash.crc32(d) ^ zero) >>> 0;
  const unit = (pos: number, bit: number) => {
    const d = new Uint8Array(seg.length);
    d[pos] = 1 << bit;
    return f(d);
  };
  const target = unit(at, 0);
  // Columns: the 32 bits of the four bytes at `fix`; solve sum x_j col_j = target.
  const cols = Array.from({ length: 32 }, (_, j) => unit(fix + (j >> 3), j & 7));
  // Gaussian elimination on rows = the 32 bits of the CRC; each row a 33-bit mask (32 unknowns, then the target).
  const rows: bigint[] = [];
  for (let r = 0; r < 32; r++) {
    let m = 0n;
    for (let j = 0; j < 32; j++) if ((cols[j]! >>> r) & 1) m |= 1n << BigInt(j);
    if ((target >>> r) & 1) m |= 1n << 32n;
    rows.push(m);
  }
  for (let c = 0; c < 32; c++) {
    const p = rows.findIndex((m, i) => i >= c && (m >> BigInt(c)) & 1n);
    if (p < 0) throw new Error("singular");
    [rows[c], rows[p]] = [rows[p]!, rows[c]!];
    for (let i = 0; i < 32; i++) if (i !== c && (rows[i]! >> BigInt(c)) & 1n) rows[i] = rows[i]! ^ rows[c]!;
  }
  const out = new Uint8Array(seg);
  out[at]! ^= 1;
  for (let j = 0; j < 32; j++) if ((rows[j]! >> 32n) & 1n) out[fix + (j >> 3)]! ^= 1 << (j & 7);
  return out;
}

describe("the segment check is no security check: the receiver's SHA-256 is", () => {
  test("a change after the offer that keeps each segment's CRC-32 goes out to FILE_DONE, and the receiver refuses it by SHA-256 and keeps nothing", async () => {
    const { alice, bob, downloads, bobHome } = await pair(false);
    const f = join(fx.dir(), "forged.bin");
    const size = 3 * SEGMENT_MIN + 777;
    makeFile(f, size, 9);
    alice.n.files!.send([f]);
    const offered = await waitPhase(bob.events, "offered");
    // Hashed for the offer; now segment 1 changes with its CRC-32 kept.
    const seg = new Uint8Array(SEGMENT_MIN);
    const fd = openSync(f, "r+");
    readSync(fd, seg, 0, SEGMENT_MIN, SEGMENT_MIN);
    const forged = sameCrc32(seg, 1234, 5000);
    expect(Bun.hash.crc32(forged)).toBe(Bun.hash.crc32(seg));
    expect(Buffer.compare(Buffer.from(forged), Buffer.from(seg))).not.toBe(0);
    writeSync(fd, forged, 0, SEGMENT_MIN, SEGMENT_MIN);
    closeSync(fd);
    bob.n.files!.accept(offered.id);
    const failed = await waitPhase(bob.events, "failed");
    expect(failed.reason).toContain("do not match the SHA-256 the peer offered");
    expect(transfers(bob.events, "done")).toHaveLength(0);
    expect(existsSync(downloads) ? readdirSync(downloads) : []).toEqual([]);
    const partials = join(bobHome, "partials");
    expect(existsSync(partials) ? readdirSync(partials).filter((n) => n.endsWith(".part")) : []).toEqual([]);
    expect(transfers(alice.events, "done")).toHaveLength(0);
  }, 30_000);
});

describe("segment edges end to end", () => {
  for (const size of [0, 1, SEGMENT_MIN - 1, SEGMENT_MIN, SEGMENT_MIN + 1, 3 * SEGMENT_MIN]) {
    test(`a file of ${size} bytes arrives whole, its hash checked on both sides`, async () => {
      const { alice, bob, downloads } = await pair(true);
      const f = join(fx.dir(), `s${size}.bin`);
      const sha = makeFile(f, size, size % 251);
      alice.n.files!.send([f]);
      const done = await waitPhase(bob.events, "done");
      expect(done.sha256).toBe(sha);
      expect(await sha256File(join(downloads, `s${size}.bin`))).toBe(sha);
      expect(readFileSync(join(downloads, `s${size}.bin`)).length).toBe(size);
      await waitPhase(alice.events, "done");
      expect(transfers(alice.events, "failed")).toHaveLength(0);
    }, 20_000);
  }
});
