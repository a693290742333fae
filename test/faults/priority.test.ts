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
import { DEFAULT_HIGH_WATER } from "../../src/chat/files/state.ts";
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
  test("a line sent during a 6 MB transfer of file items arrives a few items after it was sent, not after the transfer", async () => {
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
    // The file sender's way (src/chat/files/sender.ts): keep the high-water queued, refill
    // on the next turn of the loop.
    let queued = 0;
    const pump = () => {
      while (queued < total && s.state === "open" && s.bufferedAmount < DEFAULT_HIGH_WATER) s.send({ kind: "ext", type: BULK_TYPE, content: new Uint8Array(60_000).fill(queued++) });
      if (queued < total && s.state === "open") setImmediate(pump);
    };
    pump();
    // Let the first records go out (the socket backs up), then type a line.
    await until("the first bulk items to arrive", () => order.length >= 2, 10_000);
    const before = order.filter((k) => k === "bulk").length;
    s.send({ kind: "text", id: 1n, text: "hello during the transfer" });
    await until("every item to arrive", () => order.length === total + 1, 60_000);
    const at = order.indexOf("text");
    const ahead = at - before;
    // One FIFO queue with kernel buffers of megabytes put the line behind most of the
    // transfer; now only what is paced in flight (about one path's worth) is ahead of it.
    expect(at).toBeGreaterThan(-1);
    expect(order.filter((k) => k === "bulk")).toHaveLength(total);
    expect(at).toBeLessThan(total / 2);
    // What is paced (pacer.ts) plus one sealed batch: a few 60 KB items, not megabytes.
    expect(ahead).toBeLessThanOrEqual(6);
    console.log(`bulk items ahead of the line: ${ahead} (of ${total - before} still to come when it was sent)`);
  }, 90_000);

  test("bulk records follow the path: through 10 Mbit/s + 25 ms they shrink to a few ms of its rate (bulkItemBytes), on loopback they stay whole", async () => {
    const bob = new Peer({ identity: ed25519Generate(), profile: { instance: new Uint8Array(randomBytes(8)), name: "bob" } });
    peers.push(bob);
    const port = bob.listen("127.0.0.1", 0);
    const x = new FaultProxy({ target: { host: "127.0.0.1", port }, faults: { rateBytesPerSec: mbit(10), delayMs: 25 }, maxQueueBytes: 16 * 1024 });
    proxies.push(x);
    const alice = new Peer({ identity: ed25519Generate(), profile: { instance: new Uint8Array(randomBytes(8)), name: "alice" } });
    peers.push(alice);
    const shaped = await alice.connect("127.0.0.1", x.port);
    const direct = await alice.connect("127.0.0.1", port);
    // Loopback: the first probe's round trip is under a ms, so that path is not paced.
    const whole = await until("the direct path's round trip", () => (direct.bulkItemBytes > 65_000 ? direct.bulkItemBytes : null));
    // Bulk on the shaped session until the pacer has measured a rate (a few round trips).
    let sent = 0;
    await until("a measured rate", () => {
      while (shaped.bufferedAmount < DEFAULT_HIGH_WATER && sent < 2_000_000) {
        const n = Math.min(60 * 1024, shaped.bulkItemBytes);
        shaped.send({ kind: "ext", type: BULK_TYPE, content: new Uint8Array(n) });
        sent += n;
      }
      return shaped.bulkItemBytes < 20_000;
    }, 20_000, 5);
    // 10 Mbit/s is 1,250 bytes a ms: about 8 ms of it, not a 64 KiB record (50 ms of it).
    expect(shaped.bulkItemBytes).toBeGreaterThan(4000);
    expect(shaped.bulkItemBytes).toBeLessThan(20_000);
    expect(whole).toBe(65_280 - 3); // a whole record's plaintext less the item header
  }, 30_000);
});
