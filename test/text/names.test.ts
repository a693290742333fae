/** One normalisation for names (src/text/names.ts): the same name, and names that look the same. */
import { describe, expect, test } from "bun:test";
import { confusable, mentions, nameKey, nameSkeleton } from "../../src/text/names.ts";

describe("nameKey: the same local name", () => {
  test("NFKC and case", () => {
    expect(nameKey("Alice")).toBe(nameKey("alice"));
    expect(nameKey("ａｌｉｃｅ")).toBe("alice"); // fullwidth
    expect(nameKey("bob")).not.toBe(nameKey("b\u043eb")); // NFKC keeps Cyrillic о apart
  });
});

describe("nameSkeleton: UTS #39 lookalikes", () => {
  const SAME: [string, string][] = [
    ["bob", "b\u043eb"], // Cyrillic о
    ["bob", "b\u03bfb"], // Greek ο
    ["paypal", "paypaI"], // capital I for l
    ["bob", "b0b"], // digit zero
    ["alice", "\u0430lice"], // Cyrillic а
    ["Alice", "alice"],
  ];
  test.each(SAME)("%s and %s look alike", (a, b) => {
    expect(nameSkeleton(a)).toBe(nameSkeleton(b));
    expect(confusable(a, b)).toBe(true);
  });
  const DIFFERENT: [string, string][] = [
    ["bob", "rob"],
    ["bob", "bob-2"],
    ["alice", "alicia"],
  ];
  test.each(DIFFERENT)("%s and %s do not", (a, b) => {
    expect(confusable(a, b)).toBe(false);
  });
});

describe("mentions (the terminal's bell)", () => {
  test("mentions: whole words, any case, @name; not inside another word", () => {
    expect(mentions("hey Alice, look", "alice")).toBe(true);
    expect(mentions("@alice", "alice")).toBe(true);
    expect(mentions("malice aforethought", "alice")).toBe(false);
    expect(mentions("alice_b", "alice")).toBe(false);
  });
});
