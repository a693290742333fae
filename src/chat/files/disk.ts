/**
 * Disk helpers of the file transfer: what `/send` sends, the resume key, and SHA-256 of
 * a file (or of its first n bytes) read in 1 MiB pieces with an await between them, so
 * a 2 GB file costs 1 MiB of memory and the chat stays responsive while it is hashed.
 */
import { lstatSync, readdirSync, realpathSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, join, resolve, sep } from "node:path";
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

/** Every regular file under `dir`, depth first, names relative to dir's parent; symlinks inside are skipped, and so is the folder `skip` (the sotto home). */
function walk(out: LocalFile[], dir: string, prefix: string, skip: { dir: string | null; files: number }): void {
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (skip.dir !== null && real(p) === skip.dir) skip.files += countFiles(p);
      else walk(out, p, `${prefix}/${e.name}`, skip);
    } else if (e.isFile()) add(out, p, `${prefix}/${e.name}`, lstatSync(p).size);
  }
}

/** Regular files under `dir` (links not followed), up to a bound: only to say how many were left out. */
function countFiles(dir: string, n = 0): number {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (n > MAX_FILES_PER_SEND) break;
    if (e.isDirectory()) n = countFiles(join(dir, e.name), n);
    else if (e.isFile()) n++;
  }
  return n;
}

function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

/** What one /send path offers: a file alone, or a folder's files (one transfer, PROTOCOL §11.11). */
export interface LocalSet {
  name: string;
  files: LocalFile[];
}

/**
 * The transfers named on a `/send` line, one per path: a file under its base name, a
 * folder as every regular file in it under "folder/relative/path". The sotto `home`
 * (the private identity key is there) is never offered: a path inside it is refused, and
 * a folder that holds it is offered without it (`skipped` counts the files left out).
 * @throws ChatError bad_command (missing path, special file, inside the home, too many files, name too long).
 */
export function collectSets(paths: string[], cwd = process.cwd(), home?: string): { sets: LocalSet[]; skipped: number } {
  const skip = { dir: home === undefined ? null : real(home), files: 0 };
  const sets: LocalSet[] = [];
  let all = 0;
  for (const raw of paths) {
    const p = expandPath(raw, cwd);
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new ChatError("bad_command", `${JSON.stringify(raw.slice(0, 200))} does not exist or cannot be read`);
    }
    const rp = real(p);
    if (skip.dir !== null && (rp === skip.dir || rp.startsWith(skip.dir + sep))) {
      throw new ChatError("bad_command", `${JSON.stringify(raw.slice(0, 200))} is inside your sotto home (${skip.dir}), which holds your private identity key; nothing was offered`);
    }
    const out: LocalFile[] = [];
    const name = basename(p);
    if (st.isDirectory()) walk(out, p, name, skip);
    else if (st.isFile()) add(out, p, name, st.size);
    else throw new ChatError("bad_command", `${JSON.stringify(raw.slice(0, 200))} is neither a file nor a folder`);
    all += out.length;
    if (all > MAX_FILES_PER_SEND) throw new ChatError("bad_command", `one /send offers at most ${MAX_FILES_PER_SEND} files`);
    if (out.length > 0) sets.push({ name, files: out });
  }
  if (sets.length === 0) throw new ChatError("bad_command", skip.files > 0 ? "nothing to send: the only files there are in your sotto home, which is never offered" : "there are no files to send in that folder");
  return { sets, skipped: skip.files };
}

/** Every file `collectSets` finds, in one list. @throws as collectSets. */
export function collectFiles(paths: string[], cwd = process.cwd(), home?: string): LocalFile[] {
  return collectSets(paths, cwd, home).sets.flatMap((s) => s.files);
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
 * default), 1 MiB at a time, each piece also to `each` when given. Resolves with the
 * hasher, still open, and the bytes it read (fewer than `upto` when the file is shorter).
 * `alive` is asked between pieces; when it says false the work stops early (the
 * transfer ended meanwhile). The next piece is read while this one is hashed (two
 * buffers): reading and hashing overlap.
 * @throws Error from the filesystem.
 */
export async function hashFile(path: string, upto: number, hasher = new Bun.CryptoHasher("sha256"), alive: () => boolean = () => true, each?: (piece: Uint8Array) => void): Promise<{ hasher: Bun.CryptoHasher; read: number }> {
  const fh = await open(path, "r");
  const len = Math.min(PIECE, Math.max(1, upto));
  // The second buffer only when one piece cannot hold it all (a short read also asks for it).
  const bufs = [new Uint8Array(len), new Uint8Array(0)];
  let pos = 0;
  let ahead: Promise<{ bytesRead: number }> | null = null;
  try {
    let k = 0;
    if (upto > 0 && alive()) ahead = fh.read(bufs[0]!, 0, Math.min(len, upto), 0);
    while (ahead !== null) {
      const { bytesRead } = await ahead;
      ahead = null;
      if (bytesRead === 0) break;
      const piece = bufs[k]!.subarray(0, bytesRead);
      pos += bytesRead;
      // The next read goes out before this piece is hashed, into the other buffer.
      k ^= 1;
      if (pos < upto && alive()) {
        if (bufs[k]!.length === 0) bufs[k] = new Uint8Array(len);
        ahead = fh.read(bufs[k]!, 0, Math.min(len, upto - pos), pos);
      }
      hasher.update(piece);
      each?.(piece);
    }
  } finally {
    // A read still under way (an error in hashing) ends before the file is closed.
    if (ahead !== null) await ahead.catch(() => {});
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
