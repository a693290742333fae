/**
 * PROTOCOL §11.4 through the fault proxy: a path that stalls for longer than the
 * offer's answer time after /send ends nothing (not "the peer cannot receive files",
 * nothing queued dropped); the late answers carry the transfer to the end.
 */
import { afterEach, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ChatEvent } from "../../src/chat/events.ts";
import { Fixture, transfers, waitPhase } from "../chat/files/fixtures.ts";
import { until } from "../support/wait.ts";
import { FaultProxy } from "./proxy.ts";

const fx = new Fixture();
let proxy: FaultProxy | null = null;
afterEach(async () => {
  proxy?.close();
  proxy = null;
  await fx.cleanup();
});
const connected = (ev: ChatEvent[]) => ev.some((e) => e.type === "connected");

test("a stall longer than the answer time after /send: the transfer waits, then completes; nothing is dropped", async () => {
  const answerTimeoutMs = 200;
  const bobHome = fx.dir();
  const bob = await fx.node("bob", { home: bobHome, files: { downloads: join(bobHome, "downloads"), autoAccept: false } });
  proxy = new FaultProxy({ target: { host: "127.0.0.1", port: bob.port } });
  const alice = await fx.node("alice", { listen: null, connect: [`127.0.0.1:${proxy.port}`], files: { downloads: join(fx.dir(), "dl"), autoAccept: false, answerTimeoutMs } });
  await until("connected", () => connected(alice.events) && connected(bob.events));
  const src = fx.dir();
  writeFileSync(join(src, "a.txt"), "first");
  writeFileSync(join(src, "b.txt"), "second");
  proxy.stall();
  alice.n.files!.send([join(src, "a.txt"), join(src, "b.txt")]);
  await waitPhase(alice.events, "offered", "a.txt");
  // Five answer times of silence on the path.
  await Bun.sleep(5 * answerTimeoutMs);
  expect(transfers(alice.events, "unsupported")).toHaveLength(0);
  proxy.stall(false);
  await until("two offers at bob", () => transfers(bob.events, "offered").length === 2);
  bob.n.files!.accept("all");
  await until("both done at alice", () => transfers(alice.events, "done").length === 2);
  expect(transfers(alice.events, "unsupported")).toHaveLength(0);
  expect(transfers(bob.events, "done").map((e) => e.name).sort()).toEqual(["a.txt", "b.txt"]);
}, 20_000);
