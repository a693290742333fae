/**
 * The chat's history commands and its lines at start (HistoryApi) over the history
 * (history.ts): events with each contact's fingerprint, and a history.db damaged inside
 * said to the person in a sentence.
 */
import { ChatError, type ChatListener, type HistoryApi, type HistoryEntry } from "../events.ts";
import { SHOWN_AT_START, type History, type HistoryLine } from "./history.ts";
import { describeSqliteError } from "./home-files.ts";
import { StateError } from "./store.ts";

/** Lines one /history shows when no count is given. */
export const DEFAULT_PAGE = 20;

/** What a contact's lines look like in events: the key's fingerprint instead of the raw pid. */
function entry(l: HistoryLine, fingerprintOf: (pid: string) => string): HistoryEntry {
  return { peer: l.peer, fingerprint: fingerprintOf(l.pid), from: l.dir, text: l.text, time: l.time, private: l.private };
}

/** Lines over several contacts, with the copies of one line sent to several of them merged. */
/**
 * `f`, a read of history.db (at `path`) and what is made of its lines; history.db damaged inside (SQLite's error, or a line whose
 * contact is not a key: nothing SQLite notices) as the person's error in a sentence. ChatErrors pass as they are.
 * @throws ChatError
 */
function said<T>(path: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ChatError) throw e;
    throw new ChatError("state", e instanceof StateError ? e.message : describeSqliteError(path, "reading the conversation history", { code: "SQLITE_CORRUPT" }), { cause: e });
  }
}

function merged(lines: HistoryLine[], fingerprintOf: (pid: string) => string): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  let prev: HistoryLine | null = null;
  for (const l of lines) {
    if (prev !== null && l.dir === "out" && prev.dir === "out" && l.text === prev.text && l.time === prev.time && !l.private) continue;
    out.push(entry(l, fingerprintOf));
    prev = l;
  }
  return out;
}

/**
 * The HistoryApi over `h`: `resolve` turns a name into a contact (connected, or known
 * from the outbox), else undefined; `emit` receives the "history" events.
 */
export function historyApi(h: History, o: { resolve: (name: string) => string | undefined; fingerprintOf: (pid: string) => string; emit: ChatListener }): HistoryApi {
  const pidOf = (name: string): string => {
    const pid = o.resolve(name) ?? h.pidByName(name);
    if (pid === undefined) throw new ChatError("unknown_peer", `there is no conversation with ${JSON.stringify(name.slice(0, 64))}; /peers lists who is connected`);
    return pid;
  };
  return {
    show(name, n) {
      const pid = name === undefined ? undefined : said(h.path, () => pidOf(name));
      const lines = said(h.path, () => h.last(n ?? DEFAULT_PAGE, pid));
      const page = said(h.path, () => (pid === undefined ? merged(lines, o.fingerprintOf) : lines.map((l) => entry(l, o.fingerprintOf))));
      o.emit({ type: "history", ...(name !== undefined ? { peer: name } : {}), lines: page, start: false });
    },
    clear(name) {
      const n = h.clear(said(h.path, () => pidOf(name)));
      o.emit({ type: "history_cleared", peer: name, count: n });
      return n;
    },
    names: () => h.names(),
    atStart() {
      let shown: ReturnType<typeof merged>;
      try {
        shown = said(h.path, () => {
          const lines = h.contacts().flatMap((pid) => h.last(SHOWN_AT_START, pid));
          lines.sort((a, b) => a.time - b.time);
          return merged(lines, o.fingerprintOf);
        });
      } catch (e) {
        // history.db damaged inside: said, and the chat goes on.
        o.emit({ type: "error", code: "state", message: (e as Error).message });
        return;
      }
      if (shown.length > 0) o.emit({ type: "history", lines: shown, start: true });
    },
  };
}
