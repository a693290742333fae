/**
 * Disk helpers of the file transfer: what `/send` sends, the resume key, and SHA-256 of
 * a file (or of its first n bytes) read in 1 MiB pieces with an await between them, so
 * a 2 GB file costs 1 MiB of memory and the chat stays responsive while it is hashed.
 */
import { lstatSync, readdirSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, join, resolve } from "node:path";
import { MAX_FILE_NAME_BYTES, MAX_FILE_SIZE } from "../../protocol/constants.ts";
import { ChatError } from "../events.ts";

/** Most files one `/send` may offer. */
export const MAX_FILES_PER_SEND = 10_000;
const PIECE = 1 << 20;
const enc = new TextEncoder();

/** A file to offer: where it is, and the relative name the peer sees. */
export interface LocalFile {
  path: string;
  name: string;
  size: number;
}

/** `~/x` → home/x; anything else resolved against `cwd`. */
export function expandPath(p: string, cwd = process.cwd()): string {
  if (p === "~" || p.startsWith("~/")) return join(homedir(), p.slice(1));
  return resolve(cwd, p);
}

function add(out: LocalFile[], path: string, name: string, size: number): void {
  if (out.length >= MAX_FILES_PER_SEND) throw new ChatError("bad_command", `one /send offers at most ${MAX_FILES_PER_SEND} files`);
  if (enc.encode(name).length > MAX_FILE_NAME_BYTES) throw new ChatError("bad_command", `the name ${JSON.stringify(name.slice(0, 60))}… is over ${MAX_FILE_NAME_BYTES} bytes and cannot be sent`);
  if (size > MAX_FILE_SIZE) throw new ChatError("bad_command", `${name} is too large to send`);
  out.push({ path, name, size });
}

/** Every regular file under `dir`, depth first, names relative to dir's parent; symlinks inside are skipped. */
function walk(out: LocalFile[], dir: string, prefix: string): void {
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(out, p, `${prefix}/${e.name}`);
    else if (e.isFile()) add(out, p, `${prefix}/${e.name}`, lstatSync(p).size);
  }
}

/**
 * The files named on a `/send` line: a file is sent under its base name, a folder as
 * every regular file in it, under "folder/relative/path".
 * @throws ChatError bad_command (missing path, special file, too many files, name too long).
 */
export function collectFiles(paths: string[], cwd = process.cwd()): LocalFile[] {
  const out: LocalFile[] = [];
  for (const raw of paths) {
    const p = expandPath(raw, cwd);
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new ChatError("bad_command", `${JSON.stringify(raw.slice(0, 200))} does not exist or cannot be read`);
    }
    const name = basename(p);
    if (st.isDirectory()) walk(out, p, name);
    else if (st.isFile()) add(out, p, name, st.size);
    else throw new ChatError("bad_command", `${JSON.stringify(raw.slice(0, 200))} is neither a file nor a folder`);
  }
  if (out.length === 0) throw new ChatError("bad_command", "there are no files to send in that folder");
  return out;
}

/** PROTOCOL §11.7: key = H("sotto/1 file" | sender identity | size:u64 | sha256 | name), as hex. */
export function fileKey(senderPid: string, size: number, sha256: Uint8Array, name: string): string {
  const h = new Bun.CryptoHasher("sha256");
  h.update("sotto/1 file");
  h.update(Buffer.from(senderPid, "hex"));
  const n = new Uint8Array(8);
  new DataView(n.buffer).setBigUint64(0, BigInt(size));
  h.update(n);
  h.update(sha256);
  h.update(enc.encode(name));
  return h.digest("hex");
}

/**
 * Add the first `upto` bytes of the file at `path` to `hasher` (a fresh SHA-256 by
 * default), 1 MiB at a time. Resolves with the hasher, still open, and the bytes it read
 * (fewer than `upto` when the file is shorter). `alive` is asked between pieces; when it
 * says false the work stops early (the transfer ended meanwhile).
 * @throws Error from the filesystem.
 */
export async function hashFile(path: string, upto: number, hasher = new Bun.CryptoHasher("sha256"), alive: () => boolean = () => true): Promise<{ hasher: Bun.CryptoHasher; read: number }> {
  const fh = await open(path, "r");
  const buf = new Uint8Array(Math.min(PIECE, Math.max(1, upto)));
  let pos = 0;
  try {
    while (pos < upto && alive()) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, upto - pos), pos);
      if (bytesRead === 0) break;
      hasher.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return { hasher, read: pos };
}

/** The digest of a running hasher without ending it. */
export function peekDigest(h: Bun.CryptoHasher): Uint8Array {
  return new Uint8Array(h.copy().digest());
}

/** Lowercase hex of a hash. */
export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}
