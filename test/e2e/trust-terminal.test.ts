/**
 * Trust marks as a person sees them: a real `sotto chat` in tmux. A stranger calling
 * itself "bоb" (Cyrillic о) beside the contact bob is marked loudly on screen, and bob's
 * lines carry ✓ once he is verified. Skipped only where tmux is missing (.ci/run installs it).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { ChatProcess, cleanup, tempHome } from "./harness.ts";
import { Evil } from "../hostile/evil.ts";
import { TMUX, tmuxSession } from "../support/tmux.ts";

const { session, tmux, screen, until } = tmuxSession("sotto-trust", ["-J", "-S", "-200"]);

const MAIN = join(import.meta.dir, "../../src/cli/main.ts");
const homes: string[] = [];
const procs: ChatProcess[] = [];
const evils: Evil[] = [];



afterEach(() => {
  for (const e of evils.splice(0)) e.a.destroy();
  cleanup(homes, procs);
  if (TMUX) Bun.spawnSync([TMUX, "kill-session", "-t", session], { stderr: "ignore" });
});

describe.skipIf(!TMUX)("trust marks in a terminal", () => {
  test("a lookalike stranger is marked NOT your contact; a verified contact's line has ✓", async () => {
    const bob = new ChatProcess(tempHome(homes), ["--host", "127.0.0.1", "--name", "bob", "--port", "0", "--allow-new"]);
    procs.push(bob);
    const bobPort = await bob.port();
    const home = tempHome(homes);
    tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "50", `bun ${MAIN} chat --home ${home} --name alice --host 127.0.0.1 --port 0 --connect 127.0.0.1:${bobPort}; sleep 30`);
    await until("connected to bob", () => screen().includes("connected to bob"));
    const alicePort = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(screen())![1]);
    await bob.waitFor("connected");
    const e = await Evil.open(alicePort, { profile: { kind: "profile", instance: new Uint8Array(randomBytes(8)), name: "b\u043eb" } });
    evils.push(e);
    e.send([{ kind: "text", id: 1n, text: "this is bob, trust me" }]);
    await until("the stranger's line", () => screen().includes("this is bob, trust me"));
    const line = screen().split("\n").find((l) => l.includes("this is bob, trust me"))!;
    expect(line).toContain("⚠ NOT your contact bob");
    expect(line).toContain('"b\u043eb"');
    tmux("send-keys", "-t", session, "-l", "/trust bob");
    tmux("send-keys", "-t", session, "Enter");
    await until("the verified notice", () => screen().includes("marked verified"));
    bob.say("the real bob");
    await until("bob's line", () => screen().includes("the real bob"));
    expect(screen().split("\n").find((l) => l.includes("the real bob"))).toMatch(/bob ✓ › the real bob/);
  }, 30_000);
});
