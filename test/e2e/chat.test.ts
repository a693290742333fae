/**
 * End to end with real `sotto chat` processes over 127.0.0.1 (--json line mode):
 * two-way chat, one peer with two sessions, a peer killed with SIGKILL and restarted
 * mid-conversation (nothing lost, nothing acknowledged shown twice), a changed identity refused,
 * and a one-shot send from a pipe.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { ChatProcess, cleanup, tempHome, loopbackChat } from "./harness.ts";

const homes: string[] = [];
const procs: ChatProcess[] = [];
afterEach(() => cleanup(homes, procs));

const chat = loopbackChat(procs);

describe("sotto chat processes", () => {
  test("two processes exchange messages both ways and agree on the safety number", async () => {
    // alice takes bob's key as he dials (--allow-new): this test is about two-way delivery.
    const alice = chat(tempHome(homes), "--name", "alice", "--port", "0", "--allow-new");
    const port = await alice.port();
    const bob = chat(tempHome(homes), "--name", "bob", "--port", "0", "--connect", `127.0.0.1:${port}`);
    const cb = await bob.waitFor("connected");
    const ca = await alice.waitFor("connected");
    expect(cb.peer).toBe("alice");
    expect(ca.peer).toBe("bob");
    expect(ca.safetyNumber).toBe(cb.safetyNumber);
    expect(cb.fingerprint).toBe((await alice.waitFor("identity")).fingerprint);
    bob.say("hello alice");
    alice.say("hello bob ☕");
    expect((await alice.waitFor("message")).text).toBe("hello alice");
    expect((await bob.waitFor("message")).text).toBe("hello bob ☕");
    await alice.waitFor("ack");
    await bob.waitFor("ack");
    expect(await bob.endInput()).toBe(0);
    await alice.waitFor("disconnected");
  });

  test("one peer holds sessions with two others at once", async () => {
    const hub = chat(tempHome(homes), "--name", "hub", "--port", "0", "--allow-new"); // those who dial in are contacts
    const port = await hub.port();
    const b = chat(tempHome(homes), "--name", "bea", "--no-listen", "--connect", `127.0.0.1:${port}`);
    const c = chat(tempHome(homes), "--name", "cyd", "--no-listen", "--connect", `127.0.0.1:${port}`);
    await b.waitFor("connected");
    await c.waitFor("connected");
    await hub.waitFor("connected", (e) => e.peer === "bea");
    await hub.waitFor("connected", (e) => e.peer === "cyd");
    hub.say("to everyone");
    expect((await b.waitFor("message")).text).toBe("to everyone");
    expect((await c.waitFor("message")).text).toBe("to everyone");
    hub.say("/msg bea just for you");
    expect((await b.waitFor("message", (m) => m.text === "just for you")).peer).toBe("hub");
    b.say("from bea");
    c.say("from cyd");
    const m1 = await hub.waitFor("message", (m) => m.peer === "bea");
    const m2 = await hub.waitFor("message", (m) => m.peer === "cyd");
    expect([m1.text, m2.text]).toEqual(["from bea", "from cyd"]);
    await Bun.sleep(200);
    expect(c.of("message").map((m) => m.text)).toEqual(["to everyone"]);
  });

  test("a peer killed with SIGKILL and restarted mid-conversation: nothing lost, nothing acknowledged shown again", async () => {
    const aliceHome = tempHome(homes);
    let alice = chat(aliceHome, "--name", "alice", "--port", "0");
    const port = await alice.port();
    const bob = chat(tempHome(homes), "--name", "bob", "--no-listen", "--connect", `127.0.0.1:${port}`);
    await bob.waitFor("connected");
    const N = 60;
    const seen: string[] = [];
    for (let i = 1; i <= N; i++) {
      bob.say(`m${i}`);
      if (i === 20) {
        await alice.waitFor("message", (m) => m.text === "m5");
        seen.push(...alice.of("message").map((m) => m.text));
        await alice.kill9();
        seen.length = 0;
        seen.push(...alice.of("message").map((m) => m.text));
        alice = chat(aliceHome, "--name", "alice", "--port", String(port));
      }
      await Bun.sleep(5);
    }
    await alice.waitFor("message", (m) => m.text === `m${N}`, 30_000);
    await Bun.sleep(300);
    const want = Array.from({ length: N }, (_, i) => `m${i + 1}`);
    const after = alice.of("message").map((m) => m.text);
    // Before the kill: m1..mk in order. After the restart: the rest, in order, from where
    // the store says alice stopped. A line is shown, then its counter is committed, then
    // it is acknowledged (src/chat/delivery/outbox.ts); a SIGKILL during that commit
    // (one fsync) shows again the lines of that commit, never a line already acknowledged.
    // Nothing may be lost or reordered.
    expect(seen).toEqual(want.slice(0, seen.length));
    const from = want.indexOf(after[0]!);
    expect(after).toEqual(want.slice(from));
    expect(from).toBeLessThanOrEqual(seen.length);
    // What alice acknowledged before the kill (bob's ack events before his first
    // disconnected) was committed first, so none of it may be shown again.
    const cut = bob.events.findIndex((e) => e.type === "disconnected");
    const acked = bob.events.slice(0, cut).filter((e) => e.type === "ack").map((e) => Number((e as { id: string }).id));
    expect(cut).toBeGreaterThan(0);
    expect(acked.length).toBeGreaterThan(0);
    expect(from + 1).toBeGreaterThan(Math.max(...acked));
    expect(await bob.endInput()).toBe(0);
  });

  test("a sender killed with SIGKILL delivers its queued messages after restart", async () => {
    const alice = chat(tempHome(homes), "--name", "alice", "--port", "0");
    const port = await alice.port();
    const bobHome = tempHome(homes);
    let bob = chat(bobHome, "--name", "bob", "--port", "0", "--connect", `127.0.0.1:${port}`);
    await bob.waitFor("connected");
    bob.say("before");
    await bob.waitFor("ack");
    // Alice goes away, bob queues, bob is killed, alice returns, bob restarts.
    await alice.kill9();
    await bob.waitFor("disconnected");
    bob.say("queued 1");
    bob.say("queued 2");
    await Bun.sleep(200);
    await bob.kill9();
    const alice2 = chat(alice.home, "--name", "alice", "--port", String(port));
    await alice2.port();
    bob = chat(bobHome, "--name", "bob", "--port", "0", "--connect", `127.0.0.1:${port}`);
    await alice2.waitFor("message", (m) => m.text === "queued 2", 20_000);
    expect(alice2.of("message").map((m) => m.text)).toEqual(["queued 1", "queued 2"]);
  });

  test("a peer whose identity changed is refused, loudly", async () => {
    const bobHome = tempHome(homes);
    const bob = chat(bobHome, "--name", "bob", "--port", "0");
    const port = await bob.port();
    const aliceHome = tempHome(homes);
    const alice = chat(aliceHome, "--name", "alice", "--no-listen", "--connect", `127.0.0.1:${port}`);
    await alice.waitFor("connected");
    expect(await alice.endInput()).toBe(0);
    await bob.kill9();
    // Bob's identity is replaced: same address, new key.
    rmSync(join(bobHome, "identity"));
    const bob2 = chat(bobHome, "--name", "bob", "--port", String(port));
    await bob2.port();
    const alice2 = chat(aliceHome, "--name", "alice", "--no-listen", "--connect", `127.0.0.1:${port}`);
    const kc = await alice2.waitFor("key_changed");
    expect(kc.pinned).not.toBe(kc.presented);
    expect(kc.presented).toBe((await bob2.waitFor("identity")).fingerprint);
    const d = await bob2.waitFor("disconnected");
    expect(d.code).toBe("alert");
    expect(alice2.of("connected").length).toBe(0);
  });

  test("a one-shot send from a pipe: every line delivered and acknowledged, then exit 0", async () => {
    const alice = chat(tempHome(homes), "--name", "alice", "--port", "0");
    const port = await alice.port();
    const home = tempHome(homes);
    const proc = Bun.spawn(["bun", join(import.meta.dir, "../../src/cli/main.ts"), "chat", "--home", home, "--name", "pipe", "--no-listen", "--connect", `127.0.0.1:${port}`], {
      stdin: new TextEncoder().encode("line one\nline two\n"),
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(await proc.exited).toBe(0);
    await alice.waitFor("message", (m) => m.text === "line two");
    expect(alice.of("message").map((m) => m.text)).toEqual(["line one", "line two"]);
  });
});
