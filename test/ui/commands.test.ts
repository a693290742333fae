import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatEvent } from "../../src/ui/format.ts";
import { HELP, runCommand, splitWords } from "../../src/ui/commands.ts";
import { ChatError, type ChatApi, type ChatEvent, type FileApi, type PeerInfo } from "../../src/chat/events.ts";

const ALICE: PeerInfo = {
  name: "alice",
  address: "10.0.0.7:7000",
  fingerprint: "aaaa bbbb",
  safetyNumber: "12345 67890",
  verified: false,
  role: "initiator",
  unacked: 2,
};

/** A ChatApi that records every call; `peerList` and `fail` steer its answers. */
function fakeApi(peerList: PeerInfo[] = [ALICE]) {
  const calls: [string, ...unknown[]][] = [];
  const known = (name: string) => {
    if (!peerList.some((p) => p.name === name)) throw new ChatError("unknown_peer", `no peer named ${name} is connected`);
  };
  let name = "me";
  const api: ChatApi = {
    fingerprint: "ffff 0000",
    get name() {
      return name;
    },
    sendAll: (text) => (calls.push(["sendAll", text]), peerList.length),
    sendTo: (to, text) => (calls.push(["sendTo", to, text]), known(to)),
    connect: (address) => {
      calls.push(["connect", address]);
      if (!address.includes(":")) throw new ChatError("bad_address", `"${address}" is not host:port`);
    },
    peers: () => (calls.push(["peers"]), peerList),
    verify: (who) => {
      calls.push(["verify", who]);
      if (who !== undefined) known(who);
      return peerList.filter((p) => who === undefined || p.name === who).map(({ name, fingerprint, safetyNumber, verified }) => ({ name, fingerprint, safetyNumber, verified }));
    },
    trust: (who) => (calls.push(["trust", who]), known(who)),
    nick: (n) => {
      calls.push(["nick", n]);
      name = n;
    },
    rekey: () => (calls.push(["rekey"]), peerList.length),
    queued: () => 0,
    drain: async () => true,
    close: async () => void calls.push(["close"]),
  };
  return { api, calls };
}

async function run(line: string, peerList?: PeerInfo[]) {
  const { api, calls } = fakeApi(peerList);
  const events: ChatEvent[] = [];
  const result = await runCommand(line, api, (e) => events.push(e));
  return { result, calls, events };
}

// Answers are typed events; their text is what a person sees (formatEvent).
const messages = (events: ChatEvent[]) => events.map((e) => formatEvent(e, { color: false }) ?? e.type);

describe("plain lines", () => {
  test("a plain line goes to every peer", async () => {
    const { calls, events, result } = await run("hello there");
    expect(calls).toEqual([["sendAll", "hello there"]]);
    expect(events).toEqual([]);
    expect(result).toBeUndefined();
  });
  test("// sends a line that starts with /", async () => {
    expect((await run("//not a command")).calls).toEqual([["sendAll", "/not a command"]]);
  });
  test("with no peer it says the message went nowhere", async () => {
    const { calls, events } = await run("anyone?", []);
    expect(calls).toEqual([["sendAll", "anyone?"]]);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: "error", code: "no_peer" });
    expect(messages(events)[0]).toContain("No peer is connected");
  });
  test("blank lines do nothing", async () => {
    for (const line of ["", "   ", "\t"]) expect((await run(line)).calls).toEqual([]);
  });
});

describe("commands", () => {
  test("/help answers with a typed help event", async () => {
    const { events } = await run("/help");
    expect(events).toEqual([{ type: "help", text: HELP }]);
    for (const c of ["/peers", "/connect", "/msg", "/verify", "/trust", "/nick", "/rekey", "/quit"]) expect(HELP).toContain(c);
  });
  test("/peers lists peers with fingerprints, or says none", async () => {
    const one = await run("/peers");
    expect(one.calls).toEqual([["peers"]]);
    expect(one.events.map((e) => e.type)).toEqual(["peers"]);
    expect(messages(one.events)[0]).toContain("alice");
    expect(messages(one.events)[0]).toContain("aaaa bbbb");
    expect(messages(one.events)[0]).toContain("2 unacknowledged");
    expect(messages((await run("/peers", [])).events)[0]).toContain("No peers");
  });
  test("/connect dials", async () => {
    const { calls, events } = await run("/connect 10.0.0.9:5000");
    expect(calls).toEqual([["connect", "10.0.0.9:5000"]]);
    expect(events).toEqual([{ type: "dialling", address: "10.0.0.9:5000" }]);
  });
  test("/msg sends the rest of the line privately, spacing kept", async () => {
    expect((await run("/msg alice hi  there ")).calls).toEqual([["sendTo", "alice", "hi  there "]]);
  });
  test("/verify with and without a name", async () => {
    const all = await run("/verify");
    expect(all.calls).toEqual([["verify", undefined]]);
    expect(all.events.map((e) => e.type)).toEqual(["safety_numbers"]);
    expect(messages(all.events)[0]).toContain("12345 67890");
    expect(messages(all.events)[0]).toContain("ffff 0000");
    expect((await run("/verify alice")).calls).toEqual([["verify", "alice"]]);
    expect(messages((await run("/verify", [])).events)[0]).toContain("No peers");
  });
  test("/trust, /nick, /rekey", async () => {
    expect((await run("/trust alice")).calls).toEqual([["trust", "alice"]]);
    const nick = await run("/nick bob");
    expect(nick.calls).toEqual([["nick", "bob"]]);
    expect(messages(nick.events)[0]).toContain("bob");
    const rekey = await run("/rekey");
    expect(rekey.calls).toEqual([["rekey"]]);
    expect(messages(rekey.events)[0]).toContain("1 session");
  });
  test("/quit and /exit return quit without touching the api", async () => {
    for (const line of ["/quit", "/exit", "/QUIT"]) {
      const { result, calls } = await run(line);
      expect(result).toBe("quit");
      expect(calls).toEqual([]);
    }
  });
  test("command names are case-insensitive", async () => {
    expect((await run("/Peers")).calls).toEqual([["peers"]]);
  });
});

describe("mistakes", () => {
  const badUsage: [string, string][] = [
    ["/connect", "/connect host:port"],
    ["/connect a:1 b:2", "/connect host:port"],
    ["/msg", "/msg name text"],
    ["/msg alice", "/msg name text"],
    ["/msg alice    ", "/msg name text"],
    ["/verify a b", "/verify [name]"],
    ["/trust", "/trust name"],
    ["/nick", "/nick name"],
    ["/nick a b", "/nick name"],
    ["/peers now", "/peers"],
    ["/quit please", "/quit"],
  ];
  test.each(badUsage)("%p is a usage error that names the usage", async (line, usage) => {
    const { calls, events, result } = await run(line);
    expect(calls).toEqual([]);
    expect(result).toBeUndefined();
    expect(events).toHaveLength(1);
    const e = events[0]!;
    expect(e.type).toBe("error");
    expect(e.type === "error" && e.code).toBe("bad_command");
    expect(messages(events)[0]).toContain(`Usage: ${usage}`);
    expect(messages(events)[0]).not.toContain("\n");
  });
  test("an unknown command is an error pointing at /help", async () => {
    for (const line of ["/frobnicate", "/", "/ msg", "/constructor", "/__proto__"]) {
      const { calls, events } = await run(line);
      expect(calls).toEqual([]);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ type: "error", code: "bad_command" });
      expect(messages(events)[0]).toContain("/help");
    }
  });
  test("an unknown command is echoed sanitized", async () => {
    const { events } = await run("/\x1b[2Jx");
    expect(messages(events)[0]).not.toContain("\x1b");
  });
  test("a ChatError from the api becomes an error event with its code and message", async () => {
    const cases: [string, string][] = [
      ["/msg carol hi", "unknown_peer"],
      ["/verify carol", "unknown_peer"],
      ["/trust carol", "unknown_peer"],
      ["/connect nocolon", "bad_address"],
    ];
    for (const [line, code] of cases) {
      const { events } = await run(line);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ type: "error", code });
    }
  });
  test("any other exception is a bug and is rethrown", async () => {
    const { api } = fakeApi();
    api.rekey = () => {
      throw new TypeError("boom");
    };
    await expect(runCommand("/rekey", api, () => {})).rejects.toThrow("boom");
  });
});

describe("file commands", () => {

  function filesApi(peers: string[] = ["bob"]) {
    const calls: unknown[][] = [];
    const files: FileApi = {
      downloads: "/dl",
      send: (paths, to) => (calls.push(["send", paths, to]), paths.length),
      accept: (id) => (calls.push(["accept", id]), 1),
      reject: (id) => (calls.push(["reject", id]), 0),
      cancel: (id) => {
        calls.push(["cancel", id]);
        throw new ChatError("unknown_transfer", "no transfer has id 9");
      },
      list: () => [{ id: "3", direction: "receive", peer: "bob\x1b[2J", name: "a\x07.txt", size: 2000, bytes: 1000, state: "receiving" }],
      isPeer: (n) => peers.includes(n),
    };
    const { api } = fakeApi();
    return { api: { ...api, files }, calls };
  }
  async function runF(line: string, peers?: string[]) {
    const { api, calls } = filesApi(peers);
    const events: ChatEvent[] = [];
    await runCommand(line, api, (e) => events.push(e));
    return { calls, events };
  }

  test("splitWords keeps quoted spaces and backslash escapes", () => {
    expect(splitWords(`a "b c" 'd "e"' f\\ g`)).toEqual(["a", "b c", 'd "e"', "f g"]);
    expect(splitWords(`  x  `)).toEqual(["x"]);
    expect(() => splitWords(`"open`)).toThrow(ChatError);
  });
  test("/send PATH... goes to everyone; a first word naming a peer sends to that peer only", async () => {
    expect((await runF("/send README.md package.json")).calls).toEqual([["send", ["README.md", "package.json"], undefined]]);
    expect((await runF("/send bob a.txt")).calls).toEqual([["send", ["a.txt"], "bob"]]);
    expect((await runF("/send bob")).calls).toEqual([["send", ["bob"], undefined]]);
    expect((await runF(`/send "my file.txt"`)).calls).toEqual([["send", ["my file.txt"], undefined]]);
  });
  test("/send NAME resolves among contacts only; a file of the same name here is named and not sent", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sotto-send-"));
    const was = process.cwd();
    try {
      writeFileSync(join(dir, "bob"), "a file called bob");
      writeFileSync(join(dir, "salary.pdf"), "x");
      process.chdir(dir);
      const r = await runF("/send bob salary.pdf");
      expect(r.calls).toEqual([["send", ["salary.pdf"], "bob"]]);
      expect(r.events[0]).toEqual({ type: "send_name_is_path", peer: "bob", path: "bob" });
      expect(messages(r.events)[0]).toContain("bob is one of your contacts, so the files go to bob; the file or folder bob here was not sent (write ./bob to send it)");
      // ./bob is a path, not a name: sent to everyone.
      expect((await runF("/send ./bob salary.pdf")).calls).toEqual([["send", ["./bob", "salary.pdf"], undefined]]);
      // dave is no contact and no file here: one sentence, nothing sent.
      const d = await runF("/send dave salary.pdf");
      expect(d.calls).toEqual([]);
      expect(d.events[0]).toEqual({ type: "error", code: "bad_command", message: '"dave" is neither one of your contacts nor a file or folder here, so nothing was sent; /contacts lists your contacts.' });
    } finally {
      process.chdir(was);
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test("/accept, /reject with and without an id; errors become events", async () => {
    expect((await runF("/accept")).calls).toEqual([["accept", undefined]]);
    expect((await runF("/accept 4")).calls).toEqual([["accept", "4"]]);
    const r = await runF("/reject");
    expect(messages(r.events)[0]).toContain("No file offer is waiting");
    const c = await runF("/cancel 9");
    expect(c.events[0]).toEqual({ type: "error", code: "unknown_transfer", message: "no transfer has id 9" });
  });
  test("/transfers lists them, peer strings escaped", async () => {
    const t = await runF("/transfers");
    expect(t.events.map((e) => e.type)).toEqual(["transfers"]);
    const text = messages(t.events)[0]!;
    expect(text).toContain("[3] ↓ from bob\\x1b[2J");
    expect(text).toContain("a\\x07.txt");
    expect(text).toContain("50%");
  });
  test("without file support the commands say so", async () => {
    const { api } = fakeApi();
    const events: ChatEvent[] = [];
    await runCommand("/send x", api, (e) => events.push(e));
    expect(events[0]).toMatchObject({ type: "error", code: "files_unsupported" });
  });
  test("/help lists the file commands", () => {
    for (const c of ["/send", "/accept", "/reject", "/cancel", "/transfers"]) expect(HELP).toContain(c);
  });
});

describe("answers for scripts", () => {
  test("every answer to a command is a typed event, not a free-text notice", async () => {
    const want: Record<string, string> = { "/help": "help", "/peers": "peers", "/verify": "safety_numbers", "/rekey": "rekeyed", "/connect 10.0.0.9:5000": "dialling", "/nick bob": "renamed" };
    for (const [line, type] of Object.entries(want)) expect((await run(line)).events.map((e): string => e.type)).toEqual([type]);
  });
  test("/invite, /contacts, /requests, /disconnect, /connect to a connected address, /accept with nothing waiting: typed too", async () => {
    const { api } = fakeApi();
    const contacts = { list: () => [{ name: "bob", fingerprint: "bb", verified: true, connected: false }], requests: () => [], invites: () => ["sotto://10.0.0.7:5000#ab"], allow: () => "", block: () => "", replace: () => {}, forget: () => {}, isContact: () => true };
    const files = { downloads: "/d", send: () => 0, accept: () => 0, reject: () => 0, cancel: () => 0, list: () => [], isPeer: () => false };
    const full: ChatApi = Object.assign(Object.create(api), { contacts, files, disconnect: () => 2, connect: () => "Already connected to bob at 10.0.0.7:5000." });
    const answer = async (line: string) => {
      const events: ChatEvent[] = [];
      await runCommand(line, full, (e) => events.push(e));
      return events;
    };
    expect(await answer("/invite")).toEqual([{ type: "invites", invites: ["sotto://10.0.0.7:5000#ab"] }]);
    expect(await answer("/contacts")).toEqual([{ type: "contacts", contacts: contacts.list() }]);
    expect(await answer("/requests")).toEqual([{ type: "requests", requests: [] }]);
    expect(await answer("/disconnect bob")).toEqual([{ type: "disconnecting", peer: "bob", ended: 2 }]);
    expect(await answer("/connect 10.0.0.7:5000")).toEqual([{ type: "not_dialling", address: "10.0.0.7:5000", reason: "Already connected to bob at 10.0.0.7:5000." }]);
    expect(await answer("/accept")).toEqual([{ type: "error", code: "unknown_transfer", message: "No file offer is waiting for an answer." }]);
    contacts.invites = () => [];
    expect((await answer("/invite"))[0]).toMatchObject({ type: "error", code: "not_listening" });
    // What a person reads is the same as before.
    expect(formatEvent((await answer("/contacts"))[0]!, { color: false })).toContain("bob  verified ✓");
  });
});
