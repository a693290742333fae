/**
 * `sotto invite`: the invite lines of /invite, without a chat running (README "Trust, in
 * plain words"). Each line is `sotto://HOST:PORT?t=TOKEN#FINGERPRINT` for one address the
 * listener on --host/--port can be reached at; the token is kept in the home
 * (HOME/invites, trust/invite.ts), so the sotto that listens with this home, started
 * before or after, makes the friend who dials with it a contact, once, within 7 days.
 *
 * Without --port (and --host) it takes where the sotto running with this home listens
 * (HOME/listening, delivery/lock.ts), saying so; with none running, port 5000 and 0.0.0.0.
 *
 * Lines go to stdout (one per address, for scripts); the sentence saying what to do with
 * them to stderr. Exit codes: 0, 1 (the home or identity is unusable), 2 bad flags.
 */
import { parseArgs } from "node:util";
import { resolve, join } from "node:path";
import { defineCommand, type ArgsDef } from "citty";
import { renderHelp, wantColor } from "./help.ts";
import { DEFAULT_HOST, DEFAULT_PORT, parseHost, parsePort } from "./chat-args.ts";
import { HomeLock } from "../chat/delivery/lock.ts";
import { HomeError, prepareHome } from "../chat/trust/home.ts";
import { defaultHome, fingerprint, IdentityFileError, loadOrCreateIdentity } from "../chat/trust/identity.ts";
import { INVITE_TOKENS_DIR, InviteTokens, localInvites } from "../chat/trust/invite.ts";
import { sanitizeLine } from "../text/sanitize.ts";
import type { ChatIo } from "./chat.ts";

/** The flags of `sotto invite`, as --help shows them. */
export const inviteArgs = {
  port: { type: "string", valueHint: "1-65535", description: `the port your sotto listens on (default: the one the sotto running with this home listens on, else ${DEFAULT_PORT})` },
  host: { type: "string", valueHint: "address", description: `the address it listens on (default: that sotto's, else ${DEFAULT_HOST}: one line per local address)` },
  home: { type: "string", valueHint: "dir", description: "the home of that sotto (default: $SOTTO_HOME, else ~/.config/sotto)" },
} satisfies ArgsDef;

const inviteMeta = { name: "invite", description: "Print a one-time invite line a friend pastes into --connect to reach you safely" };

const NOTES = `  Send one line to your friend over a channel you already trust; they run
  sotto --connect '<line>'. Their sotto pins your key before dialling, so no one
  in the middle can answer instead of you, and your sotto (listening with the
  same --home, already running or started later) takes them as a contact at
  once. Each line works once, within 7 days.`;

/** The --help of `sotto invite`. @throws never */
export function inviteUsage(color = false): string {
  return `${renderHelp({ usage: "sotto invite [--port N] [--host A] [--home DIR]", description: inviteMeta.description, args: inviteArgs, notes: NOTES, color })}\n`;
}

/** The citty command; `onExit` receives the exit code. */
export function inviteCommand(onExit: (code: number) => void, io: () => Pick<ChatIo, "stdout" | "stderr" | "isTTY" | "env">) {
  return defineCommand({ meta: inviteMeta, args: inviteArgs, run: ({ rawArgs }) => onExit(runInvite(rawArgs, io())) });
}

/** Print the invite lines for `argv` (the words after `invite`); returns the exit code. @throws only on a bug */
export function runInvite(argv: string[], io: Pick<ChatIo, "stdout" | "stderr" | "isTTY" | "env">): number {
  const env = io.env ?? process.env;
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, strict: true, allowPositionals: false, options: { port: { type: "string" }, host: { type: "string" }, home: { type: "string" }, help: { type: "boolean", short: "h" } } }));
  } catch (e) {
    io.stderr.write(`sotto: ${sanitizeLine((e as Error).message.split("\n")[0] ?? "bad arguments", 200)}; see sotto invite --help\n`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(inviteUsage(wantColor(io.isTTY, env)));
    return 0;
  }
  const home = values.home === undefined ? defaultHome(env) : resolve(values.home as string);
  // Flags win; else where the sotto running with this home listens; else the defaults.
  const running = values.port === undefined || values.host === undefined ? HomeLock.listeningIn(home) : null;
  const port = values.port === undefined ? (running?.port ?? DEFAULT_PORT) : parsePort(values.port as string);
  if (port === null) return bad(io, `--port expects the port your sotto listens on, 1 to 65535, got "${sanitizeLine(String(values.port), 20)}"`);
  const host = parseHost((values.host as string | undefined) ?? running?.host ?? DEFAULT_HOST);
  if (host === null) return bad(io, `--host expects the address your sotto listens on, got "${sanitizeLine(String(values.host), 60)}"`);
  let lines: string[];
  try {
    prepareHome(home);
    const id = loadOrCreateIdentity(home);
    const token = new InviteTokens(join(home, INVITE_TOKENS_DIR)).make();
    lines = localInvites(host, port, fingerprint(id.publicKey), token);
  } catch (e) {
    if (!(e instanceof HomeError || e instanceof IdentityFileError || (e as { code?: string }).code !== undefined)) throw e;
    io.stderr.write(`sotto: could not make an invite in ${sanitizeLine(home, 200)}: ${sanitizeLine((e as Error).message, 300)}\n`);
    return 1;
  }
  for (const l of lines) io.stdout.write(`${l}\n`);
  const where =
    running !== null && values.port === undefined
      ? `Port ${port} is the one your sotto (process ${running.pid}) listens on with this home now.`
      : `Your sotto must listen on port ${port} with this home${values.port === undefined ? " (none is running with it now; give --port if it will use another)" : ""}.`;
  io.stderr.write(`Send one of these lines to your friend over a channel you trust (it works once, within 7 days); they run: sotto --connect '<the line>'. ${where}\n`);
  return 0;
}

function bad(io: Pick<ChatIo, "stderr">, message: string): number {
  io.stderr.write(`sotto: ${message}\n`);
  return 2;
}
