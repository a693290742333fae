/** A request's file offers are shown marked, with its claimed name quoted and its fingerprint (SECURITY.md §8). */
import { afterEach, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { TransferEvent } from "../../../src/chat/events.ts";
import { Fixture } from "../files/fixtures.ts";
import { until } from "../../support/wait.ts";

const fx = new Fixture();
afterEach(() => fx.cleanup());

test("an offer from a stranger that dialled us names it as a request, not as a peer", async () => {
  const alice = await fx.node("alice", { allowNew: false, files: { downloads: join(fx.dir(), "d"), autoAccept: false } });
  const m = await fx.mallory(alice.port);
  const c = await until("the request", () => alice.events.find((e) => e.type === "connected"));
  expect(c.type === "connected" && c.request).toBe("r1");
  m.send({ kind: "file_offer", id: 1n, size: 3, sha256: new Uint8Array(createHash("sha256").update("abc").digest()), name: "invoice.pdf" });
  const offer = await until("the offer event", () => alice.events.find((e): e is TransferEvent => e.type === "transfer" && e.direction === "receive"));
  expect(offer.peer).toStartWith('request r1 "mallory" [');
  expect(offer.peer).toContain(c.type === "connected" ? c.fingerprint.slice(0, 19) : "?");
});
