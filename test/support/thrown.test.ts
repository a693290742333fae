/** test/support/thrown.ts: the error a call throws, of the expected class, or a failure that says what happened. */
import { expect, test } from "bun:test";
import { thrown } from "./thrown.ts";

class DoorError extends Error {}

test("returns the error of the expected class", () => {
  const e = new DoorError("shut");
  expect(thrown(DoorError, () => {
    throw e;
  })).toBe(e);
});

test("a call that returns, or throws another class, fails naming the class expected", () => {
  expect(() => thrown(DoorError, () => 1)).toThrow("expected a DoorError, but the call returned");
  expect(() => thrown(DoorError, () => {
    throw new RangeError("out of range");
  })).toThrow("expected a DoorError, got RangeError: out of range");
});
