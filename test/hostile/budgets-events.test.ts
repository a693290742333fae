/** Process-wide budgets (docs/SECURITY.md §10), 6: a chat node's events have a rate per identity, and peer strings one cap. */
import { afterAll, describe, expect, test } from "bun:test";
import { ed25519Generate } from "../../src/crypto/ed25519.ts";
import type { Item } from "../../src/protocol/items.ts";
import { removeHomes } from "../support/home.ts";
import { startNode } from "../support/node.ts";
import { until } from "../support/wait.ts";
import { Evil } from "./harness.ts";
import { of } from "../support/events.ts";

afterAll(() => removeHomes());

describe("6. events have a rate per identity; peer strings one cap", () => {
  // Each test closes its node itself.
  const node = (o: { textPerSecond?: number } = {}) => startNode("alice", { ...o, cleanup: false });

  test("2,000 PROFILE name changes: at most the burst becomes nick events, then the session ends with busy", async () => {
    const a = await node();
    try {
      const e = await Evil.open(a.port);
      await until("connected", () => of(a.events, "connected").length === 1);
      for (let r = 0; r < 20 && !e.a.closed; r++) e.a.write(e.seal(Array.from({ length: 100 }, (_, i): Item => ({ kind: "profile", instance: e.instance, name: `m${r}-${i}` }))));
      await until("the session to end", () => of(a.events, "disconnected").length === 1, 5000);
      expect(of(a.events, "nick").length).toBeLessThanOrEqual(11);
      expect(of(a.events, "disconnected")[0]!.code).toBe("busy");
    } finally {
      await a.n.close();
    }
  });

  test("TEXT is counted per identity: 4 sessions in turn of one identity, 50 messages each, with textPerSecond 5: at most the burst (50) and what refills are shown", async () => {
    const a = await node({ textPerSecond: 5 });
    try {
      const identity = ed25519Generate();
      const t0 = performance.now();
      for (let k = 0; k < 4; k++) {
        const e = await Evil.open(a.port, { identity });
        await until("connected", () => of(a.events, "connected").length === k + 1);
        e.send(Array.from({ length: 50 }, (_, i): Item => ({ kind: "text", id: BigInt(i + 1), text: `t${k}-${i}` })));
        await until("the session to end or the messages to show", () => e.a.closed || of(a.events, "message").length >= 50 * (k + 1), 3000).catch(() => {});
        e.send([{ kind: "close", reason: "" }]);
        await until("the close", () => of(a.events, "disconnected").length === k + 1, 3000);
      }
      const refill = Math.ceil(((performance.now() - t0) / 1000) * 5);
      expect(of(a.events, "message").length).toBeLessThanOrEqual(50 + refill);
    } finally {
      await a.n.close();
    }
  }, 20_000);

  test("turns: a session that brought 20,000 TEXTs at once is handled a slice at a time; a second peer's line, sent after them, is shown before 2,000 of them", async () => {
    const a = await node();
    try {
      const flood = await Evil.open(a.port);
      const good = await Evil.open(a.port);
      await until("connected", () => of(a.events, "connected").length === 2);
      const N = 20_000;
      const records: Uint8Array[] = [];
      for (let id = 1; id <= N; id += 2000) records.push(flood.seal(Array.from({ length: 2000 }, (_, i): Item => ({ kind: "text", id: BigInt(id + i), text: `f${id + i}` }))));
      for (const r of records) flood.a.write(r);
      good.send([{ kind: "text", id: 1n, text: "good" }]);
      await until("every line shown", () => of(a.events, "message").length === N + 1, 20_000);
      const shown = of(a.events, "message").map((m) => m.text);
      // docs/SECURITY.md §7 R6: before turns, all 20,000 (one socket read) came first.
      expect(shown.indexOf("good")).toBeLessThan(2000);
      expect(shown.filter((t) => t !== "good")).toEqual(Array.from({ length: N }, (_, i) => `f${i + 1}`));
    } finally {
      await a.n.close();
    }
  }, 30_000);

  test("a CLOSE reason of 65,000 bytes reaches the disconnected event cut to 256 characters", async () => {
    const a = await node();
    try {
      const e = await Evil.open(a.port);
      await until("connected", () => of(a.events, "connected").length === 1);
      e.send([{ kind: "close", reason: "r".repeat(65_000) }]);
      await until("disconnected", () => of(a.events, "disconnected").length === 1);
      const reason = of(a.events, "disconnected")[0]!.reason;
      expect(reason.length).toBeLessThan(320);
      expect(reason).toContain("more characters");
    } finally {
      await a.n.close();
    }
  });

  test("connected events name the key-exchange group of the session", async () => {
    const a = await node();
    try {
      await Evil.open(a.port);
      await until("connected", () => of(a.events, "connected").length === 1);
      expect(of(a.events, "connected")[0]!.group).toBe("x25519");
      expect(a.n.peers()[0]!.group).toBe("x25519");
    } finally {
      await a.n.close();
    }
  });
});
