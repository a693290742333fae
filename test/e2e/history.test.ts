/**
 * A person restarts sotto in a terminal (tmux) and sees the conversation again: the
 * last lines with each contact, ours too, with their times. Tab completes a command.
 * Skipped only where tmux is missing (.ci/run installs it).
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ChatProcess, cleanup, tempHome } from "./harness.ts";

const TMUX = Bun.which("tmux");
const session = `sotto-hist-${process.pid}`;
const MAIN = join(import.meta.dir, "../../src/cli/main.ts");
const homes: string[] = [];
const procs: ChatProcess[] = [];

function tmux(...args: string[]): string {
  const r = Bun.spawnSync([TMUX!, ...args], { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`tmux ${args[0]}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}
const screen = () => tmux("capture-pane", "-p", "-t", session);

async function until(what: string, f: () => boolean, ms = 10_000): Promise<void> {
  const end = performance.now() + ms;
  while (!f()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}; screen:\n${screen()}`);
    await Bun.sleep(25);
  }
}

afterEach(() => cleanup(homes, procs));
afterAll(() => {
  if (TMUX) Bun.spawnSync([TMUX, "kill-session", "-t", session], { stderr: "ignore" });
});

describe.skipIf(!TMUX)("history in a terminal", () => {
  test("after a restart the screen shows the last lines, both sides, with times; Tab completes /hist", async () => {
    const bob = new ChatProcess(tempHome(homes), ["--host", "127.0.0.1", "--name", "bob", "--port", "0"]);
    procs.push(bob);
    const port = await bob.port();
    const home = tempHome(homes);
    const status = join(home, "exit-status");
    const run = `bun ${MAIN} chat --home ${home} --name alice --no-listen --connect 127.0.0.1:${port}`;
    tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30", `${run}; echo "exit=$?" > ${status}; sleep 30`);
    await until("connected", () => screen().includes("connected to bob"));
    await bob.waitFor("connected");
    tmux("send-keys", "-t", session, "-l", "hello bob, from before");
    tmux("send-keys", "-t", session, "Enter");
    await bob.waitFor("message", (m) => m.text === "hello bob, from before");
    bob.say("hi alice, also from before");
    await until("bob's line", () => screen().includes("hi alice, also from before"));
    // Our own line carries its time too.
    expect(screen()).toMatch(/\d\d:\d\d alice › hello bob, from before/);
    tmux("send-keys", "-t", session, "C-c");
    await until("exit", () => Bun.file(status).size > 0);

    // Restart in a clean window: only what was kept can be on screen.
    tmux("kill-session", "-t", session);
    tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30", `${run}; sleep 30`);
    await until("the kept lines", () => screen().includes("hi alice, also from before"));
    const s = screen();
    expect(s).toContain("earlier");
    expect(s).toMatch(/\d\d:\d\d you › hello bob, from before/);
    expect(s).toMatch(/\d\d:\d\d bob › hi alice, also from before/);
    expect(s.indexOf("hello bob, from before")).toBeLessThan(s.indexOf("hi alice, also from before"));

    // Tab completion of a command name.
    await until("the prompt", () => screen().includes("alice›"));
    tmux("send-keys", "-t", session, "-l", "/hist");
    tmux("send-keys", "-t", session, "Tab");
    await until("completed", () => /alice› \/history/.test(screen()));
  }, 40_000);
});
