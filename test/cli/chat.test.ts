/**
 * `sotto chat` as a new user meets it: the --help text, the no-argument start, the
 * default name, and a listening bot in line mode that outlives the end of its input.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { defaultName, parseChatArgs, type ChatSettings } from "../../src/cli/chat-args.ts";
import { askSettings, runChat, type Ask, type ChatIo } from "../../src/cli/chat.ts";
import { topUsage } from "../../src/cli/main.ts";
import { removeHomes, tempHome } from "../support/home.ts";
import { until } from "../support/wait.ts";

afterAll(removeHomes);
const MAIN = join(import.meta.dir, "../../src/cli/main.ts");

async function helpText(isTTY: boolean, env: Record<string, string | undefined>): Promise<string> {
  const out: string[] = [];
  const stdout = new PassThrough();
  stdout.on("data", (d) => out.push(String(d)));
  const io: ChatIo = { stdin: new PassThrough(), stdout, stderr: { write: () => 0 }, isTTY, env: { SOTTO_HOME: "/tmp/x", USER: "t", ...env }, signals: false };
  expect(await runChat(["--help"], io)).toBe(0);
  return out.join("");
}

describe("--help", () => {
  test("every line fits 80 columns", async () => {
    for (const text of [await helpText(false, {}), topUsage(false)]) {
      const long = text.split("\n").filter((l) => Bun.stringWidth(l) > 80);
      expect(long).toEqual([]);
    }
  });
  test("no colour when not a terminal or with NO_COLOR; colour in a terminal", async () => {
    expect(await helpText(false, {})).not.toContain("\x1b");
    expect(await helpText(true, { NO_COLOR: "1" })).not.toContain("\x1b");
    expect(await helpText(true, { TERM: "dumb" })).not.toContain("\x1b");
    expect(await helpText(true, { NO_COLOR: "" })).toContain("\x1b["); // no-color.org: an empty NO_COLOR does not count
    expect(await helpText(true, {})).toContain("\x1b[");
    expect(topUsage(false)).not.toContain("\x1b");
  });
  test("names the command that works in a checkout", async () => {
    expect(await helpText(false, {})).toContain("bun run chat");
  });
  test("piped through a real process: no escape codes, 80 columns", () => {
    const r = Bun.spawnSync(["bun", MAIN, "chat", "--help"], { stdout: "pipe", env: { ...process.env, NO_COLOR: undefined } });
    const text = r.stdout.toString();
    expect(text).toContain("--port");
    expect(text).not.toContain("\x1b");
    expect(text.split("\n").filter((l) => Bun.stringWidth(l) > 80)).toEqual([]);
  });
});

describe("the no-argument start", () => {
  const base = (): ChatSettings => {
    const r = parseChatArgs([], { SOTTO_HOME: "/tmp/x", USER: "tester" });
    if (r.kind !== "ok") throw new Error("defaults");
    return r.settings;
  };
  function script(answers: string[]): { ask: Ask; asked: { message: string; default: string }[] } {
    const asked: { message: string; default: string }[] = [];
    return {
      asked,
      ask: async (message, o) => {
        asked.push({ message, default: o.default });
        const a = answers.shift();
        return a === undefined ? undefined : a === "" ? o.default : a;
      },
    };
  }

  test("asks port, peer and name; the name defaults to the user name and is used", async () => {
    const { ask, asked } = script(["6000", "", "robin"]);
    const s = await askSettings(base(), ask, { write: () => 0 }, () => true);
    expect(asked.map((a) => a.message)).toEqual(["Port to listen on", "Peer to connect to, as host:port", "Your name, as others see it"]);
    expect(asked[2]!.default).toBe("tester");
    expect(s).toMatchObject({ name: "robin", listen: { port: 6000 }, connect: [] });
  });
  test("a port in use is asked again with a free one suggested, which Enter takes", async () => {
    const taken = new Set([5000, 5001]);
    const err: string[] = [];
    const { ask, asked } = script(["", "", "", ""]);
    const s = await askSettings(base(), ask, { write: (x: string) => err.push(x) }, (_h, p) => !taken.has(p));
    expect(asked.map((a) => a.message)).toEqual(["Port to listen on", "Port to listen on", "Peer to connect to, as host:port", "Your name, as others see it"]);
    expect(asked[1]!.default).toBe("5002");
    expect(err).toHaveLength(1);
    expect(err[0]).toContain("port 5000 is already in use");
    expect(err[0]).toContain("5002 is free");
    expect(s).toMatchObject({ name: "tester", listen: { port: 5002 } });
  });
  test("a privileged port says why", async () => {
    const err: string[] = [];
    const { ask } = script(["80", "", "", ""]);
    const s = await askSettings(base(), ask, { write: (x: string) => err.push(x) }, (_h, p) => p >= 1024);
    expect(err[0]).toContain("ports below 1024");
    expect(s?.listen?.port).toBe(8080);
  });
  test("a real port in use is detected", async () => {
    const { portFree } = await import("../../src/cli/chat.ts");
    const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      expect(portFree("127.0.0.1", l.port)).toBe(false);
    } finally {
      l.stop(true);
    }
    expect(portFree("127.0.0.1", l.port)).toBe(true);
  });
});

describe("the default name", () => {
  test("an account os.userInfo() cannot name (\"unknown\") falls back to the passwd entry of our uid", async () => {
    const dir = tempHome();
    const passwd = join(dir, "passwd");
    await Bun.write(passwd, `other:x:12345:12345::/:/bin/sh\nrobin:x:${process.getuid!()}:0::/root:/bin/sh\n`);
    const name = defaultName({}, passwd);
    expect(name).not.toBe("unknown");
    expect(name).toBe("robin");
  });
});

describe("line mode as a service", () => {
  test("a listener that dials no one keeps running after end of input and still chats; SIGTERM ends it with 0", async () => {
    const home = tempHome();
    const bot = Bun.spawn(["bun", MAIN, "chat", "--json", "--home", home, "--host", "127.0.0.1", "--port", "0", "--name", "bot"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const lines: string[] = [];
    void (async () => {
      let buf = "";
      for await (const c of bot.stdout) {
        buf += new TextDecoder().decode(c);
        const parts = buf.split("\n");
        buf = parts.pop()!;
        lines.push(...parts);
      }
    })();
    const listening = await until("listening", () => lines.map((l) => JSON.parse(l)).find((e) => e.type === "listening"));
    const peer = Bun.spawn(["bun", MAIN, "chat", "--json", "--home", tempHome(), "--no-listen", "--name", "amy", "--connect", `127.0.0.1:${listening.port}`], { stdin: "pipe", stdout: "ignore", stderr: "ignore" });
    peer.stdin.write("hello bot\n");
    peer.stdin.end();
    expect(await peer.exited).toBe(0);
    const msg = await until("the message", () => lines.map((l) => JSON.parse(l)).find((e) => e.type === "message"));
    expect(msg.text).toBe("hello bot");
    expect(bot.exitCode).toBeNull();
    bot.kill("SIGTERM");
    expect(await bot.exited).toBe(0);
  }, 20_000);
});
