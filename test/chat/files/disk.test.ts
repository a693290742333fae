/** disk.ts collectSets: one transfer per /send path; the sotto home (the private identity key) is never offered. */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChatError } from "../../../src/chat/events.ts";
import { collectSets } from "../../../src/chat/files/disk.ts";

let dir = "";
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A folder `top` holding files, a subfolder, and the sotto home (identity inside). */
function tree(): { top: string; home: string } {
  dir = mkdtempSync(join(tmpdir(), "sotto-disk-"));
  const top = join(dir, "me");
  const home = join(top, ".config", "sotto");
  mkdirSync(join(top, "docs/deep"), { recursive: true });
  mkdirSync(join(home, "partials"), { recursive: true });
  writeFileSync(join(top, "a.txt"), "a");
  writeFileSync(join(top, "docs/deep/b.txt"), "bb");
  writeFileSync(join(home, "identity"), "secret key");
  writeFileSync(join(home, "known_peers"), "pins");
  return { top, home };
}

describe("collectSets", () => {
  test("one set per path: a file alone, a folder's files under its name", () => {
    const { top } = tree();
    const { sets, skipped } = collectSets([join(top, "a.txt"), join(top, "docs")], dir);
    expect(sets.map((s) => [s.name, s.files.map((f) => f.name)])).toEqual([
      ["a.txt", ["a.txt"]],
      ["docs", ["docs/deep/b.txt"]],
    ]);
    expect(skipped).toBe(0);
  });

  test("a folder that holds the sotto home is offered without it, and says how many files were left out", () => {
    const { top, home } = tree();
    const { sets, skipped } = collectSets([top], dir, home);
    expect(sets[0]!.files.map((f) => f.name).sort()).toEqual(["me/a.txt", "me/docs/deep/b.txt"]);
    expect(skipped).toBe(2);
    // Without the home given, the identity would have gone: the test is not vacuous.
    expect(collectSets([top], dir).sets[0]!.files.map((f) => f.name)).toContain("me/.config/sotto/identity");
  });

  test("a path inside the home, or a link to it, is refused with a sentence; nothing is offered", () => {
    const { top, home } = tree();
    symlinkSync(home, join(dir, "link"));
    for (const p of [join(home, "identity"), home, join(dir, "link")]) {
      let err: unknown;
      try {
        collectSets([join(top, "a.txt"), p], dir, home);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ChatError);
      expect((err as ChatError).message).toContain("is inside your sotto home");
      expect((err as ChatError).message).toContain("private identity key; nothing was offered");
    }
  });
});
