/** A request's file offers are refused (chat/files) and reported marked, with its claimed name quoted and its fingerprint (SECURITY.md §12). */
import { afterEach, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { Fixture } from "../files/fixtures.ts";
import { until } from "../../support/wait.ts";

const fx = new Fixture();
afterEach(() => fx.cleanup());

test("an offer from a stranger that dialled us is refused, and reported naming it as a request", async () => {
  const alice = await fx.node("alice", { allowNew: false, files: { downloads: join(fx.dir(), "d"), autoAccept: true } });
  const m = await fx.mallory(alice.port);
  const c = await until("the request", () => alice.events.find((e) => e.type === "connected"));
  expect(c.type === "connected" && c.request).toBe("r1");
  m.send({ kind: "file_offer", id: 1n, size: 3, sha256: new Uint8Array(createHash("sha256").update("abc").digest()), name: "invoice.pdf" });
  expect((await m.answer("file_reject", 1n)).id).toBe(1n);
  const report = await until("the report", () => alice.events.find((e) => e.type === "error" && e.code === "file_protocol"));
  const msg = report.type === "error" ? report.message : "";
  expect(msg).toStartWith('request r1 "mallory" [');
  expect(msg).toContain(c.type === "connected" ? c.fingerprint.slice(0, 19) : "?");
  expect(alice.events.filter((e) => e.type === "transfer")).toEqual([]);
});
