/**
 * Contacts and requests, checked at the wire (docs/SECURITY.md §12): real `sotto chat`
 * processes, and strangers that are raw sotto peers (test/hostile/evil.ts) decrypting
 * every record they receive. A barrier makes "received nothing" exact: the stranger
 * sends a TEXT after the line was typed, and waits for the chat's ACK of it; records of
 * one session arrive in order, so a typed line sent to it would have come first.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { ChatProcess, cleanup, tempHome, loopbackChat } from "./harness.ts";
import { Evil } from "../hostile/evil.ts";
import { ed25519Generate } from "../../src/crypto/ed25519.ts";
import { toHex } from "../../src/crypto/bytes.ts";
import type { Item } from "../../src/protocol/items.ts";
import { until } from "../support/wait.ts";

const homes: string[] = [];
const procs: ChatProcess[] = [];
const evils: Evil[] = [];
afterEach(() => {
  for (const e of evils.splice(0)) e.a.destroy();
  cleanup(homes, procs);
});

const MAIN = join(import.meta.dir, "../../src/cli/main.ts");

const chat = loopbackChat(procs);

const profile = (name: string): Item => ({ kind: "profile", instance: new Uint8Array(randomBytes(8)), name });

async function stranger(port: number, name: string, identity = ed25519Generate()): Promise<Evil> {
  const e = await Evil.open(port, { profile: profile(name), identity: { publicKey: identity.publicKey, privateKey: identity.privateKey } });
  evils.push(e);
  return e;
}

/** The texts a stranger received, after a barrier: its own TEXT `id` was acknowledged. */
async function textsAfterBarrier(e: Evil, id: bigint): Promise<string[]> {
  e.send([{ kind: "text", id, text: `barrier ${id}` }]);
  await until(`the ACK of barrier ${id}`, () => e.items.some((i) => i.kind === "ack" && i.id >= id));
  return e.items.flatMap((i) => (i.kind === "text" ? [i.text] : []));
}

describe("requests: a stranger that dials us", () => {
  test("receives none of the typed lines, while connected or queued after it vanished", async () => {
    const bob = chat(tempHome(homes), "--name", "bob", "--port", "0");
    const bobPort = await bob.port();
    const alice = chat(tempHome(homes), "--name", "alice", "--port", "0", "--connect", `127.0.0.1:${bobPort}`);
    const port = await alice.port();
    await alice.waitFor("connected", (c) => c.peer === "bob");
    const id = ed25519Generate();
    const m = await stranger(port, "mallory", id);
    const req = await alice.waitFor("connected", (c) => c.request !== undefined);
    expect(req.peer).toBe("mallory");
    alice.say("secret one");
    await bob.waitFor("message", (x) => x.text === "secret one");
    expect(await textsAfterBarrier(m, 1n)).toEqual([]);
    // Its own line is shown, marked as a request with its fingerprint.
    const shown = await alice.waitFor("message", (x) => x.text === "barrier 1");
    expect(shown.request).toBe(req.request!);
    expect(shown.fingerprint).toBe(req.fingerprint);
    m.a.destroy();
    await alice.waitFor("disconnected", (d) => d.peer === "mallory");
    alice.say("secret two");
    await bob.waitFor("message", (x) => x.text === "secret two");
    const back = await stranger(port, "mallory", id);
    await until("alice's opening ACK", () => back.items.some((i) => i.kind === "ack"));
    expect(await textsAfterBarrier(back, 2n)).toEqual([]);
    // One recipient per line: bob.
    expect(alice.of("sent").map((s) => s.text)).toEqual(["secret one", "secret two"]);
  }, 30_000);

  test("500 strangers that connected and vanished leave the one-shot send as fast as none", async () => {
    const bob = chat(tempHome(homes), "--name", "bob", "--port", "0");
    const bobPort = await bob.port();
    const aliceHome = tempHome(homes);
    const alice = chat(aliceHome, "--name", "alice", "--port", "0", "--connect", `127.0.0.1:${bobPort}`);
    const port = await alice.port();
    await alice.waitFor("connected", (c) => c.peer === "bob");
    const STRANGERS = 500;
    const PARALLEL = 10;
    for (let i = 0; i < STRANGERS; i += PARALLEL) {
      const batch = await Promise.all(Array.from({ length: Math.min(PARALLEL, STRANGERS - i) }, () => Evil.open(port, { profile: profile("stranger") })));
      for (const e of batch) e.a.destroy();
    }
    await until("every stranger gone", () => alice.of("disconnected").length >= STRANGERS, 20_000);
    alice.say("to everyone");
    await bob.waitFor("message", (x) => x.text === "to everyone");
    expect(alice.of("sent").length).toBe(1);
    expect(await alice.endInput()).toBe(0);
    // The README's one-shot send from the same home: it must not wait out --drain-timeout.
    const proc = Bun.spawn(["bun", MAIN, "chat", "--json", "--home", aliceHome, "--no-listen", "--connect", `127.0.0.1:${bobPort}`], { stdin: new Blob(["one shot\n"]), stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
    const code = await proc.exited;
    const events = (await new Response(proc.stdout).text()).split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as { type: string; count?: number; text?: string });
    expect(code).toBe(0);
    expect(events.filter((e) => e.type === "sent").map((e) => e.text)).toEqual(["one shot"]);
    // At end of input only the one line for bob waits for its ACK (on main: one per stranger too).
    expect(events.filter((e) => e.type === "queued").map((e) => e.count)).toEqual([1]);
    await bob.waitFor("message", (x) => x.text === "one shot");
  }, 90_000);
});

describe("requests are bounded", () => {
  test("with 64 requests connected, a 65th unknown key is refused at the handshake; a contact still chats", async () => {
    const bob = chat(tempHome(homes), "--name", "bob", "--port", "0", "--allow-new");
    const bobPort = await bob.port();
    const alice = chat(tempHome(homes), "--name", "alice", "--port", "0", "--connect", `127.0.0.1:${bobPort}`);
    const port = await alice.port();
    await alice.waitFor("connected", (c) => c.peer === "bob");
    const MAX_REQUESTS = 64;
    for (let i = 0; i < MAX_REQUESTS; i += 8) await Promise.all(Array.from({ length: 8 }, () => stranger(port, "crowd")));
    await until("64 requests", () => alice.of("connected").filter((c) => c.request !== undefined).length === MAX_REQUESTS);
    await expect(stranger(port, "one too many")).rejects.toThrow(/closed before its PROFILE/);
    alice.say("still here");
    await bob.waitFor("message", (m) => m.text === "still here");
    bob.say("me too");
    await alice.waitFor("message", (m) => m.text === "me too");
    expect(alice.of("connected").filter((c) => c.request !== undefined)).toHaveLength(MAX_REQUESTS);
    // A request that leaves makes room again.
    evils[0]!.a.destroy();
    await until("one request gone", () => alice.of("disconnected").length === 1);
    await stranger(port, "next");
    await alice.waitFor("connected", (c) => c.peer === "next");
  }, 60_000);
});

describe("answering a request", () => {
  test("/allow r1 carol makes it a contact that receives typed lines; /block refuses a key from then on, persisted", async () => {
    const aliceHome = tempHome(homes);
    const alice = chat(aliceHome, "--name", "alice", "--port", "0");
    const port = await alice.port();
    const carol = await stranger(port, "caz");
    const req = await alice.waitFor("connected", (c) => c.request !== undefined);
    alice.say(`/allow ${req.request} carol`);
    await alice.waitFor("contact", (n) => n.change === "allowed" && n.message.includes("carol is now a contact"));
    alice.say("hello carol");
    await until("the line at carol", () => carol.items.some((i) => i.kind === "text" && i.text === "hello carol"));
    alice.say("/msg carol private hello");
    await until("the private line at carol", () => carol.items.some((i) => i.kind === "text" && i.text === "private hello"));
    const eveId = ed25519Generate();
    const eve = await stranger(port, "eve", eveId);
    const er = await alice.waitFor("connected", (c) => c.peer === "eve");
    alice.say(`/block ${er.request}`);
    await alice.waitFor("contact", (n) => n.change === "blocked" && n.message.startsWith("Blocked"));
    await until("eve's session closed", () => eve.a.closed);
    expect(readFileSync(join(aliceHome, "known_peers"), "utf8")).toContain(`@blocked ${toHex(eveId.publicKey)}`);
    // Refused at the handshake from now on: no PROFILE ever reaches it.
    await expect(stranger(port, "eve", eveId)).rejects.toThrow(/closed before its PROFILE/);
    expect(alice.of("connected").filter((c) => c.peer === "eve")).toHaveLength(1);
  }, 30_000);
});

describe("names: squatting and lookalikes never capture /msg", () => {
  test("a stranger first as \"bob\", and one as Cyrillic \"bоb\": /msg bob reaches the real bob only", async () => {
    const bob = chat(tempHome(homes), "--name", "bob", "--port", "0");
    const bobPort = await bob.port();
    const alice = chat(tempHome(homes), "--name", "alice", "--port", "0");
    const port = await alice.port();
    const squatter = await stranger(port, "bob");
    await alice.waitFor("connected", (c) => c.request !== undefined);
    alice.say(`/connect 127.0.0.1:${bobPort}`);
    const real = await alice.waitFor("connected", (c) => c.request === undefined);
    expect(real.peer).toBe("bob");
    expect(real.fingerprint).toBe((await bob.waitFor("identity")).fingerprint);
    const glyph = await stranger(port, "b\u043eb");
    const look = await alice.waitFor("connected", (c) => c.peer === "b\u043eb");
    expect(look.lookalike).toBe("bob");
    expect(look.request).toBeDefined();
    const warn = await alice.waitFor("key_changed", (k) => k.claimed === "b\u043eb");
    expect(warn.pinnedName).toBe("bob");
    expect(warn.direction).toBe("inbound");
    alice.say("/msg bob secret");
    alice.say("/msg b\u043eb also secret");
    await bob.waitFor("message", (x) => x.text === "secret");
    const err = await alice.waitFor("error", (e) => e.code === "unknown_peer");
    expect(err.message).toContain("no contact named");
    expect(await textsAfterBarrier(squatter, 1n)).toEqual([]);
    expect(await textsAfterBarrier(glyph, 1n)).toEqual([]);
    const marked = await alice.waitFor("message", (x) => x.text === "barrier 1" && x.lookalike === "bob");
    expect(marked.request).toBe(look.request!);
    expect(alice.of("sent").map((s) => [s.peer, s.text])).toEqual([["bob", "secret"]]);
  }, 30_000);

  test("a verified contact's messages say verified: true; others' do not", async () => {
    // bob accepts alice's key as she dials (--allow-new), so his lines reach her.
    const bob = chat(tempHome(homes), "--name", "bob", "--port", "0", "--allow-new");
    const bobPort = await bob.port();
    const alice = chat(tempHome(homes), "--name", "alice", "--port", "0", "--connect", `127.0.0.1:${bobPort}`);
    await alice.waitFor("connected");
    await bob.waitFor("connected");
    bob.say("before");
    expect((await alice.waitFor("message", (x) => x.text === "before")).verified).toBe(false);
    alice.say("/trust bob");
    await alice.waitFor("contact", (n) => n.change === "verified" && n.message.includes("verified"));
    bob.say("after");
    expect((await alice.waitFor("message", (x) => x.text === "after")).verified).toBe(true);
  }, 30_000);
});

describe("key changes, in either direction, warned and recoverable in the chat", () => {
  test("inbound: bob's new key dials us claiming bob; it is warned, gets nothing, and /replace bob makes it bob", async () => {
    const bob1 = chat(tempHome(homes), "--name", "bob", "--port", "0");
    const bob1Port = await bob1.port();
    const alice = chat(tempHome(homes), "--name", "alice", "--port", "0", "--connect", `127.0.0.1:${bob1Port}`);
    const port = await alice.port();
    const first = await alice.waitFor("connected", (c) => c.peer === "bob");
    alice.say("/trust bob");
    await alice.waitFor("contact", (n) => n.change === "verified" && n.message.includes("verified"));
    await bob1.kill9();
    const bob2 = chat(tempHome(homes), "--name", "bob", "--port", "0", "--connect", `127.0.0.1:${port}`);
    const kc = await alice.waitFor("key_changed");
    expect(kc.direction).toBe("inbound");
    expect(kc.pinnedName).toBe("bob");
    expect(kc.pinned).toBe(first.fingerprint);
    expect(kc.presented).toBe((await bob2.waitFor("identity")).fingerprint);
    expect(kc.safetyNumber).toBe((await bob2.waitFor("connected")).safetyNumber);
    const req = await alice.waitFor("connected", (c) => c.request !== undefined);
    expect(req.lookalike).toBe("bob");
    alice.say("/msg bob for the old key");
    alice.say("/replace bob");
    await alice.waitFor("contact", (n) => n.change === "replaced" && n.message.includes("now has the new key"));
    alice.say("/msg bob for the new key");
    const got = await bob2.waitFor("message", (x) => x.text === "for the new key");
    expect(got.peer).toBe("alice");
    expect(bob2.of("message").some((x) => x.text === "for the old key")).toBe(false);
    bob2.say("hi again");
    const m = await alice.waitFor("message", (x) => x.text === "hi again");
    expect(m.peer).toBe("bob");
    expect(m.request).toBeUndefined();
    expect(m.verified).toBe(false); // a new key is not verified until compared again
  }, 30_000);

  test("outbound: the key at bob's pinned address changed; refused with key_changed, then /replace bob redials and connects", async () => {
    const bob1 = chat(tempHome(homes), "--name", "bob", "--port", "0");
    const bobPort = await bob1.port();
    const alice = chat(tempHome(homes), "--name", "alice", "--no-listen", "--connect", `127.0.0.1:${bobPort}`);
    await alice.waitFor("connected", (c) => c.peer === "bob");
    await bob1.kill9();
    const bob2 = chat(tempHome(homes), "--name", "bob", "--port", String(bobPort));
    const kc = await alice.waitFor("key_changed", () => true, 20_000);
    expect(kc.direction).toBe("outbound");
    expect(kc.presented).toBe((await bob2.waitFor("identity")).fingerprint);
    expect(alice.of("connected")).toHaveLength(1);
    alice.say("/replace bob");
    const c = await alice.waitFor("connected", (x) => x.fingerprint === kc.presented, 20_000);
    expect(c.peer).toBe("bob");
    alice.say("after replace");
    await bob2.waitFor("message", (x) => x.text === "after replace");
  }, 45_000);

  test("the documented recovery works: delete the line from known_peers, /connect again; later pins still save", async () => {
    const bob1 = chat(tempHome(homes), "--name", "bob", "--port", "0");
    const bobPort = await bob1.port();
    const aliceHome = tempHome(homes);
    const alice = chat(aliceHome, "--name", "alice", "--no-listen", "--connect", `127.0.0.1:${bobPort}`);
    await alice.waitFor("connected", (c) => c.peer === "bob");
    await bob1.kill9();
    const bob2 = chat(tempHome(homes), "--name", "bob", "--port", String(bobPort));
    const kc = await alice.waitFor("key_changed", () => true, 20_000);
    await alice.waitFor("dial_stopped", (e) => e.code === "identity_rejected");
    const file = join(aliceHome, "known_peers");
    writeFileSync(file, readFileSync(file, "utf8").split("\n").filter((l) => !l.startsWith(`127.0.0.1:${bobPort} `)).join("\n"), { mode: 0o600 });
    alice.say(`/connect 127.0.0.1:${bobPort}`);
    const c = await alice.waitFor("connected", (x) => x.fingerprint === kc.presented, 20_000);
    expect(c.firstContact).toBe(true);
    // The new pin was written after the outside edit (never "changed on disk").
    const bob2Key = readFileSync(join(aliceHome, "known_peers"), "utf8");
    expect(alice.of("error").filter((e) => e.code === "known_peers")).toEqual([]);
    expect(bob2Key).toContain(`127.0.0.1:${bobPort} bob `);
    void bob2;
  }, 45_000);
});

describe("--allow-new and --strict", () => {
  test("--allow-new: a key that dials in is a contact at once and receives typed lines", async () => {
    const alice = chat(tempHome(homes), "--name", "alice", "--port", "0", "--allow-new");
    const port = await alice.port();
    const bot = await stranger(port, "bot");
    const c = await alice.waitFor("connected");
    expect(c.request).toBeUndefined();
    expect(c.firstContact).toBe(true);
    alice.say("hello bot");
    await until("the line at the bot", () => bot.items.some((i) => i.kind === "text" && i.text === "hello bot"));
    expect(toHex(bot.identity.publicKey)).toHaveLength(64);
  }, 30_000);
});
