/**
 * A line's recipients on screen (issue 14, item 3): alice in tmux, bob and carol as real
 * peers. With carol away, alice's line shows "bob ✓" and "carol queued" on the line
 * itself; when carol is back, the same line's mark becomes "carol ✓". Reads the screen.
 * Skipped only where tmux is missing (.ci/run installs it).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ChatProcess, cleanup, loopbackChat, tempHome } from "./harness.ts";
import { TMUX, tmuxSession } from "../support/tmux.ts";

const { session, tmux, screen, until } = tmuxSession("sotto-rcpt");

const MAIN = join(import.meta.dir, "../../src/cli/main.ts");
const homes: string[] = [];
const procs: ChatProcess[] = [];
const chat = loopbackChat(procs);

afterEach(() => {
  cleanup(homes, procs);
  if (TMUX) Bun.spawnSync([TMUX, "kill-session", "-t", session], { stderr: "ignore" });
});

/** The screen row holding `text`. */
const rowWith = (text: string) => screen().split("\n").find((l) => l.includes(text)) ?? "";

/** Alice in the terminal, connected to bob and carol (line-mode processes); then carol is killed and alice has seen her go. */
async function aliceWithCarolAway(): Promise<{ bob: ChatProcess; carolHome: string; carolPort: number }> {
  const bob = chat(tempHome(homes), "--name", "bob", "--port", "0", "--allow-new");
  const carolHome = tempHome(homes);
  const carol = chat(carolHome, "--name", "carol", "--port", "0", "--allow-new");
  const [bobPort, carolPort] = [await bob.port(), await carol.port()];
  const home = tempHome(homes);
  tmux("new-session", "-d", "-s", session, "-x", "150", "-y", "40", `bun ${MAIN} chat --home ${home} --name alice --no-listen --connect 127.0.0.1:${bobPort} --connect 127.0.0.1:${carolPort}; sleep 30`);
  await until("both connected", () => screen().includes("connected to bob") && screen().includes("connected to carol"));
  await carol.waitFor("connected");
  await carol.kill9();
  await until("carol gone", () => screen().includes("disconnected from carol"));
  return { bob, carolHome, carolPort };
}

describe.skipIf(!TMUX)("a line's recipients in a terminal", () => {
  test("bob ✓ and carol queued on the line; the mark becomes carol ✓ when carol is back", async () => {
    const { bob, carolHome, carolPort } = await aliceWithCarolAway();

    tmux("send-keys", "-t", session, "-l", "hello you two");
    tmux("send-keys", "-t", session, "Enter");
    await bob.waitFor("message", (m) => m.text === "hello you two");
    await until("bob's ✓ and carol queued", () => /alice › hello you two\s+→ bob ✓, carol queued/.test(rowWith("hello you two")));
    // One line for the line: no separate "queued for carol" line.
    expect(screen()).not.toContain("queued for carol");

    const carol = chat(carolHome, "--name", "carol", "--port", String(carolPort), "--allow-new");
    await carol.waitFor("message", (m) => m.text === "hello you two", 20_000);
    await until("carol's ✓", () => /alice › hello you two\s+→ bob ✓, carol ✓/.test(rowWith("hello you two")), 10_000);
    // The line was marked where it is, not printed again.
    expect(screen().split("\n").filter((l) => l.includes("hello you two"))).toHaveLength(1);
  }, 45_000);

  test("a queued line whose marks scrolled off: carol's delivery is said once, not by the terminal and the core both", async () => {
    const { bob, carolHome, carolPort } = await aliceWithCarolAway();
    tmux("send-keys", "-t", session, "-l", "for carol later");
    tmux("send-keys", "-t", session, "Enter");
    await until("bob's ✓, carol queued", () => /for carol later\s+→ bob ✓, carol queued/.test(rowWith("for carol later")));
    // bob talks until alice's line is off the screen.
    for (let i = 0; i < 45; i++) bob.say(`filler ${i}`);
    await until("the line scrolled off", () => screen().includes("filler 44") && !screen().includes("for carol later"));

    const carol = chat(carolHome, "--name", "carol", "--port", String(carolPort), "--allow-new");
    await carol.waitFor("message", (m) => m.text === "for carol later", 20_000);
    await until("the core's notice", () => screen().includes("carol is back"), 10_000);
    // The core's notice follows the ack event that a terminal report would have come from.
    const said = screen().split("\n").filter((l) => /carol is back|carol got your line/.test(l));
    expect(said).toHaveLength(1);
    expect(said[0]).toContain("carol is back: the line queued while carol was away was delivered.");
  }, 45_000);
});
