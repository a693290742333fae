/**
 * The user's long-term Ed25519 identity, kept in `$SOTTO_HOME/identity`.
 *
 * File format (UTF-8 text, "\n" line ends, exactly two lines, final newline optional):
 *
 *   line 1: sotto-identity-v1
 *   line 2: the 32-byte Ed25519 seed (RFC 8032 private key) as 64 hex digits
 *
 * The seed is the whole secret: the key pair is rederived from it on every load. The
 * file must be a regular file with no group or other permission bits (mode & 0o077 = 0,
 * like ssh's StrictModes). It is created once, never overwritten:
 *
 *   1. mkdir home (mode 0700, only if missing);
 *   2. write the two lines to a temp file opened O_CREAT|O_EXCL with mode 0600, fsync;
 *   3. link(temp, identity): atomic and fails if identity already exists, so a second
 *      sotto starting at the same moment can never replace a key already in use; if the
 *      filesystem cannot hard-link, rename is used after an existence check;
 *   4. unlink the temp file, then load the file back through the normal checks.
 */
import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { expectBytes, fromHex, toHex, wipe } from "../../crypto/bytes.ts";
import { ED25519_PUBLIC_LEN, ED25519_SEED_LEN, ed25519FromSeed, ed25519Generate } from "../../crypto/ed25519.ts";
import { sha256 } from "../../crypto/hash.ts";
import type { Fingerprint } from "../peer-id.ts";

/** First line of an identity file. */
export const IDENTITY_HEADER = "sotto-identity-v1";
/** Name of the identity file inside the sotto home. */
export const IDENTITY_FILE = "identity";

/** Why an identity file was refused. */
export type IdentityFault = "insecure_mode" | "corrupt" | "not_a_file" | "io";

/** A refused or unreadable identity file; the message names the path (and line) in one sentence. */
export class IdentityFileError extends Error {
  constructor(
    readonly code: IdentityFault,
    readonly path: string,
    detail: string,
    readonly line?: number,
  ) {
    super(`${line === undefined ? path : `${path}:${line}`}: ${detail}`);
    this.name = "IdentityFileError";
  }
}

/** The loaded identity: seed, raw public key, signing key object, and where it lives. */
export interface Identity {
  seed: Uint8Array;
  publicKey: Uint8Array;
  privateKey: KeyObject;
  /** True when this call generated the key and wrote the file. */
  created: boolean;
  path: string;
}

/** `$SOTTO_HOME` when set and non-empty, else `~/.config/sotto`; always absolute. @throws never */
export function defaultHome(env: Record<string, string | undefined> = process.env): string {
  const h = env.SOTTO_HOME;
  return h !== undefined && h !== "" ? resolve(h) : join(homedir(), ".config", "sotto");
}

/**
 * Load the identity in `home`, creating home (0700) and the file (0600) on first run.
 * `newSeed` supplies the 32 random bytes for a new key (tests pass fixed ones); the
 * buffer it returns is wiped once written.
 * @throws IdentityFileError for an insecure mode, a corrupt or truncated file, or an I/O failure.
 */
export function loadOrCreateIdentity(home: string, newSeed: () => Uint8Array = () => ed25519Generate().seed): Identity {
  const path = join(home, IDENTITY_FILE);
  if (!existsSync(path) && create(path, newSeed)) return { ...readIdentity(path), created: true };
  return { ...readIdentity(path), created: false };
}

/** Returns false when another process created the file first (theirs is then loaded). */
function create(path: string, newSeed: () => Uint8Array): boolean {
  const seed = newSeed();
  expectBytes("seed", seed, ED25519_SEED_LEN);
  try {
    return writeFileAtomic(path, `${IDENTITY_HEADER}\n${toHex(seed)}\n`, false);
  } catch (e) {
    throw new IdentityFileError("io", path, `could not create the identity file (${errCode(e) ?? "error"}).`);
  } finally {
    wipe(seed);
  }
}

/**
 * Write `text` to `path` through a temp file (mode 0600, fsynced) in the same folder,
 * which is made (0700) if missing. With `replace`, rename over any old file; without,
 * link(2), which fails rather than replace an existing file (and, where the filesystem
 * has no hard links, rename after an existence check). Returns false when `replace` is
 * off and the file already existed. @throws the underlying node:fs error.
 */
export function writeFileAtomic(path: string, text: string, replace: boolean): boolean {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const fd = openSync(tmp, "wx", 0o600);
  try {
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (replace) {
      renameSync(tmp, path);
      return true;
    }
    try {
      linkSync(tmp, path);
    } catch (e) {
      if (errCode(e) === "EEXIST" || existsSync(path)) return false;
      renameSync(tmp, path);
    }
    return true;
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // already renamed
    }
  }
}

function readIdentity(path: string): Omit<Identity, "created"> {
  let text: string;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new IdentityFileError("not_a_file", path, "the identity path exists but is not a regular file.");
    // Windows has no POSIX modes; everywhere else a key others can read is refused.
    if (process.platform !== "win32" && (st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, "0");
      throw new IdentityFileError("insecure_mode", path, `the identity file has mode ${mode}, so other users may read the private key; run \`chmod 600 ${path}\` (or remove it to make a new identity).`);
    }
    text = readFileSync(path, "latin1"); // only ASCII is valid; anything else fails below
  } catch (e) {
    if (e instanceof IdentityFileError) throw e;
    throw new IdentityFileError("io", path, `could not read the identity file (${errCode(e) ?? "error"}).`);
  }
  const seed = parseIdentity(path, text);
  const { privateKey, publicKey } = ed25519FromSeed(seed);
  return { seed, publicKey, privateKey, path };
}

/** The seed in an identity file's text. @throws IdentityFileError (corrupt) with the line number. */
function parseIdentity(path: string, text: string): Uint8Array {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop(); // the final newline
  const corrupt = (line: number, why: string) => new IdentityFileError("corrupt", path, `${why} The identity file is corrupt; restore it from a backup, or move it away to make a new identity.`, line);
  if (lines.length === 0) throw corrupt(1, "the file is empty.");
  if (lines[0] !== IDENTITY_HEADER) throw corrupt(1, `expected "${IDENTITY_HEADER}".`);
  const hex = lines[1];
  if (hex === undefined) throw corrupt(2, "the seed line is missing (truncated file).");
  if (!/^[0-9a-fA-F]*$/.test(hex)) throw corrupt(2, "the seed line holds a character that is not a hex digit.");
  if (hex.length !== ED25519_SEED_LEN * 2) throw corrupt(2, `expected ${ED25519_SEED_LEN * 2} hex digits, got ${hex.length}.`);
  if (lines.length > 2) throw corrupt(3, "unexpected text after the seed.");
  return fromHex(hex);
}

/**
 * The fingerprint of a public key: SHA-256(publicKey) as 64 lowercase hex digits in 16
 * groups of 4, separated by single spaces (79 characters).
 * @throws TypeError unless publicKey is 32 bytes.
 */
export function fingerprint(publicKey: Uint8Array): Fingerprint {
  expectBytes("publicKey", publicKey, ED25519_PUBLIC_LEN);
  return toHex(sha256(publicKey)).match(/.{4}/g)!.join(" ") as Fingerprint;
}

function errCode(e: unknown): string | undefined {
  return typeof e === "object" && e !== null && "code" in e && typeof e.code === "string" ? e.code : undefined;
}
