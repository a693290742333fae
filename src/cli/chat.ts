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
import { colors } from "consola/utils";
import { defineCommand, renderUsage } from "citty";
import { ChatError } from "../chat/events.ts";
import { LineMode } from "../ui/lines.ts";
import { ChatNode } from "../chat/node.ts";
import { TerminalUi } from "../ui/terminal.ts";
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
  /** Handle SIGINT/SIGTERM by closing every session (default true). */
  signals?: boolean;
}

const chatMeta = { name: "chat", description: "Chat with peers over sotto/1, end-to-end encrypted; the default command" };
const parentMeta = { meta: { name: "sotto" } };

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

/** What the flag table cannot say, appended to --help. */
const NOTES = `NOTES

  With no arguments in a terminal, sotto asks for the port to listen on and a peer to dial.
  In the chat, a typed line goes to every connected peer; /help lists the commands
  (/peers /connect /msg /verify /trust /nick /rekey /send /accept /reject /cancel /transfers /quit;
  /contacts /requests /allow /block /replace /forget /invite). A peer that dials you is a request
  until you /allow it: nothing you type reaches it (--allow-new accepts every new key at once).
  Ctrl+C or Ctrl+D quits. Files offered by a peer wait for /accept and land in $SOTTO_HOME/downloads,
  or in --accept-files DIR without asking; a transfer cut by a lost connection resumes when it is back.
  When stdin is not a terminal (or with --json), each input line is a message or a /command,
  and each event is printed as one line. At end of input sotto waits (--drain-timeout) for
  every message to be acknowledged (and, with files under way, for them to finish while they
  make progress), closes the sessions and exits:
    echo hi | sotto chat --no-listen --connect 10.0.0.7:5000
  Exit codes: 0 done; 1 could not start, or (line mode) a message was not delivered; 2 bad flags.`;

/** The --help text of `sotto chat`. @throws never */
export async function chatUsage(): Promise<string> {
  return `${await renderUsage({ meta: chatMeta, args: chatArgs }, parentMeta)}\n${NOTES}\n`;
}

/**
 * Run the chat with `argv` (the words after `chat`) until it ends; returns the exit code.
 * @throws only on a bug; user mistakes and start failures are one line on stderr.
 */
export async function runChat(argv: string[], io: ChatIo): Promise<number> {
  const env = io.env ?? process.env;
  const parsed = parseChatArgs(argv, env);
  if (parsed.kind === "help") {
    io.stdout.write(`${await chatUsage()}\n`);
    return 0;
  }
  if (parsed.kind === "error") {
    io.stderr.write(`sotto: ${parsed.message}\n`);
    return 2;
  }
  let settings = parsed.settings;
  if (argv.length === 0 && io.isTTY) {
    const asked = await askSettings(settings, io.ask ?? readlineAsk(io), io.stderr);
    if (asked === null) return 0;
    settings = asked;
  }

  const knownPeers = join(settings.home, "known_peers");
  const lineMode = settings.json || !io.isTTY;
  const color = !lineMode && !env.NO_COLOR && env.TERM !== "dumb";
  const ui = lineMode
    ? new LineMode({ output: io.stdout, json: settings.json, drainTimeoutMs: settings.drainTimeoutMs, dials: settings.connect.length, knownPeers })
    : new TerminalUi({ input: io.stdin, output: io.stdout, color, knownPeers });

  let node: ChatNode;
  try {
    const files = { downloads: settings.acceptFiles ?? join(settings.home, "downloads"), autoAccept: settings.acceptFiles !== null };
    node = await ChatNode.start({ home: settings.home, name: settings.name, group: settings.group, strict: settings.strict, allowNew: settings.allowNew, listen: settings.listen, connect: settings.connect, files }, ui.listener);
  } catch (e) {
    if (!(e instanceof ChatError)) throw e;
    io.stderr.write(`sotto: ${oneLine(e.message)}\n`);
    return 1;
  }

  const stop = () => ui.stop();
  const signals = io.signals ?? true;
  if (signals) for (const s of ["SIGINT", "SIGTERM"] as const) process.on(s, stop);
  try {
    return ui instanceof LineMode ? await ui.run(node, io.stdin) : await ui.run(node);
  } finally {
    if (signals) for (const s of ["SIGINT", "SIGTERM"] as const) process.off(s, stop);
  }
}

function oneLine(s: string): string {
  const t = s.replace(/\s*\n\s*/g, " ").trim();
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

/** The no-argument start: the port to listen on, then optionally one peer to dial. */
async function askSettings(base: ChatSettings, ask: Ask, stderr: ChatIo["stderr"]): Promise<ChatSettings | null> {
  let port: number | null = null;
  while (port === null) {
    const a = await ask("Port to listen on", { default: String(DEFAULT_PORT), placeholder: String(DEFAULT_PORT) });
    if (a === undefined) return null;
    port = parsePort(a.trim() === "" ? String(DEFAULT_PORT) : a.trim());
    if (port === null) stderr.write("sotto: a port is a number from 1 to 65535; try again.\n");
  }
  let connect: string | null | undefined;
  while (connect === undefined) {
    const a = await ask("Peer to connect to, as host:port", { default: "", placeholder: "empty for none" });
    if (a === undefined) return null;
    connect = a.trim() === "" ? null : (parseConnect(a) ?? undefined);
    if (connect === undefined) stderr.write("sotto: write the peer as host:port, for example 192.168.1.20:5000, or leave it empty.\n");
  }
  return { ...base, listen: { host: base.listen?.host ?? "0.0.0.0", port }, connect: connect === null ? [] : [connect] };
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
