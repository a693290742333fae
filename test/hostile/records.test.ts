/**
 * docs/SECURITY.md §3.D (records after the handshake) and the item rules of PROTOCOL §6,
 * against a live listener. The attacker completes a real handshake with its own
 * identity (Evil in harness.ts), then misbehaves. Each case: (E) the code on the
 * listener's onClose and the one encrypted alert it sends, (C) closed, (I) the good peer
 * still chats, (M) counters and heap settle.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { concat, utf8 } from "../../src/crypto/bytes.ts";
import { AlertCode, ContentType, MAX_PLAINTEXT } from "../../src/protocol/constants.ts";
import type { ErrorCode } from "../../src/protocol/errors.ts";
import { encodeItems, type Item } from "../../src/protocol/items.ts";
import { flip } from "../protocol/helpers.ts";
import { Evil, hostile, rawItem, Scene } from "./harness.ts";
import { until } from "../support/wait.ts";

let sc: Scene;
beforeAll(async () => {
  sc = await Scene.start();
});
afterAll(() => sc.stop());

const P = AlertCode.protocol_error;
const B = AlertCode.bad_record;
const text = (id: bigint, t = `m${id}`): Item => ({ kind: "text", id, text: t });

/** An open session; `then` misbehaves on it. */
function after(then: (e: Evil) => void | Promise<void>): () => Promise<Evil> {
  return async () => {
    const e = await Evil.open(sc.port);
    await then(e);
    return e;
  };
}

describe("D. replay, reorder, drop, reflection, cross-session → bad_record", () => {
  test("an earlier record replayed (after it was accepted)", async () => {
    await hostile(sc, after(async (e) => {
      const r = e.send([text(1n)]);
      await until("the ACK", () => e.items.some((i) => i.kind === "ack"), 3000);
      e.a.write(r);
    }), { code: "bad_record", alerts: [B] });
  });

  test("our PROFILE record (seq 0) sent twice in a row", async () => {
    await hostile(sc, after((e) => e.a.write(e.sent[0]!)), { code: "bad_record", alerts: [B] });
  });

  test("records 1 and 2 delivered in the order 2, 1", async () => {
    await hostile(sc, after((e) => {
      const r1 = e.seal([text(1n)]);
      const r2 = e.seal([text(2n)]);
      e.a.write(concat(r2, r1));
    }), { code: "bad_record", alerts: [B] });
  });

  test("record 1 dropped: record 2 arrives in its place", async () => {
    await hostile(sc, after((e) => {
      e.seal([text(1n)]);
      e.a.write(e.seal([text(2n)]));
    }), { code: "bad_record", alerts: [B] });
  });

  test("reflection: the listener's own PROFILE record sent back to it", async () => {
    await hostile(sc, after((e) => e.a.write(e.got[0]!)), { code: "bad_record", alerts: [B] });
  });

  test("cross-session: a record of an earlier session at the same sequence number", async () => {
    const e1 = await Evil.open(sc.port);
    const old = e1.send([text(1n)]);
    e1.send([{ kind: "close", reason: "" }]);
    await sc.closeOf(e1);
    await hostile(sc, after((e) => e.a.write(old)), { code: "bad_record", alerts: [B] });
  });
});

describe("D. bit flips in a record", () => {
  const flips: [string, (r: Uint8Array) => Uint8Array, ErrorCode, number][] = [
    ["length (low bit): the size rule fails first", (r) => flip(r, 1, 0), "frame_length", P],
    ["type (0x03 → 0x07)", (r) => flip(r, 2, 2), "frame_type", P],
    ["IV, first byte", (r) => flip(r, 3, 7), "bad_record", B],
    ["IV, last byte", (r) => flip(r, 18, 0), "bad_record", B],
    ["ciphertext, first block", (r) => flip(r, 19, 1), "bad_record", B],
    ["ciphertext, last block (the padding)", (r) => flip(r, r.length - 33, 0), "bad_record", B],
    ["tag, first byte", (r) => flip(r, r.length - 32, 4), "bad_record", B],
    ["tag, last byte", (r) => flip(r, r.length - 1, 7), "bad_record", B],
  ];
  for (const [where, mutate, code, alert] of flips) {
    test(`${where} → ${code}`, async () => {
      await hostile(sc, after((e) => e.a.write(mutate(e.seal([text(1n, "a".repeat(40))])))), { code, alerts: [alert] });
    });
  }

  test("the tag cut to 16 bytes with the length fixed (a valid size) → bad_record, not a prefix match", async () => {
    await hostile(sc, after((e) => {
      const r = e.seal([text(1n, "b".repeat(40))]);
      const cut = r.slice(0, r.length - 16);
      const len = cut.length - 2;
      cut[0] = len >>> 8;
      cut[1] = len & 0xff;
      e.a.write(cut);
    }), { code: "bad_record", alerts: [B] });
  });
});

describe("D. a key holder's bad padding looks exactly like a bad tag", () => {
  const pt = encodeItems([text(1n, "x".repeat(20))]); // 31 bytes → one pad byte to 32
  const bad: [string, Uint8Array][] = [
    ["pad byte 0", concat(pt, new Uint8Array([0]))],
    ["pad byte 17", concat(pt, new Uint8Array([17]))],
    ["pad length 2 with an inconsistent byte", concat(pt.subarray(0, 30), new Uint8Array([7, 2]))],
    ["a whole block claiming 16 with one byte off", concat(pt, new Uint8Array([1]), new Uint8Array(16).fill(16).fill(15, 0, 1))],
  ];
  let macMessage = "";
  test("reference: a tag failure", async () => {
    const c = await hostile(sc, after((e) => e.a.write(flip(e.seal([text(1n)]), 20, 0))), { code: "bad_record", alerts: [B] });
    macMessage = c.error!.message;
  });
  for (const [name, padded] of bad) {
    test(`${name}, valid tag → bad_record with the same message and alert as a tag failure`, async () => {
      const c = await hostile(sc, after((e) => e.a.write(e.craft(padded))), { code: "bad_record", alerts: [B] });
      expect(c.error!.message).toBe(macMessage);
    });
  }

  test("65,295 bytes of plaintext (valid padding and tag) → oversized", async () => {
    const padded = new Uint8Array(MAX_PLAINTEXT + 16);
    padded.set(rawItem(ContentType.PADDING, new Uint8Array(MAX_PLAINTEXT + 15 - 3)));
    padded[padded.length - 1] = 1;
    await hostile(sc, after((e) => e.a.write(e.craft(padded))), { code: "oversized", alerts: [P] }, 2);
  });

  test("control: 65,280 bytes of plaintext (the largest) are accepted", async () => {
    const e = await Evil.open(sc.port);
    e.send([{ kind: "padding", length: MAX_PLAINTEXT - 3 }]);
    e.send([text(1n, "after the largest record")]);
    await until("the echo", () => e.items.some((i) => i.kind === "text"), 3000);
    e.send([{ kind: "close", reason: "" }]);
    expect((await sc.closeOf(e)).code).toBeNull();
  });

  test.skip("2^20 records under one key → key_exhausted: too slow over loopback for CI (about 70 MB of records); covered in memory by test/protocol/record.test.ts 'the writer demands KEY_UPDATE in record 2^20; a reader refuses record 2^20 + 1 under the same keys'", () => {});

  test("an empty plaintext (one block of padding) → bad_item", async () => {
    await hostile(sc, after((e) => e.a.write(e.craft(new Uint8Array(16).fill(16)))), { code: "bad_item", alerts: [P] });
  });
});

describe("PROTOCOL §6 items after the handshake", () => {
  const inst = new Uint8Array(8).fill(7);
  /** A session where the attacker's first record is `pt` (raw items). */
  const first = (pt: Uint8Array) => async () => {
    const e = await Evil.handshake(sc.port, { profile: null });
    e.a.write(e.sealPlain(pt));
    return e;
  };
  const later = (pt: Uint8Array) => after((e) => e.a.write(e.sealPlain(pt)));

  test("PROFILE name of 65 bytes → bad_item", async () => {
    await hostile(sc, first(rawItem(ContentType.PROFILE, concat(inst, utf8("n".repeat(65))))), { code: "bad_item", alerts: [P] });
  });

  test("control: a PROFILE name of exactly 64 bytes opens the session", async () => {
    const e = await Evil.handshake(sc.port, { profile: null });
    e.a.write(e.sealPlain(rawItem(ContentType.PROFILE, concat(inst, utf8("n".repeat(64))))));
    e.send([text(1n, "ok")]);
    await until("the echo", () => e.items.some((i) => i.kind === "text"), 3000);
    e.send([{ kind: "close", reason: "" }]);
    expect((await sc.closeOf(e)).code).toBeNull();
  });

  test("a PROFILE name that is not UTF-8 → invalid_utf8", async () => {
    await hostile(sc, first(rawItem(ContentType.PROFILE, concat(inst, new Uint8Array([0x61, 0xc0, 0x80])))), { code: "invalid_utf8", alerts: [P] });
  });

  const badUtf8: [string, number[]][] = [
    ["overlong C0 80", [0xc0, 0x80]],
    ["a surrogate ED A0 80", [0xed, 0xa0, 0x80]],
    ["F5", [0xf5, 0x80, 0x80, 0x80]],
    ["FF", [0xff]],
    ["a truncated sequence E2 82", [0x68, 0xe2, 0x82]],
    ["a stray continuation byte 80", [0x80, 0x68]],
  ];
  for (const [name, bytes] of badUtf8) {
    test(`TEXT with ${name} → invalid_utf8`, async () => {
      const id = new Uint8Array(8);
      id[7] = 1;
      await hostile(sc, later(rawItem(ContentType.TEXT, concat(id, new Uint8Array(bytes)))), { code: "invalid_utf8", alerts: [P] }, 2);
    });
  }

  test("a CLOSE reason that is not UTF-8 → invalid_utf8", async () => {
    await hostile(sc, later(rawItem(ContentType.CLOSE, new Uint8Array([0xed, 0xbf, 0xbf]))), { code: "invalid_utf8", alerts: [P] });
  });

  for (const t of [0x00, 0x0a, 0x7f]) {
    test(`unknown required content type 0x${t.toString(16).padStart(2, "0")} → bad_item`, async () => {
      await hostile(sc, later(rawItem(t, new Uint8Array(4))), { code: "bad_item", alerts: [P] }, 2);
    });
  }

  test("unknown optional types 0x81 and 0xff are ignored: the session goes on", async () => {
    const e = await Evil.open(sc.port);
    e.a.write(e.sealPlain(concat(rawItem(0x81, utf8("future")), encodeItems([text(1n, "after 0x81")]), rawItem(0xff, new Uint8Array(0)))));
    await until("the echo", () => e.items.some((i) => i.kind === "text" && i.text === "after 0x81"), 3000);
    e.send([text(2n, "and again")]);
    await until("the second echo", () => e.items.some((i) => i.kind === "text" && i.text === "and again"), 3000);
    expect(sc.closed(e)).toBeUndefined();
    e.send([{ kind: "close", reason: "" }]);
    expect((await sc.closeOf(e)).code).toBeNull();
    await sc.good.roundTrip();
    await sc.settled();
  });

  const malformed: [string, Uint8Array][] = [
    ["an item whose length runs past the plaintext", concat(new Uint8Array([ContentType.TEXT, 0x01, 0x00]), new Uint8Array(20))],
    ["an unknown optional item whose length runs past the plaintext", new Uint8Array([0x90, 0x00, 0x09, 1, 2])],
    ["a cut item header (2 bytes)", new Uint8Array([ContentType.ACK, 0x00])],
    ["ACK of 7 bytes", rawItem(ContentType.ACK, new Uint8Array(7))],
    ["PING of 9 bytes", rawItem(ContentType.PING, new Uint8Array(9))],
    ["KEY_UPDATE with a byte of content", rawItem(ContentType.KEY_UPDATE, new Uint8Array(1))],
    ["TEXT shorter than its id", rawItem(ContentType.TEXT, new Uint8Array(7))],
    ["ALERT without a code", rawItem(ContentType.ALERT, new Uint8Array(0))],
  ];
  for (const [name, pt] of malformed) {
    test(`${name} → bad_item`, async () => {
      await hostile(sc, later(pt), { code: "bad_item", alerts: [P] }, 2);
    });
  }

  const outOfState: [string, Item[] | Uint8Array, boolean][] = [
    ["an AUTH item after the handshake", [{ kind: "auth", identity: new Uint8Array(32), sig: new Uint8Array(64) }], false],
    ["two KEY_UPDATE items in one record", concat(encodeItems([{ kind: "key_update" }]), encodeItems([{ kind: "key_update" }])), false],
    ["a TEXT before our PROFILE", [text(1n)], true],
    ["a PING before our PROFILE", [{ kind: "ping", data: new Uint8Array(8) }], true],
  ];
  for (const [name, items, beforeProfile] of outOfState) {
    test(`${name} → unexpected_message`, async () => {
      const pt = items instanceof Uint8Array ? items : encodeItems(items);
      await hostile(sc, beforeProfile ? first(pt) : later(pt), { code: "unexpected_message", alerts: [P] }, 2);
    });
  }

  test("a second PROFILE with another instance id → unexpected_message", async () => {
    await hostile(sc, after((e) => void e.send([{ kind: "profile", instance: new Uint8Array(8).fill(9), name: "other" }])), { code: "unexpected_message", alerts: [P] });
  });

  test("an ALERT item → alert, never answered", async () => {
    await hostile(sc, after((e) => void e.send([{ kind: "alert", code: AlertCode.internal_error, reason: "\u001b]52;c;ZXZpbA==\u0007" }])), { code: "alert", alerts: [] });
  });

  test("CLOSE → a clean close (no error), the good peer unaffected", async () => {
    const e = await Evil.open(sc.port);
    e.send([{ kind: "close", reason: "bye" }]);
    const c = await sc.closeOf(e);
    expect(c.code).toBeNull();
    expect(c.error).toBeNull();
    expect(await e.a.waitClosed()).toBe(true);
    await sc.good.roundTrip();
    await sc.settled();
  });
});

describe("KEY_UPDATE", () => {
  test("three KEY_UPDATEs in a row are accepted: the session goes on under the new keys", async () => {
    const e = await Evil.open(sc.port);
    for (let i = 0; i < 3; i++) e.send([text(BigInt(i + 1))], true);
    e.send([text(9n, "after three updates")]);
    await until("the echo", () => e.items.some((i) => i.kind === "text" && i.text === "after three updates"), 3000);
    e.send([{ kind: "close", reason: "" }]);
    expect((await sc.closeOf(e)).code).toBeNull();
  });

  test("a KEY_UPDATE storm (one per record, back to back) → unexpected_message", async () => {
    await hostile(sc, after((e) => {
      const recs: Uint8Array[] = [];
      for (let i = 0; i < 40; i++) recs.push(e.seal([{ kind: "padding", length: 0 }], true));
      e.a.write(concat(...recs));
    }), { code: "unexpected_message", alerts: [P] });
  });
});
