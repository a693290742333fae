/**
 * Delivery with real `sotto chat` processes: one process per home (the lock dies with
 * the process, even with SIGKILL), a line too long for one message refused in line
 * mode with exit code 1 while the next line still goes, and a state.db locked by another
 * program: the line is reported unsent (one sentence, no stack trace) and the exit code is 1;
 * a chat killed with SIGKILL in the middle of a piped burst loses and repeats nothing it saved.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ChatProcess, cleanup, tempHome, loopbackChat } from "./harness.ts";
import { until } from "../support/wait.ts";

const MAIN = join(import.meta.dir, "../../src/cli/main.ts");
const homes: string[] = [];
const procs: ChatProcess[] = [];
afterEach(() => cleanup(homes, procs));

const chat = loopbackChat(procs);

describe("one process per home", () => {
  test("a second sotto chat on the same home refuses with a sentence naming the first; after SIGKILL the home is free", async () => {
    const home = tempHome(homes);
    const first = chat(home, "--name", "alice", "--port", "0");
    await first.port();
    const second = chat(home, "--name", "alice", "--port", "0");
    expect(await second.exited).toBe(1);
    const said = second.stderr.join("\n");
    expect(said).toContain(`sotto process ${first.proc.pid}`);
    expect(said).toContain("is already using");
    expect(said).not.toContain("    at ");
    expect(second.of("listening")).toEqual([]);
    await first.kill9();
    const third = chat(home, "--name", "alice", "--port", "0");
    expect((await third.port()) > 0).toBe(true);
  });
});

describe("a line too long for one message, in line mode", () => {
  test("is refused with the limit and /send, the next line is delivered, and the exit code is 1", async () => {
    const bob = chat(tempHome(homes), "--name", "bob", "--port", "0");
    const port = await bob.port();
    const alice = chat(tempHome(homes), "--name", "alice", "--no-listen", "--connect", `127.0.0.1:${port}`);
    await alice.waitFor("connected");
    alice.say("z".repeat(70_000));
    alice.say("short one");
    const err = await alice.waitFor("error", (e) => e.code === "too_long");
    expect(err.message).toContain("/send");
    expect(await alice.endInput()).toBe(1);
    await bob.waitFor("message", (m) => m.text === "short one");
    expect(bob.of("message").map((m) => m.text)).toEqual(["short one"]);
  });
});

describe("state.db locked by another program, in line mode", () => {
  test("the line is reported unsent with one sentence, nothing reaches the peer, and the exit code is 1", async () => {
    const bob = chat(tempHome(homes), "--name", "bob", "--port", "0");
    const port = await bob.port();
    const home = tempHome(homes);
    const alice = chat(home, "--name", "alice", "--no-listen", "--connect", `127.0.0.1:${port}`);
    await alice.waitFor("connected");
    const other = new Database(join(home, "state.db"));
    other.exec("BEGIN EXCLUSIVE");
    try {
      alice.say("cannot be saved");
      const u = await alice.waitFor("unsent");
      expect(u.text).toBe("cannot be saved");
      expect(u.reason).toContain("is locked by another program");
      expect(await alice.endInput()).toBe(1);
    } finally {
      other.exec("ROLLBACK");
      other.close();
    }
    expect(alice.stderr.join("\n")).not.toContain("    at ");
    expect(bob.of("message")).toEqual([]);
  });
});

describe("SIGKILL in the middle of a piped burst", () => {
  test("every line the killed chat had saved arrives after its restart, once each, in order; nothing it had not saved appears", async () => {
    const bob = chat(tempHome(homes), "--name", "bob", "--port", "0");
    const port = await bob.port();
    const aliceHome = tempHome(homes);
    const line = (i: number) => `${i.toString().padStart(6, "0")} ${"y".repeat(200)}`;
    let text = "";
    for (let i = 0; i < 20_000; i++) text += `${line(i)}\n`;
    const input = join(aliceHome, "input.txt");
    writeFileSync(input, text);
    // A file on stdin, as `sotto chat < file`: nothing to write into a pipe that SIGKILL breaks.
    const alice = Bun.spawn(["bun", MAIN, "chat", "--json", "--home", aliceHome, "--name", "alice", "--host", "127.0.0.1", "--no-listen", "--connect", `127.0.0.1:${port}`], { stdin: Bun.file(input), stdout: "ignore", stderr: "ignore" });
    const shown = () => bob.of("message").length;
    await until("bob shows a part of the burst", () => shown() >= 2000, 30_000);
    alice.kill(9);
    await alice.exited;

    // What alice had saved when it died: its outbox's next id says how many lines it numbered for good.
    const db = new Database(join(aliceHome, "state.db"), { readonly: true });
    const saved = db.query<{ next: number }, []>("SELECT next FROM next_id").get()!.next - 1;
    db.close();
    expect(saved).toBeGreaterThanOrEqual(shown());

    const again = chat(aliceHome, "--name", "alice", "--no-listen", "--connect", `127.0.0.1:${port}`);
    expect(await again.endInput()).toBe(0);
    await until("bob shows every saved line", () => shown() >= saved, 30_000);
    await Bun.sleep(300); // anything beyond would show up now
    const texts = bob.of("message").map((m) => m.text);
    expect(texts.length).toBe(saved);
    expect(texts.every((t, i) => t === line(i))).toBe(true);
  }, 90_000);
});
