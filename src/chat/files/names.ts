/**
 * Where a received file lands (PROTOCOL §11.6). The name in a FILE_OFFER is hostile
 * input; the receiver turns it into a relative path that can only go down from the
 * download folder, and gives the file that name only after its hash matched, without
 * ever replacing an existing file:
 *
 *   1. safeRelativePath: split at "/" and "\", clean each component, drop "", ".", "..";
 *   2. the bytes go to a partial file outside the download folder (partials.ts);
 *   3. placeFile: open each folder without following links (made when missing), link()
 *      the partial to the final name there, or copy it with O_EXCL|O_NOFOLLOW across
 *      filesystems (neither replaces: EEXIST → try "name (1).ext", …), unlink the partial.
 */
import { closeSync, constants, existsSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";

/** PROTOCOL §11.6: longest component kept, in UTF-8 bytes (room left for " (99)" and more). */
export const MAX_COMPONENT_BYTES = 200;
/** PROTOCOL §11.6: deepest path kept (the last components). */
export const MAX_DEPTH = 32;

const enc = new TextEncoder();
// C0, DEL, C1 (\p{Cc}), format characters: bidi, zero-width, BOM (\p{Cf}), line and paragraph separators.
const INVISIBLE = /[\p{Cc}\p{Cf}\u2028\u2029]/gu;
const RESERVED = /[<>:"|?*]/g;
// Windows device names, also with spaces before an extension ("CON .txt"), the superscript ports and the console's.
const DEVICE = /^(con|prn|aux|nul|conin\$|conout\$|com[0-9\u00b9\u00b2\u00b3]|lpt[0-9\u00b9\u00b2\u00b3]) *(\..*)?$/i;

/** `s` cut to at most `max` bytes of UTF-8, never inside a code point. */
function capBytes(s: string, max: number): string {
  if (enc.encode(s).length <= max) return s;
  let out = "";
  let n = 0;
  for (const ch of s) {
    const b = enc.encode(ch).length;
    if (n + b > max) break;
    out += ch;
    n += b;
  }
  return out;
}

/** One path component made safe, or "" when nothing usable is left. */
export function safeComponent(raw: string): string {
  let c = raw.normalize("NFC").replace(INVISIBLE, "").replace(RESERVED, "_").trim().replace(/[. ]+$/, "");
  if (c === "" || /^\.+$/.test(c)) return "";
  if (c.startsWith(".") || DEVICE.test(c)) c = `_${c}`;
  if (enc.encode(c).length > MAX_COMPONENT_BYTES) {
    // Keep a short extension ("report.pdf" stays a .pdf), cut the stem.
    const dot = c.lastIndexOf(".");
    const ext = dot > 0 && c.length - dot <= 16 ? c.slice(dot) : "";
    c = capBytes(c.slice(0, c.length - ext.length), MAX_COMPONENT_BYTES - enc.encode(ext).length) + ext;
  }
  return c;
}

/**
 * The offered name as a safe relative path with "/" separators, or null when nothing
 * usable is left (REJECT bad_name). `../../etc/passwd` → `etc/passwd`.
 * @throws never
 */
export function safeRelativePath(name: string): string | null {
  const parts = name
    .split(/[/\\]/)
    .map(safeComponent)
    .filter((c) => c !== "");
  if (parts.length === 0) return null;
  return parts.slice(-MAX_DEPTH).join("/");
}

/** `a/b/name.ext` → `a/b/name (n).ext`. */
function withSuffix(rel: string, n: number): string {
  const slash = rel.lastIndexOf("/");
  const dir = rel.slice(0, slash + 1);
  const file = rel.slice(slash + 1);
  const dot = file.lastIndexOf(".");
  const [stem, ext] = dot > 0 ? [file.slice(0, dot), file.slice(dot)] : [file, ""];
  return `${dir}${stem} (${n})${ext}`;
}

// Linux: a path through /proc/self/fd/N names the folder that descriptor N holds, whatever
// is renamed or swapped above it since, as openat(2) would; each step below is O_NOFOLLOW.
const PROC_FD = existsSync("/proc/self/fd");
const code = (e: unknown) => (e as { code?: string }).code;

/** A name inside the folder open as `dfd`. */
function at(dfd: number, name: string): string {
  return `/proc/self/fd/${dfd}/${name}`;
}

/**
 * Open `dir`, then each of `folders` below it (made 0700 when missing), never following a
 * link: null when a component is a link or not a folder.
 * @throws Error from the filesystem.
 */
function descend(dir: string, folders: string[]): number | null {
  let fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  for (const c of folders) {
    try {
      mkdirSync(at(fd, c), { mode: 0o700 });
    } catch (e) {
      if (code(e) !== "EEXIST") {
        closeSync(fd);
        throw e;
      }
    }
    let next: number;
    try {
      next = openSync(at(fd, c), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    } catch (e) {
      closeSync(fd);
      if (code(e) === "ELOOP" || code(e) === "ENOTDIR") return null;
      throw e;
    }
    closeSync(fd);
    fd = next;
  }
  return fd;
}

/** Copy `src` to a new file `dest` (exclusive, no-follow); false when `dest` exists. */
function copyExclusive(src: string, dest: string): boolean {
  let out: number;
  try {
    out = openSync(dest, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (e) {
    if (code(e) === "EEXIST") return false;
    throw e;
  }
  const inp = openSync(src, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const buf = new Uint8Array(1 << 20);
    for (let pos = 0; ; ) {
      const n = readSync(inp, buf, 0, buf.length, pos);
      if (n === 0) break;
      for (let w = 0; w < n; ) w += writeSync(out, buf, w, n - w, pos + w);
      pos += n;
    }
    fsyncSync(out);
  } catch (e) {
    closeSync(out);
    unlinkSync(dest);
    throw e;
  } finally {
    closeSync(inp);
  }
  closeSync(out);
  return true;
}

/** Give `src` the new name `dest` without replacing anything: link, or an exclusive copy across filesystems. */
function linkNoReplace(src: string, dest: string): boolean {
  try {
    linkSync(src, dest);
    return true;
  } catch (e) {
    if (code(e) === "EEXIST") return false;
    if (code(e) !== "EXDEV" && code(e) !== "EPERM" && code(e) !== "ENOTSUP" && code(e) !== "ENOSYS") throw e;
  }
  return copyExclusive(src, dest);
}

/** Without /proc: every component checked with lstat (a swap in between is not caught here). */
function folderByLstat(dir: string, folders: string[]): string | null {
  let d = dir;
  for (const c of folders) {
    d = join(d, c);
    try {
      mkdirSync(d, { mode: 0o700 });
    } catch (e) {
      if (code(e) !== "EEXIST") throw e;
    }
    const st = lstatSync(d);
    if (st.isSymbolicLink() || !st.isDirectory()) return null;
  }
  return d;
}

/**
 * Give the verified file `src` (kept in a private folder) the name `dir/rel` without
 * replacing, following or writing through anything planted in `dir`: every folder of `rel`
 * is opened without following links (made 0700 when missing), the file is created there
 * with link() or an O_EXCL|O_NOFOLLOW copy, and " (1)", " (2)", … is added before the
 * extension when the name is taken. When a folder of `rel` is a link or a file, the file
 * lands at the top of `dir` under its bare name. `src` is removed. Returns the final path.
 * @throws Error when no name can be found or the filesystem refuses (the caller reports io_error).
 */
export function placeFile(src: string, dir: string, rel: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const parts = rel.split("/");
  let file = parts.pop()!;
  let folders = parts;
  let dfd: number | null = null;
  let folder = "";
  if (PROC_FD) {
    dfd = descend(dir, folders);
    if (dfd === null) {
      folders = [];
      dfd = descend(dir, []);
    }
  } else {
    const f = folderByLstat(dir, folders);
    if (f === null) folders = [];
    folder = f ?? dir;
  }
  try {
    for (let n = 0; n < 10_000; n++) {
      const name = n === 0 ? file : withSuffix(file, n);
      const dest = dfd !== null ? at(dfd, name) : join(folder, name);
      if (linkNoReplace(src, dest)) {
        unlinkSync(src);
        return join(dir, ...folders, name);
      }
    }
  } finally {
    if (dfd !== null) closeSync(dfd);
  }
  throw new Error(`no free name for ${file} in ${dir}`);
}
