/**
 * The file-transfer items (PROTOCOL §11.3): every kind round-trips through the session's
 * item codec; every size rule, the 2^53 bound and the UTF-8 rule are checked, each with
 * its error code; encodeFileItem refuses what a correct sender never produces.
 */
import { describe, expect, test } from "bun:test";
import { concat, utf8 } from "../../src/crypto/bytes.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";
import { FileType, MAX_CHUNK_DATA, MAX_FILE_NAME_BYTES, MAX_FILE_REASON_BYTES } from "../../src/protocol/constants.ts";
import { chunkItem, decodeFileItem, encodeFileItem, fileCodeName, isFileType, peekTransferId, type FileItem } from "../../src/protocol/files.ts";
import { decodeItems, encodeItems } from "../../src/protocol/items.ts";
import { det } from "./helpers.ts";

const sha = det("sha", 32);
const every: FileItem[] = [
  { kind: "file_offer", id: 1n, size: 0, sha256: sha, name: "a" },
  { kind: "file_offer", id: 2n ** 64n - 1n, size: Number.MAX_SAFE_INTEGER, sha256: sha, name: "photos/2024/é☕.jpg" },
  { kind: "file_offer", id: 7n, size: 5, sha256: sha, name: "n".repeat(MAX_FILE_NAME_BYTES) },
  { kind: "file_accept", id: 7n, offset: 123456789, prefix: det("prefix", 32) },
  { kind: "file_chunk", id: 7n, offset: 0, data: det("data", 1) },
  { kind: "file_chunk", id: 7n, offset: 2 ** 40, data: det("data", MAX_CHUNK_DATA) },
  { kind: "file_done", id: 7n },
  { kind: "file_cancel", id: 7n, code: 10, reason: "the file changed" },
  { kind: "file_reject", id: 7n, code: 255, reason: "" },
  { kind: "file_pending", id: 7n },
  { kind: "file_received", id: 7n, sha256: sha },
];

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof ProtocolError) return e.code;
    throw e;
  }
  return "no error";
}
const u64 = (n: bigint) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n);
  return b;
};
const id8 = u64(7n);

describe("file items round-trip", () => {
  for (const it of every) {
    test(`${it.kind} ${it.kind === "file_offer" ? it.name.slice(0, 12) : ""}`, () => {
      const wire = encodeFileItem(it);
      expect(wire.kind).toBe("ext");
      // Through the core codec, as the session sends and receives it.
      const [back] = decodeItems(encodeItems([wire]));
      expect(back!.kind).toBe("ext");
      const ext = back as Extract<typeof back, { kind: "ext" }>;
      expect(isFileType(ext.type)).toBe(true);
      expect(decodeFileItem(ext.type, ext.content)).toEqual(it);
      expect(peekTransferId(ext.content)).toBe(it.id);
    });
  }
  test("the types are 0xA0..0xA8, all in the optional range", () => {
    expect(Object.values(FileType)).toEqual([0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8]);
    expect(isFileType(0x9f)).toBe(false);
    expect(isFileType(0xa9)).toBe(false);
  });
  test("chunkItem writes id and offset in place, without copying the data", () => {
    const content = new Uint8Array(16 + 3);
    content.set([1, 2, 3], 16);
    const it = chunkItem(content, 9n, 300);
    expect(it.kind === "ext" && it.content).toBe(content);
    expect(decodeFileItem(FileType.FILE_CHUNK, content)).toEqual({ kind: "file_chunk", id: 9n, offset: 300, data: new Uint8Array([1, 2, 3]) });
  });
  test("code names, known and unknown", () => {
    expect(fileCodeName(7)).toBe("hash_mismatch");
    expect(fileCodeName(99)).toBe("code 99");
  });
});

describe("size rules (bad_item)", () => {
  const offerHead = concat(id8, u64(5n), sha);
  const cases: [string, number, Uint8Array][] = [
    ["OFFER without a name", FileType.FILE_OFFER, offerHead],
    ["OFFER with a 1,025-byte name", FileType.FILE_OFFER, concat(offerHead, new Uint8Array(MAX_FILE_NAME_BYTES + 1).fill(0x61))],
    ["OFFER cut inside its hash", FileType.FILE_OFFER, concat(id8, u64(5n), sha.subarray(0, 10))],
    ["OFFER with a 10,000-byte name", FileType.FILE_OFFER, concat(offerHead, new Uint8Array(10_000).fill(0x61))],
    ["OFFER size 2^53", FileType.FILE_OFFER, concat(id8, u64(2n ** 53n), sha, utf8("a"))],
    ["OFFER size 2^64 - 1", FileType.FILE_OFFER, concat(id8, u64(2n ** 64n - 1n), sha, utf8("a"))],
    ["ACCEPT of 47 bytes", FileType.FILE_ACCEPT, concat(id8, u64(0n), sha.subarray(0, 31))],
    ["ACCEPT of 49 bytes", FileType.FILE_ACCEPT, concat(id8, u64(0n), sha, new Uint8Array(1))],
    ["ACCEPT offset 2^53", FileType.FILE_ACCEPT, concat(id8, u64(2n ** 53n), sha)],
    ["CHUNK without data", FileType.FILE_CHUNK, concat(id8, u64(0n))],
    ["CHUNK without an offset", FileType.FILE_CHUNK, id8],
    ["CHUNK offset 2^63", FileType.FILE_CHUNK, concat(id8, u64(2n ** 63n), new Uint8Array(1))],
    ["DONE of 7 bytes", FileType.FILE_DONE, id8.subarray(0, 7)],
    ["DONE of 9 bytes", FileType.FILE_DONE, concat(id8, new Uint8Array(1))],
    ["PENDING of 0 bytes", FileType.FILE_PENDING, new Uint8Array(0)],
    ["CANCEL without a code", FileType.FILE_CANCEL, id8],
    ["REJECT with a 257-byte reason", FileType.FILE_REJECT, concat(id8, new Uint8Array([1]), new Uint8Array(MAX_FILE_REASON_BYTES + 1).fill(0x61))],
    ["RECEIVED of 39 bytes", FileType.FILE_RECEIVED, concat(id8, sha.subarray(0, 31))],
    ["a type that is not a file item", 0xa8, id8],
  ];
  for (const [what, type, content] of cases) test(what, () => expect(codeOf(() => decodeFileItem(type, content))).toBe("bad_item"));
  test("the largest allowed sizes pass", () => {
    expect(() => decodeFileItem(FileType.FILE_OFFER, concat(offerHead, new Uint8Array(MAX_FILE_NAME_BYTES).fill(0x61)))).not.toThrow();
    expect(() => decodeFileItem(FileType.FILE_REJECT, concat(id8, new Uint8Array([1]), new Uint8Array(MAX_FILE_REASON_BYTES).fill(0x61)))).not.toThrow();
    expect(() => decodeFileItem(FileType.FILE_OFFER, concat(id8, u64(2n ** 53n - 1n), sha, utf8("a")))).not.toThrow();
  });
  test("peekTransferId needs 8 bytes", () => {
    expect(peekTransferId(new Uint8Array(7))).toBeNull();
    expect(peekTransferId(id8)).toBe(7n);
  });
});

describe("UTF-8 (invalid_utf8)", () => {
  const bad: [string, number[]][] = [
    ["overlong slash", [0xc0, 0xaf]],
    ["surrogate", [0xed, 0xa0, 0x80]],
    ["truncated", [0xe2, 0x82]],
    ["F5", [0xf5, 0x80, 0x80, 0x80]],
  ];
  for (const [what, b] of bad) {
    test(`name: ${what}`, () => expect(codeOf(() => decodeFileItem(FileType.FILE_OFFER, concat(id8, u64(1n), sha, new Uint8Array(b))))).toBe("invalid_utf8"));
    test(`reason: ${what}`, () => expect(codeOf(() => decodeFileItem(FileType.FILE_CANCEL, concat(id8, new Uint8Array([1]), new Uint8Array(b))))).toBe("invalid_utf8"));
  }
});

describe("encodeFileItem refuses what a correct sender never sends (RangeError)", () => {
  const cases: [string, FileItem][] = [
    ["an empty name", { kind: "file_offer", id: 1n, size: 1, sha256: sha, name: "" }],
    ["a 1,025-byte name", { kind: "file_offer", id: 1n, size: 1, sha256: sha, name: "é".repeat(513) }],
    ["a negative size", { kind: "file_offer", id: 1n, size: -1, sha256: sha, name: "a" }],
    ["a size over 2^53 - 1", { kind: "file_offer", id: 1n, size: 2 ** 53, sha256: sha, name: "a" }],
    ["a short hash", { kind: "file_received", id: 1n, sha256: sha.subarray(0, 31) }],
    ["an empty chunk", { kind: "file_chunk", id: 1n, offset: 0, data: new Uint8Array(0) }],
    ["a chunk of 65,262 bytes", { kind: "file_chunk", id: 1n, offset: 0, data: new Uint8Array(MAX_CHUNK_DATA + 1) }],
    ["an id over u64", { kind: "file_done", id: 2n ** 64n }],
    ["a code of 256", { kind: "file_reject", id: 1n, code: 256, reason: "" }],
  ];
  for (const [what, it] of cases) test(what, () => expect(() => encodeFileItem(it)).toThrow(RangeError));
  test("a long reason is cut at a code point boundary to 256 bytes", () => {
    const it = encodeFileItem({ kind: "file_cancel", id: 1n, code: 1, reason: "☕".repeat(100) });
    const back = decodeFileItem(FileType.FILE_CANCEL, (it as { content: Uint8Array }).content);
    expect(back.kind === "file_cancel" && back.reason).toBe("☕".repeat(85));
  });
});
