import { expect, test } from "bun:test";
import { findCycles } from "./cycles.ts";

test("findCycles names each cycle, and none in a graph without one", () => {
  expect(findCycles(new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]]]))).toEqual(["a → b → c → a"]);
  expect(findCycles(new Map([["a", ["b", "c"]], ["b", ["c"]], ["c", []]]))).toEqual([]);
});
