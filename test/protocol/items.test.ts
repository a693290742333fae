/**
 * Items inside a record (PROTOCOL §6): content_type:u8 | len:u16 | content. Every kind
 * round-trips; every size is checked before it is read; texts decode with a fatal UTF-8
 * decoder; unknown types below 0x80 are errors, at or above 0x80 they are skipped.
 */
import { describe, expect, test } from "bun:test";
import { concat, utf8 } from "../../src/crypto/bytes.ts";
import { ContentType, MAX_NAME_LEN, MAX_PLAINTEXT } from "../../src/protocol/constants.ts";
import { decodeItems, encodeItems, writeItem, itemSize, type Item } from "../../src/protocol/items.ts";
import { codeOf, det } from "./helpers.ts";

/** One raw item: type | len:u16 | content (len defaults to the content's length). */
function item(type: number, content: Uint8Array | number[], len?: number): Uint8Array {
  const c = content instanceof Uint8Array ? content : new Uint8Array(content);
  const n = len ?? c.length;
  return concat(new Uint8Array([type, n >>> 8, n & 0xff]), c);
}
const bytes = (n: number, fill = 0x41) => new Uint8Array(n).fill(fill);
const id8 = [0, 0, 0, 0, 0, 0, 0, 7];

const every: Item[] = [
  { kind: "auth", identity: det("id", 32), sig: det("sig", 64) },
  { kind: "text", id: 0xfedcba9876543210n, text: "hello ☕ 𝄞 — ok" },
  { kind: "text", id: 0n, text: "" },
  { kind: "ack", id: 2n ** 64n - 1n },
  { kind: "ping", data: det("ping", 8) },
  { kind: "pong", data: det("pong", 8) },
  { kind: "key_update" },
  { kind: "close", reason: "bye 👋" },
  { kind: "close", reason: "" },
  { kind: "profile", instance: det("inst", 8), name: "ålice" },
  { kind: "profile", instance: det("inst", 8), name: "n".repeat(MAX_NAME_LEN) },
  { kind: "alert", code: 4, reason: "bad record" },
  { kind: "alert", code: 255, reason: "" },
  { kind: "padding", length: 0 },
  { kind: "padding", length: 300 },
];

describe("items round-trip", () => {
  for (const it of every) {
    test(`${it.kind} alone`, () => {
      const pt = encodeItems([it]);
      expect(pt.length).toBe(itemSize(it));
      expect(decodeItems(pt)).toEqual([it]);
    });
  }

  test("all kinds in one plaintext, in order", () => {
    expect(decodeItems(encodeItems(every))).toEqual(every);
  });

  test("decodes from a view at a non-zero offset of a larger buffer", () => {
    const pt = encodeItems(every);
    const big = new Uint8Array(pt.length + 13).fill(0xee);
    big.set(pt, 5);
    expect(decodeItems(big.subarray(5, 5 + pt.length))).toEqual(every);
  });

  test("wire layout: type, u16 big-endian length, content", () => {
    expect([...encodeItems([{ kind: "ack", id: 0x0102030405060708n }])]).toEqual([ContentType.ACK, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect([...encodeItems([{ kind: "key_update" }])]).toEqual([ContentType.KEY_UPDATE, 0, 0]);
    expect([...encodeItems([{ kind: "alert", code: 3, reason: "A" }])]).toEqual([ContentType.ALERT, 0, 2, 3, 0x41]);
  });
});

describe("decodeItems rejects malformed encodings", () => {
  const cases: [string, Uint8Array, string][] = [
    ["empty plaintext", new Uint8Array(0), "bad_item"],
    ["a header cut to 1 byte", new Uint8Array([ContentType.TEXT]), "bad_item"],
    ["a header cut to 2 bytes", new Uint8Array([ContentType.TEXT, 0]), "bad_item"],
    ["a header cut after a valid item", concat(item(ContentType.KEY_UPDATE, []), new Uint8Array([ContentType.ACK, 0])), "bad_item"],
    ["declared len beyond the remaining bytes", item(ContentType.TEXT, id8, 9), "bad_item"],
    ["declared len 0xffff with 8 bytes", item(ContentType.CLOSE, bytes(8), 0xffff), "bad_item"],
    ["declared len beyond, in a second item", concat(item(ContentType.PING, bytes(8)), item(ContentType.PADDING, bytes(3), 4)), "bad_item"],
    ["AUTH of 95 bytes", item(ContentType.AUTH, bytes(95)), "bad_item"],
    ["AUTH of 97 bytes", item(ContentType.AUTH, bytes(97)), "bad_item"],
    ["AUTH of 0 bytes", item(ContentType.AUTH, []), "bad_item"],
    ["ACK of 7 bytes", item(ContentType.ACK, bytes(7)), "bad_item"],
    ["ACK of 9 bytes", item(ContentType.ACK, bytes(9)), "bad_item"],
    ["PING of 9 bytes", item(ContentType.PING, bytes(9)), "bad_item"],
    ["PING of 7 bytes", item(ContentType.PING, bytes(7)), "bad_item"],
    ["PONG of 9 bytes", item(ContentType.PONG, bytes(9)), "bad_item"],
    ["KEY_UPDATE of 1 byte", item(ContentType.KEY_UPDATE, [0]), "bad_item"],
    ["TEXT shorter than its id (7 bytes)", item(ContentType.TEXT, bytes(7)), "bad_item"],
    ["TEXT of 0 bytes", item(ContentType.TEXT, []), "bad_item"],
    ["PROFILE shorter than its instance (7 bytes)", item(ContentType.PROFILE, bytes(7)), "bad_item"],
    ["PROFILE name of 65 bytes", item(ContentType.PROFILE, bytes(8 + MAX_NAME_LEN + 1)), "bad_item"],
    ["ALERT with no code", item(ContentType.ALERT, []), "bad_item"],
    ["unknown required type 0x00", item(0x00, bytes(4)), "bad_item"],
    ["unknown required type 0x7f", item(0x7f, bytes(4)), "bad_item"],
    ["unknown required type 0x0a", item(0x0a, []), "bad_item"],
    ["unknown required type after a valid item", concat(item(ContentType.ACK, id8), item(0x10, [])), "bad_item"],
  ];
  for (const [name, pt, code] of cases) {
    test(`${name} → ${code}`, () => expect(codeOf(() => decodeItems(pt))).toBe(code));
  }

  test("PROFILE name of exactly 64 bytes is accepted", () => {
    expect(decodeItems(item(ContentType.PROFILE, bytes(8 + MAX_NAME_LEN)))[0]).toMatchObject({ kind: "profile", name: "A".repeat(64) });
  });
});

describe("texts must be valid UTF-8 → invalid_utf8", () => {
  const bad: [string, number[]][] = [
    ["overlong C0 80", [0xc0, 0x80]],
    ["surrogate ED A0 80", [0xed, 0xa0, 0x80]],
    ["truncated E2 82", [0xe2, 0x82]],
    ["F5", [0xf5, 0x80, 0x80, 0x80]],
    ["FF", [0xff]],
    ["stray continuation 80", [0x80]],
  ];
  const carriers: [string, (b: number[]) => Uint8Array][] = [
    ["TEXT", (b) => item(ContentType.TEXT, [...id8, 0x61, ...b, 0x62])],
    ["CLOSE", (b) => item(ContentType.CLOSE, b)],
    ["PROFILE", (b) => item(ContentType.PROFILE, [...id8, ...b])],
    ["ALERT", (b) => item(ContentType.ALERT, [5, ...b])],
  ];
  for (const [carrier, make] of carriers) {
    for (const [name, b] of bad) {
      test(`${carrier} with ${name}`, () => expect(codeOf(() => decodeItems(make(b)))).toBe("invalid_utf8"));
    }
    test(`${carrier} with valid multi-byte text decodes`, () => {
      expect(codeOf(() => decodeItems(make([...utf8("é☕𝄞")])))).toBe("ok");
    });
  }
});

describe("unknown optional types (0x81..0xff) are handed up as ext items, never an error", () => {
  test("0x81 and 0xff come back as ext with their content; their neighbours decode as usual", () => {
    const pt = concat(item(0x81, bytes(5)), item(ContentType.ACK, id8), item(0xff, []), item(0xc3, bytes(300)));
    const got = decodeItems(pt);
    expect(got.map((i) => (i.kind === "ext" ? `ext:${i.type}:${i.content.length}` : i.kind))).toEqual(["ext:129:5", "ack", "ext:255:0", "ext:195:300"]);
    expect(got[1]).toEqual({ kind: "ack", id: 7n });
  });
  test("ext items round-trip through encodeItems and writeItem", () => {
    const ext: Item = { kind: "ext", type: 0x90, content: bytes(9) };
    expect(decodeItems(encodeItems([ext]))).toEqual([ext]);
    const out = new Uint8Array(64);
    const end = writeItem(out, 0, 64, ext);
    expect(decodeItems(out.subarray(0, end))).toEqual([ext]);
    expect(() => encodeItems([{ kind: "ext", type: 0x7f, content: bytes(1) }])).toThrow(RangeError);
  });
  test("an unknown optional item's length is still checked", () => {
    expect(codeOf(() => decodeItems(item(0x81, bytes(2), 3)))).toBe("bad_item");
  });
});

describe("encodeItems refuses what no peer may send (RangeError: a local bug)", () => {
  test("a total over 65,280 bytes", () => {
    const fits: Item = { kind: "padding", length: MAX_PLAINTEXT - 3 };
    expect(encodeItems([fits])).toHaveLength(MAX_PLAINTEXT);
    expect(() => encodeItems([{ kind: "padding", length: MAX_PLAINTEXT - 2 }])).toThrow(RangeError);
    expect(() => encodeItems([{ kind: "close", reason: "x".repeat(40000) }, { kind: "close", reason: "y".repeat(40000) }])).toThrow(RangeError);
  });
  test("wrong fixed sizes and an over-long name", () => {
    expect(() => encodeItems([{ kind: "ping", data: bytes(7) }])).toThrow(RangeError);
    expect(() => encodeItems([{ kind: "auth", identity: bytes(32), sig: bytes(63) }])).toThrow(RangeError);
    expect(() => encodeItems([{ kind: "profile", instance: bytes(8), name: "n".repeat(MAX_NAME_LEN + 1) }])).toThrow(RangeError);
    expect(() => encodeItems([{ kind: "profile", instance: bytes(7), name: "n" }])).toThrow(RangeError);
  });
});

describe("PRIVATE (PROTOCOL §6.5)", () => {
  test("the vector: PRIVATE id=7 is bf 0008 0000000000000007, and decodes back", async () => {
    const { encodeItems, decodeItems, privateItem, privateId } = await import("../../src/protocol/items.ts");
    const bytes = encodeItems([privateItem(7n)]);
    expect(Buffer.from(bytes).toString("hex")).toBe("bf00080000000000000007");
    const [item] = decodeItems(bytes);
    expect(privateId(item!)).toBe(7n);
  });
  test("a PRIVATE of another size is bad_item; other items are not PRIVATE", async () => {
    const { decodeItems, privateId } = await import("../../src/protocol/items.ts");
    const [short] = decodeItems(new Uint8Array([0xbf, 0x00, 0x02, 0x00, 0x07]));
    expect(() => privateId(short!)).toThrow(expect.objectContaining({ code: "bad_item" }));
    expect(privateId({ kind: "ack", id: 1n })).toBeNull();
  });
});
