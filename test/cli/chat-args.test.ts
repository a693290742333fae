import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { PassThrough } from "node:stream";
import { chatArgs, defaultName, parseChatArgs, type ChatSettings } from "../../src/cli/chat-args.ts";
import { runChat, type ChatIo } from "../../src/cli/chat.ts";
import { withDefaultCommand } from "../../src/cli/main.ts";
import { Group } from "../../src/protocol/constants.ts";

const ENV = { SOTTO_HOME: "/tmp/sotto-test-home", USER: "tester" };

function settings(argv: string[]): ChatSettings {
  const r = parseChatArgs(argv, ENV);
  if (r.kind !== "ok") throw new Error(`expected ok, got ${JSON.stringify(r)}`);
  return r.settings;
}

function errorOf(argv: string[]): string {
  const r = parseChatArgs(argv, ENV);
  if (r.kind !== "error") throw new Error(`expected an error for ${JSON.stringify(argv)}, got ${JSON.stringify(r)}`);
  return r.message;
}

/** A ChatIo that collects what runChat writes. */
function captureIo(input = "", isTTY = false) {
  const out: string[] = [];
  const err: string[] = [];
  const stdin = new PassThrough();
  stdin.end(input);
  const stdout = new PassThrough();
  stdout.on("data", (d) => out.push(String(d)));
  const io: ChatIo = { stdin, stdout, stderr: { write: (s: string) => err.push(s) }, isTTY, env: ENV, signals: false };
  return { io, out, err };
}

describe("defaults", () => {
  test("no flags: listen on 0.0.0.0:5000, x25519, home from $SOTTO_HOME, name from $USER", () => {
    expect(settings([])).toEqual({
      home: "/tmp/sotto-test-home",
      name: "tester",
      group: Group.X25519,
      strict: false,
      allowNew: false,
      listen: { host: "0.0.0.0", port: 5000 },
      connect: [],
      json: false,
      drainTimeoutMs: 10_000,
      acceptFiles: null,
      history: true,
      bell: true,
    });
  });
  test("an invalid user name falls back to a valid one", () => {
    expect(defaultName({ USER: "has space", LOGNAME: "ok_name" })).toBe("ok_name");
  });
});

describe("flags", () => {
  test("--connect takes a contact's name too (its pinned addresses are dialled); a name never has a colon", () => {
    expect(settings(["--connect", "bob,h:1"]).connect).toEqual(["bob", "h:1"]);
  });
  test("every flag", () => {
    const s = settings(["--port", "6000", "--host=127.0.0.1", "--connect", "a.example:1", "--name", "bob", "--group", "FFDHE3072", "--strict", "--allow-new", "--home", "rel/dir", "--json", "--drain-timeout", "2.5", "--accept-files", "in/box"]);
    expect(s).toEqual({
      home: resolve("rel/dir"),
      name: "bob",
      group: Group.FFDHE3072,
      strict: true,
      allowNew: true,
      listen: { host: "127.0.0.1", port: 6000 },
      connect: ["a.example:1"],
      json: true,
      drainTimeoutMs: 2500,
      acceptFiles: resolve("in/box"),
      history: true,
      bell: true,
    });
  });
  test("--connect repeats, takes commas, and drops duplicates", () => {
    expect(settings(["--connect", "a:1", "--connect=b:2,c:3", "--connect", "a:1", "--connect", "[::1]:5000"]).connect).toEqual(["a:1", "b:2", "c:3", "[::1]:5000"]);
  });
  test("--no-listen", () => {
    expect(settings(["--no-listen", "--connect", "h:1"]).listen).toBeNull();
  });
  test("--host accepts IPv6 with or without brackets", () => {
    expect(settings(["--host", "::1"]).listen?.host).toBe("::1");
    expect(settings(["--host", "[::1]"]).listen?.host).toBe("::1");
  });
  test("--test-keepalive-ms (tests only, not in --help) sets the keepalive; absent, the default stays", () => {
    expect(settings(["--test-keepalive-ms", "2000"]).keepaliveMs).toBe(2000);
    expect("keepaliveMs" in settings([])).toBe(false);
  });
  test("--no-history's help names the file it keeps none in (history.db), and that the outbox stays in state.db", () => {
    expect(chatArgs["no-history"].description).toBe("keep no conversation history (history.db; messages waiting for delivery are still kept in state.db until acknowledged)");
  });

  test("--help and -h", () => {
    expect(parseChatArgs(["--help"], ENV).kind).toBe("help");
    expect(parseChatArgs(["--port", "1", "-h"], ENV).kind).toBe("help");
  });
});

describe("bad values: one line naming the flag", () => {
  const cases: [string[], string][] = [
    [["--port", "-1"], "--port"],
    [["--port", "65536"], "--port"],
    [["--port", "abc"], "--port"],
    [["--port", "50.5"], "--port"],
    [["--port", ""], "--port"],
    [["--port=-1"], "--port"],
    [["--port", "-1"], "--port"],
    [["--port"], "--port"],
    [["--group", "rsa"], "--group"],
    [["--group", ""], "--group"],
    [["--connect", "nohost:"], "--connect"],
    [["--connect", "-dash"], "--connect"],
    [["--connect", "h:0"], "--connect"],
    [["--connect", "h:99999"], "--connect"],
    [["--connect", "h:1,oo ps"], "--connect"],
    [["--connect", "*"], "--connect"],
    [["--connect", "a b:1"], "--connect"],
    [["--host", "a b"], "--host"],
    [["--host", ""], "--host"],
    [["--name", "has space"], "--name"],
    [["--name", "\x1b[2J"], "--name"],
    [["--drain-timeout", "-1"], "--drain-timeout"],
    [["--drain-timeout", "soon"], "--drain-timeout"],
    [["--home", ""], "--home"],
    [["--test-keepalive-ms", "99"], "--test-keepalive-ms"],
    [["--test-keepalive-ms", "600001"], "--test-keepalive-ms"],
    [["--test-keepalive-ms", "1.5"], "--test-keepalive-ms"],
    [["--strict=yes"], "--strict"],
    [["--frobnicate"], "--frobnicate"],
    [["stray"], "stray"],
  ];
  test.each(cases)("%j", (argv, flag) => {
    const msg = errorOf(argv);
    expect(msg).toContain(flag);
    expect(msg).not.toContain("\n");
    expect(msg).not.toContain("\x1b");
  });
});

describe("runChat", () => {
  test("bad flags: exit code 2 and one line on stderr, nothing started", async () => {
    for (const argv of [["--port", "65536"], ["--group", "nope"], ["--connect", "bad:"], ["--what"]]) {
      const { io, err, out } = captureIo();
      expect(await runChat(argv, io)).toBe(2);
      expect(err).toHaveLength(1);
      expect(err[0]!).toMatch(/^sotto: [^\n]+\n$/);
      expect(out).toEqual([]);
    }
  });
  test("--help: usage on stdout, exit 0", async () => {
    const { io, out } = captureIo();
    expect(await runChat(["--help"], io)).toBe(0);
    const text = out.join("");
    for (const flag of ["--port", "--host", "--connect", "--name", "--group", "--strict", "--no-listen", "--home", "--json", "--drain-timeout"]) expect(text).toContain(flag);
    expect(text).not.toContain("--test-keepalive-ms");
  });
  test("no arguments in a terminal asks for port and peer; cancelling exits 0 without starting", async () => {
    const { io, out } = captureIo("", true);
    const asked: string[] = [];
    io.ask = async (message) => {
      asked.push(message);
      return asked.length === 1 ? "not a port" : undefined;
    };
    expect(await runChat([], io)).toBe(0);
    expect(asked).toHaveLength(2); // the bad port was asked again, then cancelled
    expect(out).toEqual([]);
  });
  test("a start failure is one sentence on stderr and exit 1", async () => {
    const home = mkdtempSync(join(tmpdir(), "sotto-args-"));
    await Bun.write(join(home, "identity"), "not an identity\n");
    const { chmodSync } = await import("node:fs");
    chmodSync(join(home, "identity"), 0o600);
    const { io, err } = captureIo();
    expect(await runChat(["--home", home, "--no-listen"], io)).toBe(1);
    expect(err).toHaveLength(1);
    expect(err[0]!).toMatch(/^sotto: [^\n]+\.\n$/);
  });
  test("line mode with no peer: the line goes nowhere, exit 1; --json prints one object per line", async () => {
    const home = mkdtempSync(join(tmpdir(), "sotto-args-"));
    const { io, out } = captureIo("hello\n");
    expect(await runChat(["--home", home, "--no-listen", "--json", "--drain-timeout", "0"], io)).toBe(1);
    const events = out.join("").trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(events[0]).toMatchObject({ type: "identity", created: true });
    expect(events.some((e) => e.type === "error" && e.code === "no_peer")).toBe(true);
  });
});

describe("main", () => {
  test("chat is the default subcommand, also when only flags are given", () => {
    expect(withDefaultCommand([])).toEqual([]);
    expect(withDefaultCommand(["chat", "--port", "1"])).toEqual(["chat", "--port", "1"]);
    expect(withDefaultCommand(["--port", "6000"])).toEqual(["chat", "--port", "6000"]);
    expect(withDefaultCommand(["--help"])).toEqual(["--help"]);
    expect(withDefaultCommand(["--version"])).toEqual(["--version"]);
    expect(withDefaultCommand(["--port", "1", "--help"])).toEqual(["chat", "--port", "1", "--help"]);
  });
});
