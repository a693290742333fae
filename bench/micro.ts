/**
 * Micro-benchmarks, one group per layer (mitata):
 *   1. frame assembly: whole frames in one chunk, 1-byte chunks, frames straddling chunks;
 *   2. record seal and open at 64 B / 1 KiB / 16 KiB;
 *   3. the single-core ceiling of sotto's cipher suite: raw AES-256-CBC encrypt through a
 *      long-lived context plus HMAC-SHA256 from a keyed Bun.CryptoHasher copy(), same sizes;
 *   3b. the per-message path around it, 64-byte TEXTs as the chat sends and takes them
 *      (id, text: no Item object, no BigInt): Outbound queueText + flush (no socket), and
 *      Established.read (open, decode in place, hand each TEXT to the owner), one TEXT per
 *      record and a full record of them;
 *   4. handshake crypto per group: X25519, ffdhe2048, ffdhe3072 (contexts built before timing),
 *      Ed25519 sign and verify.
 * Every case first proves that what it times round-trips (throws otherwise).
 * `bun bench/micro.ts` prints mitata's own report; bench/main.ts calls runMicro().
 */
import { bench, do_not_optimize, group, measure, run } from "mitata";
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { ed25519Generate, ed25519Sign, ed25519Verify } from "../src/crypto/ed25519.ts";
import { FFDHE, FfdheContext, type FfdheName } from "../src/crypto/ffdhe.ts";
import { PooledRandom } from "../src/crypto/random.ts";
import { x25519, x25519Generate } from "../src/crypto/x25519.ts";
import { Established, type RecordHost } from "../src/net/established.ts";
import { defaultLimits } from "../src/net/limits.ts";
import { Outbound } from "../src/net/outbound.ts";
import { FrameType } from "../src/protocol/constants.ts";
import { encodeFrame, FrameAssembler, type Frame } from "../src/protocol/frame.ts";
import { decodeItems, encodeItems, type TextId } from "../src/protocol/items.ts";
import type { HandshakeResult } from "../src/protocol/machine.ts";
import { RecordReader, RecordWriter } from "../src/protocol/record.ts";
import type { Mode } from "./common.ts";

export const SIZES = [64, 1024, 16384] as const;
/** The largest record plaintext (PROTOCOL §5): what coalesced streaming fills. */
export const MAX_RECORD = 65280;

/** One measured case: ns per operation, and the payload bytes one operation handles. */
export interface MicroResult {
  group: string;
  name: string;
  nsPerOp: number;
  bytes: number;
  /** Payload MB/s (bytes / ns * 1000), when bytes > 0. */
  mbps: number | null;
}

interface Case {
  group: string;
  name: string;
  bytes: number;
  fn: () => unknown;
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`micro-benchmark self-check failed: ${what}`);
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

// --- 1. frame assembly -------------------------------------------------------------

function frameCases(): Case[] {
  const g = "frame assembly";
  // 64 frames of a 64-byte plaintext record body (iv + 5 blocks + tag), back to back.
  const one = encodeFrame(FrameType.RECORD, randomBytes(16 + 80 + 32));
  const stream = Buffer.concat(Array.from({ length: 64 }, () => one));
  const chunks1 = Array.from(stream, (b) => new Uint8Array([b]));
  // Chunks of 1000 bytes: most frames lie inside a chunk, every few straddle two.
  const straddle: Uint8Array[] = [];
  for (let o = 0; o < stream.length; o += 1000) straddle.push(stream.subarray(o, o + 1000));
  const runChunks = (chunks: Uint8Array[]) => {
    const a = new FrameAssembler();
    let n = 0;
    let last: Uint8Array | null = null;
    for (const c of chunks)
      for (const f of a.push(c)) {
        n++;
        last = f.bytes;
      }
    return { n, last };
  };
  for (const chunks of [[stream], chunks1, straddle]) {
    const r = runChunks(chunks);
    check(r.n === 64 && r.last !== null && equal(r.last, one), "frame assembler output");
  }
  return [
    { group: g, name: "64 frames, one chunk", bytes: stream.length, fn: () => runChunks([stream]) },
    { group: g, name: "64 frames, 1-byte chunks", bytes: stream.length, fn: () => runChunks(chunks1) },
    { group: g, name: "64 frames, 1000-byte chunks (straddling)", bytes: stream.length, fn: () => runChunks(straddle) },
  ];
}

// --- 2. records ------------------------------------------------------------------

const SECRET = new Uint8Array(32).fill(7);

/** A writer and a reader for the same traffic secret (one direction of a session). */
function direction(): { w: RecordWriter; r: RecordReader } {
  const random = new PooledRandom();
  return { w: RecordWriter.fromSecret(SECRET.slice(), random), r: RecordReader.fromSecret(SECRET.slice()) };
}

/** A record plaintext of exactly `size` bytes: one TEXT item. */
export function textPlaintext(size: number): Uint8Array {
  return encodeItems([{ kind: "text", id: 1n, text: "x".repeat(size - 3 - 8) }]);
}

function recordCases(): Case[] {
  const cases: Case[] = [];
  for (const size of SIZES) {
    const pt = textPlaintext(size);
    check(pt.length === size, "plaintext size");
    const rt = direction();
    check(equal(rt.r.open(rt.w.seal(pt)), pt), `record round trip at ${size} B`);
    let sealer = direction().w;
    // A fresh writer before 2^20 records (the key-update bound) keeps every call a plain seal.
    const seal = (p: Uint8Array) => {
      if (sealer.seq > 1_000_000) sealer = direction().w;
      return sealer.seal(p);
    };
    cases.push({ group: "record", name: `seal ${label(size)}`, bytes: size, fn: () => seal(pt) });
    if (size === SIZES[SIZES.length - 1]) {
      const big = textPlaintext(MAX_RECORD);
      cases.push({ group: "record", name: `seal ${label(MAX_RECORD)}`, bytes: MAX_RECORD, fn: () => seal(big) });
    }
    // Open: records sealed ahead (seq 0..K-1); a fresh reader for the same secret
    // replays them, so every timed call opens a valid record at the expected seq.
    const K = size >= 16384 ? 512 : 4096;
    const pre = direction().w;
    const sealed = Array.from({ length: K }, () => pre.seal(pt));
    let reader = direction().r;
    let i = 0;
    cases.push({
      group: "record",
      name: `open ${label(size)}`,
      bytes: size,
      fn: () => {
        if (i === K) {
          reader = RecordReader.fromSecret(SECRET.slice());
          i = 0;
        }
        return reader.open(sealed[i++]!);
      },
    });
  }
  return cases;
}

// --- 3. the cipher-suite ceiling -------------------------------------------------

function ceilingCases(): Case[] {
  const cases: Case[] = [];
  const key = randomBytes(32), macKey = randomBytes(32), iv = randomBytes(16);
  for (const size of [...SIZES, MAX_RECORD]) {
    // The padded plaintext of a `size`-byte record (PKCS#7 always adds 1..16 bytes).
    const padded = randomBytes(size + 16 - (size % 16));
    const cipher = createCipheriv("aes-256-cbc", key, iv).setAutoPadding(false);
    const hmac = new Bun.CryptoHasher("sha256", macKey);
    // Self-check: the long-lived context's output decrypts to the input, the copied
    // keyed state gives the same tag as a fresh HMAC.
    const c2 = createCipheriv("aes-256-cbc", key, iv).setAutoPadding(false);
    const ct = c2.update(padded);
    const d = createDecipheriv("aes-256-cbc", key, iv).setAutoPadding(false);
    check(equal(d.update(ct), padded), `AES-256-CBC round trip at ${size} B`);
    const t1 = hmac.copy().update(ct).digest();
    const t2 = new Bun.CryptoHasher("sha256", macKey).update(ct).digest();
    check(equal(t1, t2), "HMAC copy() equals a fresh HMAC");
    cases.push({
      group: "ceiling (AES-256-CBC encrypt + HMAC-SHA256)",
      name: `cbc+hmac ${label(size)}`,
      bytes: size,
      fn: () => {
        const out = cipher.update(padded);
        return hmac.copy().update(out).digest();
      },
    });
  }
  return cases;
}

// --- 3b. the per-message path around the cipher ----------------------------------------

/** 64-byte bench messages (8-byte id + 56 characters) in one full record: the streaming case's records. */
export const PER_RECORD_64 = Math.floor((MAX_RECORD - 3) / (3 + 64));

function pathCases(): Case[] {
  const g = "per-message path (64 B TEXT)";
  const text = "d" + "x".repeat(55);
  let sent: Uint8Array | null = null;
  const socket = { write: (d: Uint8Array, off = 0, len = d.length - off) => ((sent = d.subarray(off, off + len)), len) };
  const o = new Outbound(socket as never);
  let w = direction().w;
  const noUpdate = () => false;
  let id = 0;
  /** Queue `k` TEXTs and flush them: one record (PER_RECORD_64 of them fill one). */
  const send = (k: number) => {
    if (w.seq > 1_000_000) w = direction().w;
    for (let j = 0; j < k; j++) o.queueText(id++, text);
    o.flush(w, noUpdate);
  };
  // Self-check: what the socket got opens and decodes to the TEXTs queued, in one record.
  for (const k of [1, PER_RECORD_64]) {
    const rt = direction();
    w = rt.w;
    const first = id;
    send(k);
    const items = decodeItems(rt.r.open(new Uint8Array(sent!)));
    check(items.length === k && items.every((it, j) => it.kind === "text" && it.id === BigInt(first + j) && it.text === text), `per-message path: ${k} TEXT in one record`);
  }
  // The receiver's side: records sealed ahead, read by Established as a session reads them
  // (tag checked, decrypted, decoded in place, each TEXT handed to the owner as id, text).
  let lastId: TextId = -1, lastText = "", handed = 0;
  const host: RecordHost = {
    state: "open",
    text: (tid, t) => {
      lastId = tid;
      lastText = t;
      handed++;
    },
    item: () => {
      throw new Error("micro-benchmark: an item that is no TEXT");
    },
    closedByPeer: () => {},
    send: () => {},
    pong: () => false,
    profile: () => {},
  };
  const reading = (r: RecordReader) => new Established({ writer: direction().w, reader: r } as unknown as HandshakeResult, defaultLimits(), () => 0);
  const opener = (k: number) => {
    const pre = direction();
    const records: Uint8Array[] = [];
    for (let i = 0; i < (k === 1 ? 4096 : 64); i++) {
      records.push(pre.w.seal(encodeItems(Array.from({ length: k }, (_, j) => ({ kind: "text" as const, id: BigInt(i * k + j), text })))));
    }
    let est = reading(pre.r);
    let i = 0;
    const frame: Frame = { type: FrameType.RECORD, bytes: new Uint8Array(0), body: new Uint8Array(0) };
    const open = () => {
      if (i === records.length) {
        est = reading(RecordReader.fromSecret(SECRET.slice()));
        i = 0;
      }
      frame.bytes = records[i++]!;
      est.read(frame, host);
      return handed;
    };
    handed = 0;
    open();
    check(handed === k && lastText === text && lastId === k - 1, `per-message path: read ${k} TEXT`);
    return open;
  };
  const open1 = opener(1), openFull = opener(PER_RECORD_64);
  return [
    { group: g, name: "send: queue + flush, one TEXT per record", bytes: 64, fn: () => send(1) },
    { group: g, name: `send: queue + flush, ${PER_RECORD_64} TEXTs per record`, bytes: 64 * PER_RECORD_64, fn: () => send(PER_RECORD_64) },
    { group: g, name: "receive: read (open + decode + hand over), one TEXT per record", bytes: 64, fn: open1 },
    { group: g, name: `receive: read (open + decode + hand over), ${PER_RECORD_64} TEXTs per record`, bytes: 64 * PER_RECORD_64, fn: openFull },
  ];
}

// --- 4. handshake crypto ------------------------------------------------------------

function handshakeCases(): Case[] {
  const g = "handshake crypto";
  const cases: Case[] = [];
  const a = x25519Generate(), b = x25519Generate();
  check(equal(x25519(a.privateKey, b.publicKey), x25519(b.privateKey, a.publicKey)), "X25519 agreement");
  cases.push({
    group: g,
    name: "x25519 keygen + derive",
    bytes: 0,
    fn: () => {
      const k = x25519Generate();
      return x25519(k.privateKey, b.publicKey);
    },
  });
  for (const name of ["ffdhe2048", "ffdhe3072"] as FfdheName[]) {
    const ctx = new FfdheContext(FFDHE[name]); // built before timing (~0.4 s: prime check)
    const xa = randomBytes(ctx.group.exponentLen), xb = randomBytes(ctx.group.exponentLen);
    const ya = ctx.publicShare(xa), yb = ctx.publicShare(xb);
    check(equal(ctx.sharedSecret(xa, yb), ctx.sharedSecret(xb, ya)), `${name} agreement`);
    cases.push({
      group: g,
      name: `${name} share + derive`,
      bytes: 0,
      fn: () => {
        const x = randomBytes(ctx.group.exponentLen);
        ctx.publicShare(x);
        return ctx.sharedSecret(x, yb);
      },
    });
  }
  const id = ed25519Generate();
  const msg = randomBytes(64);
  const sig = ed25519Sign(id.privateKey, msg);
  check(ed25519Verify(id.publicKey, msg, sig), "Ed25519 sign/verify");
  cases.push({ group: g, name: "ed25519 sign", bytes: 0, fn: () => ed25519Sign(id.privateKey, msg) });
  cases.push({ group: g, name: "ed25519 verify", bytes: 0, fn: () => ed25519Verify(id.publicKey, msg, sig) });
  return cases;
}

export function label(size: number): string {
  if (size === MAX_RECORD) return "max record (65,280 B)";
  return size >= 1024 ? `${size / 1024} KiB` : `${size} B`;
}

function allCases(): Case[] {
  return [...frameCases(), ...recordCases(), ...ceilingCases(), ...pathCases(), ...handshakeCases()];
}

const TUNE: Record<Mode, { min_cpu_time?: number; min_samples?: number; max_samples?: number }> = {
  full: {},
  quick: { min_cpu_time: 150e6 },
  smoke: { min_cpu_time: 2e6, min_samples: 2, max_samples: 50 },
};

/**
 * Run every micro-benchmark with mitata's measure() and return the results as data.
 * @throws Error when a self-check fails.
 */
export async function runMicro(mode: Mode, log: (s: string) => void = () => {}): Promise<MicroResult[]> {
  const out: MicroResult[] = [];
  for (const c of allCases()) {
    const st = await measure(
      () => {
        do_not_optimize(c.fn());
      },
      { ...TUNE[mode] },
    );
    const ns = st.avg;
    out.push({ group: c.group, name: c.name, nsPerOp: ns, bytes: c.bytes, mbps: c.bytes > 0 ? (c.bytes / ns) * 1000 : null });
    log(`  ${c.group} / ${c.name}: ${fmtNs(ns)}`);
  }
  return out;
}

export function fmtNs(ns: number): string {
  if (ns < 1e3) return `${ns.toFixed(0)} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${(ns / 1e6).toFixed(2)} ms`;
}

if (import.meta.main) {
  const byGroup = new Map<string, Case[]>();
  for (const c of allCases()) byGroup.set(c.group, [...(byGroup.get(c.group) ?? []), c]);
  for (const [name, cases] of byGroup)
    group(name, () => {
      for (const c of cases) bench(c.name, () => do_not_optimize(c.fn()));
    });
  await run();
}
