/** PROTOCOL §11.11 FILE_SET against test/vectors/file-set.json: the valid item round-trips, the faults are refused by the decoder (and so ignored by the receiver). */
import { describe, expect, test } from "bun:test";
import { decodeItems, encodeItems } from "../../src/protocol/items.ts";
import { FileType } from "../../src/protocol/constants.ts";
import { decodeFileItem, encodeFileItem, isFileType } from "../../src/protocol/files.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";
import vectors from "../vectors/file-set.json";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("FILE_SET vectors", () => {
  for (const v of vectors.vectors) {
    test(v.name, () => {
      // An optional item: the core decoder passes it through whatever its content.
      const items = decodeItems(new Uint8Array(Buffer.from(v.item, "hex")));
      expect(items.length).toBe(1);
      const it = items[0]!;
      if (it.kind !== "ext") throw new Error("expected an ext item");
      expect(it.type).toBe(FileType.FILE_SET);
      expect(isFileType(it.type)).toBe(true);
      if (v.expect === "ignored") {
        let code = "";
        try {
          decodeFileItem(it.type, it.content);
        } catch (e) {
          code = (e as ProtocolError).code;
        }
        return expect(code).toBe("bad_item");
      }
      const want = { kind: "file_set", id: BigInt(v.id!), count: v.count!, total: v.total!, label: v.label! } as const;
      expect(decodeFileItem(it.type, it.content)).toEqual(want);
      expect(hex(encodeItems([encodeFileItem(want)]))).toBe(v.item);
    });
  }
  test("the encoder refuses a label a receiver would ignore", () => {
    for (const label of ["", "12345678901234567", "a/b", "é"]) expect(() => encodeFileItem({ kind: "file_set", id: 1n, count: 1, total: 0, label })).toThrow(RangeError);
    expect(() => encodeFileItem({ kind: "file_set", id: 1n, count: 0, total: 0, label: "1" })).toThrow(RangeError);
  });
});
