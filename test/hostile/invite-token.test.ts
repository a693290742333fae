/**
 * A hostile dialler and the invite tokens (PROTOCOL §15): the token is presented once per
 * session, so a peer cannot try tokens one after another on one session (nor make the
 * listener read HOME/invites once per item of a flood).
 */
import { afterEach, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { INVITE_TOKEN_TYPE, parseInvite } from "../../src/chat/trust/invite.ts";
import { removeHomes, tempHome } from "../support/home.ts";
import { until } from "../support/wait.ts";
import { startNode, stopNodes } from "../support/node.ts";

afterEach(async () => {
  await stopNodes();
  removeHomes();
});

const node = (name: string, home: string, connect: string[] = []) => startNode(name, { home, connect, history: false });

test("a second token on the same session is ignored: the dialler stays a request and the real token stays unused", async () => {
  const aliceHome = tempHome();
  const alice = await node("alice", aliceHome);
  const line = alice.n.contacts.invites()[0]!;
  const real = parseInvite(line)!.token!;
  // The dialler's first token is a guess (wrong); it then tries the real one on the same session.
  const guessed = line.replace(/\?t=[0-9a-f]{32}/, `?t=${randomBytes(16).toString("hex")}`);
  const mallory = await node("mallory", tempHome(), [guessed]);
  await until("mallory's request", () => alice.n.contacts.requests().length === 1);
  const s = await until("mallory's open session", () => [...mallory.n.peer.sessions].find((x) => x.state === "open"));
  for (let i = 0; i < 50; i++) s.send({ kind: "ext", type: INVITE_TOKEN_TYPE, content: real });
  // A PROFILE sent after the tokens: once alice has it, she has handled every token before it.
  mallory.n.nick("mallory2");
  await until("the PROFILE sent after the tokens", () => alice.events.some((e) => e.type === "nick" && e.peer === "mallory2"));
  expect(alice.events.filter((e) => e.type === "contact" && e.change === "invited")).toEqual([]);
  expect(alice.n.contacts.list()).toEqual([]);
  expect(alice.n.contacts.requests().map((r) => r.claimed)).toEqual(["mallory2"]);
  expect(readdirSync(join(aliceHome, "invites")).length).toBe(1);
});

test("two dialers with the same invite line at once: one becomes a contact, the other stays a request", async () => {
  const aliceHome = tempHome();
  const alice = await node("alice", aliceHome);
  const line = alice.n.contacts.invites()[0]!;
  const [bob, carol] = await Promise.all([node("bob", tempHome(), [line]), node("carol", tempHome(), [line])]);
  await until("both connected", () => alice.events.filter((e) => e.type === "connected").length === 2);
  await until("both dialers' open sessions", () => [bob, carol].every((x) => [...x.n.peer.sessions].some((s) => s.state === "open")));
  // A PROFILE sent after each token: once alice has both, she has handled both tokens.
  bob.n.nick("bob2");
  carol.n.nick("carol2");
  await until("both PROFILEs after the tokens", () => alice.events.filter((e) => e.type === "nick").length === 2);
  expect(alice.events.filter((e) => e.type === "contact" && e.change === "invited").length).toBe(1);
  expect(alice.n.contacts.list().length).toBe(1);
  expect(alice.n.contacts.requests().length).toBe(1);
  expect(readdirSync(join(aliceHome, "invites"))).toEqual([]);
});

test("a key that presents a real token but claims a contact's name stays a request (SECURITY.md §12); the token is used up", async () => {
  const aliceHome = tempHome();
  const alice = await node("alice", aliceHome);
  const bob = await node("bob", tempHome(), [`127.0.0.1:${alice.port}`]);
  await until("bob's request", () => alice.n.contacts.requests().length === 1);
  alice.n.contacts.allow(alice.n.contacts.requests()[0]!.id);
  const line = alice.n.contacts.invites()[0]!;
  const mallory = await node("bob", tempHome(), [line]); // a second key calling itself bob
  await until("the notice", () => alice.events.some((e) => e.type === "notice" && e.message.includes("used one of your invites")));
  expect(alice.events.filter((e) => e.type === "contact" && e.change === "invited")).toEqual([]);
  expect(alice.n.contacts.list().map((c) => c.name)).toEqual(["bob"]);
  expect(alice.n.contacts.requests().map((r) => [r.claimed, r.lookalike])).toEqual([["bob", "bob"]]);
  expect(readdirSync(join(aliceHome, "invites"))).toEqual([]);
  void bob;
});
