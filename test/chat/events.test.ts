/** docs/EVENTS.md is the --json contract: every event type in events.ts is documented there, and the first event carries the version. */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { EVENTS_VERSION } from "../../src/chat/events.ts";

const root = join(import.meta.dir, "../..");

test("every ChatEvent type is in docs/EVENTS.md", () => {
  const src = readFileSync(join(root, "src/chat/events.ts"), "utf8");
  const doc = readFileSync(join(root, "docs/EVENTS.md"), "utf8");
  const types = [...new Set([...src.matchAll(/type: "([a-z_]+)"/g)].map((m) => m[1]!))];
  expect(types.length).toBeGreaterThan(20);
  expect(types.filter((t) => !doc.includes(`\`${t}\``) && !doc.includes(`"type":"${t}"`))).toEqual([]);
  expect(doc).toContain(`"version":${EVENTS_VERSION}`);
});
