/** ChatNode in one process: delivery, ACKs, de-duplication, pins, key change, one session per pair. */
import { afterEach, describe, expect, test } from "bun:test";
import type { ChatEvent } from "../../src/chat/events.ts";
import { AlertCode } from "../../src/protocol/constants.ts";
import { privateItem, textTimeItem, type Item } from "../../src/protocol/items.ts";
import { Evil } from "../hostile/evil.ts";
import { FaultProxy } from "../faults/proxy.ts";
import { until } from "../support/wait.ts";
import { removeHomes, tempHome } from "../support/home.ts";
import { released, startNode, stopNodes } from "../support/node.ts";
import { of } from "../support/events.ts";

afterEach(async () => {
  await stopNodes();
  removeHomes();
});

const home = () => tempHome("sotto-node-");

function node(name: string, opts: { home?: string; connect?: string[]; strict?: boolean; listen?: boolean } = {}) {
  // Delivery between two peers: one that dials in is a contact (--allow-new); trust has test/chat/trust/.
  return startNode(name, { home: opts.home ?? home(), strict: opts.strict, allowNew: true, connect: opts.connect, ...(opts.listen === false ? { listen: null } : {}) });
}


describe("ChatNode", () => {
  test("two peers exchange messages both ways, with ACKs and matching safety numbers", async () => {
    const bob = await node("bob");
    const alice = await node("alice", { connect: [`127.0.0.1:${bob.port}`] });
    await until("alice's connected event and bob's connected event", () => of(alice.events, "connected").length === 1 && of(bob.events, "connected").length === 1);
    const ca = of(alice.events, "connected")[0]!, cb = of(bob.events, "connected")[0]!;
    expect(ca.safetyNumber).toBe(cb.safetyNumber);
    expect(ca.firstContact).toBe(true);
    expect(ca.fingerprint).toBe(bob.n.fingerprint);
    expect(alice.n.sendAll("hi bob")).toBe(1);
    bob.n.sendAll("hi alice ☕");
    await until("bob's message event and alice's message event", () => of(bob.events, "message").length === 1 && of(alice.events, "message").length === 1);
    expect(of(bob.events, "message")[0]!.text).toBe("hi bob");
    expect(of(bob.events, "message")[0]!.peer).toBe("alice");
    expect(of(alice.events, "message")[0]!.text).toBe("hi alice ☕");
    await until("alice.n.queued() === 0 && bob.n.queued() === 0", () => alice.n.queued() === 0 && bob.n.queued() === 0);
  });

  test("sendAllMany: each line once, in order, a refused line in the middle reported and skipped", async () => {
    const bob = await node("bob");
    const alice = await node("alice", { connect: [`127.0.0.1:${bob.port}`] });
    await until("alice's connected event", () => of(alice.events, "connected").length === 1 && of(bob.events, "connected").length === 1);
    const texts = Array.from({ length: 500 }, (_, i) => (i === 250 ? "x".repeat(1 << 20) : `line ${i}`));
    const results: (number | string)[] = [];
    alice.n.sendAllMany(texts, (r) => results.push(typeof r === "number" ? r : r.code));
    expect(results).toEqual(texts.map((_, i) => (i === 250 ? "too_long" : 1)));
    const want = texts.filter((_, i) => i !== 250);
    expect(of(alice.events, "sent").map((e) => e.text)).toEqual(want);
    await until("bob's 499 message events", () => of(bob.events, "message").length === 499, 10_000);
    expect(of(bob.events, "message").map((m) => m.text)).toEqual(want);
    await until("alice.n.queued() === 0", () => alice.n.queued() === 0);
  });

  test("a message typed while the peer is away is delivered once when it is back", async () => {
    const bobHome = home();
    let bob = await node("bob", { home: bobHome });
    const port = bob.port;
    const alice = await node("alice", { connect: [`127.0.0.1:${port}`] });
    await until("alice's connected event", () => of(alice.events, "connected").length === 1);
    alice.n.sendAll("one");
    await until("alice.n.queued() === 0", () => alice.n.queued() === 0);
    // Bob drops without CLOSE: destroy the sockets under it.
    for (const s of [...bob.n.peer.sessions]) s.destroy();
    bob.n.peer.stopListening();
    await until("alice's disconnected event", () => of(alice.events, "disconnected").length === 1);
    alice.n.sendAll("two");
    alice.n.sendAll("three");
    expect(alice.n.queued()).toBe(2);
    await bob.n.close();
    bob = await nodeOnPort("bob", bobHome, port);
    await until("bob's 2 message events", () => of(bob.events, "message").length === 2, 10_000);
    expect(of(bob.events, "message").map((m) => m.text)).toEqual(["two", "three"]);
    await until("alice.n.queued() === 0", () => alice.n.queued() === 0);
  });

  test("a changed key at a pinned address is refused with key_changed", async () => {
    const bob = await node("bob");
    const aliceHome = home();
    const alice = await node("alice", { home: aliceHome, connect: [`127.0.0.1:${bob.port}`] });
    await until("alice's connected event", () => of(alice.events, "connected").length === 1);
    await alice.n.close();
    const port = bob.port;
    await bob.n.close();
    const mallory = await nodeOnPort("bob", home(), port);
    const alice2 = await node("alice", { home: aliceHome, connect: [`127.0.0.1:${port}`] });
    await until("alice2's key_changed event", () => of(alice2.events, "key_changed").length === 1);
    const kc = of(alice2.events, "key_changed")[0]!;
    expect(kc.pinned).toBe(bob.n.fingerprint);
    expect(kc.presented).toBe(mallory.n.fingerprint);
    await until('of(mallory.events, "disconnected").some((d) => d.code === "alert")', () => of(mallory.events, "disconnected").some((d) => d.code === "alert"));
    expect(of(alice2.events, "connected").length).toBe(0);
  });

  test("--strict refuses an unpinned peer", async () => {
    const bob = await node("bob", { strict: true });
    const alice = await node("alice", { connect: [`127.0.0.1:${bob.port}`] });
    await until("bob's rejected event", () => of(bob.events, "rejected").length === 1);
    expect(of(bob.events, "connected").length).toBe(0);
    // alice is told once, by the stop of her dial (not also by a "disconnected" for a session that never was).
    await until("alice's dial_stopped event", () => of(alice.events, "dial_stopped").length === 1);
    expect(of(alice.events, "dial_stopped")[0]).toMatchObject({ code: "identity_rejected" });
    expect(of(alice.events, "disconnected")).toEqual([]);
  });

  test("two peers dialling each other at once end with one session", async () => {
    const a = await node("a");
    const b = await node("b");
    a.n.connect(`127.0.0.1:${b.port}`);
    b.n.connect(`127.0.0.1:${a.port}`);
    await until("a's connected event and b's connected event", () => of(a.events, "connected").length >= 1 && of(b.events, "connected").length >= 1);
    await Bun.sleep(300);
    expect(a.n.peers().length).toBe(1);
    expect(b.n.peers().length).toBe(1);
    a.n.sendAll("once");
    await until("b's message event", () => of(b.events, "message").length === 1);
    await Bun.sleep(100);
    expect(of(b.events, "message").length).toBe(1);
  });
});

describe("ChatNode under a connection flood", () => {
  test("connections turned away with ALERT busy are reported as one refused event a second, with a count", async () => {
    const events: ChatEvent[] = [];
    await startNode("bob", { home: home(), limits: { maxHalfOpen: 1, handshakeTimeoutMs: 5000 }, onEvent: (e) => void events.push(e) });
    const port = (events.find((e) => e.type === "listening") as { port: number }).port;
    const got: number[][] = [];
    const socks = await Promise.all(
      Array.from({ length: 4 }, () =>
        Bun.connect({ hostname: "127.0.0.1", port, socket: { data: (_s, d) => void got.push([...d]) } }),
      ),
    );
    await until("a refused event", () => of(events, "refused").length >= 1);
    const r = of(events, "refused")[0]!;
    expect(r.reason).toContain("maxHalfOpen");
    expect(r.count).toBeGreaterThanOrEqual(1);
    await until("got.length >= 3", () => got.length >= 3);
    expect(got.slice(0, 3)).toEqual([[0, 2, 4, 8], [0, 2, 4, 8], [0, 2, 4, 8]]); // ALERT busy
    await Bun.sleep(1100);
    const total = of(events, "refused").reduce((a, e) => a + e.count, 0);
    expect(total).toBe(3);
    for (const s of socks) s.end();
  });
});

describe("ChatNode against a contact that floods", () => {
  test("more TEXT than textPerSecond allows ends that session with ALERT busy; another peer keeps chatting", async () => {
    const events: ChatEvent[] = [];
    await startNode("bob", { home: home(), textPerSecond: 100, onEvent: (e) => void events.push(e) });
    const port = (events.find((e) => e.type === "listening") as { port: number }).port;
    const friend = await node("friend", { connect: [`127.0.0.1:${port}`], listen: false });
    await until("friend's connected event", () => of(friend.events, "connected").length === 1);
    const evil = await Evil.open(port);
    let id = 1n;
    for (let r = 0; r < 3; r++) evil.send(Array.from({ length: 1000 }, (): Item => ({ kind: "text", id: id++, text: "spam" })));
    await until('of(events, "disconnected").some((d) => d.code === "busy")', () => of(events, "disconnected").some((d) => d.code === "busy"));
    await until("evil.alerts().includes(AlertCode.busy)", () => evil.alerts().includes(AlertCode.busy));
    // Bob showed about its burst (10 s worth, plus what refilled in the meantime), not the 3000.
    expect(of(events, "message").length).toBeLessThan(1100);
    friend.n.sendAll("still here");
    await until('of(events, "message").some((m) => m.text === "still here")', () => of(events, "message").some((m) => m.text === "still here"));
  });
});

describe("ChatNode against a contact that floods items that describe a TEXT", () => {
  for (const [what, make] of [
    ["PRIVATE", (i: bigint) => privateItem(i)],
    ["TEXT_TIME", (i: bigint) => textTimeItem(i, 1_764_590_400_000)],
  ] as const) {
    test(`${what} items past textPerSecond end that session with ALERT busy; another peer keeps chatting`, async () => {
      const events: ChatEvent[] = [];
      await startNode("bob", { home: home(), textPerSecond: 100, onEvent: (e) => void events.push(e) });
      const port = (events.find((e) => e.type === "listening") as { port: number }).port;
      const friend = await node("friend", { connect: [`127.0.0.1:${port}`], listen: false });
      await until("friend's connected event", () => of(friend.events, "connected").length === 1);
      const evil = await Evil.open(port);
      let id = 1n;
      // No TEXT at all: only the items that describe one, 3000 of them.
      for (let r = 0; r < 3; r++) evil.send(Array.from({ length: 1000 }, (): Item => make(id++)));
      await until('of(events, "disconnected").some((d) => d.code === "busy")', () => of(events, "disconnected").some((d) => d.code === "busy"));
      await until("evil.alerts().includes(AlertCode.busy)", () => evil.alerts().includes(AlertCode.busy));
      friend.n.sendAll("still here");
      await until('of(events, "message").some((m) => m.text === "still here")', () => of(events, "message").some((m) => m.text === "still here"));
    });
  }
});

function nodeOnPort(name: string, h: string, port: number) {
  return startNode(name, { home: h, allowNew: true, port });
}

describe("ChatNode dialling that knows when to stop", () => {
  test("dialling ourselves stops with one sentence, no redial", async () => {
    const a = await node("alice");
    a.n.connect(`127.0.0.1:${a.port}`);
    await until("a's dial_stopped event", () => of(a.events, "dial_stopped").length === 1, 10_000);
    await Bun.sleep(700);
    expect(of(a.events, "dial_stopped")).toEqual([{ type: "dial_stopped", address: `127.0.0.1:${a.port}`, reason: `127.0.0.1:${a.port} answered with our own key: it is this sotto itself (you dialled yourself); dial your friend's address instead`, code: "reflection" }]);
    expect(of(a.events, "reconnecting")).toEqual([]);
    // That one sentence is all: no error and no "disconnected", for the dial nor for the answering side of it.
    expect(a.events.filter((e) => e.type === "error" || e.type === "disconnected")).toEqual([]);
  });

  test("/connect to a connected peer says so; /disconnect closes it and stops the redial", async () => {
    const bob = await node("bob");
    const alice = await node("alice", { connect: [`127.0.0.1:${bob.port}`] });
    await until("alice's connected event", () => of(alice.events, "connected").length === 1);
    expect(alice.n.connect(`127.0.0.1:${bob.port}`)).toBe(`Already connected to bob at 127.0.0.1:${bob.port}.`);
    expect(alice.n.disconnect("bob")).toBe(2); // the dial and the session
    await until("alice's disconnected event", () => of(alice.events, "disconnected").length === 1);
    await Bun.sleep(800);
    expect(of(alice.events, "connected")).toHaveLength(1);
    expect(of(alice.events, "reconnecting")).toEqual([]);
    expect(of(alice.events, "dial_stopped").map((e) => e.code)).toEqual(["disconnect"]);
    expect(alice.n.peers()).toEqual([]);
  });

  test("/connect to the address of a peer that dialled us: one already_connected, no second connected, one session", async () => {
    const alice = await node("alice");
    const bob = await node("bob", { connect: [`127.0.0.1:${alice.port}`] });
    await until("alice's connected event and bob's connected event", () => of(alice.events, "connected").length === 1 && of(bob.events, "connected").length === 1);
    expect(alice.n.connect(`127.0.0.1:${bob.port}`)).toBeUndefined(); // who is at that address is known only after the handshake
    await until("alice's already_connected event", () => of(alice.events, "already_connected").length === 1);
    await Bun.sleep(300);
    expect(of(alice.events, "already_connected")).toEqual([{ type: "already_connected", peer: "bob", address: `127.0.0.1:${bob.port}`, via: of(alice.events, "connected")[0]!.address }]);
    expect(of(alice.events, "connected")).toHaveLength(1);
    expect(alice.n.peers()).toHaveLength(1);
  });

  test("the peer we /disconnect from does not dial us again: it is told, once, and stops", async () => {
    const alice = await node("alice");
    const bob = await node("bob", { connect: [`127.0.0.1:${alice.port}`] });
    await until("alice's connected event and bob's connected event", () => of(alice.events, "connected").length === 1 && of(bob.events, "connected").length === 1);
    expect(alice.n.disconnect("bob")).toBe(1); // bob dialled: only the session
    await until("bob's dial_stopped event", () => of(bob.events, "dial_stopped").length === 1);
    await Bun.sleep(800);
    expect(of(bob.events, "dial_stopped")).toEqual([expect.objectContaining({ address: `127.0.0.1:${alice.port}`, code: "peer_disconnect" })]);
    expect(of(bob.events, "disconnected").map((e) => e.reason)).toEqual(["alice disconnected from you (/disconnect)"]);
    expect(of(bob.events, "reconnecting")).toEqual([]);
    expect(of(alice.events, "connected")).toHaveLength(1);
  });
});

describe("ChatNode on a dead path", () => {
  test("a peer that stops answering is reported by name as silent, then redialled", async () => {
    const events: ChatEvent[] = [];
    const bob = await node("bob");
    const x = new FaultProxy({ target: { host: "127.0.0.1", port: bob.port } });
    try {
      await startNode("alice", { home: home(), listen: null, connect: [`127.0.0.1:${x.port}`], limits: { keepaliveMs: 150 }, onEvent: (e) => void events.push(e) });
      await until("a connected event", () => of(events, "connected").length === 1);
      x.stall();
      await until("a disconnected event", () => of(events, "disconnected").length === 1, 10_000);
      const d = of(events, "disconnected")[0]!;
      expect(d.code).toBe("timeout");
      expect(d.reason).toMatch(/^no answer from bob for \d+ s; redialling$/);
      await until("a reconnecting event", () => of(events, "reconnecting").length >= 1, 10_000);
      expect(events.map((e) => e.type).filter((t) => t === "disconnected" || t === "reconnecting").slice(0, 2)).toEqual(["disconnected", "reconnecting"]);
    } finally {
      x.close();
    }
  });
});

describe("connect by a contact's name", () => {
  test("a contact's name dials its pinned address; a name that is no contact, or a contact with no dial address, is one sentence", async () => {
    const bob = await node("bob");
    const aliceHome = home();
    const alice = await node("alice", { home: aliceHome, connect: [`127.0.0.1:${bob.port}`] });
    await until("alice connected", () => alice.events.some((e) => e.type === "connected"));
    await alice.n.close();
    released(alice.n);
    const again = await node("alice", { home: aliceHome, connect: ["bob"], listen: false });
    await until("alice (again) connected by name", () => again.events.some((e) => e.type === "connected"));
    const c = again.events.find((e) => e.type === "connected") as Extract<ChatEvent, { type: "connected" }>;
    expect([c.peer, c.role, c.address]).toEqual(["bob", "initiator", `127.0.0.1:${bob.port}`]);
    expect(() => again.n.connect("nobody")).toThrow(/"nobody" is not host:port, nor the name of a contact/);
    // alice dialled in to bob: bob has her key (--allow-new) but no address to dial.
    expect(() => bob.n.connect("alice")).toThrow(/alice has no address to dial in known_peers/);
  });
});
