/** ChatNode's delivery rules end to end in one process: what is refused, queued, shown, set aside. */
import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { openSync, rmSync, writeSync, closeSync, statSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { ChatError, type ChatEvent } from "../../../src/chat/events.ts";
import { MAX_OUTBOX, MAX_TEXT_BYTES } from "../../../src/chat/delivery/outbox.ts";
import { StateError } from "../../../src/chat/delivery/store.ts";
import { AlertCode } from "../../../src/protocol/constants.ts";
import { LineMode } from "../../../src/ui/lines.ts";
import { runCommand } from "../../../src/ui/commands.ts";
import { Evil } from "../../hostile/evil.ts";
import { FaultProxy } from "../../faults/proxy.ts";
import { removeHomes, tempHome } from "../../support/home.ts";
import { until } from "../../support/wait.ts";
import { thrown } from "../../support/thrown.ts";
import { of } from "../../support/events.ts";
import { released, startNode, stopNodes } from "../../support/node.ts";

afterEach(async () => {
  await stopNodes();
  removeHomes();
});

async function node(name: string, opts: { home?: string; connect?: string[]; port?: number; listen?: boolean } = {}) {
  // allowNew: a peer that dials in is a contact too (this file is about delivery; trust has test/chat/trust/, test/e2e/trust.test.ts).
  const { n, events, port } = await startNode(name, { home: opts.home, allowNew: true, port: opts.port, connect: opts.connect, ...(opts.listen === false ? { listen: null } : {}) });
  return { n, events, port };
}


async function pair() {
  const bob = await node("bob");
  const alice = await node("alice", { connect: [`127.0.0.1:${bob.port}`] });
  await until("both connected", () => of(alice.events, "connected").length === 1 && of(bob.events, "connected").length === 1);
  return { alice, bob };
}

const chatError = (f: () => unknown): ChatError => thrown(ChatError, f);

describe("nothing can poison the queue", () => {
  test("a 70,000-character paste is refused before it is queued, with the limit and /send; the next line goes", async () => {
    const { alice, bob } = await pair();
    const e = chatError(() => alice.n.sendAll("x".repeat(70_000)));
    expect(e.code).toBe("too_long");
    expect(e.message).toContain(MAX_TEXT_BYTES.toLocaleString("en-US"));
    expect(e.message).toContain("/send");
    expect(alice.n.queued()).toBe(0);
    // The longest line that fits still goes, as one message.
    alice.n.sendAll("y".repeat(MAX_TEXT_BYTES));
    alice.n.sendAll("after");
    await until("both shown", () => of(bob.events, "message").length === 2);
    expect(of(bob.events, "message").map((m) => m.text.length)).toEqual([MAX_TEXT_BYTES, 5]);
    expect(of(alice.events, "disconnected")).toEqual([]);
  });

  test("a stored line that can never be sent is reported once at start and set aside, not retried", async () => {
    const home = tempHome();
    const first = await node("alice", { home, listen: false });
    await first.n.close();
    released(first.n);
    const db = new Database(join(home, "state.db"));
    db.query("INSERT INTO outbox (pid, id, text) VALUES (?, 1, ?)").run("ab".repeat(32), "z".repeat(70_000));
    db.query("INSERT INTO next_id (pid, next) VALUES (?, 2)").run("ab".repeat(32));
    db.close();
    const again = await node("alice", { home, listen: false });
    const aside = of(again.events, "error").filter((e) => e.code === "set_aside");
    expect(aside.length).toBe(1);
    expect(aside[0]!.message).toContain("70,000 bytes");
    expect(again.n.queued()).toBe(0);
    await again.n.close();
    released(again.n);
    // Said once: a third start has nothing left to report.
    const third = await node("alice", { home, listen: false });
    expect(of(third.events, "error").filter((e) => e.code === "set_aside")).toEqual([]);
  });
});

describe("counters follow keys", () => {
  test("bob with a new identity (same state.db) is shown alice's lines from id 1 again", async () => {
    const alice = await node("alice");
    const bobHome = tempHome();
    let bob = await node("bob", { home: bobHome, connect: [`127.0.0.1:${alice.port}`], listen: false });
    await until("connected", () => of(alice.events, "connected").length === 1);
    for (const t of ["a1", "a2", "a3"]) alice.n.sendAll(t);
    await until("three shown", () => of(bob.events, "message").length === 3);
    await until("acked", () => alice.n.queued() === 0);
    await bob.n.close();
    released(bob.n);
    rmSync(join(bobHome, "identity"));
    // A new key under the same name would be a key change, held as a request (SECURITY.md §12): it comes as "robert".
    bob = await node("robert", { home: bobHome, connect: [`127.0.0.1:${alice.port}`], listen: false });
    await until("connected again", () => of(alice.events, "connected").length === 2);
    const newKey = of(alice.events, "connected")[1]!.fingerprint;
    expect(newKey).not.toBe(of(alice.events, "connected")[0]!.fingerprint);
    // The new key is a new contact: its ids start at 1.
    alice.n.sendAll("b1");
    alice.n.sendAll("b2");
    await until("alice's lines to the new key acknowledged", () => of(alice.events, "ack").some((a) => a.peer !== "bob" && a.id === "2"));
    expect(of(bob.events, "message").map((m) => m.text)).toEqual(["b1", "b2"]);
  });
});

describe("one process per home", () => {
  test("a second chat on the same home refuses to start and names the first; after it quits the home is free", async () => {
    const home = tempHome();
    const first = await node("alice", { home, listen: false });
    const e = await startNode("alice", { home, listen: null }).then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(ChatError);
    expect((e as ChatError).code).toBe("home_locked");
    expect((e as ChatError).message).toContain(`sotto process ${process.pid}`);
    await first.n.close();
    released(first.n);
    const second = await node("alice", { home, listen: false });
    expect(second.n.fingerprint).toBe(first.n.fingerprint);
  });
});

describe("the same rule for every absence", () => {
  test("a peer that quit cleanly: lines are queued, said queued, delivered once with the time written when it is back", async () => {
    const bobHome = tempHome();
    let bob = await node("bob", { home: bobHome });
    const port = bob.port;
    const alice = await node("alice", { connect: [`127.0.0.1:${port}`] });
    await until("connected", () => of(alice.events, "connected").length === 1);
    await bob.n.close(); // CLOSE: a clean goodbye
    released(bob.n);
    await until("alice saw bob leave", () => of(alice.events, "disconnected").length === 1);
    const before = Date.now();
    expect(alice.n.sendAll("while you were out")).toBe(1);
    const out: ChatEvent[] = [];
    await runCommand("/msg bob private, while away", alice.n, (e) => out.push(e));
    const sent = of(alice.events, "sent");
    expect(sent.map((s) => [s.text, s.queued])).toEqual([
      ["while you were out", true],
      ["private, while away", true],
    ]);
    expect(out.filter((e) => e.type === "error")).toEqual([]);
    expect(alice.n.queued()).toBe(2);
    bob = await node("bob", { home: bobHome, port });
    await until("delivered", () => of(bob.events, "message").length === 2 && alice.n.queued() === 0);
    const shown = of(bob.events, "message");
    expect(shown.map((m) => m.text)).toEqual(["while you were out", "private, while away"]);
    for (const m of shown) {
      expect(m.written).toBeGreaterThanOrEqual(before);
      expect(m.written).toBeLessThanOrEqual(m.time);
    }
    expect(of(alice.events, "ack").map((a) => a.id)).toContain("2");
    await until("said delivered", () => of(alice.events, "notice").some((n) => n.message.includes("2 lines queued while bob was away were delivered")));
  });
});

describe("an ACK above the highest id sent", () => {
  test("is a protocol error that ends that session; the line stays queued", async () => {
    const bob = await node("bob");
    const evil = await Evil.open(bob.port);
    await until("evil connected", () => of(bob.events, "connected").length === 1);
    bob.n.sendAll("for mallory");
    await until("the TEXT reached mallory", () => evil.items.some((i) => i.kind === "text"));
    evil.send([{ kind: "ack", id: 2n ** 64n - 1n }]);
    await until("protocol_error alert on mallory's socket", () => evil.alerts().includes(AlertCode.protocol_error));
    await until("bob dropped the session", () => of(bob.events, "disconnected").length === 1);
    expect(bob.n.queued()).toBe(1);
  });

  test("an ACK of a line queued but not yet put on the wire (the window full) ends the session; that line is not marked delivered", async () => {
    const bob = await node("bob");
    const evil = await Evil.open(bob.port);
    await until("evil connected", () => of(bob.events, "connected").length === 1);
    // 40 lines of 60,000 bytes: more than the first window (1 MiB), so the last ones wait for an ACK.
    for (let i = 0; i < 40; i++) bob.n.sendAll(String(i).padEnd(60_000, "x"));
    await until("the first window reached mallory", () => evil.items.some((i) => i.kind === "text"));
    await Bun.sleep(100);
    const got = evil.items.filter((i) => i.kind === "text").length;
    expect(got).toBeLessThan(40);
    evil.send([{ kind: "ack", id: 40n }]);
    await until("bob dropped the session", () => of(bob.events, "disconnected").length === 1);
    expect(evil.alerts()).toContain(AlertCode.protocol_error);
    expect(of(bob.events, "ack")).toEqual([]);
    expect(bob.n.queued()).toBe(40);
  });
});

describe("the first window", () => {
  test("is used whole before any ACK: 1,500 lines of 1,000 bytes to a peer that never acknowledges, about 1 MiB of them sent, not a third", async () => {
    const bob = await node("bob");
    const evil = await Evil.open(bob.port);
    await until("evil connected", () => of(bob.events, "connected").length === 1);
    for (let i = 0; i < 1500; i++) bob.n.sendAll(String(i).padEnd(1000, "x"));
    // WINDOW_START (1 MiB) of 1,000-byte lines: 1,048 of them; unsealed lines counted at 3 bytes a character once stopped the link at ≈ 350.
    await until("the window's lines at mallory", () => evil.items.filter((i) => i.kind === "text").length >= 1000, 3000);
    await Bun.sleep(50);
    const n = evil.items.filter((i) => i.kind === "text").length;
    expect(n).toBeLessThanOrEqual(1049);
    expect(of(bob.events, "ack")).toEqual([]);
  });
});

describe("the per-peer outbox limit", () => {
  test("is a refusal at typing time with a sentence, not an internal error", async () => {
    const { alice, bob } = await pair();
    await bob.n.close();
    released(bob.n);
    await until("bob gone", () => of(alice.events, "disconnected").length === 1);
    for (let i = 0; i < MAX_OUTBOX; i++) alice.n.sendAll(`line ${i}`);
    const out: ChatEvent[] = [];
    await runCommand("one too many", alice.n, (e) => out.push(e));
    const errs = out.filter((e): e is Extract<ChatEvent, { type: "error" }> => e.type === "error");
    expect(errs.map((e) => e.code)).toEqual(["outbox_full"]);
    expect(errs[0]!.message).toContain("bob has not acknowledged 10,000 messages");
    expect(alice.n.queued()).toBe(MAX_OUTBOX);
  });
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

describe("first message in TLS 1.3's time", () => {
  test("a line queued while away rides behind the dialler's AUTH: shown before the dialler even has the peer's PROFILE", async () => {
    const log: string[] = [];
    const bobEvents: ChatEvent[] = [];
    await startNode("bob", {
      onEvent: (e) => {
        bobEvents.push(e);
        if (e.type === "message") log.push(`bob shows ${e.text}`);
      },
    });
    const port = (bobEvents.find((e) => e.type === "listening") as { port: number }).port;
    // 25 ms each way: the order below is then decided by round trips, not by scheduling.
    const proxy = new FaultProxy({ target: { host: "127.0.0.1", port }, faults: { delayMs: 25 } });
    const aliceEvents: ChatEvent[] = [];
    const { n: alice } = await startNode("alice", {
      listen: null,
      connect: [`127.0.0.1:${proxy.port}`],
      onEvent: (e) => {
        aliceEvents.push(e);
        if (e.type === "connected") log.push("alice has bob's PROFILE");
      },
    });
    await until("first session", () => of(aliceEvents, "connected").length === 1);
    alice.sendAll("hello");
    await until("hello acked", () => alice.queued() === 0);
    proxy.set({ stalled: true });
    proxy.cutAll();
    await until("alice lost bob", () => of(aliceEvents, "disconnected").length === 1);
    alice.sendAll("first after redial");
    proxy.set({ stalled: false });
    await until("shown after the redial", () => log.includes("bob shows first after redial"));
    await until("alice ready again", () => of(aliceEvents, "connected").length === 2);
    expect(log).toEqual(["alice has bob's PROFILE", "bob shows hello", "bob shows first after redial", "alice has bob's PROFILE"]);
    proxy.close();
  });
});

describe("a tick's lines go before its history", () => {
  test("the lines of a tick are sealed and written to the socket before that tick's history is written; both are kept", async () => {
    const { History } = await import("../../../src/chat/delivery/history.ts");
    const { Session } = await import("../../../src/net/session.ts");
    const aliceHome = tempHome();
    const bob = await node("bob");
    const alice = await node("alice", { home: aliceHome, connect: [`127.0.0.1:${bob.port}`] });
    await until("both connected", () => of(alice.events, "connected").length === 1 && of(bob.events, "connected").length === 1);
    // Alice's two steps, in the order they happen: her session to bob sealing and writing, her history writing lines.
    const order: string[] = [];
    const flushHistory = History.prototype.flush;
    const flushSession = Session.prototype.flush;
    History.prototype.flush = function (this: InstanceType<typeof History>) {
      const before = this.writes.transactions;
      flushHistory.call(this);
      if (this.writes.transactions > before && this.path.startsWith(aliceHome)) order.push("history");
    };
    Session.prototype.flush = function (this: InstanceType<typeof Session>, force?: boolean) {
      if (this.peerProfile?.name === "bob" && order.at(-1) !== "wire") order.push("wire");
      flushSession.call(this, force);
    };
    try {
      alice.n.sendAll("one");
      alice.n.sendAll("two");
      await until("shown and kept", () => of(bob.events, "message").length === 2 && order.includes("history"));
    } finally {
      History.prototype.flush = flushHistory;
      Session.prototype.flush = flushSession;
    }
    expect(order.slice(0, 2)).toEqual(["wire", "history"]);
    expect(alice.n.history!.names()).toEqual(["bob"]);
  });
});

describe("the events of a line, as --json writes them", () => {
  test("sent and message keep their keys in one order: a contact's, a request's, a queued line's", async () => {
    const { alice, bob } = await pair();
    expect(alice.n.sendAll("to a contact")).toBe(1);
    await until("shown", () => of(bob.events, "message").length === 1);
    expect(Object.keys(of(alice.events, "sent")[0]!)).toEqual(["type", "peer", "id", "text", "private", "time"]);
    expect(Object.keys(of(bob.events, "message")[0]!)).toEqual(["type", "peer", "verified", "fingerprint", "id", "text", "time", "private"]);
    // A request: carol is no contact of dave's.
    const dave = await startNode("dave", {});
    const carol = await startNode("carol", { connect: [`127.0.0.1:${dave.port}`] });
    await until("carol connected", () => of(carol.events, "connected").length === 1);
    expect(carol.n.sendAll("to a stranger")).toBe(1);
    await until("shown as a request", () => of(dave.events, "message").length === 1);
    expect(Object.keys(of(dave.events, "message")[0]!)).toEqual(["type", "peer", "request", "fingerprint", "id", "text", "time", "private"]);
    // A line that waited: queued while bob is away, then shown with when it was written.
    await bob.n.close();
    released(bob.n);
    await until("bob left", () => of(alice.events, "disconnected").length === 1);
    expect(alice.n.sendAll("while away")).toBe(1);
    expect(Object.keys(of(alice.events, "sent")[1]!)).toEqual(["type", "peer", "id", "text", "private", "time", "queued"]);
  });
});

describe("an ACK owed at close", () => {
  test("a receiver that closes right after showing a line still acknowledges it (the delayed ACK goes before bye): the sender is not left to report it unacknowledged", async () => {
    // Bob closes in the turn after it shows "two": within ACK_DELAY_MS of its last ACK, so that line's ACK waits on its timer.
    let closing: Promise<void> | null = null;
    const bob = await startNode("bob", { allowNew: true, onEvent: (e) => {
      if (e.type === "message" && e.text === "two") setImmediate(() => (closing ??= bob.n.close())); // as /quit typed right after
    } });
    const alice = await node("alice", { connect: [`127.0.0.1:${bob.port}`] });
    await until("both connected", () => of(alice.events, "connected").length === 1 && of(bob.events, "connected").length === 1);
    alice.n.sendAll("one");
    await until("one acknowledged", () => of(alice.events, "ack").some((a) => a.id === "1"));
    alice.n.sendAll("two");
    await until("bob closed", () => closing !== null);
    await closing;
    released(bob.n);
    await until("alice saw bob leave", () => of(alice.events, "disconnected").length === 1);
    expect(of(alice.events, "ack").map((a) => a.id)).toEqual(["1", "2"]);
    expect(alice.n.queued()).toBe(0);
  });

  test("a receiver that /disconnects right after showing a line still acknowledges it: the sender, not redialled, holds nothing", async () => {
    let gone = false;
    const bob = await startNode("bob", { allowNew: true, onEvent: (e) => {
      if (e.type === "message" && e.text === "two") setImmediate(() => (gone ||= bob.n.disconnect("alice") > 0)); // as /disconnect typed right after
    } });
    const alice = await node("alice", { connect: [`127.0.0.1:${bob.port}`] });
    await until("both connected", () => of(alice.events, "connected").length === 1 && of(bob.events, "connected").length === 1);
    alice.n.sendAll("one");
    await until("one acknowledged", () => of(alice.events, "ack").some((a) => a.id === "1"));
    alice.n.sendAll("two");
    await until("bob disconnected alice", () => gone);
    await until("alice saw bob leave", () => of(alice.events, "disconnected").length >= 1);
    expect(of(alice.events, "ack").map((a) => a.id)).toEqual(["1", "2"]);
    expect(alice.n.queued()).toBe(0);
    await bob.n.close();
    released(bob.n);
  });
});
