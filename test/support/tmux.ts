/**
 * One tmux session per test file, for driving `sotto chat` as a person would: run a
 * command in a pseudo-terminal, type into it, read the screen, and wait for what it shows.
 */
import { afterAll } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { until as wait } from "./wait.ts";

/**
 * tmux for the tests, or null where it is missing (the terminal tests then say they are
 * skipped): a wrapper that runs it on a server of this test process's own (`-S`, a socket
 * under /tmp/sotto-tmux-<pid>/). On the shared default server, a file whose last session
 * ends makes the server exit while another worker's file (`bun test --parallel`), or
 * another program, is starting a session on it ("server exited unexpectedly").
 */
export const TMUX: string | null = privateTmux(Bun.which("tmux"));

function privateTmux(real: string | null): string | null {
  if (real === null) return null;
  // Folders left by test processes that have ended (their servers ended with their last session).
  for (const d of readdirSync(tmpdir())) {
    const pid = /^sotto-tmux-(\d+)$/.exec(d)?.[1];
    if (pid !== undefined && Number(pid) !== process.pid && !existsSync(`/proc/${pid}`)) rmSync(join(tmpdir(), d), { recursive: true, force: true });
  }
  const dir = join(tmpdir(), `sotto-tmux-${process.pid}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const wrapper = join(dir, "tmux");
  writeFileSync(wrapper, `#!/bin/sh\nexec '${real}' -S '${join(dir, "socket")}' "$@"\n`);
  chmodSync(wrapper, 0o755);
  return wrapper;
}

/**
 * Run a tmux command on this process's server; its output. A session started while the
 * server is exiting (another file of this process, under `bun test --no-isolate`, has just
 * ended its last session) fails with "server exited unexpectedly": it is started again on a
 * fresh server, up to five times. @throws Error with tmux's message otherwise.
 */
export function tmuxRun(...args: string[]): string {
  for (let attempt = 1; ; attempt++) {
    const r = Bun.spawnSync([TMUX!, ...args], { stderr: "pipe" });
    if (r.exitCode === 0) return r.stdout.toString();
    const err = r.stderr.toString();
    if (args[0] !== "new-session" || !err.includes("server exited unexpectedly") || attempt === 5) throw new Error(`tmux ${args[0]}: ${err}`);
    Bun.sleepSync(50);
  }
}

/** A tmux session named after `prefix` and this process, killed after the file's tests. */
export function tmuxSession(prefix: string, captureArgs: string[] = []) {
  const session = `${prefix}-${process.pid}`;
  const tmux = tmuxRun;
  const screen = (): string => tmux("capture-pane", "-p", ...captureArgs, "-t", session);
  /** Poll the screen until `f` holds. @throws Error with the screen when `ms` pass. */
  const until = (what: string, f: () => boolean, ms = 10_000): Promise<boolean> => wait(() => `${what}; screen:\n${screen()}`, f, ms, 25);
  afterAll(() => {
    if (TMUX) Bun.spawnSync([TMUX, "kill-session", "-t", session], { stderr: "ignore" });
  });
  return { session, tmux, screen, until };
}
