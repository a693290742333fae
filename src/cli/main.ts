#!/usr/bin/env bun
/**
 * The `sotto` command line. `chat` is the default subcommand, so `sotto --port 6000`
 * means `sotto chat --port 6000` (and `bun run chat` runs `bun src/cli/main.ts chat`).
 * The only place that calls process.exit: with the code the command returned.
 */
import { defineCommand, runMain, type CommandDef } from "citty";
import pkg from "../../package.json";
import { chatCommand, chatUsage, processIo } from "./chat.ts";
import { inviteCommand, inviteUsage } from "./invite.ts";
import { renderHelp, wantColor } from "./help.ts";

const SUBCOMMANDS = ["chat", "invite"];
const TOP_LEVEL_FLAGS = ["--help", "-h", "--version", "-v"];

/**
 * argv with "chat" put in front when no subcommand is named. citty's own `default`
 * cannot do this once flags are given: it would take the value of `--port 6000` for a
 * subcommand name. @throws never
 */
export function withDefaultCommand(argv: string[]): string[] {
  const first = argv[0];
  if (first === undefined || SUBCOMMANDS.includes(first) || (argv.length === 1 && TOP_LEVEL_FLAGS.includes(first))) return argv;
  return ["chat", ...argv];
}

/** The --help of `sotto` itself: the commands, then where to look. @throws never */
export function topUsage(color: boolean): string {
  return renderHelp({
    usage: "sotto [chat|invite] [options]   (in a checkout: bun run chat)",
    description: `${pkg.description} (sotto v${pkg.version})`,
    args: { version: { type: "boolean", description: "print the version" }, help: { type: "boolean", description: "this text; sotto chat --help lists the chat's options" } },
    notes: "  chat     the chat (the default command): sotto chat --help\n  invite   a one-time invite line for a friend: sotto invite --help",
    color,
  });
}

if (import.meta.main) {
  let exitCode = 0;
  const chat = chatCommand((code) => (exitCode = code));
  const invite = inviteCommand((code) => (exitCode = code), processIo);
  const main = defineCommand({
    meta: { name: "sotto", version: pkg.version, description: pkg.description },
    subCommands: { chat, invite },
    default: "chat",
  });
  // chat's help has notes (prompts, line mode, exit codes) that citty's table cannot hold.
  // Both fit 80 columns and drop color on a pipe or with NO_COLOR (help.ts).
  const color = wantColor(Boolean(process.stdout.isTTY), process.env);
  const showUsage = async (cmd: CommandDef<any>) => console.log(cmd === chat ? await chatUsage(color) : cmd === invite ? inviteUsage(color) : `${topUsage(color)}\n`);
  await runMain(main, { rawArgs: withDefaultCommand(process.argv.slice(2)), showUsage });
  process.exit(exitCode);
}
