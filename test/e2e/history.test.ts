/**
 * A person restarts sotto in a terminal (tmux) and sees the conversation again: the
 * last lines with each contact, ours too, with their times. Tab completes a command.
 * Skipped only where tmux is missing (.ci/run installs it).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ChatProcess, cleanup, tempHome } from "./harness.ts";
import { TMUX, tmuxSession } from "../support/tmux.ts";

const { session, tmux, screen, until } = tmuxSession("sotto-hist");

const MAIN = join(import.meta.dir, "../../src/cli/main.ts");
const homes: string[] = [];
const procs: ChatProcess[] = [];



afterEach(() => cleanup(homes, procs));

describe.skipIf(!TMUX)("history in a terminal", () => {
  test("after a restart the screen shows the last lines, both sides, with times; Tab completes /hist", async () => {
    const bob = new ChatProcess(tempHome(homes), ["--host", "127.0.0.1", "--name", "bob", "--port", "0", "--allow-new"]); // alice dials in: a contact, so bob's lines reach her
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
