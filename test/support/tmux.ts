/**
 * One tmux session per test file, for driving `sotto chat` as a person would: run a
 * command in a pseudo-terminal, type into it, read the screen, and wait for what it shows.
 */
import { afterAll } from "bun:test";
import { until as wait } from "./wait.ts";

/** tmux's path, or null where it is missing (the terminal tests then say they are skipped). */
export const TMUX: string | null = Bun.which("tmux");

/** A tmux session named after `prefix` and this process, killed after the file's tests. */
export function tmuxSession(prefix: string, captureArgs: string[] = []) {
  const session = `${prefix}-${process.pid}`;
  const tmux = (...args: string[]): string => {
    const r = Bun.spawnSync([TMUX!, ...args], { stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`tmux ${args[0]}: ${r.stderr.toString()}`);
    return r.stdout.toString();
  };
  const screen = (): string => tmux("capture-pane", "-p", ...captureArgs, "-t", session);
  /** Poll the screen until `f` holds. @throws Error with the screen when `ms` pass. */
  const until = (what: string, f: () => boolean, ms = 10_000): Promise<boolean> => wait(() => `${what}; screen:\n${screen()}`, f, ms, 25);
  afterAll(() => {
    if (TMUX) Bun.spawnSync([TMUX, "kill-session", "-t", session], { stderr: "ignore" });
  });
  return { session, tmux, screen, until };
}
