/**
 * A hostile peer's strings on alice's screen through the events of issue 14: a PROFILE
 * name with escape sequences (connected, the recipients' marks on alice's line, a nick)
 * and a CLOSE reason with them. alice runs in tmux; mallory is a ChatNode whose name is
 * set on its Peer directly (its own /nick would refuse it), a request at alice (a contact's
 * local name is made of letters and digits only, so only a request's claimed name carries
 * such bytes). The screen must show the escapes as text, and the pane's title must not
 * change. Skipped only where tmux is missing.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { TMUX, tmuxSession } from "../support/tmux.ts";
import { removeHomes, tempHome } from "../support/home.ts";
import { startNode, stopNodes } from "../support/node.ts";

const { session, tmux, screen, until } = tmuxSession("sotto-hostile-names");
const MAIN = join(import.meta.dir, "../../src/cli/main.ts");

afterEach(async () => {
  await stopNodes();
  if (TMUX) Bun.spawnSync([TMUX, "kill-session", "-t", session], { stderr: "ignore" });
  removeHomes();
});

describe.skipIf(!TMUX)("a hostile peer's name and reason on the terminal", () => {
  test("escapes in a PROFILE name and a CLOSE reason are shown as text: no title change, no cleared screen", async () => {
    const home = tempHome();
    tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "40", `bun ${MAIN} chat --home ${home} --name alice --host 127.0.0.1 --port 0; sleep 30`);
    tmux("select-pane", "-t", session, "-T", "sotto-title");
    await until("listening", () => /listening on 127\.0\.0\.1:\d+/.test(screen()));
    const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(screen())![1]);
    const { n: mallory, events } = await startNode("mallory", { listen: null, history: false });
    mallory.peer.setName("m\x1b]2;PWNED\x07\x1b[2J\u202eyrollam");
    mallory.connect(`127.0.0.1:${port}`);
    await until("mallory's request", () => screen().includes("m\\x1b]2;PWNED\\x07\\x1b[2J<U+202E>yrollam"));
    await until("mallory's side open", () => events.some((e) => e.type === "connected"));
    mallory.peer.setName("n\x1b[31mred");
    await until("the nick", () => screen().includes("now calls itself n\\x1b[31mred"));
    for (const s of mallory.peer.sessions) s.close("bye\x1b[2J\x1b]2;PWNED2\x07");
    await until("the close", () => screen().includes("bye\\x1b[2J\\x1b]2;PWNED2\\x07"));
    expect(screen()).toContain("listening on 127.0.0.1:"); // not cleared
    expect(tmux("display-message", "-p", "-t", session, "#{pane_title}").trim()).toBe("sotto-title");
  }, 30_000);
});
