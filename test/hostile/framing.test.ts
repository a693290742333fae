/**
 * docs/SECURITY.md §3.A against a live listener: bad lengths refused on the header alone,
 * truncated frames, garbage before the handshake, out-of-state frames, and the positive
 * side (a handshake fed one byte per write, frames coalesced into one write).
 * Each case: (E) code on the listener's onClose, (C) attacker closed, (I) the good peer
 * still chats, (M) counters back to baseline and the heap settles (harness.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { concat, utf8 } from "../../src/crypto/bytes.ts";
import { AlertCode, FrameType, Group, MAX_RECORD_BODY } from "../../src/protocol/constants.ts";
import type { ErrorCode } from "../../src/protocol/errors.ts";
import { encodeAlertFrame, encodeHello } from "../../src/protocol/handshake.ts";
import { det } from "../protocol/helpers.ts";
import { Attacker, Evil, header, hostile, Scene, verdict } from "./harness.ts";
import { until } from "../support/wait.ts";

let sc: Scene;
beforeAll(async () => {
  sc = await Scene.start();
});
afterAll(() => sc.stop());

/** Connect and write `bytes`; with `eof`, half-close right after. */
function raw(bytes: Uint8Array, eof = false): () => Promise<Attacker> {
  return async () => {
    const a = await Attacker.connect(sc.port);
    if (bytes.length > 0) a.write(bytes);
    if (eof) a.end();
    return a;
  };
}

const x25519Hello = (version = 1, group: number = Group.X25519, shareLen = 32) =>
  concat(header(FrameType.HELLO, 34 + shareLen), new Uint8Array([version, group]), det("nonce"), det("share", shareLen));

describe("A. lengths are refused from the 3 header bytes alone (no body byte sent)", () => {
  const P = AlertCode.protocol_error;
  const cases: [string, Uint8Array, ErrorCode][] = [
    ["length 0", new Uint8Array([0, 0, FrameType.HELLO]), "frame_length"],
    ["length 0 with the RECORD type", new Uint8Array([0, 0, FrameType.RECORD]), "frame_length"],
    ["unknown frame type 0x00", header(0x00, 66), "frame_type"],
    ["unknown frame type 0x05", header(0x05, 66), "frame_type"],
    ["unknown frame type 0xff", header(0xff, 66), "frame_type"],
    ["HELLO body 33 (under the 34 fixed bytes)", header(FrameType.HELLO, 33), "frame_length"],
    ["HELLO body 419 (over 34 + 384)", header(FrameType.HELLO, 419), "frame_length"],
    ["HELLO length 0xffff", new Uint8Array([0xff, 0xff, FrameType.HELLO]), "frame_length"],
    ["HELLO_REPLY body 419", header(FrameType.HELLO_REPLY, 419), "frame_length"],
    ["RECORD body 0", header(FrameType.RECORD, 0), "frame_length"],
    ["RECORD body 48 (iv + tag, no block)", header(FrameType.RECORD, 48), "frame_length"],
    ["RECORD body 63 (one under the minimum)", header(FrameType.RECORD, 63), "frame_length"],
    ["RECORD body 72 (ciphertext not a multiple of 16)", header(FrameType.RECORD, 72), "frame_length"],
    ["RECORD body 65360 (one block over the largest)", header(FrameType.RECORD, MAX_RECORD_BODY + 16), "frame_length"],
    ["RECORD length 0xffff", new Uint8Array([0xff, 0xff, FrameType.RECORD]), "frame_length"],
    ["ALERT body 0", header(FrameType.ALERT, 0), "frame_length"],
  ];
  for (const [name, bytes, code] of cases) {
    test(`${name} → ${code}, plaintext ALERT protocol_error`, async () => {
      expect(bytes.length).toBe(3);
      await hostile(sc, raw(bytes), { code, alerts: [P] });
    });
  }

  test("after the handshake: a RECORD header of body 72 → frame_length, encrypted ALERT protocol_error", async () => {
    await hostile(sc, async () => {
      const e = await Evil.open(sc.port);
      e.a.write(header(FrameType.RECORD, 72));
      return e;
    }, { code: "frame_length", alerts: [P] });
  });

  test("after the handshake: a RECORD header over the largest record → frame_length", async () => {
    await hostile(sc, async () => {
      const e = await Evil.open(sc.port);
      e.a.write(header(FrameType.RECORD, MAX_RECORD_BODY + 16));
      return e;
    }, { code: "frame_length", alerts: [P] });
  });
});

describe("A. truncated frames and EOF mid-handshake → truncated, nothing sent back", () => {
  const hello = x25519Hello();
  const cases: [string, Uint8Array][] = [
    ["1 header byte then EOF", hello.subarray(0, 1)],
    ["2 header bytes then EOF", hello.subarray(0, 2)],
    ["a HELLO header then EOF", hello.subarray(0, 3)],
    ["half a HELLO body then EOF", hello.subarray(0, 3 + 33)],
    ["all of a HELLO but its last byte, then EOF", hello.subarray(0, hello.length - 1)],
  ];
  for (const [name, bytes] of cases) {
    test(name, async () => {
      await hostile(sc, raw(bytes, true), { code: "truncated", alerts: [] });
    });
  }

  test("EOF after the listener's HELLO_REPLY and AUTH, before our AUTH", async () => {
    await hostile(sc, async () => {
      const { evil } = await Evil.hello(sc.port);
      await evil.nextFrame();
      await evil.nextFrame();
      evil.a.end();
      return evil;
    }, { code: "truncated", alerts: [] });
  });

  test("after the handshake: half a RECORD then EOF", async () => {
    await hostile(sc, async () => {
      const e = await Evil.open(sc.port);
      const r = e.seal([{ kind: "text", id: 1n, text: "never finished" }]);
      e.a.write(r.subarray(0, 40));
      await Bun.sleep(5);
      e.a.end();
      return e;
    }, { code: "truncated", alerts: [] });
  });

  test("after the handshake: EOF between frames without CLOSE", async () => {
    await hostile(sc, async () => {
      const e = await Evil.open(sc.port);
      e.a.end();
      return e;
    }, { code: "truncated", alerts: [] });
  });
});

describe("A. garbage before the handshake: refused on the first mismatching field", () => {
  test("random bytes with an unknown type byte → frame_type", async () => {
    const b = det("garbage", 1024);
    b[2] = 0x9c;
    await hostile(sc, raw(b), { code: "frame_type", alerts: [AlertCode.protocol_error] });
  });

  test("16 runs of 1 KiB of random bytes → a framing or hello error, at most one alert", async () => {
    const codes = new Set<string>();
    for (let i = 0; i < 16; i++) {
      const a = await raw(det(`random garbage ${i}`, 1024))();
      const c = await sc.closeOf(a);
      codes.add(c.code ?? "none");
      expect(await a.waitClosed()).toBe(true);
      expect(a.alerts().length).toBeLessThanOrEqual(1);
    }
    for (const c of codes) expect(["frame_type", "frame_length", "unexpected_message", "unsupported_version", "unsupported_group", "bad_hello", "alert"]).toContain(c);
    await sc.good.roundTrip();
    await sc.settled();
  });

  test("an HTTP request ('GE' as length, 'T' as type) → frame_type", async () => {
    await hostile(sc, raw(utf8("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")), { code: "frame_type", alerts: [AlertCode.protocol_error] });
  });

  test("an SSH banner → frame_type", async () => {
    await hostile(sc, raw(utf8("SSH-2.0-OpenSSH_9.6\r\n")), { code: "frame_type", alerts: [AlertCode.protocol_error] });
  });

  test("a TLS 1.3 ClientHello (16 03 01 … reads as a 5,634-byte HELLO) → frame_length", async () => {
    const ch = concat(new Uint8Array([0x16, 0x03, 0x01, 0x00, 0xf4, 0x01, 0x00, 0x00, 0xf0, 0x03, 0x03]), det("client random", 32), new Uint8Array(200));
    await hostile(sc, raw(ch), { code: "frame_length", alerts: [AlertCode.protocol_error] });
  });

  for (const v of [0, 2, 0xff]) {
    test(`HELLO version ${v} → unsupported_version, ALERT unsupported_version (2)`, async () => {
      await hostile(sc, raw(x25519Hello(v)), { code: "unsupported_version", alerts: [AlertCode.unsupported_version] });
    });
  }

  for (const g of [0, 4, 0x7f]) {
    test(`HELLO group ${g} → unsupported_group, ALERT 3 listing the accepted groups`, async () => {
      const first = await hostile(sc, raw(x25519Hello(1, g)), { code: "unsupported_group", alerts: [AlertCode.unsupported_group] });
      expect(first.code).toBe("unsupported_group");
      const a = await raw(x25519Hello(1, g))();
      await sc.closeOf(a);
      await a.waitClosed();
      const f = a.plainFrames().find((x) => x.type === FrameType.ALERT)!;
      expect([...f.body]).toEqual([AlertCode.unsupported_group, Group.X25519, Group.FFDHE2048, Group.FFDHE3072]);
    });
  }

  test("ffdhe3072 to a listener that accepts X25519 and ffdhe2048 → unsupported_group, reason 01 02", async () => {
    const narrow = await Scene.start({ accept: [Group.X25519, Group.FFDHE2048] });
    try {
      const hello = concat(header(FrameType.HELLO, 34 + 384), new Uint8Array([1, Group.FFDHE3072]), det("n"), det("s", 384));
      const a = await Attacker.connect(narrow.port);
      a.write(hello);
      await verdict(narrow, a, { code: "unsupported_group", alerts: [AlertCode.unsupported_group] });
      expect(a.received()).toEqual(new Uint8Array([0x00, 0x04, 0x04, 0x03, 0x01, 0x02]));
    } finally {
      await narrow.stop();
    }
  });

  test("a plaintext ALERT frame first → alert, and no alert is sent back", async () => {
    await hostile(sc, raw(encodeAlertFrame(AlertCode.internal_error, utf8("\x1b[2Jhi"))), { code: "alert", alerts: [] });
  });
});

describe("A. out-of-state frames → unexpected_message", () => {
  const reply = encodeHello(FrameType.HELLO_REPLY, Group.X25519, det("n"), det("s"));
  const record = concat(header(FrameType.RECORD, 64), det("record", 64));

  test("HELLO_REPLY as the first frame → plaintext ALERT protocol_error", async () => {
    await hostile(sc, raw(reply), { code: "unexpected_message", alerts: [AlertCode.protocol_error] });
  });

  test("a RECORD before HELLO → plaintext ALERT protocol_error", async () => {
    await hostile(sc, raw(record), { code: "unexpected_message", alerts: [AlertCode.protocol_error] });
  });

  test("a second HELLO (the responder waits for AUTH: it closes silently)", async () => {
    await hostile(sc, async () => {
      const { evil, hello } = await Evil.hello(sc.port);
      await evil.nextFrame();
      evil.a.write(hello);
      return evil;
    }, { code: "unexpected_message", alerts: [] });
  });

  test("two HELLOs coalesced in one write", async () => {
    const h = x25519Hello();
    await hostile(sc, raw(concat(h, h)), { code: "unexpected_message", alerts: [] });
  });

  test("HELLO then a plaintext ALERT (the initiator gave up before keys) → alert", async () => {
    await hostile(sc, raw(concat(x25519Hello(), encodeAlertFrame(AlertCode.protocol_error))), { code: "alert", alerts: [] });
  });

  test("HELLO then a RECORD of random bytes in place of AUTH → bad_record", async () => {
    await hostile(sc, raw(concat(x25519Hello(), record)), { code: "bad_record", alerts: [] });
  });

  const after: [string, Uint8Array][] = [
    ["a HELLO after the handshake", x25519Hello()],
    ["a HELLO_REPLY after the handshake", reply],
    ["a plaintext ALERT frame after the handshake", encodeAlertFrame(AlertCode.busy)],
  ];
  for (const [name, bytes] of after) {
    test(`${name} → encrypted ALERT protocol_error`, async () => {
      await hostile(sc, async () => {
        const e = await Evil.open(sc.port);
        e.a.write(bytes);
        return e;
      }, { code: "unexpected_message", alerts: [AlertCode.protocol_error] });
    });
  }
});

describe("A. fragmentation and coalescing still parse", () => {
  test("a whole handshake and a TEXT written one byte at a time", async () => {
    const e = await Evil.open(sc.port, { split: 1 });
    const r = e.seal([{ kind: "text", id: 1n, text: "one byte at a time" }]);
    await e.a.writeSplit(r, 1);
    await until("the echo", () => e.items.some((i) => i.kind === "text" && i.text === "one byte at a time"), 3000);
    e.send([{ kind: "close", reason: "done" }]);
    const c = await sc.closeOf(e);
    expect(c.code).toBeNull();
    expect(c.byPeer).toBe(true);
    expect(await e.a.waitClosed()).toBe(true);
    await sc.good.roundTrip();
    await sc.settled();
  });

  test("AUTH, PROFILE, three TEXT records and CLOSE coalesced into one write", async () => {
    const e = await Evil.handshake(sc.port, { profile: null });
    // Evil.handshake already wrote AUTH; hold PROFILE + texts + CLOSE into one more write.
    const recs = [
      e.seal([{ kind: "profile", instance: e.instance, name: "mallory" }]),
      e.seal([{ kind: "text", id: 1n, text: "a" }]),
      e.seal([{ kind: "text", id: 2n, text: "b" }]),
      e.seal([{ kind: "text", id: 3n, text: "c" }]),
    ];
    e.a.write(concat(...recs));
    await until("three echoes", () => e.items.filter((i) => i.kind === "text").length === 3, 3000);
    expect(e.items.filter((i) => i.kind === "text").map((i) => (i as { text: string }).text)).toEqual(["a", "b", "c"]);
    e.send([{ kind: "close", reason: "" }]);
    expect((await sc.closeOf(e)).code).toBeNull();
    await sc.good.roundTrip();
    await sc.settled();
  });
});
