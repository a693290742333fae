import { describe, expect, test } from "bun:test";
import { completeLine } from "../../src/ui/complete.ts";
import { COMMAND_NAMES } from "../../src/ui/commands.ts";

const C = { commands: COMMAND_NAMES, names: ["bob", "bea", "carol"] };
const files = (dir: string) => (dir === "." ? ["notes.txt", "node_modules/", ".hidden"] : dir === "docs" ? ["a.md", "b.md"] : []);

describe("Tab completion", () => {
  test("commands after /", () => {
    expect(completeLine("/ver", C, files)).toEqual([["/verify"], "/ver"]);
    expect(completeLine("/h", C, files)[0].sort()).toEqual(["/help", "/history"]);
  });
  test("contact names where a command takes one, and at the start of a line", () => {
    expect(completeLine("/msg b", C, files)).toEqual([["bob", "bea"], "b"]);
    expect(completeLine("/verify CA", C, files)).toEqual([["carol"], "CA"]);
    expect(completeLine("car", C, files)).toEqual([["carol"], "car"]);
    expect(completeLine("/msg bob b", C, files)).toEqual([[], "b"]); // the text is not completed
  });
  test("paths for /send, folders with a slash, hidden files only when asked", () => {
    expect(completeLine("/send no", C, files)).toEqual([["notes.txt", "node_modules/"], "no"]);
    expect(completeLine("/send bob docs/", C, files)).toEqual([["docs/a.md", "docs/b.md"], "docs/"]);
    expect(completeLine("/send docs/a", C, files)).toEqual([["docs/a.md"], "docs/a"]);
    expect(completeLine("/send .h", C, files)).toEqual([[".hidden"], ".h"]);
  });
});
