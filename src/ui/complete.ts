/**
 * Tab completion for the terminal prompt (node:readline's `completer`): command names
 * after "/", contact names where a command takes one (and at the start of /msg, /verify,
 * …), and paths for /send. Pure except for reading the folder of a path being completed.
 */
import { readdirSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** Commands whose first argument is a contact name. */
const NAME_FIRST = new Set(["msg", "verify", "trust", "history", "clear", "send"]);

/** The words that can be completed, as the prompt knows them now. */
export interface Completions {
  commands: string[];
  names: string[];
}

/** readline's completer answer: the candidates, and the fragment they replace. @throws never */
export function completeLine(line: string, c: Completions, listDir: (dir: string) => string[] = safeList): [string[], string] {
  const m = /^\/(\S*)$/.exec(line);
  if (m) return [c.commands.filter((x) => x.startsWith(m[1]!.toLowerCase())).map((x) => `/${x}`), line];
  const cmd = /^\/(\S+)\s/.exec(line)?.[1]?.toLowerCase();
  const words = line.split(/\s+/);
  const frag = words[words.length - 1] ?? "";
  if (cmd === undefined) return [c.names.filter((n) => n.toLowerCase().startsWith(frag.toLowerCase()) && frag !== ""), frag];
  const argIndex = words.length - 2; // 0: the first argument is being typed
  const names = NAME_FIRST.has(cmd) && argIndex === 0 ? c.names.filter((n) => n.toLowerCase().startsWith(frag.toLowerCase())) : [];
  const paths = cmd === "send" ? completePath(frag, listDir) : [];
  return [[...names, ...paths], frag];
}

/** Entries of the folder `frag` points into that start with its last part; folders end with "/". */
function completePath(frag: string, listDir: (dir: string) => string[]): string[] {
  const expanded = frag.startsWith("~/") ? join(homedir(), frag.slice(2)) : frag;
  const slash = expanded.lastIndexOf("/");
  const dir = slash < 0 ? "." : expanded.slice(0, slash) || "/";
  const base = expanded.slice(slash + 1);
  const shown = frag.slice(0, frag.length - base.length);
  return listDir(dir)
    .filter((e) => e.startsWith(base) && (base.startsWith(".") || !e.startsWith(".")))
    .map((e) => `${shown}${e}`);
}

/** The entries of `dir`, folders with a trailing "/"; [] when it cannot be read. */
function safeList(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return []; // not a folder, or no permission: nothing to offer
  }
  return names.map((n) => {
    try {
      return statSync(join(dir, n)).isDirectory() ? `${n}/` : n;
    } catch {
      return n; // a dangling link: offer the name as it is
    }
  });
}
