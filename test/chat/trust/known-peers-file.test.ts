/** The known_peers line grammar (src/chat/trust/known-peers-file.ts), without a file. */
import { describe, expect, test } from "bun:test";
import { KnownPeersError, lineText, parseLine } from "../../../src/chat/trust/known-peers-file.ts";
import { asPid } from "../../../src/chat/peer-id.ts";

const KEY = asPid("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");

describe("parseLine", () => {
  test("a pin is normalised (lowercase address and key, CR dropped) and written back with single spaces", () => {
    const l = parseLine("kp", `10.0.0.7:7000\talice  ${KEY.toUpperCase()} verified\r`, 3);
    expect(l).toEqual({ entry: { address: "10.0.0.7:7000", name: "alice", key: KEY, verified: true } });
    expect(lineText(l)).toBe(`10.0.0.7:7000 alice ${KEY} verified\n`);
  });

  test("comments and blank lines are kept as they are; a blocked key is a marker line", () => {
    expect(parseLine("kp", "  # a note ", 1)).toEqual({ text: "  # a note " });
    expect(lineText(parseLine("kp", "", 2))).toBe("\n");
    expect(parseLine("kp", `@blocked ${KEY}`, 4)).toEqual({ blocked: KEY });
  });

  test("each grammar fault is a corrupt error naming path:line", () => {
    const cases: [string, string][] = [
      [`*:0 bob ${KEY} verified`, `"*:0" is not an address (host:port or *)`],
      [`* b!b ${KEY} verified`, `"b!b" is not a valid name`],
      [`* bob abc verified`, "the public key must be 64 hex digits"],
      [`* bob ${KEY} maybe`, `"maybe" must be "verified" or "unverified"`],
      [`* bob ${KEY}`, "expected 4 fields (address name key verified), got 3"],
      ["@blocked xyz", `expected "@blocked <public key>" with a key of 64 hex digits`],
    ];
    for (const [line, why] of cases) {
      let err: unknown;
      try {
        parseLine("/h/known_peers", line, 7);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KnownPeersError);
      expect((err as KnownPeersError).code).toBe("corrupt");
      expect((err as Error).message).toBe(`/h/known_peers:7: ${why}; fix or delete this line (the file was left unchanged).`);
    }
    expect(() => parseLine("kp", new Uint8Array([0xff, 0x20]), 1)).toThrow("kp:1: the line is not valid UTF-8");
  });
});
