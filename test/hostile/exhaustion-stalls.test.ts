/**
 * docs/SECURITY.md §3.E (resource exhaustion): 1000 stalled connections reaped while a
 * good peer chats, and a peer that never reads cut off at its send-queue bound.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { MAX_PLAINTEXT } from "../../src/protocol/constants.ts";
import { encodeItems, type Item } from "../../src/protocol/items.ts";
import { det } from "../protocol/helpers.ts";
import { Attacker, Evil, Scene } from "./harness.ts";
import { until } from "../support/wait.ts";
import { T } from "../support/exhaustion.ts";

/** Open file descriptors of this process (Linux /proc; 0 elsewhere, which skips the check). */
const fdCount = () => (existsSync("/proc/self/fd") ? readdirSync("/proc/self/fd").length : 0);

describe("E. 1000 connections that send one byte and stall", () => {
  test("all are reaped by the handshake deadline while the good peer keeps chatting; memory settles", async () => {
    const big = await Scene.start({ limits: { maxHalfOpen: 2048, maxHalfOpenPerAddress: 2048, handshakeTimeoutMs: 400 } });
    try {
      Bun.gc(true);
      const heap0 = process.memoryUsage().heapUsed;
      let stop = false;
      const latencies: number[] = [];
      const chatter = (async () => {
        while (!stop) {
          latencies.push(await big.good.roundTrip(3000));
          await Bun.sleep(20);
        }
      })();
      const flood: Attacker[] = [];
      for (let batch = 0; batch < 10; batch++) {
        const as = await Promise.all(Array.from({ length: 100 }, () => Attacker.connect(big.port)));
        for (const a of as) a.write(new Uint8Array([0x01]));
        flood.push(...as);
      }
      const ports = new Set(flood.map((a) => a.localPort));
      await until("1000 closes", () => big.closes.filter((c) => ports.has(c.port)).length === 1000, 8000);
      const codes = new Set(big.closes.filter((c) => ports.has(c.port)).map((c) => c.code));
      expect([...codes]).toEqual(["timeout"]);
      await until("every attacker socket to close", () => flood.every((a) => a.closed), 3000);
      expect(flood.every((a) => a.alerts().length === 1 && a.alerts()[0] === T)).toBe(true);
      await big.settled();
      stop = true;
      await chatter;
      expect(latencies.length).toBeGreaterThan(3);
      expect(Math.max(...latencies)).toBeLessThan(1500);
      flood.length = 0;
      big.closes.length = 0;
      Bun.gc(true);
      expect(process.memoryUsage().heapUsed - heap0).toBeLessThan(8 * 1024 * 1024);
    } finally {
      await big.stop();
    }
  }, 20_000);
});

describe("E. a peer that sends PINGs and never reads", () => {
  const QUEUE = 2 * 1024 * 1024;
  let q: Scene;
  beforeAll(async () => {
    q = await Scene.start({ limits: { maxSendQueueBytes: QUEUE } });
  });
  afterAll(() => q.stop());
  const pingRecord = (n: number) => encodeItems(Array.from({ length: n }, (_, i): Item => ({ kind: "ping", data: det(`p${i}`, 8) })));

  test("control: a peer that reads gets 40 × 1,000 PINGs answered and stays", async () => {
    const e = await Evil.open(q.port);
    const plain = pingRecord(1000);
    for (let i = 1; i <= 40; i++) {
      e.a.write(e.sealPlain(plain));
      await until(`the PONGs of record ${i}`, () => e.items.filter((x) => x.kind === "pong").length === i * 1000, 3000);
    }
    expect(q.closed(e)).toBeUndefined();
    e.send([{ kind: "close", reason: "" }]);
    expect((await q.closeOf(e)).code).toBeNull();
  }, 15_000);

  test("a peer that stops reading is cut off with busy once its queue passes maxSendQueueBytes; the listener lets go of the socket", async () => {
    const fd0 = fdCount();
    const e = await Evil.open(q.port, { node: true });
    e.a.pause();
    // One record of 5,934 PINGs draws 65 KB of PONGs back: the kernel buffers fill first, then the queue.
    const plain = pingRecord(Math.floor(MAX_PLAINTEXT / 11));
    let sent = 0;
    while (sent < 800 && q.closed(e) === undefined) {
      e.a.write(e.sealPlain(plain));
      sent++;
      await Bun.sleep(1);
    }
    const c = await q.closeOf(e, 5000);
    expect(c.code).toBe("busy");
    // The kernel buffers took some records before the queue filled: a real backlog, not one burst.
    expect(sent).toBeGreaterThan(10);
    await q.good.roundTrip();
    await q.settled();
    // The listener's own socket is released within its 2 s drain grace, though the attacker never reads.
    if (fd0 > 0) await until("the listener to release its socket", () => fdCount() <= fd0 + 1, 4000);
    // (C) Reading again, the attacker finds the end of the stream after the PONGs that did fit.
    e.a.resume();
    expect(await e.a.waitClosed(5000)).toBe(true);
  }, 20_000);
});
