/**
 * Delivery with real `sotto chat` processes: one process per home (the lock dies with
 * the process, even with SIGKILL), a line too long for one message refused in line
 * mode with exit code 1 while the next line still goes, and a state.db locked by another
 * program: the line is reported unsent (one sentence, no stack trace) and the exit code is 1.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { ChatProcess, cleanup, tempHome, loopbackChat } from "./harness.ts";

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
