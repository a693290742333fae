import { describe, expect, test } from "bun:test";
import type { ChatEvent } from "../../src/chat/events.ts";
import { contactColor, formatEvent, jsonLine } from "../../src/ui/format.ts";

const FP_A = "aaaa 1111 2222 3333 4444 5555 6666 7777 8888 9999 aaaa bbbb cccc dddd eeee ffff";
const FP_B = "bbbb 0000 1111 2222 3333 4444 5555 6666 7777 8888 9999 aaaa bbbb cccc dddd eeee";
const NOON = new Date(2025, 0, 2, 12, 5).getTime();

// Payloads a hostile peer might put in any string it controls (see sanitize.test.ts).
const EVIL = ["\x1b[2J\x1b[H", "\x1b]0;pwned\x07", "\x1b]52;c;cm0gLXJmIH4K\x07", "\u009b31m", "a\rb", "\u202Eevil", "x\x00y\x7f", "\x1b[1A\x1b[2K<bob> forged"];

/** One event of every type, with `s` in every string a peer can influence. */
function everyEvent(s: string): ChatEvent[] {
  return [
    { type: "listening", host: s, port: 5000, fingerprint: s },
    { type: "identity", fingerprint: s, created: true, path: s },
    { type: "peers", peers: [], away: [{ address: s, peer: s, state: "reconnecting", since: NOON, reason: s, inMs: 1000 }] },
    { type: "moved", peer: s, fingerprint: s, from: s, host: s, pinned: s },
    { type: "connected", peer: s, address: s, role: "initiator", fingerprint: s, safetyNumber: s, firstContact: true, verified: false },
    { type: "connected", peer: s, address: s, role: "responder", fingerprint: s, safetyNumber: s, firstContact: false, verified: true },
    { type: "message", peer: s, fingerprint: s, id: "1", text: s, time: NOON, private: false },
    { type: "message", peer: s, fingerprint: s, id: "2", text: `${s}\nsecond ${s}`, time: NOON, private: true },
    { type: "nick", peer: s, previous: s },
    { type: "disconnected", peer: s, address: s, reason: s, code: s },
    { type: "reconnecting", address: s, inMs: 1500, attempt: 2 },
    { type: "key_changed", address: s, pinnedName: s, pinned: s, presented: s },
    { type: "rejected", address: s, fingerprint: s, reason: s },
    { type: "error", message: s, code: s },
    { type: "notice", message: `${s}\n${s}` },
  ];
}

/** Any C0/C1 control other than "\n", DEL, or a bidi control. */
const RAW = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const COLORLESS = { color: false } as const;

describe("formatEvent is safe", () => {
  test.each(EVIL)("no raw control or bidi character from a peer reaches the output: %j", (evil) => {
    for (const e of everyEvent(evil)) {
      for (const oneLine of [false, true]) {
        const out = formatEvent(e, { color: false, oneLine });
        expect(out).not.toBeNull();
        expect(out!).not.toMatch(RAW);
      }
    }
  });
  test("with color on, the only escapes are SGR codes we add", () => {
    for (const evil of EVIL) {
      for (const e of everyEvent(evil)) {
        const out = formatEvent(e, { color: true })!;
        const withoutSgr = out.replace(/\x1b\[[0-9;]*m/g, "");
        expect(withoutSgr).not.toMatch(RAW);
        // and the peer's own "\x1b[" survives only as visible text
        expect(out.includes("\x1b[2J")).toBe(false);
      }
    }
  });
  test("color off means no escape at all", () => {
    for (const e of everyEvent("plain")) expect(formatEvent(e, COLORLESS)!).not.toContain("\x1b");
  });
  test("oneLine: one event is one line, even with newlines in text", () => {
    for (const e of everyEvent("two\nlines\u2028here")) expect(formatEvent(e, { color: false, oneLine: true })!).not.toMatch(/[\n\u2028]/);
  });
});

describe("messages", () => {
  test("HH:MM name › text", () => {
    const e: ChatEvent = { type: "message", peer: "alice", fingerprint: FP_A, id: "1", text: "hi there", time: NOON, private: false };
    expect(formatEvent(e, COLORLESS)).toBe("12:05 alice › hi there");
  });
  test("private messages are marked", () => {
    const e: ChatEvent = { type: "message", peer: "alice", fingerprint: FP_A, id: "1", text: "psst", time: NOON, private: true };
    expect(formatEvent(e, COLORLESS)).toBe("12:05 alice (private) › psst");
  });
  test("a multi-line message is indented on screen and escaped in line mode", () => {
    const e: ChatEvent = { type: "message", peer: "alice", fingerprint: FP_A, id: "1", text: "one\ntwo", time: NOON, private: false };
    expect(formatEvent(e, COLORLESS)).toBe("12:05 alice › one\n      two");
    expect(formatEvent(e, { color: false, oneLine: true })).toBe("12:05 alice › one\\ntwo");
  });
  test("escapes are shown as text", () => {
    const e: ChatEvent = { type: "message", peer: "ev\x1bil", fingerprint: FP_A, id: "1", text: "\x1b[31mred", time: NOON, private: false };
    expect(formatEvent(e, COLORLESS)).toBe("12:05 ev\\x1bil › \\x1b[31mred");
  });
  test("a very long name is cut", () => {
    const e: ChatEvent = { type: "message", peer: "n".repeat(500), fingerprint: FP_A, id: "1", text: "x", time: NOON, private: false };
    expect(formatEvent(e, COLORLESS)!.length).toBeLessThan(60);
  });
  test("sent and ack print nothing", () => {
    expect(formatEvent({ type: "sent", peer: "a", id: "1", text: "x", private: false }, COLORLESS)).toBeNull();
    expect(formatEvent({ type: "ack", peer: "a", id: "1" }, COLORLESS)).toBeNull();
  });
});

describe("status lines", () => {
  test("are marked with a bullet; errors with ✗", () => {
    for (const e of everyEvent("x")) {
      if (e.type === "message") continue;
      const out = formatEvent(e, COLORLESS)!;
      expect(out).toMatch(e.type === "error" || e.type === "rejected" ? /^✗ / : e.type === "key_changed" ? /^!! / : /^• /);
    }
  });
  test("connected shows the fingerprint and, on first contact, the pin and /verify", () => {
    const e: ChatEvent = { type: "connected", peer: "alice", address: "10.0.0.7:7000", role: "initiator", fingerprint: FP_A, safetyNumber: "1", firstContact: true, verified: false };
    const out = formatEvent(e, COLORLESS)!;
    expect(out).toContain(FP_A);
    expect(out).toContain("pinned");
    expect(out).toContain("/verify alice");
    expect(formatEvent({ ...e, firstContact: false, verified: true }, COLORLESS)!).not.toContain("pinned");
  });
  test("key_changed is a loud warning with both fingerprints and what to do", () => {
    const e: ChatEvent = { type: "key_changed", address: "10.0.0.7:7000", pinnedName: "alice", pinned: FP_A, presented: FP_B };
    const out = formatEvent(e, { color: false, knownPeers: "/home/me/.config/sotto/known_peers" })!;
    expect(out).toContain("WARNING");
    expect(out).toContain(FP_A);
    expect(out).toContain(FP_B);
    expect(out).toContain("alice");
    expect(out).toContain("/home/me/.config/sotto/known_peers");
    expect(out).toContain("if you know why the key changed");
    expect(out.split("\n").length).toBeGreaterThan(3);
    const colored = formatEvent(e, { color: true })!;
    expect(colored).toContain("\x1b[31m"); // red
    const one = formatEvent(e, { color: false, oneLine: true })!;
    expect(one).not.toContain("\n");
    expect(one).toContain(FP_A);
    expect(one).toContain(FP_B);
  });
  test("reconnecting shows the delay and attempt", () => {
    expect(formatEvent({ type: "reconnecting", address: "h:1", inMs: 1500, attempt: 3 }, COLORLESS)).toBe("• reconnecting to h:1 in 1.5 s (attempt 3)");
  });
  test("a multi-line notice keeps its lines on screen and is joined in line mode", () => {
    const e: ChatEvent = { type: "notice", message: "first\nsecond" };
    expect(formatEvent(e, COLORLESS)).toBe("• first\n  second");
    expect(formatEvent(e, { color: false, oneLine: true })).toBe("• first | second");
  });
});

describe("trust marks", () => {
  const msg = { type: "message", peer: "bob", fingerprint: FP_A, id: "1", text: "hi", time: 1, private: false } as const;
  test("a verified contact's message carries ✓; an unverified one does not", () => {
    expect(formatEvent({ ...msg, verified: true }, COLORLESS)!).toContain("bob ✓ ›");
    expect(formatEvent({ ...msg, verified: false }, COLORLESS)!).not.toContain("✓");
  });
  test("a request's message quotes the claimed name, shows the fingerprint, and marks a lookalike loudly", () => {
    const out = formatEvent({ ...msg, peer: "b\u043eb", request: "r2", lookalike: "bob" }, COLORLESS)!;
    expect(out).toContain('request r2 "b\u043eb"');
    expect(out).toContain(FP_A.slice(0, 19));
    expect(out).toContain("⚠ NOT your contact bob");
    expect(formatEvent({ ...msg, request: "r1" }, COLORLESS)!).not.toContain("NOT your contact");
  });
  test("an inbound key change says a new key claims the contact, and how to accept it in the chat", () => {
    const out = formatEvent({ type: "key_changed", address: "127.0.0.1:5555", pinnedName: "alice", pinned: FP_A, presented: FP_B, direction: "inbound", claimed: "alice", safetyNumber: "12345 67890" }, COLORLESS)!;
    expect(out).toContain("A NEW KEY CLAIMS TO BE YOUR CONTACT alice");
    expect(out).toContain("12345 67890");
    expect(out).toContain("/replace alice");
    expect(out).toContain("/forget alice");
  });
});

describe("jsonLine", () => {
  test("each event is exactly one line for any line splitter (U+2028, U+2029, U+0085, C1 such as U+009B)", () => {
    const nasty = "a\u2028b\u2029c\u0085d\u009b2Je\u000bf\u001cg\r\nh";
    const events = Array.from({ length: 5 }, (_, i) => ({ type: "message", peer: `p${i}\u2028`, text: nasty, i }));
    const out = events.map((e) => `${jsonLine(e)}\n`).join("");
    // Python's str.splitlines() boundaries, a superset of JavaScript's line terminators.
    const lines = out.split(/\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/).filter((l) => l !== "");
    expect(lines).toHaveLength(5);
    expect(lines.map((l) => JSON.parse(l))).toEqual(events);
  });
});

describe("contact colours", () => {
  const msg = (peer: string, fp: string): ChatEvent => ({ type: "message", peer, fingerprint: fp, id: "1", text: "x", time: NOON, private: false });
  test("derived from the key, not the name: a rename keeps it, the same name on another key may differ", () => {
    const keys = Array.from({ length: 40 }, (_, i) => `${i.toString(16).padStart(4, "0")} ${FP_A.slice(5)}`);
    const colours = new Set(keys.map(contactColor));
    expect(colours.size).toBeGreaterThan(4); // spread over the palette
    const [k1, k2] = keys.filter((k) => contactColor(k) !== contactColor(keys[0]!)).concat(keys[0]!).slice(-2) as [string, string];
    const paint = (e: ChatEvent) => formatEvent(e, { color: true })!;
    expect(paint(msg("alice", k1))).toContain(`\x1b[${contactColor(k1)}m`);
    expect(paint(msg("renamed", k1))).toContain(`\x1b[${contactColor(k1)}m`);
    expect(paint(msg("alice", k2))).toContain(`\x1b[${contactColor(k2)}m`);
    expect(contactColor(k1)).not.toBe(contactColor(k2));
    expect(contactColor(FP_B)).toBe(contactColor(FP_B.toUpperCase().replace(/ /g, "")));
  });
});

describe("our own lines", () => {
  test("carry their time like incoming ones; a /msg is marked private with its recipient", async () => {
    const { ownLine } = await import("../../src/ui/format.ts");
    expect(ownLine({ time: NOON, name: "alice", text: "hi all" }, { color: false })).toBe("12:05 alice › hi all");
    expect(ownLine({ time: NOON, name: "alice", text: "psst", to: "bob" }, { color: false })).toBe("12:05 alice → bob (private) › psst");
    expect(ownLine({ time: NOON, name: "alice", text: "x\x1b[2J", to: "b\u202eob" }, { color: false })).not.toMatch(/[\x1b\u202e]/);
  });
});

describe("outages you can see", () => {
  test("a contact being redialled is one status line: who, when next, since when, why", () => {
    const since = new Date(2026, 11, 1, 12, 1).getTime();
    expect(formatEvent({ type: "reconnecting", address: "10.0.0.7:7000", inMs: 8000, attempt: 4, peer: "bob", since, reason: "no answer from bob for 15 s" }, COLORLESS)).toBe(
      "• bob (10.0.0.7:7000): reconnecting in 8 s; unreachable since 12:01: no answer from bob for 15 s",
    );
  });
  test("dialling that stopped says why, once", () => {
    expect(formatEvent({ type: "dial_stopped", address: "h:1", reason: "h:1 is this sotto itself; not dialling it", code: "reflection" }, COLORLESS)).toBe("• stopped dialling h:1: h:1 is this sotto itself; not dialling it");
  });
});

describe("/peers: one line per contact", () => {
  test("connected peers, then each address still dialled: dialling, or reconnecting in N s with since when and why", () => {
    const t = formatEvent(
      {
        type: "peers",
        peers: [],
        away: [
          { address: "10.0.0.7:5000", peer: "bob", state: "reconnecting", since: NOON, reason: "nothing is listening at 10.0.0.7:5000", inMs: 7600 },
          { address: "10.0.0.8:5000", state: "dialling" },
        ],
      },
      { color: false },
    )!;
    expect(t).toContain("No peers are connected");
    expect(t).toContain("2 not connected:");
    expect(t).toContain("bob (10.0.0.7:5000): reconnecting in 8 s; unreachable since 12:05: nothing is listening at 10.0.0.7:5000");
    expect(t).toContain("10.0.0.8:5000: dialling");
  });
});

describe("a folder is one transfer (PROTOCOL §11.11)", () => {
  const base = { type: "transfer", id: "4821", direction: "receive", peer: "alice", name: "photos", size: 2_500_000, bytes: 0, files: 4, filesDone: 0, saveAs: "photos" } as const;
  test("one offer: its name, file count and total, and the one id to accept", () => {
    expect(formatEvent({ ...base, phase: "offered" }, COLORLESS)).toBe("↓ [4821] alice offers photos/ (4 files, 2.50 MB)\n  /accept 4821 to receive it, /reject 4821 to refuse it");
  });
  test("when our id differs from the sender's, the sender's is named", () => {
    expect(formatEvent({ ...base, phase: "offered", id: "1234", peerId: "4821" }, COLORLESS)!.split("\n")[0]).toBe("↓ [1234] alice offers photos/ (4 files, 2.50 MB) (alice calls it 4821)");
  });
  test("each file done prints nothing (the folder's line and bar do); the folder's end prints once", () => {
    expect(formatEvent({ type: "transfer_file", id: "4821", direction: "receive", peer: "alice", name: "photos/a.jpg", size: 1, sha256: "ab", path: "/dl/photos/a.jpg" }, COLORLESS)).toBeNull();
    expect(formatEvent({ ...base, phase: "done", bytes: 2_500_000, filesDone: 4, elapsedMs: 1000, rate: 2_500_000 }, COLORLESS)).toContain("[4821] received photos/ (4 files, 2.50 MB) from alice in");
  });
  test("/send's warnings", () => {
    expect(formatEvent({ type: "send_skipped", home: "/home/me/.config/sotto", files: 5 }, COLORLESS)).toBe("! 5 files in your sotto home (/home/me/.config/sotto) left out: it holds your private identity key, which is never offered");
    expect(formatEvent({ type: "send_name_is_path", peer: "bob", path: "bob" }, COLORLESS)).toContain("bob is one of your contacts, so the files go to bob");
  });
});
