/**
 * Errors in plain words: every alert code, the refusals and the OS errors reach a person
 * as a sentence saying what happened and what to do; the code stays in the event.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { ChatError, type ChatEvent } from "../../src/chat/events.ts";
import { alertSentence, explain, osSentence } from "../../src/chat/explain.ts";
import { AlertCode } from "../../src/protocol/constants.ts";
import { fail, ProtocolError } from "../../src/protocol/errors.ts";
import { randomBytes } from "node:crypto";
import { ed25519Generate } from "../../src/crypto/ed25519.ts";
import { Peer } from "../../src/net/peer.ts";
import type { CloseInfo } from "../../src/net/types.ts";
import { ChatProcess, cleanup, tempHome as processHome } from "../e2e/harness.ts";
import { formatEvent } from "../../src/ui/format.ts";
import { removeHomes } from "../support/home.ts";
import { startNode, stopNodes, type TestNodeOptions } from "../support/node.ts";
import { until } from "../support/wait.ts";

afterEach(async () => {
  await stopNodes();
  removeHomes();
});

const node = (name: string, o: TestNodeOptions = {}) => startNode(name, o);
const text = (e: ChatEvent) => formatEvent(e, { color: false, oneLine: true }) ?? "";

describe("alerts", () => {
  test("every alert code has its own sentence naming the peer, without the number", () => {
    const seen = new Set<string>();
    for (const [name, code] of Object.entries(AlertCode)) {
      const s = alertSentence(code, "bob");
      expect(s).toContain("bob");
      expect(s).not.toMatch(/alert \d/);
      // No code names such as identity_rejected (single words like "timeout" are plain English).
      for (const n of Object.keys(AlertCode)) if (n.includes("_")) expect(s).not.toContain(n);
      expect(name in AlertCode).toBe(true);
      expect(s).toMatch(/\.$/);
      seen.add(s);
    }
    expect(seen.size).toBe(Object.keys(AlertCode).length);
  });
  test("identity_rejected from the peer: `bob refused our key`, the alert kept as data", () => {
    const x = explain(fail("alert", "the peer sent alert 6", { alert: AlertCode.identity_rejected }), { who: "bob", address: "10.0.0.7:5000" });
    expect(x.message.startsWith("bob refused our key: it does not match the one bob pinned for us")).toBe(true);
    expect(x).toMatchObject({ code: "alert", alert: AlertCode.identity_rejected });
  });
  test("a --strict peer turns us away: the dialler reads a sentence, not `alert 6`", async () => {
    const bob = await node("bob", { strict: true });
    const alice = await node("alice", { connect: [`127.0.0.1:${bob.port}`] });
    // A permanent refusal: one sentence, the stop of the dial, with the alert kept as data.
    const err = await until("alice's dial stopped", () => alice.events.find((e): e is Extract<ChatEvent, { type: "dial_stopped" }> => e.type === "dial_stopped"));
    expect(err.reason).toContain("refused our key");
    expect(err.reason).not.toMatch(/alert \d/);
    expect(err.alert).toBe(AlertCode.identity_rejected);
    const refused = await until("bob's refusal", () => bob.events.find((e) => e.type === "rejected"));
    expect(text(refused)).toContain("a peer that dialled us");
    expect(text(refused)).not.toContain("refused *");
  });
});

describe("OS errors", () => {
  test("ECONNREFUSED: `nothing is listening at host:port`, code ECONNREFUSED", async () => {
    const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const dead = probe.port;
    probe.stop(true);
    const alice = await node("alice", { connect: [`127.0.0.1:${dead}`] });
    const err = await until("the dial error", () => alice.events.find((e): e is Extract<ChatEvent, { type: "error" }> => e.type === "error"));
    expect(err.message).toBe(`nothing is listening at 127.0.0.1:${dead}: check the address and port, and that sotto is running there.`);
    expect(err.code).toBe("ECONNREFUSED");
    expect(text(err)).not.toContain("ECONNREFUSED");
  });
  test("a port in use: says so and how to pick another", async () => {
    const bob = await node("bob");
    const e = await node("again", { port: bob.port }).then(
      () => null,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(ChatError);
    expect((e as ChatError).message).toContain(`port ${bob.port} is already in use`);
    expect((e as ChatError).message).toContain("--port 0");
  });
  test("EACCES on listen: permission denied, with the hint that ports below 1024 need privileges", () => {
    // As root the bind itself succeeds, so the sentence is checked from the errno.
    const s = osSentence("EACCES", "0.0.0.0:80", true)!;
    expect(s).toContain("permission denied for port 80");
    expect(s).toContain("ports below 1024 need administrator rights");
    const err = Object.assign(new Error("bind"), { code: "EACCES" });
    expect(explain(new Error("cannot listen", { cause: err }), { who: "", address: "0.0.0.0:80", listening: true }).code).toBe("EACCES");
  });
  test("each dial failure has its own sentence (what happened, what to do), and the errno name is kept", () => {
    const codes = ["ENETUNREACH", "EHOSTUNREACH", "ETIMEDOUT", "ECONNREFUSED", "EADDRNOTAVAIL"];
    const sentences = codes.map((c) => osSentence(c, "10.0.0.7:5000", false)!);
    expect(new Set(sentences).size).toBe(codes.length);
    for (const s of sentences) {
      expect(s).toContain("10.0.0.7");
      expect(s).toMatch(/[;:] [a-z]/); // a consequence or a step after the fact
    }
    expect(sentences[0]).toContain("no route");
    expect(sentences[1]).toContain("nothing answers at 10.0.0.7");
    for (const c of codes) {
      // As Bun hands it over: an Error with code, errno and syscall, under the chat's own error.
      const os = Object.assign(new Error("Failed to connect"), { code: c, errno: -1, syscall: "connect" });
      const x = explain(new Error("could not connect", { cause: os }), { who: "bob", address: "10.0.0.7:5000" });
      expect(x.code).toBe(c);
      expect(x.message).toBe(osSentence(c, "10.0.0.7:5000", false)!);
    }
  });
  test("a peer gone without CLOSE (killed, crashed) is said as such, not as a message cut in the middle", () => {
    // Chosen by where the stream ended (ProtocolError.ended), not by the message's words.
    expect(explain(fail("truncated", "x", { ended: "between_frames" }), { who: "carol", address: "h:1" }).message).toBe("carol went away without a goodbye (its sotto quit or crashed, or the network dropped).");
    expect(explain(fail("truncated", "x", { ended: "handshake" }), { who: "h:1", address: "h:1" }).message).toContain("closed during the handshake");
    expect(explain(fail("truncated", "the peer closed the connection without CLOSE", { ended: "mid_frame" }), { who: "carol", address: "h:1" }).message).toBe("the connection to carol ended in the middle of a message.");
  });
  test("the real error of a peer killed with SIGKILL mid-session is said as gone without a goodbye", async () => {
    const homes: string[] = [];
    const procs: ChatProcess[] = [];
    const closes: CloseInfo[] = [];
    const p = new Peer({ identity: ed25519Generate(), profile: { instance: new Uint8Array(randomBytes(8)), name: "alice" }, events: { onClose: (_s, info) => void closes.push(info) } });
    try {
      const bob = new ChatProcess(processHome(homes), ["--host", "127.0.0.1", "--name", "bob", "--port", "0"]);
      procs.push(bob);
      const s = await p.connect("127.0.0.1", await bob.port());
      await bob.waitFor("connected");
      await until("the session to open", () => s.state === "open");
      expect(await bob.kill9()).not.toBe(0);
      await until("the session to close", () => closes.length === 1);
      // What the kernel does with a killed process's socket decides the object: a reset
      // (data it had not read) or an end of stream between frames. Both are a goodbye never said.
      const err = closes[0]!.error as (Error & { code?: string; ended?: string }) | null;
      expect(err).toBeInstanceOf(Error);
      if (err instanceof ProtocolError) expect([err.code, err.ended]).toEqual(["truncated", "between_frames"]);
      else expect(err!.code).toBe("ECONNRESET");
      const x = explain(err, { who: "bob", address: s.address, established: true });
      expect(x).toEqual({ message: "bob went away without a goodbye (its sotto quit or crashed, or the network dropped).", code: err instanceof ProtocolError ? "truncated" : "ECONNRESET" });
      // Not once the session was up: a reset while dialling stays a reset.
      if (!(err instanceof ProtocolError)) expect(explain(err, { who: "bob", address: s.address }).message).toContain("was reset");
    } finally {
      await p.close("bye");
      cleanup(homes, procs);
    }
  }, 20_000);
  test("a contact killed with SIGKILL mid-chat: the disconnected event says it went away without a goodbye, with its code", async () => {
    const homes: string[] = [];
    const procs: ChatProcess[] = [];
    try {
      const bob = new ChatProcess(processHome(homes), ["--host", "127.0.0.1", "--name", "bob", "--port", "0", "--allow-new"]);
      procs.push(bob);
      const port = await bob.port();
      const alice = await node("alice", { connect: [`127.0.0.1:${port}`] });
      await until("alice to connect", () => alice.events.some((e) => e.type === "connected"));
      await bob.waitFor("connected");
      alice.n.sendAll("hello bob");
      await bob.waitFor("message", (m) => m.text === "hello bob");
      await bob.kill9();
      const d = await until("alice to see bob go", () => alice.events.find((e) => e.type === "disconnected") as Extract<ChatEvent, { type: "disconnected" }> | undefined);
      expect(d.reason).toBe("bob went away without a goodbye (its sotto quit or crashed, or the network dropped).");
      expect(["truncated", "ECONNRESET"]).toContain(d.code!);
    } finally {
      cleanup(homes, procs);
    }
  }, 20_000);
  test("disconnected: the text has no code in brackets and no `?` for a peer without a name", () => {
    const t = text({ type: "disconnected", peer: "10.0.0.7:5000", address: "10.0.0.7:5000", reason: "the connection to 10.0.0.7:5000 ended in the middle of a message.", code: "truncated" });
    expect(t).not.toContain("(truncated)");
    expect(t).not.toContain("?");
  });
});
