/**
 * Session over a fake transport (test/net/fake-transport.ts): the handshake phase
 * (handshake.ts), the established phase (established.ts) and the output flow control,
 * with no socket at all.
 */
import { describe, expect, test } from "bun:test";
import { concat } from "../../src/crypto/bytes.ts";
import { bigIntToBytes } from "../../src/crypto/ffdhe.ts";
import { AlertCode, FrameType, Group } from "../../src/protocol/constants.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";
import { encodeFrame } from "../../src/protocol/frame.ts";
import { encodeAlertFrame, encodeHello } from "../../src/protocol/handshake.ts";
import { warmFfdhe } from "../../src/net/kex.ts";
import { det, identity } from "../protocol/helpers.ts";
import { until } from "../support/wait.ts";
import { config, pair, session, type Heard } from "./fake-transport.ts";

describe("two sessions back to back", () => {
  test("the handshake completes: both ready, each knows the other's key and PROFILE, the same th3", async () => {
    const p = pair();
    await Promise.all([p.a.start(), p.b.start()]);
    await until("both ready", () => p.ha.ready === 1 && p.hb.ready === 1);
    expect(p.a.state).toBe("open");
    expect(p.b.state).toBe("open");
    expect(Buffer.from(p.a.peerIdentity!)).toEqual(Buffer.from(identity("bob").publicKey));
    expect(Buffer.from(p.b.peerIdentity!)).toEqual(Buffer.from(identity("alice").publicKey));
    expect(p.a.peerProfile!.name).toBe("bob");
    expect(p.b.peerProfile!.name).toBe("alice");
    expect(Buffer.from(p.a.th3!)).toEqual(Buffer.from(p.b.th3!));
    expect(p.b.group).toBe(Group.X25519);
  });

  test("TEXT and ACK cross in order; a KEY_UPDATE (/rekey) changes nothing the owner sees", async () => {
    const p = pair();
    await Promise.all([p.a.start(), p.b.start()]);
    await until("both ready", () => p.ha.ready === 1 && p.hb.ready === 1);
    p.a.send({ kind: "text", id: 1n, text: "one" });
    p.a.rekey();
    p.a.send({ kind: "text", id: 2n, text: "two" });
    p.b.send({ kind: "ack", id: 2n });
    await until("two TEXTs and an ACK", () => p.hb.items.length === 2 && p.ha.items.length === 1);
    expect(p.hb.items).toEqual([
      { kind: "text", id: 1n, text: "one" },
      { kind: "text", id: 2n, text: "two" },
    ]);
    expect(p.ha.items).toEqual([{ kind: "ack", id: 2n }]);
    p.a.send({ kind: "text", id: 3n, text: "after the update" });
    await until("the third TEXT", () => p.hb.items.length === 3);
    expect(p.hb.closes).toEqual([]);
  });

  test("sendText: ids at every edge up to 2^64 - 1 reach onText exactly (numbers below 2^53), in order with items sent around them", async () => {
    const p = pair({ onText: true });
    await Promise.all([p.a.start(), p.b.start()]);
    await until("both ready", () => p.ha.ready === 1 && p.hb.ready === 1);
    const ids: (number | bigint)[] = [0, 1, 0xffffffff, 0x100000000, 2 ** 53 - 1, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n, 12n];
    p.a.send({ kind: "ext", type: 0x90, content: new Uint8Array([1]) });
    ids.forEach((id, i) => p.a.sendText(id, `line ${i} ☕`));
    p.a.send({ kind: "text", id: 2n ** 64n - 2n, text: "as an item" });
    p.a.send({ kind: "ack", id: 0n });
    await until("every TEXT", () => p.hb.texts!.length === ids.length + 1 && p.hb.items.length === 2);
    const want = ids.map((id, i) => [typeof id === "bigint" && id < 2n ** 53n ? Number(id) : id, `line ${i} ☕`]);
    expect(p.hb.texts!).toEqual([...want, [2n ** 64n - 2n, "as an item"]] as [number | bigint, string][]);
    expect(p.hb.items).toEqual([{ kind: "ext", type: 0x90, content: new Uint8Array([1]) }, { kind: "ack", id: 0n }]);
  });

  test("sendText to an owner without onText: each TEXT reaches onItem as an Item with the exact bigint id", async () => {
    const p = pair();
    await Promise.all([p.a.start(), p.b.start()]);
    await until("both ready", () => p.ha.ready === 1 && p.hb.ready === 1);
    p.a.sendText(5, "five");
    p.a.sendText(2n ** 64n - 1n, "last");
    await until("two TEXTs", () => p.hb.items.length === 2);
    expect(p.hb.items).toEqual([{ kind: "text", id: 5n, text: "five" }, { kind: "text", id: 2n ** 64n - 1n, text: "last" }]);
  });

  test("sendText refuses an id out of range (RangeError) and queues nothing; the session stays open", async () => {
    const p = pair({ onText: true });
    await Promise.all([p.a.start(), p.b.start()]);
    await until("both ready", () => p.ha.ready === 1 && p.hb.ready === 1);
    for (const id of [-1, 2 ** 53, 0.5, 2n ** 64n, -1n]) expect(() => p.a.sendText(id, "x")).toThrow(RangeError);
    expect(p.a.bufferedAmount).toBe(0);
    p.a.sendText(3, "after");
    await until("the TEXT after", () => p.hb.texts!.length === 1);
    expect(p.hb.texts!).toEqual([[3, "after"]]);
    expect(p.a.state).toBe("open");
  });

  test("send() of a TEXT item refuses an id out of range as sendText does (RangeError), instead of putting a wrapped u64 on the wire (2^64 as id 0)", async () => {
    const p = pair({ onText: true });
    await Promise.all([p.a.start(), p.b.start()]);
    await until("both ready", () => p.ha.ready === 1 && p.hb.ready === 1);
    for (const id of [2n ** 64n, 2n ** 64n + 5n, -1n]) expect(() => p.a.send({ kind: "text", id, text: "wrapped" })).toThrow(RangeError);
    expect(p.a.bufferedAmount).toBe(0);
    p.a.send({ kind: "text", id: 2n ** 64n - 1n, text: "last" });
    await until("the TEXT after", () => p.hb.texts!.length === 1);
    expect(p.hb.texts!).toEqual([[2n ** 64n - 1n, "last"]]);
    expect(p.a.state).toBe("open");
  });

  test("CLOSE: the closer ends its transport once, the peer hears byPeer with the reason", async () => {
    const p = pair();
    await Promise.all([p.a.start(), p.b.start()]);
    await until("both ready", () => p.ha.ready === 1 && p.hb.ready === 1);
    p.a.close("bye now");
    await until("bob closed", () => p.hb.closes.length === 1);
    expect(p.ha.closes).toEqual([{ error: null, byPeer: false, reason: "bye now" }]);
    expect(p.hb.closes).toEqual([{ error: null, byPeer: true, reason: "bye now" }]);
    expect(p.at.ends).toBe(1);
    expect(() => p.a.send({ kind: "text", id: 1n, text: "late" })).toThrow("session is not open");
  });

  test("a transport that takes nothing: past half the send-queue bound the session pauses reading, once; a drain resumes it", async () => {
    const bound = 1024 * 1024;
    const p = pair({ limits: { maxSendQueueBytes: bound } });
    await Promise.all([p.a.start(), p.b.start()]);
    await until("both ready", () => p.ha.ready === 1 && p.hb.ready === 1);
    p.at.takes = 0;
    let sent = 0;
    while (!p.a.paused && sent < 1000) {
      p.a.send({ kind: "text", id: BigInt(++sent), text: "x".repeat(8000) });
      p.a.flush();
    }
    expect(p.a.state).toBe("open");
    expect(p.a.paused).toBe(true);
    expect(p.at.pauses).toBe(1);
    // Paused on crossing half the bound (its memory, items included), well before the bound cuts the session.
    expect(sent).toBeGreaterThan(10);
    p.at.takes = Infinity;
    // The socket drains in steps (each `drain` event writes what waits, then seals what is pending).
    for (let i = 0; i < 3 && p.a.paused; i++) p.a.onDrain();
    expect(p.a.paused).toBe(false);
    expect(p.at.resumes).toBe(1);
    await until(`the ${sent} TEXTs`, () => p.hb.items.length === sent);
    expect(p.hb.items.map((i) => (i.kind === "text" ? Number(i.id) : -1))).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
  });
});

describe("the owner stops reading (pauseReading: its front end is backed up)", () => {
  test("pauseReading(true) pauses the transport; a drain of backed-up output does not resume it; pauseReading(false) does", async () => {
    const bound = 1024 * 1024;
    const p = pair({ limits: { maxSendQueueBytes: bound } });
    await Promise.all([p.a.start(), p.b.start()]);
    await until("both ready", () => p.ha.ready === 1 && p.hb.ready === 1);
    p.a.pauseReading(true);
    expect(p.at.pauses).toBe(1);
    // Output backs up and drains while the owner keeps the session paused.
    p.at.takes = 0;
    for (let sent = 0; !p.a.paused && sent < 1000; ) {
      p.a.send({ kind: "text", id: BigInt(++sent), text: "x".repeat(8000) });
      p.a.flush();
    }
    p.at.takes = Infinity;
    for (let i = 0; i < 3 && p.a.paused; i++) p.a.onDrain();
    expect(p.a.paused).toBe(false);
    expect(p.at.resumes).toBe(0);
    p.a.pauseReading(false);
    expect(p.at.resumes).toBe(1);
  });
});

describe("the handshake phase holds frames while a key exchange runs (fake transport)", () => {
  const ffdheHello = () => encodeHello(FrameType.HELLO, Group.FFDHE2048, det("nonce"), bigIntToBytes(4n, 256)); // 4 = 2^2 passes the range and subgroup checks
  const junk = encodeFrame(FrameType.RECORD, det("junk", 64));

  test("HELLO (ffdhe2048) and 5 more frames in one chunk: at most 4 are held → unexpected_message, a plaintext alert, the transport ended", async () => {
    await warmFfdhe(Group.FFDHE2048);
    const heard: Heard = { ready: 0, items: [], closes: [] };
    const { s, t } = session("responder", config("bob"), heard);
    await s.start();
    s.onData(concat(ffdheHello(), junk, junk, junk, junk, junk));
    expect(heard.closes.length).toBe(1);
    const e = heard.closes[0]!.error;
    expect(e).toBeInstanceOf(ProtocolError);
    expect((e as ProtocolError).code).toBe("unexpected_message");
    expect(e!.message).toBe("the peer sent frames while the key exchange was running");
    expect(Buffer.from(t.bytes())).toEqual(Buffer.from(encodeAlertFrame(AlertCode.protocol_error)));
    expect(t.ends).toBe(1);
  });

  test("HELLO (ffdhe2048) and 1 frame: held until the exchange is done, then judged as a record → bad_record", async () => {
    await warmFfdhe(Group.FFDHE2048);
    const heard: Heard = { ready: 0, items: [], closes: [] };
    const { s, t } = session("responder", config("bob"), heard);
    await s.start();
    s.onData(concat(ffdheHello(), junk));
    // The frame waits for the exchange (on the worker): nothing is judged yet.
    expect(heard.closes).toEqual([]);
    expect(s.group).toBe(Group.FFDHE2048);
    await until("the held frame judged", () => heard.closes.length === 1);
    expect((heard.closes[0]!.error as ProtocolError).code).toBe("bad_record");
    // HELLO_REPLY went out before the held frame was judged.
    expect(t.written[0]![2]).toBe(FrameType.HELLO_REPLY);
  });
});
