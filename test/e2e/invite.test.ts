/**
 * Invites (src/chat/trust/invite.ts): `/invite` prints sotto://host:port#fingerprint; a
 * `--connect <invite>` pins that fingerprint before dialling, so a man in the middle that
 * answers at the address with its own key is refused on first contact.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { ChatProcess, cleanup, tempHome, loopbackChat } from "./harness.ts";
import { parseInvite } from "../../src/chat/trust/invite.ts";

const homes: string[] = [];
const procs: ChatProcess[] = [];
afterEach(() => cleanup(homes, procs));

const chat = loopbackChat(procs);

async function inviteOf(p: ChatProcess): Promise<string> {
  p.say("/invite");
  const n = await p.waitFor("invites");
  return n.invites.find((l) => l.includes("127.0.0.1"))!;
}

describe("invites", () => {
  test("round trip: the invite names the address and fingerprint; dialling it makes a verified contact", async () => {
    const bob = chat(tempHome(homes), "--name", "bob", "--port", "0");
    const port = await bob.port();
    const line = (await inviteOf(bob)).replace(/\?t=[0-9a-f]{32}/, ""); // without its token (see the next test)
    const inv = parseInvite(line)!;
    expect(inv.address).toBe(`127.0.0.1:${port}`);
    expect(inv.fingerprint).toBe((await bob.waitFor("identity")).fingerprint.replace(/ /g, ""));
    const alice = chat(tempHome(homes), "--name", "alice", "--no-listen", "--connect", line);
    const c = await alice.waitFor("connected");
    expect(c.peer).toBe("bob");
    expect(c.verified).toBe(true);
    alice.say("hello via invite");
    const m = await bob.waitFor("message", (x) => x.text === "hello via invite");
    expect(m.request).toBe((await bob.waitFor("connected")).request!); // alice is a request to bob until he allows her
  }, 30_000);

  test("an invite's one-time token makes the dialler a contact at the listener; a second use does not", async () => {
    const bob = chat(tempHome(homes), "--name", "bob", "--port", "0");
    await bob.port();
    const line = await inviteOf(bob);
    expect(parseInvite(line)!.token).toHaveLength(16);
    const alice = chat(tempHome(homes), "--name", "alice", "--no-listen", "--connect", line);
    await alice.waitFor("connected");
    await bob.waitFor("contact", (n) => n.change === "invited" && n.message.includes("came with one of your invites"));
    bob.say("welcome alice");
    expect((await alice.waitFor("message", (m) => m.text === "welcome alice")).peer).toBe("bob");
    // The same line again, from another key: the token is spent, so it is a request.
    const carol = chat(tempHome(homes), "--name", "carol", "--no-listen", "--connect", line);
    await carol.waitFor("connected");
    const req = await bob.waitFor("connected", (c) => c.peer === "carol");
    expect(req.request).toBeDefined();
    bob.say("only for contacts");
    await alice.waitFor("message", (m) => m.text === "only for contacts");
    carol.say("/peers");
    await carol.waitFor("peers");
    expect(carol.of("message")).toEqual([]);
  }, 30_000);

  test("a man in the middle with its own key at the invited address is refused as a key change on first contact", async () => {
    const bob = chat(tempHome(homes), "--name", "bob", "--port", "0");
    const bobPort = await bob.port();
    const line = await inviteOf(bob);
    // mallory relays to bob (it dials him) but can only present its own key to alice.
    const mallory = chat(tempHome(homes), "--name", "bob", "--port", "0", "--allow-new", "--connect", `127.0.0.1:${bobPort}`);
    const mPort = await mallory.port();
    await mallory.waitFor("connected");
    const hijacked = line.replace(`127.0.0.1:${bobPort}`, `127.0.0.1:${mPort}`); // the route to bob leads to mallory
    const alice = chat(tempHome(homes), "--name", "alice", "--no-listen", "--connect", hijacked);
    const kc = await alice.waitFor("key_changed");
    expect(kc.pinned).toBe((await bob.waitFor("identity")).fingerprint);
    expect(kc.presented).toBe((await mallory.waitFor("identity")).fingerprint);
    await alice.waitFor("dial_stopped", (e) => e.code === "identity_rejected");
    alice.say("secret");
    await alice.waitFor("error", (n) => n.code === "no_peer" && n.message.includes("not sent"));
    expect(alice.of("connected")).toEqual([]);
    expect(alice.of("sent")).toEqual([]);
    expect(mallory.of("message")).toEqual([]);
  }, 30_000);
});
