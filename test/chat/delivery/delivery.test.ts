/** ChatNode's delivery rules end to end in one process: what is refused, queued, shown, set aside. */
import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { ChatError, type ChatEvent } from "../../../src/chat/events.ts";
import { MAX_OUTBOX, MAX_TEXT_BYTES } from "../../../src/chat/delivery/outbox.ts";
import { AlertCode } from "../../../src/protocol/constants.ts";
import { runCommand } from "../../../src/ui/commands.ts";
import { Evil } from "../../hostile/evil.ts";
import { removeHomes, tempHome } from "../../support/home.ts";
import { until } from "../../support/wait.ts";
import { thrown } from "../../support/thrown.ts";
import { of } from "../../support/events.ts";
import { released, startNode, stopNodes } from "../../support/node.ts";
import { node, pair } from "../../support/delivery.ts";

afterEach(async () => {
  await stopNodes();
  removeHomes();
});

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
