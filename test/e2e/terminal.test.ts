/**
 * A person at a terminal: a real `sotto chat` in tmux (a pseudo-terminal) talking to a
 * real peer process. Reads the screen: the incoming message shows with its sender, the
 * half-typed line survives it, a typed line reaches the peer, Ctrl+C exits cleanly.
 * Skipped only where tmux is missing (.ci/run installs it).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { makeFile, sha256File } from "../chat/files/fixtures.ts";
import { ChatProcess, cleanup, tempHome } from "./harness.ts";
import { TMUX, tmuxSession } from "../support/tmux.ts";

const { session, tmux, screen, until } = tmuxSession("sotto-e2e");

const MAIN = join(import.meta.dir, "../../src/cli/main.ts");
const homes: string[] = [];
const procs: ChatProcess[] = [];



afterEach(() => cleanup(homes, procs));

describe.skipIf(!TMUX)("sotto chat in a terminal", () => {
  test("messages print above the line being typed; typed lines reach the peer; Ctrl+C exits 0", async () => {
    // bob takes alice's key as she dials (--allow-new), so his lines reach her.
    const bob = new ChatProcess(tempHome(homes), ["--host", "127.0.0.1", "--name", "bob", "--port", "0", "--allow-new"]);
    procs.push(bob);
    const port = await bob.port();
    const home = tempHome(homes);
    const status = join(home, "exit-status");
    tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30", `bun ${MAIN} chat --home ${home} --name alice --no-listen --connect 127.0.0.1:${port}; echo "exit=$?" > ${status}; sleep 30`);
    await until("the connected line", () => screen().includes("connected to bob"));
    expect(screen()).toContain("your fingerprint");
    await bob.waitFor("connected");
    tmux("send-keys", "-t", session, "-l", "half typed");
    await until("the typed text", () => screen().includes("half typed"));
    bob.say("hello from bob \u001b[2J\u001b]0;pwned\u0007");
    await until("bob's message", () => /bob › hello from bob/.test(screen()));
    const lines = screen().split("\n");
    const msgRow = lines.findIndex((l) => l.includes("bob › hello from bob"));
    const promptRow = lines.findIndex((l) => l.includes("half typed"));
    expect(msgRow).toBeGreaterThanOrEqual(0);
    expect(promptRow).toBeGreaterThan(msgRow);
    // The escape sequences arrive neutralised, shown, not obeyed.
    expect(lines[msgRow]).toContain("\\x1b[2J");
    tmux("send-keys", "-t", session, " and finished", "Enter");
    const got = await bob.waitFor("message");
    expect(got.text).toBe("half typed and finished");
    expect(got.peer).toBe("alice");
    tmux("send-keys", "-t", session, "C-c");
    await until("exit", () => Bun.file(status).size > 0);
    expect((await Bun.file(status).text()).trim()).toBe("exit=0");
    const d = await bob.waitFor("disconnected");
    expect(d.reason).toContain("closed by peer");
  });

  test("a folder arrives as one offer with the sender's id; one /accept ID; one summary line; every file on disk", async () => {
    const bob = new ChatProcess(tempHome(homes), ["--host", "127.0.0.1", "--name", "bob", "--port", "0", "--allow-new"]);
    procs.push(bob);
    const port = await bob.port();
    const home = tempHome(homes);
    const name = `${session}-files`;
    const scr = () => tmux("capture-pane", "-p", "-t", name, "-S", "-200");
    tmux("new-session", "-d", "-s", name, "-x", "120", "-y", "40", `bun ${MAIN} chat --home ${home} --name alice --no-listen --connect 127.0.0.1:${port}; sleep 30`);
    try {
      await until("the connected line", () => scr().includes("connected to bob"));
      await bob.waitFor("connected");
      const src = join(tempHome(homes), "photos");
      mkdirSync(join(src, "2024"), { recursive: true });
      const want: Record<string, string> = { "photos/a.jpg": makeFile(join(src, "a.jpg"), 3_000_000, 2), "photos/b.jpg": makeFile(join(src, "b.jpg"), 1000, 3), "photos/2024/c.jpg": makeFile(join(src, "2024/c.jpg"), 5, 4) };
      bob.say(`/send alice ${src}`);
      const sent = await bob.waitFor("transfer", (e) => e.phase === "offered");
      await until("the offer", () => scr().includes(`[${sent.id}] bob offers photos/ (3 files`));
      await Bun.sleep(300);
      expect(scr().split("\n").filter((l) => l.includes(" offers "))).toHaveLength(1);
      expect(scr()).toContain(`/accept ${sent.id} to receive it`);
      tmux("send-keys", "-t", name, "-l", `/accept ${sent.id}`);
      tmux("send-keys", "-t", name, "Enter");
      await until("the summary", () => scr().includes(`[${sent.id}] received photos/ (3 files`));
      await bob.waitFor("transfer", (e) => e.phase === "done");
      const lines = scr().split("\n");
      expect(lines.filter((l) => l.includes("received "))).toHaveLength(1);
      expect(lines.some((l) => l.includes("a.jpg") || l.includes("c.jpg"))).toBe(false);
      for (const [f, sha] of Object.entries(want)) expect(await sha256File(join(home, "downloads", f))).toBe(sha);
    } finally {
      Bun.spawnSync([TMUX!, "kill-session", "-t", name], { stderr: "ignore" });
    }
  }, 30_000);
});
