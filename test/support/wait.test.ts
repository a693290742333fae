/** test/support/wait.ts: the one polling helper every test uses. */
import { expect, test } from "bun:test";
import { until } from "./wait.ts";

test("resolves with the first truthy value, after as many polls as it took", async () => {
  let polls = 0;
  expect(await until("the third poll", () => (++polls === 3 ? "three" : false), 10_000, 1)).toBe("three");
  expect(polls).toBe(3);
  // 0 and "" are falsy but real answers are not: null, undefined and false keep it polling.
  expect(await until("a zero", () => 0 as number | null, 10_000, 1)).toBe(0);
});

test("a description given as a function is read when the wait fails (a screen, the state then)", async () => {
  let state = "before";
  const failed = until(() => `the door to open; the door is ${state}`, () => false, 30, 1);
  state = "still shut";
  expect(failed).rejects.toThrow("timed out after 30 ms waiting for the door to open; the door is still shut");
  await failed.catch(() => {});
});
