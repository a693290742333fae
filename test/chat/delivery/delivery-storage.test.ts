/** ChatNode's storage faults end to end in one process: a state.db locked by another program or damaged is one sentence to the user, never a stack trace. */
import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { openSync, rmSync, writeSync, closeSync, statSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { ChatError, type ChatEvent } from "../../../src/chat/events.ts";
import { StateError } from "../../../src/chat/delivery/store.ts";
import { LineMode } from "../../../src/ui/lines.ts";
import { removeHomes, tempHome } from "../../support/home.ts";
import { of } from "../../support/events.ts";
import { released, startNode, stopNodes } from "../../support/node.ts";
import { node, pair } from "../../support/delivery.ts";

afterEach(async () => {
  await stopNodes();
  removeHomes();
});

describe("storage faults are user errors", () => {
  test("state.db locked by another program: the line is not sent and offered back, one sentence, line mode exits 1", async () => {
    const { alice, bob } = await pair();
    const other = new Database(join(stateOf(alice), "state.db"));
    other.exec("BEGIN EXCLUSIVE");
    const lines: string[] = [];
    const lm = new LineMode({ output: { write: (s: string) => lines.push(s) }, json: true, drainTimeoutMs: 500 });
    // Route alice's events to line mode as well.
    const relay = setInterval(() => {
      for (const e of alice.events.splice(0)) lm.listener(e);
    }, 1);
    const code = await lm.run(alice.n, Readable.from(["not saved\n"]));
    clearInterval(relay);
    for (const e of alice.events.splice(0)) lm.listener(e);
    other.exec("ROLLBACK");
    other.close();
    released(alice.n);
    const events = lines.map((l) => JSON.parse(l) as ChatEvent);
    const unsent = of(events, "unsent");
    expect(unsent.map((u) => u.text)).toEqual(["not saved"]);
    expect(unsent[0]!.reason).toContain("is locked by another program");
    expect(lines.join("")).not.toContain("    at ");
    expect(lines.join("")).not.toContain("internal error");
    expect(code).toBe(1);
    expect(of(bob.events, "message")).toEqual([]);
  });

  test("a damaged page in state.db: start refuses with one sentence, no stack trace", async () => {
    const home = tempHome();
    const first = await node("alice", { home, listen: false });
    await first.n.close();
    released(first.n);
    const db = new Database(join(home, "state.db"));
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    db.query("INSERT INTO outbox (pid, id, text) VALUES (?, 1, ?)").run("cd".repeat(32), "q".repeat(20_000));
    db.exec("PRAGMA journal_mode = DELETE");
    db.close();
    const path = join(home, "state.db");
    const size = statSync(path).size;
    expect(size).toBeGreaterThan(8192);
    const fd = openSync(path, "r+");
    writeSync(fd, Buffer.alloc(size - 4096, 0xa5), 0, size - 4096, 4096); // every page but the first (the schema)
    closeSync(fd);
    const e = await startNode("alice", { home, listen: null }).then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(ChatError);
    expect((e as ChatError).code).toBe("state");
    expect((e as ChatError).message).toContain("is damaged");
    // The store's own error stays attached, for a --debug trace.
    expect((e as ChatError).cause).toBeInstanceOf(StateError);
    // The lock went with the failed start: the home is not left locked.
    rmSync(path);
    const ok = await node("alice", { home, listen: false });
    expect(ok.n.queued()).toBe(0);
  });
});

/** The home of a node started by node() (its state.db path's folder). */
function stateOf(x: { events: ChatEvent[] }): string {
  const id = x.events.find((e) => e.type === "identity") as { path: string } | undefined;
  return join(id!.path, "..");
}
