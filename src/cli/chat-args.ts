/**
 * The flags of `sotto chat`: their citty definition (for --help) and a strict parser
 * that turns argv into checked settings or one line of error (exit code 2).
 *
 * citty's own parser is lenient (unknown flags pass silently, a repeated flag keeps its
 * last value), so argv is parsed here with node:util parseArgs in strict mode, which
 * rejects unknown flags and collects every `--connect`; `--connect a:1,b:2` works too.
 *
 * One flag is for tests only and is not in --help: `--test-keepalive-ms <ms>` shortens
 * the keepalive (Limits.keepaliveMs, default 7.5 s), so a test of a silent peer need not
 * wait twice 7.5 s.
 */
import { readFileSync } from "node:fs";
import { userInfo } from "node:os";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import type { ArgsDef } from "citty";
import type { ChatOptions } from "../chat/node.ts";
import { defaultHome } from "../chat/trust/identity.ts";
import { INBOUND, isValidAddress, isValidPeerName } from "../chat/trust/known-peers.ts";
import { sanitizeLine } from "../text/sanitize.ts";
import { parseInvite } from "../chat/trust/invite.ts";
import { GROUP_NAMES, Group } from "../protocol/constants.ts";

export const DEFAULT_PORT = 5000;
/** Listen on every interface by default, so a friend on the network can connect. */
export const DEFAULT_HOST = "0.0.0.0";
export const DEFAULT_DRAIN_SECONDS = 10;

/** The flags as citty shows them in --help. */
export const chatArgs = {
  port: { type: "string", valueHint: "0-65535", description: "TCP port to listen on (0: any free port, printed at start)", default: String(DEFAULT_PORT) },
  host: { type: "string", valueHint: "address", description: "address to listen on (0.0.0.0 = every interface, so friends can reach you; 127.0.0.1 = this machine only)", default: DEFAULT_HOST },
  connect: { type: "string", valueHint: "host:port", description: "peer to dial (and redial): host:port, an invite, or a contact's name (its address in known_peers); repeat the flag or separate with commas" },
  name: { type: "string", description: "your display name (default: your user name)" },
  group: { type: "string", valueHint: "x25519|ffdhe2048|ffdhe3072", description: "key exchange group offered when dialling", default: "x25519" },
  strict: { type: "boolean", description: "accept only peers already pinned in known_peers" },
  "allow-new": { type: "boolean", description: "make every new key a contact at once, even one that dials you (bots, scripts); otherwise it is a request" },
  "no-listen": { type: "boolean", description: "do not listen; only dial the --connect peers" },
  home: { type: "string", valueHint: "dir", description: "folder of the identity key and known_peers (default: $SOTTO_HOME, else ~/.config/sotto)" },
  json: { type: "boolean", description: "print one JSON object per event (line mode, for scripts)" },
  "drain-timeout": { type: "string", valueHint: "seconds", description: "line mode: how long to wait for peers to connect at start and for acknowledgements at end of input", default: String(DEFAULT_DRAIN_SECONDS) },
  "no-history": { type: "boolean", description: "keep no conversation history (history.db; messages waiting for delivery are still kept in state.db until acknowledged)" },
  "no-bell": { type: "boolean", description: "no terminal bell when a message mentions your name" },
  "accept-files": { type: "string", valueHint: "dir", description: "accept every file offer without asking, into dir (otherwise files go to $SOTTO_HOME/downloads after /accept)" },
} satisfies ArgsDef;

/** Checked settings of one chat run. */
export interface ChatSettings extends Pick<ChatOptions, "home" | "name" | "group" | "strict" | "listen" | "connect"> {
  /** --allow-new: inbound unknown keys become contacts at once. */
  allowNew: boolean;
  json: boolean;
  drainTimeoutMs: number;
  /** Keep conversation history (--no-history: false). */
  history: boolean;
  /** Ring the terminal bell on a mention of our name (--no-bell: false). */
  bell: boolean;
  /** --accept-files: accept every offer into this folder (absolute); null: ask, into home/downloads. */
  acceptFiles: string | null;
  /** --test-keepalive-ms (tests only, not in --help): Limits.keepaliveMs; absent: the default. */
  keepaliveMs?: number;
}

export type ParsedChatArgs = { kind: "help" } | { kind: "ok"; settings: ChatSettings } | { kind: "error"; message: string };

const show = (s: string) => `"${sanitizeLine(s, 60)}"`;

/** A port number 1-65535 in decimal (0 too when `allowAny`: any free port), or null. @throws never */
export function parsePort(s: string, allowAny = false): number | null {
  if (!/^[0-9]{1,5}$/.test(s)) return null;
  const n = Number(s);
  return (n >= 1 || (allowAny && n === 0)) && n <= 65535 ? n : null;
}

/** A peer address (host:port or [ipv6]:port, port 1-65535), an invite, or a contact's name (its pinned addresses are dialled), else null. @throws never */
export function parseConnect(s: string): string | null {
  const a = s.trim();
  if (parseInvite(a) !== null) return a; // an invite (chat/trust/invite.ts): dialled with its fingerprint pinned
  // A name has no ":", so it is never mistaken for host:port.
  return a !== INBOUND && (isValidAddress(a) || isValidPeerName(a)) ? a : null;
}

/** A bind address (host name, IPv4, or IPv6 with or without brackets), or null. @throws never */
export function parseHost(s: string): string | null {
  const h = s.startsWith("[") && s.endsWith("]") ? s.slice(1, -1) : s;
  return /^[A-Za-z0-9._:%-]{1,253}$/.test(h) ? h : null;
}

/**
 * The user's login name ($USER, $LOGNAME, %USERNAME%, else the OS account, else the
 * passwd entry of our uid) when it is a valid display name, else "me". Bun's
 * os.userInfo() answers "unknown" when it cannot look the account up (containers), and
 * that is never taken as a name. @throws never
 */
export function defaultName(env: Record<string, string | undefined> = process.env, passwd = "/etc/passwd"): string {
  const candidates = [env.USER, env.LOGNAME, env.USERNAME];
  try {
    const u = userInfo().username;
    if (u !== "unknown") candidates.push(u);
  } catch {
    // no passwd entry (containers): the environment is all we have
  }
  candidates.push(passwdName(passwd));
  return candidates.find((n): n is string => n !== undefined && isValidPeerName(n)) ?? "me";
}

/** The name of our uid in `path` (name:x:uid:...), or undefined. */
function passwdName(path: string): string | undefined {
  const uid = process.getuid?.();
  if (uid === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined; // unreadable or absent: fall through to "me"
  }
  return text.split("\n").map((l) => l.split(":")).find((f) => f[2] === String(uid))?.[0];
}

/**
 * argv (after the `chat` subcommand) → settings, a request for help, or one line of
 * error for exit code 2. @throws never
 */
export function parseChatArgs(argv: string[], env: Record<string, string | undefined> = process.env): ParsedChatArgs {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: "string" },
        host: { type: "string" },
        connect: { type: "string", multiple: true },
        name: { type: "string" },
        group: { type: "string" },
        strict: { type: "boolean" },
        "allow-new": { type: "boolean" },
        "no-listen": { type: "boolean" },
        home: { type: "string" },
        json: { type: "boolean" },
        "drain-timeout": { type: "string" },
        "accept-files": { type: "string" },
        "no-history": { type: "boolean" },
        "no-bell": { type: "boolean" },
        "test-keepalive-ms": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    return { kind: "error", message: argvError(e as Error & { code?: string }) };
  }
  if (values.help) return { kind: "help" };
  const str = (k: string) => values[k] as string | undefined;
  const err = (message: string) => ({ kind: "error", message }) as const;

  const port = parsePort(str("port") ?? String(DEFAULT_PORT), true);
  if (port === null) return err(`--port expects a number from 0 (any free port) to 65535, got ${show(str("port")!)}`);
  const host = parseHost(str("host") ?? DEFAULT_HOST);
  if (host === null) return err(`--host expects an IP address or host name to listen on, got ${show(str("host")!)}`);

  const connect: string[] = [];
  for (const item of ((values.connect as string[] | undefined) ?? []).flatMap((c) => c.split(","))) {
    if (item.trim() === "") continue;
    const a = parseConnect(item);
    if (a === null) return err(`--connect expects host:port with a port from 1 to 65535 (or a contact's name), got ${show(item)}`);
    if (!connect.includes(a)) connect.push(a);
  }

  const name = str("name") ?? defaultName(env);
  if (!isValidPeerName(name)) return err(`--name expects 1 to 32 letters, digits, ".", "_" or "-", starting with a letter or digit, got ${show(name)}`);

  const groupName = (str("group") ?? "x25519").toLowerCase();
  const group = (Object.entries(GROUP_NAMES) as [string, string][]).find(([, n]) => n === groupName)?.[0];
  if (group === undefined) return err(`--group expects x25519, ffdhe2048 or ffdhe3072, got ${show(str("group")!)}`);

  const drain = str("drain-timeout") ?? String(DEFAULT_DRAIN_SECONDS);
  const secs = /^[0-9]+(\.[0-9]+)?$/.test(drain) ? Number(drain) : NaN;
  if (!(secs >= 0 && secs <= 86_400)) return err(`--drain-timeout expects seconds from 0 to 86400, got ${show(drain)}`);

  const keepalive = str("test-keepalive-ms");
  if (keepalive !== undefined && !(/^[0-9]{1,6}$/.test(keepalive) && Number(keepalive) >= 100 && Number(keepalive) <= 600_000))
    return err(`--test-keepalive-ms expects milliseconds from 100 to 600000, got ${show(keepalive)}`);

  const home = str("home");
  if (home === "") return err("--home expects a folder, got an empty value");
  const acceptFiles = str("accept-files");
  if (acceptFiles === "") return err("--accept-files expects a folder, got an empty value");

  return {
    kind: "ok",
    settings: {
      home: home === undefined ? defaultHome(env) : resolve(home),
      name,
      group: Number(group) as Group,
      strict: values.strict === true,
      allowNew: values["allow-new"] === true,
      listen: values["no-listen"] ? null : { host, port },
      connect,
      json: values.json === true,
      drainTimeoutMs: Math.round(secs * 1000),
      acceptFiles: acceptFiles === undefined ? null : resolve(acceptFiles),
      history: values["no-history"] !== true,
      bell: values["no-bell"] !== true,
      ...(keepalive !== undefined ? { keepaliveMs: Number(keepalive) } : {}),
    },
  };
}

/** node:util's parse errors, as one short line. */
function argvError(e: Error & { code?: string }): string {
  const quoted = /'([^']*)'/.exec(e.message)?.[1] ?? "";
  const flag = quoted.split(" ")[0] ?? quoted;
  switch (e.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option ${sanitizeLine(flag, 60)}; see --help`;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument ${show(quoted)}; flags take the form --port 5000 (see --help)`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      if (e.message.includes("does not take")) return `${sanitizeLine(flag, 60)} takes no value; see --help`;
      if (e.message.includes("ambiguous")) return `${sanitizeLine(flag, 60)} needs a value; write ${sanitizeLine(flag, 60)}=<value> for a value that starts with "-"`;
      return `${sanitizeLine(flag, 60)} needs a value; see --help`;
    default:
      return sanitizeLine(e.message.split("\n")[0] ?? "bad arguments", 200);
  }
}
