/** /nick on one side is applied on the other: shown, listed and addressed by the new name. */
import { afterEach, expect, test } from "bun:test";
import { removeHomes, tempHome } from "../support/home.ts";
import { until } from "../support/wait.ts";
import { of } from "../support/events.ts";
import { startNode, stopNodes } from "../support/node.ts";

afterEach(async () => {
  await stopNodes();
  removeHomes();
});
// allowNew: the one that dials in is a contact too (this file is about /nick and PRIVATE, not trust).
const node = (name: string, connect: string[] = []) => startNode(name, { allowNew: true, connect, history: false });

test("after bob's /nick robert, alice sees robert's lines as robert, lists robert and can /msg robert", async () => {
  const bob = await node("bob");
  const alice = await node("alice", [`127.0.0.1:${bob.port}`]);
  await until("connected", () => of(alice.events, "connected").length === 1 && of(bob.events, "connected").length === 1);
  bob.n.nick("robert");
  const nick = await until("the nick", () => of(alice.events, "nick")[0]);
  expect(nick).toEqual({ type: "nick", peer: "robert", previous: "bob" });
  expect(alice.n.peers().map((p) => p.name)).toEqual(["robert"]);
  bob.n.sendAll("it's robert now");
  const m = await until("the line", () => of(alice.events, "message")[0]);
  expect(m.peer).toBe("robert");
  alice.n.sendTo("robert", "hi robert");
  const got = await until("bob got it", () => of(bob.events, "message")[0]);
  expect(got.text).toBe("hi robert");
});

test("a /msg arrives marked private (PROTOCOL §6.5); a line to everyone does not", async () => {
  const bob = await node("bob");
  const alice = await node("alice", [`127.0.0.1:${bob.port}`]);
  await until("connected", () => of(alice.events, "connected").length === 1 && of(bob.events, "connected").length === 1);
  alice.n.sendAll("to everyone");
  alice.n.sendTo("bob", "just for you");
  alice.n.sendAll("everyone again");
  const got = await until("three lines", () => of(bob.events, "message").length === 3 && of(bob.events, "message"));
  expect(got.map((m) => [m.text, m.private])).toEqual([
    ["to everyone", false],
    ["just for you", true],
    ["everyone again", false],
  ]);
  expect(of(alice.events, "sent").map((m) => m.private)).toEqual([false, true, false]);
});

test("a /msg queued while the peer is away keeps its private mark when re-sent after our restart", async () => {
  const bobHome = tempHome();
  const aliceHome = tempHome();
  // The first two are closed by the test; the two after it by stopNodes.
  const start = (name: string, home: string, port: number, connect: string[] = [], cleanup = false) => startNode(name, { home, port, connect, cleanup });
  const bob = await start("bob", bobHome, 0);
  const alice = await start("alice", aliceHome, 0, [`127.0.0.1:${bob.port}`]);
  await until("connected", () => of(alice.events, "connected").length === 1);
  await bob.n.close();
  await until("bob gone", () => of(alice.events, "disconnected").length === 1);
  alice.n.sendTo("bob", "while you were away");
  await alice.n.close();
  const bob2 = await start("bob", bobHome, bob.port, [], true);
  const alice2 = await start("alice", aliceHome, 0, [`127.0.0.1:${bob.port}`], true);
  const m = await until("the queued line", () => of(bob2.events, "message")[0], 15_000);
  expect([m.text, m.private]).toEqual(["while you were away", true]);
}, 20_000);

test("a request's new name is said as the request's (its nick event names the request), not as a contact's rename", async () => {
  const { n: alice, events, port } = await startNode("alice", { history: false });
  const bob = await node("bob", [`127.0.0.1:${port}`]);
  await until("bob's request", () => alice.contacts.requests().length === 1);
  alice.contacts.allow(alice.contacts.requests()[0]!.id);
  const mallory = await node("bob", [`127.0.0.1:${port}`]);
  await until("the lookalike request", () => alice.contacts.requests().length === 1 && alice.contacts.requests()[0]!.lookalike === "bob");
  const r = alice.contacts.requests()[0]!.id;
  // Its own side open too, or the new name would go only to sessions opened later.
  await until("mallory's side", () => of(mallory.events, "connected").length === 1);
  mallory.n.nick("mallory");
  const nick = await until("the nick", () => of(events, "nick")[0]);
  expect(nick).toEqual({ type: "nick", peer: "mallory", previous: "bob", request: r });
  void bob;
});
