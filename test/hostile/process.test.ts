/**
 * Hostile peers against real `sotto chat --json` processes: the attacker speaks raw TCP
 * to alice's listener while bob, another real process, chats with alice. For each case
 * (E) alice's --json stream shows `disconnected` with the ProtocolError code for exactly
 * the attacker's address, (C) the attacker's socket is closed, (I) bob's next line
 * reaches alice and is ACKed, (M) alice's open file descriptors return to their baseline.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { concat, utf8 } from "../../src/crypto/bytes.ts";
import { AlertCode, ContentType, FrameType, Group } from "../../src/protocol/constants.ts";
import type { ErrorCode } from "../../src/protocol/errors.ts";
import { encodeHello } from "../../src/protocol/handshake.ts";
import { det, flip } from "../protocol/helpers.ts";
import type { ChatEvent } from "../../src/chat/events.ts";
import { ChatProcess, cleanup, tempHome } from "../e2e/harness.ts";
import { Attacker, Evil, header, rawItem } from "./harness.ts";
import { until } from "../support/wait.ts";

const homes: string[] = [];
const procs: ChatProcess[] = [];
let alice: ChatProcess;
let bob: ChatProcess;
let port = 0;
let said = 0;

beforeAll(async () => {
  alice = new ChatProcess(tempHome(homes), ["--host", "127.0.0.1", "--port", "0", "--name", "alice"]);
  procs.push(alice);
  port = await alice.port();
  bob = new ChatProcess(tempHome(homes), ["--host", "127.0.0.1", "--no-listen", "--name", "bob", "--connect", `127.0.0.1:${port}`]);
  procs.push(bob);
  await bob.waitFor("connected");
  await alice.waitFor("connected", (e) => e.peer === "bob");
});
afterAll(() => cleanup(homes, procs));

const fds = (pid: number) => (existsSync(`/proc/${pid}/fd`) ? readdirSync(`/proc/${pid}/fd`).length : 0);

/** (I) bob says a line; alice shows it; bob gets the ACK. */
async function bobStillChats(): Promise<void> {
  const text = `bob still here ${++said}`;
  bob.say(text);
  const m = await alice.waitFor("message", (e) => e.text === text, 5000);
  expect(m.peer).toBe("bob");
  await bob.waitFor("ack", (e) => e.id === m.id, 5000);
}

/** alice's `disconnected` events for `a`'s address, counting only events after `a` connected (ports get reused). */
function disconnects(a: Attacker | Evil) {
  const from = seenAt.get(a.localPort) ?? 0;
  return alice.events.slice(from).filter((e): e is Extract<ChatEvent, { type: "disconnected" }> => e.type === "disconnected" && e.address.endsWith(`:${a.localPort}`));
}
const seenAt = new Map<number, number>();
/** Remember where alice's event list stood when `a` connected. */
function track<T extends Attacker | Evil>(a: T, from: number): T {
  seenAt.set(a.localPort, from);
  return a;
}

async function expectDisconnected(a: Attacker | Evil, code: ErrorCode, alerts?: number[]): Promise<void> {
  await until(`alice's disconnected event for port ${a.localPort}`, () => disconnects(a).length > 0, 5000);
  const ev = disconnects(a)[0]!;
  expect(ev.code).toBe(code);
  // The reason is one short line with no control characters (the JSON is one line per event).
  expect(ev.reason.length).toBeLessThan(200);
  expect(/[\u0000-\u001f\u007f-\u009f]/.test(ev.reason)).toBe(false);
  const raw = a instanceof Evil ? a.a : a;
  expect(await raw.waitClosed(3000)).toBe(true);
  await Bun.sleep(5);
  const got = a.alerts();
  expect(got.length).toBeLessThanOrEqual(1);
  if (alerts) expect(got).toEqual(alerts);
  // Exactly one disconnect for this connection.
  expect(disconnects(a)).toHaveLength(1);
  await bobStillChats();
}

describe("hostile peers against `sotto chat --json`", () => {
  let fd0 = 0;
  test("baseline: bob and alice chat", async () => {
    await bobStillChats();
    fd0 = fds(alice.proc.pid);
  });

  test("HELLO version 2 → disconnected code unsupported_version; the attacker gets ALERT 2", async () => {
    const a = track(await Attacker.connect(port), alice.events.length);
    a.write(concat(header(FrameType.HELLO, 66), new Uint8Array([2, Group.X25519]), det("n"), det("s")));
    await expectDisconnected(a, "unsupported_version", [AlertCode.unsupported_version]);
    expect(a.received()).toEqual(new Uint8Array([0x00, 0x02, 0x04, 0x02]));
  });

  test("an HTTP request → frame_type", async () => {
    const a = track(await Attacker.connect(port), alice.events.length);
    a.write(utf8("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    await expectDisconnected(a, "frame_type", [AlertCode.protocol_error]);
  });

  test("a RECORD header with an impossible length, before any body byte → frame_length", async () => {
    const a = track(await Attacker.connect(port), alice.events.length);
    a.write(header(FrameType.RECORD, 72));
    await expectDisconnected(a, "frame_length", [AlertCode.protocol_error]);
  });

  test("a low-order X25519 point → bad_share", async () => {
    const a = track(await Attacker.connect(port), alice.events.length);
    a.write(encodeHello(FrameType.HELLO, Group.X25519, det("n"), new Uint8Array(32)));
    await expectDisconnected(a, "bad_share");
  });

  test("half a HELLO, then EOF → truncated", async () => {
    const a = track(await Attacker.connect(port), alice.events.length);
    a.write(encodeHello(FrameType.HELLO, Group.X25519, det("n"), det("s")).subarray(0, 30));
    a.end();
    await expectDisconnected(a, "truncated", []);
  });

  test("a bad AUTH signature → auth_failed", async () => {
    const from = alice.events.length;
    const e = await Evil.handshake(port, {
      profile: null,
      authRecord: (c) => {
        const item = c.honest() as { kind: "auth"; identity: Uint8Array; sig: Uint8Array };
        return c.sealHs(rawItem(ContentType.AUTH, concat(item.identity, flip(item.sig, 5, 1))));
      },
    });
    track(e, from);
    await expectDisconnected(e, "auth_failed", []);
  });

  test("after a real handshake: a flipped bit in a record → bad_record; the attacker gets one encrypted ALERT bad_record", async () => {
    const e = track(await Evil.open(port), alice.events.length);
    e.a.write(flip(e.seal([{ kind: "text", id: 1n, text: "tampered" }]), 30, 2));
    await expectDisconnected(e, "bad_record", [AlertCode.bad_record]);
    expect(alice.of("message").some((m) => m.text === "tampered")).toBe(false);
  });

  test("after a real handshake: a replayed record → bad_record, and the message is shown once", async () => {
    const e = track(await Evil.open(port), alice.events.length);
    const r = e.send([{ kind: "text", id: 1n, text: "said once" }]);
    await alice.waitFor("message", (m) => m.text === "said once");
    e.a.write(r);
    await expectDisconnected(e, "bad_record", [AlertCode.bad_record]);
    expect(alice.of("message").filter((m) => m.text === "said once")).toHaveLength(1);
  });

  test("TEXT that is not UTF-8 → invalid_utf8", async () => {
    const e = track(await Evil.open(port), alice.events.length);
    e.a.write(e.sealPlain(rawItem(ContentType.TEXT, concat(new Uint8Array(7), new Uint8Array([1, 0xc0, 0x80])))));
    await expectDisconnected(e, "invalid_utf8", [AlertCode.protocol_error]);
  });

  test("a PROFILE name of 65 bytes → bad_item", async () => {
    const e = track(await Evil.handshake(port, { profile: null }), alice.events.length);
    e.a.write(e.sealPlain(rawItem(ContentType.PROFILE, concat(new Uint8Array(8), utf8("n".repeat(65))))));
    await expectDisconnected(e, "bad_item", [AlertCode.protocol_error]);
  });

  test("a KEY_UPDATE storm → unexpected_message", async () => {
    const e = track(await Evil.open(port), alice.events.length);
    const recs: Uint8Array[] = [];
    for (let i = 0; i < 40; i++) recs.push(e.seal([{ kind: "padding", length: 0 }], true));
    e.a.write(concat(...recs));
    await expectDisconnected(e, "unexpected_message", [AlertCode.protocol_error]);
  });

  test("an unknown optional item is ignored: the attacker's next TEXT is shown", async () => {
    const e = track(await Evil.open(port), alice.events.length);
    e.a.write(e.sealPlain(rawItem(0x99, utf8("future"))));
    e.send([{ kind: "text", id: 1n, text: "after the unknown item" }]);
    await alice.waitFor("message", (m) => m.text === "after the unknown item");
    e.send([{ kind: "close", reason: "" }]);
    await until("alice's disconnected event", () => disconnects(e).length > 0, 5000);
    expect(disconnects(e)[0]!.code).toBeUndefined();
    await bobStillChats();
  });

  test("(M) alice's file descriptors return to the baseline", async () => {
    if (fd0 === 0) return; // no /proc: nothing to count
    await until("alice's fd count to settle", () => fds(alice.proc.pid) <= fd0, 5000);
    expect(alice.of("error")).toEqual([]);
    await bobStillChats();
  });
});
