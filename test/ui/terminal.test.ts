/**
 * The terminal UI in a real pseudo-terminal (tmux), over a fake ChatApi
 * (terminal-fake.ts): incoming lines print above the prompt without breaking
 * the line being typed, and Ctrl+C closes the api and exits 0.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TMUX, tmuxRun as tmux } from "../support/tmux.ts";
import { until as wait } from "../support/wait.ts";

const dir = mkdtempSync(join(tmpdir(), "sotto-term-"));
const session = `sotto-term-${process.pid}`;
const fixture = join(import.meta.dir, "terminal-fake.ts");
const WIDTH = 60;

/** The fixture's pid once its file is written; undefined before (an empty file, read mid-write, is not pid 0, which would signal our whole process group). */
const pidIn = (file: string): number | undefined => {
  const pid = existsSync(file) ? Number(readFileSync(file, "utf8")) : 0;
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
};

const screen = () => tmux("capture-pane", "-p", "-t", session).replace(/\s+$/, "").split("\n");
const cursor = () => tmux("display", "-p", "-t", session, "#{cursor_x},#{cursor_y}").trim().split(",").map(Number) as [number, number];
const log = () => (existsSync(join(dir, "log")) ? readFileSync(join(dir, "log"), "utf8").trim().split("\n") : []);

/** test/support/wait.ts `until`, with the screen in the failure. */
const until = <T>(what: string, f: () => T | undefined | false, ms = 5000): Promise<T> => wait(() => `${what}; screen:\n${screen().join("\n")}`, f, ms, 25);

afterAll(() => {
  if (TMUX) Bun.spawnSync([TMUX, "kill-session", "-t", session], { stderr: "ignore" });
});

describe.skipIf(!TMUX)("terminal UI in tmux", () => {
  test("prints above the line being typed, keeps the cursor, exits 0 on Ctrl+C", async () => {
    const pidFile = join(dir, "pid");
    tmux("new-session", "-d", "-s", session, "-x", String(WIDTH), "-y", "20", `${process.execPath} ${fixture} ${pidFile} ${join(dir, "log")}; sleep 30`);
    const pid = await until("the prompt", () => pidIn(pidFile));
    await until("the prompt", () => screen().at(-1) === "alice›");

    // 1. A partial line with the cursor in the middle, then a message arrives.
    // (longer than the message line, so a line not cleared first would show leftovers)
    const partial = "hello world, typed before it came";
    tmux("send-keys", "-t", session, "-l", partial);
    tmux("send-keys", "-t", session, "Left", "Left");
    await until("typed text", () => screen().at(-1) === `alice› ${partial}`);
    process.kill(pid, "SIGUSR1");
    const s1 = await until("the message", () => {
      const s = screen();
      return s.some((l) => l.includes("bob › incoming 1")) && s.at(-1) === `alice› ${partial}` && s;
    });
    expect(s1.filter((l) => l.startsWith("alice›"))).toHaveLength(1);
    const msgLine = s1.find((l) => l.includes("bob › incoming 1"))!;
    expect(msgLine).toMatch(/^\d\d:\d\d bob › incoming 1 \\x1b\[2J$/); // the escape is shown, not run
    expect(cursor()).toEqual([7 + partial.length - 2, s1.length - 1]);

    // 2. Typing continues where the cursor was; Enter sends the whole line.
    tmux("send-keys", "-t", session, "-l", "X");
    tmux("send-keys", "-t", session, "Enter");
    const sent = `${partial.slice(0, -2)}X${partial.slice(-2)}`;
    await until("the send", () => log().includes(`sendAll ${sent}`));

    // 3. A line longer than the terminal is wide wraps; a message leaves both rows intact.
    const long = "0123456789".repeat(7);
    tmux("send-keys", "-t", session, "-l", long);
    await until("the long line", () => screen().at(-1) === long.slice(WIDTH - 7));
    // Two messages: after the first, readline remembers the cursor row (prevRows) and
    // would redraw over the second unless the UI resets it.
    process.kill(pid, "SIGUSR1");
    await until("the second message", () => screen().some((l) => l.includes("bob › incoming 2")));
    process.kill(pid, "SIGUSR1");
    const s3 = await until("the third message", () => {
      const s = screen();
      return s.some((l) => l.includes("bob › incoming 3")) && s.at(-1) === long.slice(WIDTH - 7) && s;
    });
    expect(s3.at(-2)).toBe(`alice› ${long.slice(0, WIDTH - 7)}`);
    expect(s3.filter((l) => l.includes("incoming")).map((l) => l.replace(/^.* › /, ""))).toEqual([1, 2, 3].map((n) => `incoming ${n} \\x1b[2J`));
    // no stale copy of the wrapped line: only the sent line (now with its time) and the live prompt
    expect(s3.filter((l) => l.startsWith("alice›"))).toEqual([`alice› ${long.slice(0, WIDTH - 7)}`]);
    expect(s3.filter((l) => /^\d\d:\d\d alice › /.test(l))).toEqual([expect.stringMatching(new RegExp(`^\\d\\d:\\d\\d alice › ${sent}$`))]);
    expect(s3.filter((l) => l.startsWith(long.slice(WIDTH - 7)))).toHaveLength(1);

    // 4. Ctrl+C closes the api and run() returns 0.
    tmux("send-keys", "-t", session, "C-c");
    await until("the exit", () => log().includes("exit 0"));
    expect(log()).toEqual([`sendAll ${sent}`, "close", "exit 0"]);
  }, 20_000);

  test("a progress bar is redrawn in place above the prompt, under printed events, without touching the typed line", async () => {
    const name = `${session}-bar`;
    const pidFile = join(dir, "pid-bar");
    const logFile = join(dir, "log-bar");
    const scr = () => tmux("capture-pane", "-p", "-t", name).replace(/\s+$/, "").split("\n");
    const cur = () => tmux("display", "-p", "-t", name, "#{cursor_x},#{cursor_y}").trim().split(",").map(Number) as [number, number];
    tmux("new-session", "-d", "-s", name, "-x", String(WIDTH), "-y", "20", `${process.execPath} ${fixture} ${pidFile} ${logFile}; sleep 30`);
    try {
      const pid = await until("the prompt", () => pidIn(pidFile));
      await until("the prompt", () => scr().at(-1) === "alice›");
      const typed = "typing while a file arrives";
      tmux("send-keys", "-t", name, "-l", typed);
      tmux("send-keys", "-t", name, "Left");
      await until("typed", () => scr().at(-1) === `alice› ${typed}`);
      const at = cur()[0];

      // accepted: one line printed, the bar just above the prompt
      process.kill(pid, "SIGUSR2");
      await until("the bar", () => scr().at(-2)?.startsWith("[1] ↓ movie.mkv ← bob") && scr().at(-1) === `alice› ${typed}`);
      expect(scr().some((l) => l.includes("receiving movie.mkv"))).toBe(true);
      // progress: the same row changes, nothing is added
      const rows = scr().length;
      process.kill(pid, "SIGUSR2");
      const s2 = await until("25%", () => scr().at(-2)?.includes("25%") && scr());
      expect(s2.length).toBe(rows);
      expect(s2.filter((l) => l.startsWith("[1] ↓"))).toHaveLength(1);
      expect(s2.at(-2)!.length).toBeLessThan(WIDTH);
      // a message prints above the bar; the bar stays right above the prompt
      process.kill(pid, "SIGUSR1");
      const s3 = await until("the message", () => scr().some((l) => l.includes("bob › incoming 1")) && scr().at(-1) === `alice› ${typed}` && scr());
      expect(s3.at(-2)).toContain("25%");
      expect(s3.filter((l) => l.startsWith("[1] ↓"))).toHaveLength(1);
      process.kill(pid, "SIGUSR2");
      await until("50%", () => scr().at(-2)?.includes("50%"));
      // done: the bar goes, the summary stays
      process.kill(pid, "SIGUSR2");
      const s4 = await until("done", () => scr().some((l) => l.includes("received movie.mkv")) && scr().at(-1) === `alice› ${typed}` && scr());
      expect(s4.some((l) => l.startsWith("[1] ↓"))).toBe(false);
      expect(s4.some((l) => l.includes(`SHA-256 ${"ab".repeat(32)}`.slice(0, 40)))).toBe(true);
      expect(s4.filter((l) => l.startsWith("alice›"))).toHaveLength(1);
      expect(cur()).toEqual([at, s4.length - 1]);
      tmux("send-keys", "-t", name, "C-c");
      await until("the exit", () => existsSync(logFile) && readFileSync(logFile, "utf8").includes("exit 0"));
    } finally {
      Bun.spawnSync([TMUX!, "kill-session", "-t", name], { stderr: "ignore" });
    }
  }, 20_000);
});

describe.skipIf(!TMUX)("our own lines in tmux", () => {
  test("each sent line is replaced by its timed form, also for a paste of several lines", async () => {
    const name = `${session}-own`;
    const pidFile = join(dir, "pid-own");
    const logFile = join(dir, "log-own");
    const scr = () => tmux("capture-pane", "-p", "-t", name).replace(/\s+$/, "").split("\n");
    tmux("new-session", "-d", "-s", name, "-x", String(WIDTH), "-y", "20", `${process.execPath} ${fixture} ${pidFile} ${logFile}; sleep 30`);
    try {
      await until("the prompt", () => existsSync(pidFile) && scr().at(-1) === "alice›");
      tmux("send-keys", "-t", name, "-l", "first line\rsecond line\r");
      const s = await until("both lines", () => {
        const x = scr();
        return x.filter((l) => / alice › /.test(l)).length === 2 && x.at(-1) === "alice›" && x;
      });
      expect(s.filter((l) => l.trim() !== "")).toEqual([expect.stringMatching(/^\d\d:\d\d alice › first line$/), expect.stringMatching(/^\d\d:\d\d alice › second line$/), "alice›"]);
      expect(readFileSync(logFile, "utf8").split("\n").filter((l) => l.startsWith("sendAll"))).toEqual(["sendAll first line", "sendAll second line"]);
    } finally {
      Bun.spawnSync([TMUX!, "kill-session", "-t", name], { stderr: "ignore" });
    }
  }, 20_000);
});
