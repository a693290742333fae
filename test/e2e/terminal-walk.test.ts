/**
 * Two people at two terminals (tmux), as issue 14's walk-through did it, reading both
 * screens: a /msg is marked private on both sides; /nick is applied on the other side
 * (shown, and addressed by /msg); each contact's name has its colour (from its key);
 * dialling ourselves is one line; a contact who quits is one status line updated in place,
 * not a line per attempt; /disconnect ends it. Skipped only where tmux is missing.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { tempHome } from "./harness.ts";
import { rmSync } from "node:fs";
import { TMUX, tmuxSession } from "../support/tmux.ts";
import { contactColor } from "../../src/ui/format.ts";

const A = tmuxSession("sotto-walk-a", ["-J"]);
const B = tmuxSession("sotto-walk-b", ["-J"]);
const colours = tmuxSession("sotto-walk-a", ["-J", "-e"]);

const MAIN = join(import.meta.dir, "../../src/cli/main.ts");
const homes: string[] = [];

afterEach(() => {
  for (const t of [A, B]) if (TMUX) Bun.spawnSync([TMUX, "kill-session", "-t", t.session], { stderr: "ignore" });
  for (const h of homes.splice(0)) rmSync(h, { recursive: true, force: true });
});

const type = (t: typeof A, line: string) => {
  t.tmux("send-keys", "-t", t.session, "-l", line);
  t.tmux("send-keys", "-t", t.session, "Enter");
};
const rows = (t: typeof A, text: string) => t.screen().split("\n").filter((l) => l.includes(text));

describe.skipIf(!TMUX)("two people at two terminals", () => {
  test("/msg private both sides, /nick on every side, colours, dialling ourselves, one redial line, /disconnect", async () => {
    const [ha, hb] = [tempHome(homes), tempHome(homes)];
    A.tmux("new-session", "-d", "-s", A.session, "-x", "160", "-y", "50", `bun ${MAIN} --home ${ha} --name alice --host 127.0.0.1 --port 0 --allow-new; sleep 60`);
    await A.until("alice listening", () => /listening on 127\.0\.0\.1:\d+/.test(A.screen()));
    const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(A.screen())![1]);
    B.tmux("new-session", "-d", "-s", B.session, "-x", "160", "-y", "50", `bun ${MAIN} --home ${hb} --name bob --host 127.0.0.1 --port 0 --connect 127.0.0.1:${port}; sleep 60`);
    await A.until("bob at alice", () => A.screen().includes("connected to bob"));
    await B.until("alice at bob", () => B.screen().includes("connected to alice"));

    // /msg: marked private where it is written and where it arrives.
    type(B, "/msg alice just for you");
    await A.until("the private line", () => rows(A, "just for you").length === 1);
    expect(rows(A, "just for you")[0]).toMatch(/\d\d:\d\d bob \(private\) › just for you/);
    await B.until("bob's own private line", () => /\d\d:\d\d bob → alice \(private\) › just for you/.test(B.screen()));

    // /nick on bob's side is applied on alice's: shown, and /msg robert reaches him.
    type(B, "/nick robert");
    await A.until("the rename", () => A.screen().includes("bob is now known as robert"));
    type(A, "/msg robert hello robert");
    await B.until("alice's line at robert", () => /alice \(private\) › hello robert/.test(B.screen()));
    type(B, "as robert now");
    await A.until("robert's line", () => /\d\d:\d\d robert › as robert now/.test(A.screen()));

    // robert's name in his own colour, derived from his key.
    const fp = /fingerprint: ((?:[0-9a-f]{4} ){15}[0-9a-f]{4})/.exec(A.screen().slice(A.screen().indexOf("connected to bob")))![1]!;
    const line = colours.screen().split("\n").find((l) => l.includes("as robert now"))!;
    expect(line).toContain(`\x1b[${contactColor(fp)}mrobert`);

    // Dialling ourselves: one line says so, nothing else.
    const before = A.screen().split("\n").length;
    type(A, `/connect 127.0.0.1:${port}`);
    await A.until("the stop", () => A.screen().includes("stopped dialling"));
    await Bun.sleep(1500);
    const after = A.screen().split("\n").filter((l) => l.trim() !== "");
    expect(rows(A, "stopped dialling")).toHaveLength(1);
    expect(rows(A, "yourself")).toHaveLength(1);
    expect(after.filter((l) => l.includes("disconnected") || l.includes("✗"))).toEqual([]);
    expect(after.length).toBeLessThan(before + 4);

    // An address nobody answers at: one status line, updated, never one line per attempt.
    type(A, "/connect 127.0.0.1:1");
    await A.until("the status line", () => rows(A, "reconnecting in").length === 1, 15_000);
    await Bun.sleep(3000); // several attempts (backoff 250 ms, 500 ms, 1 s, …)
    expect(rows(A, "reconnecting in")).toHaveLength(1);
    expect(rows(A, "attempt")).toEqual([]);
    type(A, "/disconnect 127.0.0.1:1");
    await A.until("the status line gone", () => rows(A, "reconnecting in").length === 0 && A.screen().includes("stopped dialling 127.0.0.1:1"));
  }, 60_000);
});
