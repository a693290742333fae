/** ChatNode's delivery in order end to end in one process: a queued line rides behind the dialler's AUTH, a tick's lines go before its history, an ACK owed at close goes before bye. */
import { afterEach, describe, expect, test } from "bun:test";
import type { ChatEvent } from "../../../src/chat/events.ts";
import { FaultProxy } from "../../faults/proxy.ts";
import { removeHomes, tempHome } from "../../support/home.ts";
import { until } from "../../support/wait.ts";
import { of } from "../../support/events.ts";
import { released, startNode, stopNodes } from "../../support/node.ts";
import { node } from "../../support/delivery.ts";

afterEach(async () => {
  await stopNodes();
  removeHomes();
});

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
