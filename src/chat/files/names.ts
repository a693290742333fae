/**
 * Where a received file lands (PROTOCOL §11.6). The name in a FILE_OFFER is hostile
 * input; the receiver turns it into a relative path that can only go down from the
 * download folder, and gives the file that name only after its hash matched, without
 * ever replacing an existing file:
 *
 *   1. safeRelativePath: split at "/" and "\", clean each component, drop "", ".", "..";
 *   2. the bytes go to `.sotto-<key>.part` in the download folder (partialPath);
 *   3. placeFile: mkdir the folders, link() the partial to the final name (link never
 *      replaces: EEXIST → try "name (1).ext", …), unlink the partial.
 */
import { existsSync, linkSync, mkdirSync, renameSync, unlinkSync } from "node:fs";
import { basename, isAbsolute, join, relative, resolve, sep } from "node:path";

/** PROTOCOL §11.6: longest component kept, in UTF-8 bytes (room left for " (99)" and more). */
export const MAX_COMPONENT_BYTES = 200;
/** PROTOCOL §11.6: deepest path kept (the last components). */
export const MAX_DEPTH = 32;

const enc = new TextEncoder();
// C0, DEL, C1 (\p{Cc}), format characters: bidi, zero-width, BOM (\p{Cf}), line and paragraph separators.
const INVISIBLE = /[\p{Cc}\p{Cf}\u2028\u2029]/gu;
const RESERVED = /[<>:"|?*]/g;
const DEVICE = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;

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

/** The temporary name of a transfer's bytes: in the download folder, named after its resume key. */
export function partialPath(dir: string, keyHex: string): string {
  return join(dir, `.sotto-${keyHex.slice(0, 32)}.part`);
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

function inside(dir: string, p: string): boolean {
  const r = relative(resolve(dir), resolve(p));
  return r !== "" && r !== ".." && !r.startsWith(`..${sep}`) && !isAbsolute(r);
}

/** Give `src` the name `dir/rel` without replacing anything (link, EEXIST → next name). */
function linkNoReplace(src: string, dest: string): boolean {
  try {
    linkSync(src, dest);
    return true;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "EEXIST") return false;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EXDEV" && code !== "ENOSYS") throw e;
  }
  // A filesystem without hard links: rename after an existence check (a tiny race, local only).
  if (existsSync(dest)) return false;
  renameSync(src, dest);
  return true;
}

/**
 * Move the verified partial `src` to `dir/rel`, adding " (1)", " (2)", … before the
 * extension when the name is taken. Falls back to the bare file name in `dir` when a
 * folder of `rel` cannot be made (a file of that name exists). Returns the final path.
 * @throws Error when no name can be found or the filesystem refuses (the caller reports io_error).
 */
export function placeFile(src: string, dir: string, rel: string): string {
  let base = rel;
  const folder = rel.includes("/") ? join(dir, rel.slice(0, rel.lastIndexOf("/"))) : dir;
  try {
    mkdirSync(folder, { recursive: true, mode: 0o700 });
  } catch {
    base = basename(rel);
  }
  for (let n = 0; n < 10_000; n++) {
    const dest = join(dir, n === 0 ? base : withSuffix(base, n));
    if (!inside(dir, dest)) throw new Error(`refusing to write outside ${dir}`);
    if (linkNoReplace(src, dest)) {
      if (existsSync(src)) unlinkSync(src);
      return dest;
    }
  }
  throw new Error(`no free name for ${base} in ${dir}`);
}
