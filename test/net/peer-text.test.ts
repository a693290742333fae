/**
 * TEXT between two Peers over a real loopback socket (src/net/peer.ts): PeerEvents.onText
 * gets (session, id, text) with ids exact up to 2^64 - 1 (numbers below 2^53), in order;
 * a Peer without onText gets each TEXT on onItem as an Item with a bigint id.
 */
import { afterEach, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { ed25519Generate } from "../../src/crypto/ed25519.ts";
import { Peer } from "../../src/net/peer.ts";
import type { PeerEvents } from "../../src/net/peer-types.ts";
import type { Item, TextId } from "../../src/protocol/items.ts";
import { until } from "../support/wait.ts";

const peers: Peer[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close("bye", 100)));
});

function peer(name: string, events?: PeerEvents): Peer {
  const p = new Peer({ identity: ed25519Generate(), profile: { instance: new Uint8Array(randomBytes(8)), name }, events });
  peers.push(p);
  return p;
}

const IDS: TextId[] = [0, 7, 0xffffffff, 2 ** 53 - 1, 2n ** 53n, 2n ** 64n - 1n, 9n];

test("sendText → onText over a socket: every id exact, in order, with items around them on onItem", async () => {
  const texts: [TextId, string][] = [];
  const items: Item[] = [];
  const bob = peer("bob", { onText: (_s, id, text) => void texts.push([id, text]), onItem: (_s, it) => void items.push(it) });
  const s = await peer("alice").connect("127.0.0.1", bob.listen("127.0.0.1", 0));
  await until("alice's session open", () => s.state === "open");
  IDS.forEach((id, i) => s.sendText(id, `line ${i}`));
  s.send({ kind: "ack", id: 0n });
  await until("every TEXT", () => texts.length === IDS.length && items.length === 1);
  expect(texts).toEqual(IDS.map((id, i) => [typeof id === "bigint" && id < 2n ** 53n ? Number(id) : id, `line ${i}`] as [TextId, string]));
  expect(items).toEqual([{ kind: "ack", id: 0n }]);
});

test("a Peer without onText gets TEXT on onItem as an Item, its id a bigint", async () => {
  const items: Item[] = [];
  const bob = peer("bob", { onItem: (_s, it) => void items.push(it) });
  const s = await peer("alice").connect("127.0.0.1", bob.listen("127.0.0.1", 0));
  await until("alice's session open", () => s.state === "open");
  IDS.forEach((id, i) => s.sendText(id, `line ${i}`));
  await until("every TEXT", () => items.length === IDS.length);
  expect(items).toEqual(IDS.map((id, i) => ({ kind: "text", id: BigInt(id), text: `line ${i}` })));
});
