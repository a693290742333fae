/**
 * Text before bulk (item 4), through the fault proxy with a bandwidth cap: a line sent
 * while file items are queued goes out ahead of the ones not yet sealed, so it reaches
 * the peer long before the end of the transfer. Counts and order only.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { ed25519Generate } from "../../src/crypto/ed25519.ts";
import { Peer } from "../../src/net/peer.ts";
import { FileType } from "../../src/protocol/constants.ts";
import { until } from "../support/wait.ts";
import { FaultProxy, mbit } from "./proxy.ts";

const peers: Peer[] = [];
const proxies: FaultProxy[] = [];
afterEach(async () => {
  for (const p of proxies.splice(0)) p.close();
  await Promise.all(peers.splice(0).map((p) => p.close("bye", 100)));
});

/** File chunks' item type (PROTOCOL §11): the bulk priority. */
const BULK_TYPE = FileType.FILE_CHUNK;

describe("two priorities in the send path", () => {
  test("a line sent during a 6 MB burst of file items arrives before the items queued ahead of it", async () => {
    const order: string[] = [];
    const bob = new Peer({
      identity: ed25519Generate(),
      profile: { instance: new Uint8Array(randomBytes(8)), name: "bob" },
      events: { onItem: (_s, it) => void order.push(it.kind === "text" ? "text" : it.kind === "ext" ? "bulk" : it.kind) },
    });
    peers.push(bob);
    const x = new FaultProxy({ target: { host: "127.0.0.1", port: bob.listen("127.0.0.1", 0) }, faults: { rateBytesPerSec: mbit(50), delayMs: 5 }, maxQueueBytes: 16 * 1024 });
    proxies.push(x);
    const alice = new Peer({ identity: ed25519Generate(), profile: { instance: new Uint8Array(randomBytes(8)), name: "alice" } });
    peers.push(alice);
    const s = await alice.connect("127.0.0.1", x.port);
    const total = 100;
    for (let i = 0; i < total; i++) s.send({ kind: "ext", type: BULK_TYPE, content: new Uint8Array(60_000).fill(i) });
    // Let the first records go out (the socket backs up), then type a line.
    await until("the first bulk items to arrive", () => order.length >= 2, 10_000);
    const before = order.filter((k) => k === "bulk").length;
    s.send({ kind: "text", id: 1n, text: "hello during the transfer" });
    await until("every item to arrive", () => order.length === total + 1, 60_000);
    const at = order.indexOf("text");
    const ahead = at - before;
    // FIFO (one queue) would put the line after all 100; now only what was already
    // sealed (one bulk batch) or inside the kernel and the proxy is ahead of it.
    expect(at).toBeGreaterThan(-1);
    expect(order.filter((k) => k === "bulk")).toHaveLength(total);
    expect(at).toBeLessThan(total / 2);
    // What is paced (pacer.ts) plus one sealed batch: a few 60 KB items, not megabytes.
    expect(ahead).toBeLessThanOrEqual(6);
    console.log(`bulk items ahead of the line: ${ahead} (of ${total - before} still to come when it was sent)`);
  }, 90_000);
});
