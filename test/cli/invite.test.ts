/**
 * `sotto invite` (src/cli/invite.ts): the invite line without a chat running. Its token
 * is kept in the home, so the sotto that listens with that home, started later or
 * already running, takes the dialler as a contact (not a request) on first contact; a
 * second use is a request; a man in the middle with its own key is refused.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { ChatProcess, cleanup, loopbackChat, tempHome } from "../e2e/harness.ts";
import { parseInvite } from "../../src/chat/trust/invite.ts";
import { runInvite } from "../../src/cli/invite.ts";

const MAIN = join(import.meta.dir, "../../src/cli/main.ts");
const homes: string[] = [];
const procs: ChatProcess[] = [];
afterEach(() => cleanup(homes, procs));
const chat = loopbackChat(procs);

/** `sotto invite` as a user runs it: its stdout lines, stderr and exit code. */
function invite(...args: string[]): { lines: string[]; stderr: string; code: number } {
  const r = Bun.spawnSync(["bun", MAIN, "invite", ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  return { lines: r.stdout.toString().split("\n").filter((l) => l !== ""), stderr: r.stderr.toString(), code: r.exitCode };
}

/** A port nothing listens on now. */
function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
}

describe("sotto invite", () => {
  test("a listener started later honours the token once: the dialler is a contact, a second key with the line a request", async () => {
    const home = tempHome(homes);
    const port = freePort();
    const out = invite("--home", home, "--host", "127.0.0.1", "--port", String(port));
    expect(out.code).toBe(0);
    expect(out.lines).toHaveLength(1);
    const inv = parseInvite(out.lines[0]!)!;
    expect(inv.address).toBe(`127.0.0.1:${port}`);
    expect(inv.token).toHaveLength(16);
    expect(out.stderr).toContain("works once");

    const bob = chat(home, "--name", "bob", "--port", String(port));
    expect(inv.fingerprint).toBe((await bob.waitFor("identity")).fingerprint.replace(/ /g, ""));
    await bob.port();
    const alice = chat(tempHome(homes), "--name", "alice", "--no-listen", "--connect", out.lines[0]!);
    expect((await alice.waitFor("connected")).verified).toBe(true);
    await bob.waitFor("contact", (n) => n.change === "invited");
    bob.say("welcome alice");
    expect((await alice.waitFor("message", (m) => m.text === "welcome alice")).peer).toBe("bob");

    const carol = chat(tempHome(homes), "--name", "carol", "--no-listen", "--connect", out.lines[0]!);
    await carol.waitFor("connected");
    expect((await bob.waitFor("connected", (c) => c.peer === "carol")).request).toBeDefined();
    bob.say("/contacts");
    const contacts = await bob.waitFor("contacts");
    expect(contacts.contacts.map((c) => c.name)).toEqual(["alice"]);
  }, 30_000);

  test("a listener already running with the home honours a token made after it started", async () => {
    const home = tempHome(homes);
    const bob = chat(home, "--name", "bob", "--port", "0");
    const port = await bob.port();
    const out = invite("--home", home, "--host", "127.0.0.1", "--port", String(port));
    expect(out.code).toBe(0);
    const alice = chat(tempHome(homes), "--name", "alice", "--no-listen", "--connect", out.lines[0]!);
    await alice.waitFor("connected");
    await bob.waitFor("contact", (n) => n.change === "invited" && n.peer === "alice");
  }, 30_000);

  test("without --port it uses the port of the sotto running with the home (started with --port 0), and says so", async () => {
    const home = tempHome(homes);
    const bob = chat(home, "--name", "bob", "--port", "0");
    const port = await bob.port();
    expect(port).not.toBe(5000);
    expect(statSync(join(home, "listening")).mode & 0o777).toBe(0o600);
    const out = invite("--home", home);
    expect(out.code).toBe(0);
    expect(out.lines).toHaveLength(1);
    expect(parseInvite(out.lines[0]!)!.address).toBe(`127.0.0.1:${port}`);
    expect(out.stderr).toContain(`Port ${port} is the one your sotto`);
    const alice = chat(tempHome(homes), "--name", "alice", "--no-listen", "--connect", out.lines[0]!);
    expect((await alice.waitFor("connected")).verified).toBe(true);
    await bob.waitFor("contact", (n) => n.change === "invited" && n.peer === "alice");
    // A clean quit takes the record away.
    bob.say("/quit");
    expect(await bob.exited).toBe(0);
    expect(existsSync(join(home, "listening"))).toBe(false);
  }, 30_000);

  test("a record left by a sotto killed with SIGKILL is ignored: port 5000 as with none running", async () => {
    const home = tempHome(homes);
    const bob = chat(home, "--name", "bob", "--port", "0");
    const port = await bob.port();
    await bob.kill9();
    expect(existsSync(join(home, "listening"))).toBe(true);
    const out = invite("--home", home, "--host", "127.0.0.1");
    expect(out.code).toBe(0);
    expect(parseInvite(out.lines[0]!)!.address).toBe("127.0.0.1:5000");
    expect(out.stderr).toContain("none is running with it now");
    // A record naming a live process that does not hold the home is ignored too.
    await Bun.write(join(home, "listening"), JSON.stringify({ pid: process.pid, host: "127.0.0.1", port }));
    expect(parseInvite(invite("--home", home, "--host", "127.0.0.1").lines[0]!)!.address).toBe("127.0.0.1:5000");
  }, 30_000);

  test("a man in the middle with its own key at the invited address is refused on first contact", async () => {
    const home = tempHome(homes);
    const bob = chat(home, "--name", "bob", "--port", "0");
    const bobPort = await bob.port();
    const mallory = chat(tempHome(homes), "--name", "bob", "--port", "0", "--allow-new", "--connect", `127.0.0.1:${bobPort}`);
    const mPort = await mallory.port();
    await mallory.waitFor("connected");
    // The route to the invited address leads to mallory.
    const out = invite("--home", home, "--host", "127.0.0.1", "--port", String(mPort));
    const alice = chat(tempHome(homes), "--name", "alice", "--no-listen", "--connect", out.lines[0]!);
    const kc = await alice.waitFor("key_changed");
    expect(kc.pinned).toBe((await bob.waitFor("identity")).fingerprint);
    expect(kc.presented).toBe((await mallory.waitFor("identity")).fingerprint);
    expect(alice.of("connected")).toEqual([]);
    expect(mallory.of("message")).toEqual([]);
  }, 30_000);

  test("bad flags: one sentence and exit 2; --help fits 80 columns", () => {
    const err: string[] = [];
    const io = { stdout: { write: (s: string) => (err.push(s), true) } as unknown as NodeJS.WritableStream, stderr: { write: (s: string) => err.push(s) }, isTTY: false, env: {} };
    expect(runInvite(["--port", "0"], io)).toBe(2);
    expect(err.join("")).toContain("--port expects");
    expect(runInvite(["--bogus"], io)).toBe(2);
    err.length = 0;
    expect(runInvite(["--help"], io)).toBe(0);
    for (const l of err.join("").split("\n")) expect(l.length).toBeLessThanOrEqual(80);
    expect(err.join("")).not.toContain("\x1b[");
  });
});
