/** PROTOCOL §12 TEXT_TIME against test/vectors/text-time.json. */
import { describe, expect, test } from "bun:test";
import { decodeItems, encodeItems, readTextTime, textTimeItem } from "../../src/protocol/items.ts";
import { TEXT_TIME } from "../../src/protocol/constants.ts";
import vectors from "../vectors/text-time.json";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("TEXT_TIME vectors", () => {
  for (const v of vectors.vectors) {
    test(v.name, () => {
      const items = decodeItems(new Uint8Array(Buffer.from(v.item, "hex")));
      expect(items.length).toBe(1);
      const it = items[0]!;
      expect(it.kind === "ext" && it.type === TEXT_TIME).toBe(true);
      const got = readTextTime((it as Extract<typeof it, { kind: "ext" }>).content);
      if (v.expect === "ignored") return expect(got).toBeNull();
      expect(got).toEqual({ id: BigInt(v.id!), writtenMs: v.written_ms! });
      expect(hex(encodeItems([textTimeItem(BigInt(v.id!), v.written_ms!)]))).toBe(v.item);
    });
  }
});
