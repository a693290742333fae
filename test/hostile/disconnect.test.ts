/**
 * CLOSE reason `disconnect` (PROTOCOL §6) stops only the receiver's dials to the key that
 * sent it: a stranger who sends it does not stop our dial of a contact, and a contact who
 * sends it loses no pin (it is still a contact, with its key).
 */
import { afterEach, expect, test } from "bun:test";
import type { ChatEvent } from "../../src/chat/events.ts";
import { removeHomes } from "../support/home.ts";
import { until } from "../support/wait.ts";
import { startNode, stopNodes } from "../support/node.ts";

afterEach(async () => {
  await stopNodes();
  removeHomes();
});

const node = (name: string, connect: string[] = []) => startNode(name, { connect, history: false });

test("a stranger's CLOSE disconnect stops none of our dials; a contact's stops only the dial to it and keeps it a contact", async () => {
  const bob = await node("bob");
  const carol = await node("carol");
  const alice = await node("alice", [`127.0.0.1:${bob.port}`, `127.0.0.1:${carol.port}`]);
  await until("alice reached bob and carol", () => alice.n.peers().length === 2);
  const mallory = await node("mallory", [`127.0.0.1:${alice.port}`]);
  await until("mallory, a request", () => alice.n.contacts.requests().some((r) => r.connected));
  await until("mallory's dial settled", () => mallory.events.some((e) => e.type === "connected"));
  expect(mallory.n.disconnect(`127.0.0.1:${alice.port}`)).toBe(2); // its dial and its session
  await until("mallory's session gone", () => alice.events.some((e) => e.type === "disconnected" && e.peer === "mallory"));
  expect(alice.events.filter((e) => e.type === "dial_stopped")).toEqual([]);
  expect(alice.n.connect(`127.0.0.1:${bob.port}`)).toBe(`Already connected to bob at 127.0.0.1:${bob.port}.`);
  // bob, a contact, ends the conversation: only the dial to bob stops; bob stays a contact.
  await until("alice, a request at bob", () => bob.n.contacts.requests().length === 1);
  bob.n.contacts.allow(bob.n.contacts.requests()[0]!.id);
  bob.n.disconnect("alice");
  await until("the dial to bob stops", () => alice.events.some((e) => e.type === "dial_stopped"));
  expect(alice.events.filter((e) => e.type === "dial_stopped").map((e) => (e as { address: string }).address)).toEqual([`127.0.0.1:${bob.port}`]);
  expect(alice.n.connect(`127.0.0.1:${carol.port}`)).toBe(`Already connected to carol at 127.0.0.1:${carol.port}.`);
  expect(alice.n.contacts.list().map((c) => c.name).sort()).toEqual(["bob", "carol"]);
});

test("a stranger we dialled that claims a contact's name and ends with /disconnect: the sentence names the request, not the contact", async () => {
  const bob = await node("bob");
  const alice = await node("alice", [`127.0.0.1:${bob.port}`]);
  await until("alice reached bob", () => alice.n.peers().length === 1);
  const mallory = await node("bob"); // another key, calling itself bob
  alice.n.connect(`127.0.0.1:${mallory.port}`);
  await until("mallory, a request at alice", () => alice.n.contacts.requests().some((r) => r.connected && r.lookalike === "bob"));
  await until("alice, a request at mallory", () => mallory.n.contacts.requests().length === 1);
  mallory.n.contacts.allow(mallory.n.contacts.requests()[0]!.id);
  mallory.n.disconnect("alice");
  const stop = await until("alice stops dialling mallory", () => alice.events.find((e): e is Extract<ChatEvent, { type: "dial_stopped" }> => e.type === "dial_stopped"));
  expect(stop.address).toBe(`127.0.0.1:${mallory.port}`);
  expect(stop.reason).not.toMatch(/^bob /);
  expect(stop.reason).toContain(alice.n.contacts.requests()[0]!.id);
});
