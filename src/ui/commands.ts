/**
 * One typed line → one action on the ChatApi. Shared by the terminal UI and line mode.
 *
 *   1. a line starting with "/" is a command (name case-insensitive); "//text" sends
 *      "/text" as a message;
 *   2. any other non-blank line goes to every connected peer (api.sendAll);
 *   3. results (help, peer lists, safety numbers) come back as typed events (docs/EVENTS.md), mistakes
 *      as { type: "error", code: "bad_command" } with the usage in one sentence, and a
 *      ChatError thrown by the api as an "error" event with its code and message.
 * Never exits the process: /quit returns "quit" and the caller closes.
 */
import { existsSync } from "node:fs";
import { ChatError, type ChatApi, type ChatEvent, type ContactsApi, type FileApi, type HistoryApi } from "../chat/events.ts";
import { expandPath } from "../chat/files/disk.ts";
import { sanitizeLine } from "../text/sanitize.ts";

/** The /help text. */
export const HELP = [
  "Type a line and press Enter to send it to every connected peer. Commands:",
  "  /help                 this list",
  "  /peers                who is connected, with fingerprints; and each address still dialled",
  "  /connect host:port    dial a peer (redialled if the connection drops); also takes an invite",
  "  /invite               lines (sotto://host:port#fingerprint) a friend pastes to reach you safely",
  "  /disconnect name      close the sessions with a peer and stop redialling it",
  "  /msg name text        send a private line to one peer",
  "  /verify [name]        show the safety number to compare with a peer out of band",
  "  /trust name           mark a peer verified after comparing safety numbers",
  "  /contacts             your contacts (the keys you accepted), by local name",
  "  /requests             strangers who connected to you: nothing you type reaches them",
  "  /allow [id] [name]    accept a request as a contact, under a local name you may choose",
  "  /block [id|name]      refuse a request's (or a contact's) key from now on",
  "  /replace name         accept the new key seen for a contact, after comparing safety numbers",
  "  /forget name          drop a contact",
  "  /nick name            change your display name",
  "  /rekey                update the session keys now",
  "  /send [name] PATH...  offer files or folders to one peer, or to every connected peer",
  "  /accept [id|all]      accept a file offer (without an id: the only one waiting)",
  "  /reject [id|all]      refuse a file offer (without an id: the only one waiting)",
  "  /cancel [id]          stop a transfer, either direction (all without an id)",
  "  /transfers            the transfers under way, with their ids",
  "  /history [name] [n]   the last n lines (default 20) with one contact, or everyone",
  "  /clear name           forget the kept lines with one contact",
  "  /quit                 close every session and exit (also Ctrl+C, Ctrl+D)",
  "Tab completes commands, contact names and paths.",
  "Start a line with // to send a line that begins with /. Quote paths with spaces: /send \"my file.txt\".",
].join("\n");

/** Usage of each command, shown when it is used wrongly. */
const USAGE: Record<string, string> = {
  connect: "/connect host:port (for example /connect 10.0.0.7:5000)",
  disconnect: "/disconnect name (or host:port)",
  msg: "/msg name text",
  verify: "/verify [name]",
  trust: "/trust name",
  nick: "/nick name",
  allow: "/allow [request id or name] [local name]",
  block: "/block [request id, or a contact's name]",
  replace: "/replace name (a contact whose new key was shown in a warning)",
  forget: "/forget name",
  send: "/send [name] PATH... (files or folders; a first word naming a peer sends to that peer only)",
  accept: "/accept [id]",
  reject: "/reject [id]",
  cancel: "/cancel [id]",
  history: "/history [name] [n] (for example /history bob 50)",
  clear: "/clear name (forgets the kept lines with that contact)",
};

type Out = (e: ChatEvent) => void;
type Handler = (args: string[], rest: string, api: ChatApi, out: Out, tail: string) => "quit" | void;

const name = (s: string) => sanitizeLine(s, 40);

const COMMANDS: Record<string, { args: [min: number, max: number]; run: Handler }> = {
  help: { args: [0, 0], run: (_a, _r, _api, out) => out({ type: "help", text: HELP }) },
  peers: { args: [0, 0], run: (_a, _r, api, out) => out({ type: "peers", peers: api.peers(), ...(api.away !== undefined ? { away: api.away() } : {}) }) },
  connect: {
    args: [1, 1],
    run: ([address], _r, api, out) => {
      const already = api.connect(address!);
      if (already) out({ type: "not_dialling", address: address!, reason: already });
      else out({ type: "dialling", address: address! });
    },
  },
  disconnect: {
    args: [1, 1],
    run: ([who], _r, api, out) => {
      if (api.disconnect === undefined) throw new ChatError("bad_command", "This front end cannot disconnect peers.");
      out({ type: "disconnecting", peer: who!, ended: api.disconnect(who!) });
    },
  },
  msg: {
    args: [2, Infinity],
    run: ([to], rest, api) => {
      api.sendTo(to!, rest);
    },
  },
  verify: {
    args: [0, 1],
    run: ([who], _r, api, out) => {
      out({ type: "safety_numbers", you: api.fingerprint, peers: api.verify(who) });
    },
  },
  trust: {
    args: [1, 1],
    // ChatNode.trust reports success itself (a "contact" event naming the known_peers path).
    run: ([who], _r, api) => api.trust(who!),
  },
  contacts: {
    args: [0, 0],
    run: (_a, _r, api, out) => {
      out({ type: "contacts", contacts: contactsApi(api).list() });
    },
  },
  requests: {
    args: [0, 0],
    run: (_a, _r, api, out) => {
      out({ type: "requests", requests: contactsApi(api).requests() });
    },
  },
  invite: {
    args: [0, 0],
    run: (_a, _r, api, out) => {
      const list = contactsApi(api).invites();
      if (list.length === 0) throw new ChatError("not_listening", "You are not listening, so there is no address to invite to; start without --no-listen (or run sotto invite for the sotto that listens).");
      out({ type: "invites", invites: list });
    },
  },
  allow: { args: [0, 2], run: ([ref, as], _r, api) => void contactsApi(api).allow(ref, as) },
  block: { args: [0, 1], run: ([ref], _r, api) => void contactsApi(api).block(ref) },
  replace: { args: [1, 1], run: ([who], _r, api) => contactsApi(api).replace(who!) },
  forget: { args: [1, 1], run: ([who], _r, api) => contactsApi(api).forget(who!) },
  nick: {
    args: [1, 1],
    run: ([to], _r, api, out) => {
      api.nick(to!);
      out({ type: "renamed", name: api.name });
    },
  },
  rekey: {
    args: [0, 0],
    run: (_a, _r, api, out) => {
      out({ type: "rekeyed", sessions: api.rekey() });
    },
  },
  send: { args: [1, Infinity], run: (_a, _r, api, out, tail) => sendFiles(files(api), tail, out) },
  accept: {
    args: [0, 1],
    run: ([id], _r, api, out) => {
      if (files(api).accept(id) === 0) throw new ChatError("unknown_transfer", "No file offer is waiting for an answer.");
    },
  },
  reject: {
    args: [0, 1],
    run: ([id], _r, api, out) => {
      if (files(api).reject(id) === 0) throw new ChatError("unknown_transfer", "No file offer is waiting for an answer.");
    },
  },
  cancel: {
    args: [0, 1],
    run: ([id], _r, api, out) => {
      if (files(api).cancel(id) === 0) throw new ChatError("unknown_transfer", "No transfer is under way.");
    },
  },
  transfers: { args: [0, 0], run: (_a, _r, api, out) => out({ type: "transfers", transfers: files(api).list() }) },
  history: {
    args: [0, 2],
    run: (args, _r, api) => {
      const h = kept(api);
      const last = args[args.length - 1];
      const n = last !== undefined && /^[0-9]{1,4}$/.test(last) ? Number(last) : undefined;
      const who = n === undefined ? args[0] : args.length === 2 ? args[0] : undefined;
      if (args.length === 2 && n === undefined) throw new ChatError("bad_command", `Usage: ${USAGE.history}.`);
      h.show(who, n);
    },
  },
  clear: { args: [1, 1], run: ([who], _r, api) => void kept(api).clear(who!) },
  quit: { args: [0, 0], run: () => "quit" },
  exit: { args: [0, 0], run: () => "quit" },
};

function contactsApi(api: ChatApi): ContactsApi {
  if (api.contacts === undefined) throw new ChatError("bad_command", "contacts are not available in this chat");
  return api.contacts;
}

/** Every command name, for Tab completion. */
export const COMMAND_NAMES = Object.keys(COMMANDS);

function kept(api: ChatApi): HistoryApi {
  if (api.history === undefined) throw new ChatError("bad_command", "history is off in this chat (--no-history), so nothing was kept");
  return api.history;
}

function files(api: ChatApi): FileApi {
  if (api.files === undefined) throw new ChatError("files_unsupported", "file transfer is off in this chat");
  return api.files;
}

/**
 * The words of a /send line: split at spaces, except inside "double" or 'single' quotes;
 * a backslash keeps the next character as is (outside single quotes). @throws ChatError bad_command
 */
export function splitWords(tail: string): string[] {
  const words: string[] = [];
  let cur: string | null = null;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < tail.length; i++) {
    const ch = tail[i]!;
    if (quote === null && /\s/.test(ch)) {
      if (cur !== null) words.push(cur);
      cur = null;
      continue;
    }
    cur ??= "";
    if (ch === "\\" && quote !== "'" && i + 1 < tail.length) cur += tail[++i];
    else if (quote === null && (ch === '"' || ch === "'")) quote = ch;
    else if (ch === quote) quote = null;
    else cur += ch;
  }
  if (quote !== null) throw new ChatError("bad_command", `Unclosed ${quote} in the file list.`);
  if (cur !== null) words.push(cur);
  return words;
}

/**
 * /send [name] PATH...: with more words after it, the first word is a contact's name
 * when it names one (names resolve among contacts only), even when a file has that name
 * too (then we say the file was not sent); a first word that is neither is refused.
 */
function sendFiles(api: FileApi, tail: string, out: Out): void {
  const words = splitWords(tail);
  const first = words[0]!;
  const toPeer = words.length >= 2 && api.isPeer(first);
  if (toPeer && existsSync(expandPath(first))) out({ type: "send_name_is_path", peer: first, path: first });
  if (!toPeer && words.length >= 2 && !existsSync(expandPath(first))) {
    throw new ChatError("bad_command", `${JSON.stringify(first.slice(0, 60))} is neither one of your contacts nor a file or folder here, so nothing was sent; /contacts lists your contacts.`);
  }
  const paths = toPeer ? words.slice(1) : words;
  const n = api.send(paths, toPeer ? first : undefined);
  out({ type: "offering", files: n, ...(toPeer ? { peer: first } : {}) });
}

/** The error for a line that went to no one. */
export const NO_PEER: ChatEvent = { type: "error", code: "no_peer", message: "No peer is connected, so the message was not sent; /connect host:port dials one (requests receive nothing: /requests)." };

/** True when runCommand takes `line` for a command (else it is a message, "//" escaping a leading "/"). */
export function isCommand(line: string): boolean {
  return line.startsWith("/") && !line.startsWith("//");
}

/**
 * Run one line typed by the user: a command, or a message for every connected peer.
 * Returns "quit" for /quit (and /exit); the caller then closes the api.
 * @throws only what is not a ChatError (a bug): ChatErrors become "error" events.
 */
export async function runCommand(line: string, api: ChatApi, out: Out): Promise<"quit" | void> {
  if (line.trim() === "") return;
  if (!isCommand(line)) {
    const text = line.startsWith("//") ? line.slice(1) : line;
    let n: number;
    try {
      n = api.sendAll(text);
    } catch (e) {
      // A refused line (too long, a full outbox) is the user's to fix, not a bug.
      if (!(e instanceof ChatError)) throw e;
      out({ type: "error", code: e.code, message: e.message });
      return;
    }
    if (n === 0) out(NO_PEER);
    return;
  }
  // Step 1: split "/cmd arg1 arg2 …"; `rest` keeps the spacing of everything after the first argument.
  const m = /^\/(\S*)\s*(.*)$/s.exec(line)!;
  const cmd = m[1]!.toLowerCase();
  const tail = m[2]!;
  const args = tail.split(/\s+/).filter((a) => a !== "");
  const rest = tail.replace(/^\S+\s+/, "");
  const def = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
  if (def === undefined) {
    out({ type: "error", code: "bad_command", message: `Unknown command /${sanitizeLine(cmd, 32)}; type /help for the list of commands.` });
    return;
  }
  // Step 2: check the argument count before touching the api.
  if (args.length < def.args[0] || args.length > def.args[1]) {
    const usage = USAGE[cmd] ?? `/${cmd}`;
    out({ type: "error", code: "bad_command", message: `Usage: ${usage}${def.args[1] === 0 ? " (it takes no arguments)" : ""}.` });
    return;
  }
  // Step 3: run it; a ChatError is the user's mistake (unknown peer, bad address, …).
  try {
    return def.run(args, rest, api, out, tail);
  } catch (e) {
    if (!(e instanceof ChatError)) throw e;
    out({ type: "error", code: e.code, message: e.message });
  }
}
