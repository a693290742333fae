/**
 * `sotto chat` (what `bun run chat` runs): parse the flags, or ask for a port and a peer
 * when started with no arguments in a terminal; start a ChatNode; hand it to the
 * terminal UI (stdin and stdout are terminals) or to line mode (pipes, or --json).
 *
 * Exit codes: 0 normal end (also Ctrl+C / Ctrl+D), 1 the chat could not start (port in
 * use, unreadable identity, …) or line mode left a message undelivered (see
 * src/ui/lines.ts), 2 bad flags. `runChat` never calls process.exit; main.ts does.
 */
import { join } from "node:path";
import { createInterface } from "node:readline";
import { PassThrough } from "node:stream";
import { colors } from "consola/utils";
import { defineCommand } from "citty";
import { renderHelp, wantColor } from "./help.ts";
import { ChatError } from "../chat/events.ts";
import { LineMode } from "../ui/lines.ts";
import { ChatNode } from "../chat/node.ts";
import { TerminalUi } from "../ui/terminal.ts";
import { isValidPeerName } from "../chat/trust/known-peers.ts";
import { DEFAULT_PORT, chatArgs, parseChatArgs, parseConnect, parsePort, type ChatSettings } from "./chat-args.ts";

/** Ask one question; undefined when the user cancelled (Ctrl+C). */
export type Ask = (message: string, opts: { default: string; placeholder?: string }) => Promise<string | undefined>;

/** The process as runChat sees it (tests pass their own). */
export interface ChatIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: { write(s: string): unknown };
  /** stdin and stdout are both terminals: interactive UI and prompts. */
  isTTY: boolean;
  env?: Record<string, string | undefined>;
  /** The question asker for the no-argument start (default: a readline question on stdin). */
  ask?: Ask;
  /** Is host:port free to listen on? (default: portFree, a real bind) */
  portFree?: (host: string, port: number) => boolean;
  /** Handle SIGINT/SIGTERM by closing every session (default true). */
  signals?: boolean;
}

const chatMeta = { name: "chat", description: "Chat with peers over sotto/1, end-to-end encrypted; the default command" };

/** The real process, for main.ts. */
export function processIo(): ChatIo {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, isTTY: Boolean(process.stdin.isTTY && process.stdout.isTTY) };
}

/** The citty command; `onExit` receives runChat's exit code (citty discards return values). */
export function chatCommand(onExit: (code: number) => void, io: () => ChatIo = processIo) {
  return defineCommand({
    meta: chatMeta,
    args: chatArgs,
    run: async ({ rawArgs }) => onExit(await runChat(rawArgs, io())),
  });
}

/** What the flag table cannot say, appended to --help (each line at most 80 columns). */
const NOTES = `  In a checkout, \`bun run chat\` runs this command; after \`bun link\` (or
  \`bun add -g file:<checkout>\`) it is \`sotto\`, and \`sotto --port 6000\` means
  \`sotto chat --port 6000\`.

  With no arguments in a terminal, sotto asks for the port to listen on (a free
  one is suggested when it is taken), a peer to dial (empty for none) and your
  name. In the chat a typed line goes to every connected peer; /help lists the
  commands, Tab completes commands, names and paths; Ctrl+C or Ctrl+D quits.
  A peer that dials you is a request until you /allow it: nothing you type
  reaches it (--allow-new accepts every new key at once). /contacts, /requests,
  /allow, /block, /replace, /forget and /invite (or sotto invite) manage who
  is who.
  Files offered by a peer wait for /accept and land in $SOTTO_HOME/downloads,
  or in --accept-files DIR without asking.

  Conversations are kept in $SOTTO_HOME/state.db (0600) and the last lines
  per contact are shown at start; --no-history keeps nothing, /clear NAME
  forgets one contact's lines.

  Line mode (stdin not a terminal, or --json): each input line is a message or a
  /command, and each event is printed as exactly one line (docs/EVENTS.md). At
  end of input sotto waits (--drain-timeout) for every message to be
  acknowledged, closes the sessions and exits:
    echo hi | sotto chat --no-listen --connect 10.0.0.7:5000
  A chat that listens and dials no one at start is a service (a bot): it keeps
  running after end of input until SIGINT or SIGTERM.

  Exit codes: 0 done; 1 could not start, or (line mode) a message was not
  delivered; 2 bad flags.`;

/** The --help text of `sotto chat`, colored when `color`. @throws never */
export async function chatUsage(color = false): Promise<string> {
  return `${renderHelp({ usage: "sotto chat [options]   (in a checkout: bun run chat [options])", description: chatMeta.description, args: chatArgs, notes: NOTES, color })}\n`;
}

/**
 * Run the chat with `argv` (the words after `chat`) until it ends; returns the exit code.
 * @throws only on a bug; user mistakes and start failures are one line on stderr.
 */
export async function runChat(argv: string[], io: ChatIo): Promise<number> {
  const env = io.env ?? process.env;
  const parsed = parseChatArgs(argv, env);
  if (parsed.kind === "help") {
    io.stdout.write(`${await chatUsage(wantColor(io.isTTY, env))}\n`);
    return 0;
  }
  if (parsed.kind === "error") {
    io.stderr.write(`sotto: ${parsed.message}\n`);
    return 2;
  }
  let settings = parsed.settings;
  if (argv.length === 0 && io.isTTY) {
    const asked = await askSettings(settings, io.ask ?? readlineAsk(io), io.stderr, io.portFree ?? portFree);
    if (asked === null) return 0;
    settings = asked;
  }

  const knownPeers = join(settings.home, "known_peers");
  const lineMode = settings.json || !io.isTTY;
  const color = !lineMode && wantColor(io.isTTY, env);
  const ui = lineMode
    ? new LineMode({ output: io.stdout, json: settings.json, drainTimeoutMs: settings.drainTimeoutMs, dials: settings.connect.length, knownPeers, batchOutput: true })
    : new TerminalUi({ input: io.stdin, output: io.stdout, color, knownPeers, bell: settings.bell });

  let node: ChatNode;
  try {
    const files = { downloads: settings.acceptFiles ?? join(settings.home, "downloads"), autoAccept: settings.acceptFiles !== null };
    node = await ChatNode.start({ home: settings.home, name: settings.name, group: settings.group, strict: settings.strict, allowNew: settings.allowNew, listen: settings.listen, connect: settings.connect, files, history: settings.history, output: ui.gate, ...(settings.keepaliveMs !== undefined ? { limits: { keepaliveMs: settings.keepaliveMs } } : {}) }, ui.listener);
  } catch (e) {
    if (!(e instanceof ChatError)) throw e;
    io.stderr.write(`sotto: ${oneLine(e.message)}\n`);
    return 1;
  }

  const stop = () => ui.stop();
  const signals = io.signals ?? true;
  if (signals) for (const s of ["SIGINT", "SIGTERM"] as const) process.on(s, stop);
  try {
    if (!(ui instanceof LineMode)) return await ui.run(node);
    // A line-mode chat that listens and dials no one is a service (a bot behind
    // </dev/null, systemd): end of input does not end it; SIGINT/SIGTERM or /quit does.
    const service = settings.listen !== null && settings.connect.length === 0;
    return await ui.run(node, service ? keepOpen(io.stdin) : io.stdin);
  } finally {
    if (signals) for (const s of ["SIGINT", "SIGTERM"] as const) process.off(s, stop);
  }
}

/** `input`'s lines, in a stream that does not end when `input` does. */
function keepOpen(input: NodeJS.ReadableStream): NodeJS.ReadableStream {
  const through = new PassThrough();
  input.pipe(through, { end: false });
  return through;
}

function oneLine(s: string): string {
  const t = s.replace(/\s*\n\s*/g, " ").trim();
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

/** Ports below this need administrator rights on Unix. */
const PRIVILEGED_BELOW = 1024;

/** Can we listen on host:port now? (the no-argument start checks before it asks on) @throws the bind error when it is neither EADDRINUSE nor EACCES */
export function portFree(host: string, port: number): boolean {
  try {
    const l = Bun.listen({ hostname: host, port, socket: { data() {} } });
    l.stop(true);
    return true;
  } catch (e) {
    // EADDRINUSE, EACCES (ports below 1024): both mean "ask again"; anything else is ours to see.
    if ((e as { code?: string }).code === "EADDRINUSE" || (e as { code?: string }).code === "EACCES") return false;
    throw e;
  }
}

/** The first free port after `port` (8000 + port for a privileged one, as 80 → 8080; up to 100 tries), else 0 (any free port). */
function freePortAfter(host: string, port: number, free: (h: string, p: number) => boolean): number {
  const from = port < PRIVILEGED_BELOW ? 8000 + port : port + 1;
  for (let p = from; p <= Math.min(65535, from + 99); p++) if (free(host, p)) return p;
  return 0;
}

/**
 * The no-argument start, as the first sotto script asked: the port to listen on (asked
 * again, with a free one suggested, when it is taken or needs privileges), a peer to dial
 * (empty for none), and the name to show (default: the user name).
 */
export async function askSettings(base: ChatSettings, ask: Ask, stderr: ChatIo["stderr"], free: (h: string, p: number) => boolean): Promise<ChatSettings | null> {
  const host = base.listen?.host ?? "0.0.0.0";
  let port: number | null = null;
  let suggest = DEFAULT_PORT;
  while (port === null) {
    const a = await ask("Port to listen on", { default: String(suggest), placeholder: String(suggest) });
    if (a === undefined) return null;
    port = parsePort(a.trim() === "" ? String(suggest) : a.trim());
    if (port === null) {
      stderr.write("sotto: a port is a number from 1 to 65535; try again.\n");
    } else if (!free(host, port)) {
      suggest = freePortAfter(host, port, free);
      const why = port < PRIVILEGED_BELOW ? `port ${port} needs administrator rights (ports below 1024 are privileged) or is in use` : `port ${port} is already in use on this machine (another sotto, or another program)`;
      stderr.write(`sotto: ${why}; ${suggest === 0 ? "press Enter for any free port" : `${suggest} is free: press Enter to take it`}, or type another.\n`);
      port = null;
    }
  }
  let connect: string | null | undefined;
  while (connect === undefined) {
    const a = await ask("Peer to connect to, as host:port", { default: "", placeholder: "empty for none" });
    if (a === undefined) return null;
    connect = a.trim() === "" ? null : (parseConnect(a) ?? undefined);
    if (connect === undefined) stderr.write("sotto: write the peer as host:port, for example 192.168.1.20:5000, or leave it empty.\n");
  }
  let name: string | undefined;
  while (name === undefined) {
    const a = await ask("Your name, as others see it", { default: base.name, placeholder: base.name });
    if (a === undefined) return null;
    const n = a.trim() === "" ? base.name : a.trim();
    if (isValidPeerName(n)) name = n;
    else stderr.write('sotto: a name is 1 to 32 letters, digits, ".", "_" or "-", starting with a letter or digit; try again.\n');
  }
  return { ...base, name, listen: { host, port }, connect: connect === null ? [] : [connect] };
}

/**
 * One question on the terminal through node:readline. (consola.prompt was the plan, but
 * under Bun 1.4 its text prompt never sees what is typed: clack tracks the value through
 * a tty.WriteStream(0) whose _write Bun does not call, and the answer comes back empty.)
 */
function readlineAsk(io: ChatIo): Ask {
  return (message, opts) =>
    new Promise((resolve) => {
      const rl = createInterface({ input: io.stdin, output: io.stdout, terminal: true });
      let answer: string | undefined;
      rl.on("SIGINT", () => {
        io.stdout.write("\n");
        rl.close();
      });
      rl.on("close", () => resolve(answer));
      const hint = opts.placeholder ?? opts.default;
      rl.question(`${colors.cyan("?")} ${colors.bold(message)}${hint ? ` ${colors.dim(`(${hint})`)}` : ""} `, (a) => {
        answer = a.trim() === "" ? opts.default : a;
        rl.close();
      });
    });
}
