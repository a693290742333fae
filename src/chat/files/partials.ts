/**
 * Partial files of received transfers (PROTOCOL §11.6, §11.7), kept out of the download
 * folder, which may be shared with other users, in a private folder of the sotto home:
 *
 *   1. the folder (`home/partials`): created 0700, refused when it is a link, is not ours,
 *      or is open to group or others; nobody else can plant, swap or read anything in it;
 *   2. each partial gets a random name the sender cannot predict, created on its first
 *      byte with O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600; its device and inode go in the index;
 *   3. `index.json` (0600, rewritten whole through an exclusive temporary file and a
 *      rename) maps each partial to its resume key, sender key, hash, size and name, so
 *      a resume after a restart finds it, for the same sender key and hash only;
 *   4. a partial is reopened with O_NOFOLLOW and accepted only when fstat shows the same
 *      device and inode, a regular file, one link, ours;
 *   5. descriptors: a partial is open only while it is being written, at most
 *      MAX_PARTIAL_FDS for the whole process (the least recently written is closed first).
 */
import { randomBytes } from "node:crypto";
import { closeSync, constants as C, fstatSync, ftruncateSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync, chmodSync } from "node:fs";
import { join } from "node:path";

/** Descriptors held open on partial files, for the whole process. */
export const MAX_PARTIAL_FDS = 16;
/** Partials remembered at once (the index stays small); a new transfer beyond is refused busy. */
export const MAX_PARTIALS = 1024;
/** A partial no sender came back for in this long is deleted (7 days). */
export const DEFAULT_PARTIAL_MAX_AGE_MS = 7 * 24 * 3_600_000;

const INDEX = "index.json";
const NOFOLLOW = C.O_NOFOLLOW;

/** One partial file, as the index records it. */
export interface PartialEntry {
  /** The random file name in the partials folder. */
  file: string;
  /** PROTOCOL §11.7 resume key (hex). */
  key: string;
  /** The sender's identity key (hex). */
  pid: string;
  /** The offered SHA-256 (hex). */
  sha256: string;
  size: number;
  /** The name as offered. */
  name: string;
  dev: number;
  ino: number;
}

/** A partials folder that cannot be used safely. */
export class PartialsError extends Error {
  override name = "PartialsError";
}

/** Create (0700) or check the private folder `dir`. @throws PartialsError when it is a link, not ours, or open to others. */
export function ensurePrivateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new PartialsError(`cannot create the folder for partial files ${dir}: ${(e as Error).message}`, { cause: e });
  }
  const st = lstatSync(dir);
  if (st.isSymbolicLink() || !st.isDirectory()) throw new PartialsError(`${dir} must be a folder, not a link or a file; remove it and start again`);
  if (process.getuid !== undefined && st.uid !== process.getuid()) throw new PartialsError(`${dir} belongs to another user; remove it and start again`);
  if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
}

function isFileEntry(v: unknown): v is PartialEntry {
  const e = v as PartialEntry;
  return typeof e === "object" && e !== null && typeof e.file === "string" && /^[0-9a-f]{32}\.part$/.test(e.file) && typeof e.key === "string" && typeof e.pid === "string" && typeof e.sha256 === "string" && Number.isSafeInteger(e.size) && typeof e.name === "string" && typeof e.dev === "number" && typeof e.ino === "number";
}

/** The partials folder and its index. */
export class Partials {
  readonly dir: string;
  readonly #byKey = new Map<string, PartialEntry>();
  /** Open descriptors by partial file name, least recently used first. */
  readonly #fds = new Map<string, number>();

  /** @throws PartialsError when the folder cannot be used safely. */
  constructor(dir: string) {
    this.dir = dir;
    ensurePrivateDir(dir);
    let list: unknown = [];
    try {
      list = JSON.parse(readFileSync(join(dir, INDEX), { encoding: "utf8", flag: C.O_RDONLY | NOFOLLOW }));
    } catch (e) {
      if ((e as { code?: string }).code !== "ENOENT" && !(e instanceof SyntaxError)) throw new PartialsError(`cannot read ${join(dir, INDEX)}: ${(e as Error).message}`, { cause: e });
    }
    for (const e of Array.isArray(list) ? list : []) if (isFileEntry(e) && this.#byKey.size < MAX_PARTIALS) this.#byKey.set(e.key, e);
    // Partials without an index entry (a crash between create and save) cannot be resumed.
    const known = new Set([...this.#byKey.values()].map((e) => e.file));
    for (const n of readdirSync(dir)) if ((n.endsWith(".part") && !known.has(n)) || (n.startsWith(".index-") && n.endsWith(".tmp"))) this.#unlink(n);
  }

  /** Every partial in the index. */
  entries(): PartialEntry[] {
    return [...this.#byKey.values()];
  }

  /** The partial of this resume key, when it was made for the same sender key and hash. */
  find(key: string, pid: string, sha256: string): PartialEntry | undefined {
    const e = this.#byKey.get(key);
    return e !== undefined && e.pid === pid && e.sha256 === sha256 ? e : undefined;
  }

  /** Create a new empty partial under a random name. @throws Error from the filesystem, or when MAX_PARTIALS are held. */
  create(key: string, pid: string, sha256: string, size: number, name: string): PartialEntry {
    if (this.#byKey.size >= MAX_PARTIALS) throw new Error(`${MAX_PARTIALS} partial files are held already`);
    const file = `${randomBytes(16).toString("hex")}.part`;
    const fd = openSync(join(this.dir, file), C.O_RDWR | C.O_CREAT | C.O_EXCL | NOFOLLOW, 0o600);
    const st = fstatSync(fd);
    const e: PartialEntry = { file, key, pid, sha256, size, name, dev: st.dev, ino: st.ino };
    this.#byKey.set(key, e);
    this.#hold(file, fd);
    this.#save();
    return e;
  }

  /** The path of a partial (for reading it back). */
  path(e: PartialEntry): string {
    return join(this.dir, e.file);
  }

  /**
   * An open descriptor on the partial, after checking it is still the file we created.
   * @throws Error when it is gone, replaced, or linked elsewhere.
   */
  fd(e: PartialEntry): number {
    const held = this.#fds.get(e.file);
    if (held !== undefined) {
      this.#fds.delete(e.file);
      this.#fds.set(e.file, held);
      return held;
    }
    const fd = openSync(this.path(e), C.O_RDWR | NOFOLLOW);
    const st = fstatSync(fd);
    if (!st.isFile() || st.dev !== e.dev || st.ino !== e.ino || st.nlink !== 1 || (process.getuid !== undefined && st.uid !== process.getuid())) {
      closeSync(fd);
      throw new Error("the partial file was replaced; it will not be used");
    }
    this.#hold(e.file, fd);
    return fd;
  }

  /** Bytes held by a partial, or null when it cannot be used (gone or replaced). */
  size(e: PartialEntry): number | null {
    try {
      return fstatSync(this.fd(e)).size;
    } catch (err) {
      if (err instanceof RangeError) throw err;
      return null;
    }
  }

  /** Milliseconds since the partial was last written, or Infinity when it cannot be told. */
  age(e: PartialEntry, now = Date.now()): number {
    try {
      const st = lstatSync(this.path(e));
      return st.isFile() ? now - st.mtimeMs : Infinity;
    } catch {
      return Infinity;
    }
  }

  /** Cut the partial to `n` bytes. @throws Error from the filesystem. */
  truncate(e: PartialEntry, n: number): void {
    ftruncateSync(this.fd(e), n);
  }

  /** Close the partial's descriptor (it is reopened on the next write). */
  release(e: PartialEntry): void {
    const fd = this.#fds.get(e.file);
    if (fd === undefined) return;
    this.#fds.delete(e.file);
    closeSync(fd);
  }

  /** Forget the partial and delete its file. */
  remove(e: PartialEntry): void {
    this.release(e);
    if (this.#byKey.get(e.key) === e) this.#byKey.delete(e.key);
    this.#unlink(e.file);
    this.#save();
  }

  /** Close every descriptor. */
  close(): void {
    for (const fd of this.#fds.values()) closeSync(fd);
    this.#fds.clear();
  }

  #hold(file: string, fd: number): void {
    this.#fds.set(file, fd);
    while (this.#fds.size > MAX_PARTIAL_FDS) {
      const [oldest, ofd] = this.#fds.entries().next().value!;
      this.#fds.delete(oldest);
      closeSync(ofd);
    }
  }

  #unlink(file: string): void {
    try {
      unlinkSync(join(this.dir, file));
    } catch (e) {
      if ((e as { code?: string }).code !== "ENOENT") throw e;
    }
  }

  /** Write the index through an exclusive temporary file, then rename it into place. */
  #save(): void {
    const tmp = join(this.dir, `.index-${randomBytes(8).toString("hex")}.tmp`);
    const fd = openSync(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | NOFOLLOW, 0o600);
    try {
      const data = Buffer.from(JSON.stringify(this.entries()));
      for (let w = 0; w < data.length; ) w += writeSync(fd, data, w, data.length - w);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(this.dir, INDEX));
  }
}
