/**
 * The sotto home (`$SOTTO_HOME`, `--home`) checked before anything in it is trusted, as
 * ssh's StrictModes checks ~/.ssh: whoever can write the folder or a file in it can plant
 * a known_peers line marking their key verified, or replace the identity.
 *
 *   1. a missing home is created with mode 0700 (parents too);
 *   2. the home and every entry directly in it must be owned by us (or root) and not be
 *      writable by group or others; else one sentence says which path, why, and the fix.
 * Entries are checked through symlinks (what would be read is what counts); a dangling
 * link is skipped. Folders below the home (downloads) hold the user's files and are not
 * walked. Windows has no POSIX owners or modes: nothing is checked there.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, type Stats } from "node:fs";
import { join } from "node:path";

/** A home that cannot be trusted or made; the message is one sentence naming the path. */
export class HomeError extends Error {
  constructor(
    readonly path: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "HomeError";
  }
}

const GROUP_OTHER_WRITE = 0o022;
const ROOT_UID = 0;

/**
 * Create `home` (0700) when missing, then refuse it unless it and its entries are ours
 * and not writable by others. `uid` is the owner to expect (tests pass another).
 * @throws HomeError
 */
export function prepareHome(home: string, uid: number | undefined = process.getuid?.()): void {
  if (process.platform === "win32" || uid === undefined) return;
  if (!existsSync(home)) {
    try {
      mkdirSync(home, { recursive: true, mode: 0o700 });
      chmodSync(home, 0o700); // mkdir's mode passes through the umask; say it exactly
    } catch (e) {
      throw new HomeError(home, `cannot create the sotto home ${home} (${codeOf(e)}); choose another folder with --home.`, { cause: e });
    }
  }
  check(home, statOf(home), uid, "the sotto home");
  let names: string[];
  try {
    names = readdirSync(home);
  } catch (e) {
    throw new HomeError(home, `cannot list the sotto home ${home} (${codeOf(e)}).`, { cause: e });
  }
  for (const n of names) {
    const p = join(home, n);
    let st: Stats;
    try {
      st = statSync(p);
    } catch (e) {
      if (codeOf(e) === "ENOENT") continue; // a dangling link: nothing to read there
      throw new HomeError(p, `cannot read ${p} in the sotto home (${codeOf(e)}).`, { cause: e });
    }
    check(p, st, uid, st.isDirectory() ? "the folder" : "the file");
  }
}

function statOf(path: string): Stats {
  try {
    const st = statSync(path);
    if (!st.isDirectory()) throw new HomeError(path, `the sotto home ${path} is not a folder; choose a folder with --home.`);
    return st;
  } catch (e) {
    if (e instanceof HomeError) throw e;
    throw new HomeError(path, `cannot read the sotto home ${path} (${codeOf(e)}).`, { cause: e });
  }
}

function check(path: string, st: Stats, uid: number, what: string): void {
  if (st.uid !== uid && st.uid !== ROOT_UID) {
    throw new HomeError(path, `${what} ${path} belongs to another user (uid ${st.uid}), who could plant keys you would trust; sotto refuses it. Use a home of your own (--home), or make it yours with chown.`);
  }
  if ((st.mode & GROUP_OTHER_WRITE) !== 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, "0");
    throw new HomeError(path, `${what} ${path} can be written by other users (mode ${mode}), who could plant keys you would trust; sotto refuses it. Run \`chmod go-w ${path}\` and start again.`);
  }
}

function codeOf(e: unknown): string {
  return e instanceof Error && "code" in e ? String(e.code) : "error";
}
