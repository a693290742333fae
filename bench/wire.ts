/**
 * What the end-to-end harness and its child processes share:
 *   - the bench message: op:u8 | counter:u32 | filler, S bytes in all. Plain TCP and TLS
 *     carry it in the same u16-length framing sotto uses (length:u16 | message); sotto
 *     carries it as one TEXT item (id = counter, text = op char + filler, 8 + len(text) = S);
 *   - ops: DATA (count it, check it is the next counter), ECHO (send it back),
 *     FINISH (reply FINISH with how many DATA messages arrived and whether all were in order);
 *   - a self-signed certificate for TLS, made at run time with openssl;
 *   - line-delimited JSON between the parent and a child's stdout, commands on its stdin.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "./common.ts";

export type Kind = "tcp" | "tls" | "sotto";
export const Op = { DATA: 0x64, ECHO: 0x65, FINISH: 0x66 } as const; // 'd' 'e' 'f'
export const MSG_HEADER = 5;

/** One framed raw message: length:u16 | op:u8 | counter:u32 | filler (S = message size). */
export function rawMessage(op: number, counter: number, size: number, into?: Uint8Array, at = 0): Uint8Array {
  const out = into ?? new Uint8Array(2 + size);
  out[at] = size >>> 8;
  out[at + 1] = size & 0xff;
  out[at + 2] = op;
  out[at + 3] = counter >>> 24;
  out[at + 4] = (counter >>> 16) & 0xff;
  out[at + 5] = (counter >>> 8) & 0xff;
  out[at + 6] = counter & 0xff;
  return out;
}

export function readCounter(m: Uint8Array, at = 0): number {
  return ((m[at + 1]! << 24) | (m[at + 2]! << 16) | (m[at + 3]! << 8) | m[at + 4]!) >>> 0;
}

/** u16-length framing for the baselines; hands each message (a view) to `on`. */
export class RawFramer {
  #buf: Uint8Array | null = null;
  constructor(readonly on: (msg: Uint8Array) => void) {}
  push(chunk: Uint8Array): void {
    let data = chunk;
    if (this.#buf !== null) {
      const b = new Uint8Array(this.#buf.length + chunk.length);
      b.set(this.#buf);
      b.set(chunk, this.#buf.length);
      data = b;
      this.#buf = null;
    }
    let off = 0;
    const n = data.length;
    while (n - off >= 2) {
      const len = (data[off]! << 8) | data[off + 1]!;
      if (n - off - 2 < len) break;
      this.on(data.subarray(off + 2, off + 2 + len));
      off += 2 + len;
    }
    if (off < n) this.#buf = data.slice(off);
  }
}

/** The sotto TEXT for a message of `size` bytes: op char then filler (8 bytes go to the id). */
export function sottoText(op: number, size: number): string {
  return String.fromCharCode(op) + "x".repeat(Math.max(0, size - 8 - 1));
}

export interface Cert {
  key: string;
  cert: string;
  dir: string;
}

/** A throwaway self-signed P-256 certificate for localhost. @throws Error without openssl. */
export function makeCert(): Cert {
  if (Bun.which("openssl") === null) throw new Error("openssl not found: the TLS 1.3 baseline needs it to make a certificate");
  const dir = mkdtempSync(join(tmpdir(), "sotto-bench-"));
  const keyPath = join(dir, "key.pem"), certPath = join(dir, "cert.pem");
  const r = runCommand(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", keyPath, "-out", certPath]);
  if (r.code !== 0) throw new Error(`openssl failed: ${r.err}`);
  return { key: readFileSync(keyPath, "utf8"), cert: readFileSync(certPath, "utf8"), dir };
}

/** Reads line-delimited JSON from a child's stdout. */
export class Lines {
  #reader: { read(): Promise<{ value?: Uint8Array; done: boolean }> };
  #buf = "";
  #dec = new TextDecoder();
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }
  /** The next JSON line. @throws Error when the stream ends first. */
  async next<T = Record<string, unknown>>(): Promise<T> {
    for (;;) {
      const i = this.#buf.indexOf("\n");
      if (i >= 0) {
        const line = this.#buf.slice(0, i);
        this.#buf = this.#buf.slice(i + 1);
        if (line.trim() === "") continue;
        return JSON.parse(line) as T;
      }
      const { value, done } = await this.#reader.read();
      if (done) throw new Error("child process ended unexpectedly");
      this.#buf += this.#dec.decode(value, { stream: true });
    }
  }
}

/** Percentile of a sorted array (nearest rank). */
export function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** The soft file-descriptor limit, read from a shell (`ulimit -n`), or null. */
export function fdLimit(): number | null {
  try {
    const v = runCommand(["sh", "-c", "ulimit -n"]).out.trim();
    return v === "unlimited" ? Infinity : Number.parseInt(v, 10) || null;
  } catch {
    return null;
  }
}

/** Wait for a child to exit, at most `ms`; kill it otherwise (no timer left behind). */
export async function reap(proc: { exited: Promise<number>; exitCode: number | null; kill(): void }, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([proc.exited, new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
  if (proc.exitCode === null) proc.kill();
}
