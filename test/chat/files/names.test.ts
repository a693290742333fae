/**
 * Received file names (PROTOCOL §11.6): hostile names become safe relative paths that
 * can only go down from the download folder; placeFile never replaces a file.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAX_COMPONENT_BYTES, MAX_DEPTH, placeFile, safeComponent, safeRelativePath } from "../../../src/chat/files/names.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), "sotto-names-"));
  dirs.push(d);
  return d;
}
const bytes = (s: string) => new TextEncoder().encode(s).length;
/** A verified file waiting to be placed (it lives outside the download folder, as partials do). */
const partialPath = (_d: string, name: string) => join(dir(), `${name}.part`);

describe("safeRelativePath", () => {
  const cases: [string, string | null][] = [
    ["report.pdf", "report.pdf"],
    ["photos/2024/a.jpg", "photos/2024/a.jpg"],
    ["../../etc/passwd", "etc/passwd"],
    ["/etc/passwd", "etc/passwd"],
    ["..\\..\\windows\\win.ini", "windows/win.ini"],
    ["a/./b/../c", "a/b/c"],
    ["C:\\Users\\x.txt", "C_/Users/x.txt"],
    ["\x1b[2J\x1b]0;pwned\x07evil.txt", "[2J]0;pwnedevil.txt"],
    ["a\u202Egnp.exe", "agnp.exe"],
    ["zero\u200Bwidth\uFEFF.txt", "zerowidth.txt"],
    ["line\u2028break.txt", "linebreak.txt"],
    ["new\nline\r.txt", "newline.txt"],
    [".bashrc", "_.bashrc"],
    ["...", null],
    ["..", null],
    ["/", null],
    ["", null],
    ["\x00\x01\x02", null],
    ["CON", "_CON"],
    ["nul.txt", "_nul.txt"],
    // Windows' other device names: the superscript ports and the console's.
    ["COM¹", "_COM¹"],
    ["lpt³.log", "_lpt³.log"],
    ["CONIN$", "_CONIN$"],
    ["conout$.txt", "_conout$.txt"],
    ["CON .txt", "_CON .txt"],
    ["trailing dots...", "trailing dots"],
    ["  spaced  ", "spaced"],
    ['what?<>|*:".txt', "what_______.txt"],
    ["e\u0301.txt", "é.txt"],
  ];
  for (const [name, want] of cases) test(JSON.stringify(name), () => expect(safeRelativePath(name)).toBe(want));

  test("a long component is cut to 200 bytes, keeping its extension, never inside a code point", () => {
    const r = safeRelativePath(`${"é".repeat(600)}.tar.gz`)!;
    expect(bytes(r)).toBeLessThanOrEqual(MAX_COMPONENT_BYTES);
    expect(r.endsWith(".gz")).toBe(true);
    expect(r.startsWith("é")).toBe(true);
    expect(r).not.toContain("\ufffd");
  });
  test("deep paths keep their last 32 components", () => {
    const r = safeRelativePath(Array.from({ length: 100 }, (_, i) => `d${i}`).join("/"))!;
    expect(r.split("/")).toHaveLength(MAX_DEPTH);
    expect(r.endsWith("d99")).toBe(true);
  });
  test("no result has an empty, '.', or '..' component, or a control character", () => {
    const nasty = ["../", "./../..//./x", "a/../../../b", "\\\\server\\share\\f", "~/.ssh/authorized_keys", "x/\u0085/y", "\u009b31m"];
    for (const n of nasty) {
      const r = safeRelativePath(n);
      if (r === null) continue;
      for (const c of r.split("/")) {
        expect(c === "" || c === "." || c === "..").toBe(false);
        expect(/[\p{Cc}\p{Cf}]/u.test(c)).toBe(false);
      }
    }
    expect(safeRelativePath("~/.ssh/authorized_keys")).toBe("~/_.ssh/authorized_keys");
  });
  test("safeComponent of nothing usable is empty", () => {
    expect(safeComponent(" . ")).toBe("");
  });
});

describe("placeFile", () => {
  test("moves the partial into folders, never replacing: ' (1)', ' (2)' before the extension", () => {
    const d = dir();
    const names: string[] = [];
    for (let i = 0; i < 3; i++) {
      const part = partialPath(d, `${i}`.repeat(32));
      writeFileSync(part, `v${i}`);
      names.push(placeFile(part, d, "sub/dir/a.txt"));
      expect(existsSync(part)).toBe(false);
    }
    expect(names).toEqual([join(d, "sub/dir/a.txt"), join(d, "sub/dir/a (1).txt"), join(d, "sub/dir/a (2).txt")]);
    expect(names.map((n) => readFileSync(n, "utf8"))).toEqual(["v0", "v1", "v2"]);
  });
  test("a name without extension gets the suffix at the end", () => {
    const d = dir();
    writeFileSync(join(d, "README"), "old");
    const part = partialPath(d, "a".repeat(32));
    writeFileSync(part, "new");
    expect(placeFile(part, d, "README")).toBe(join(d, "README (1)"));
    expect(readFileSync(join(d, "README"), "utf8")).toBe("old");
  });
  test("a folder that cannot be made (a file has its name) falls back to the bare name", () => {
    const d = dir();
    writeFileSync(join(d, "sub"), "a file, not a folder");
    const part = partialPath(d, "b".repeat(32));
    writeFileSync(part, "x");
    expect(placeFile(part, d, "sub/x.txt")).toBe(join(d, "x.txt"));
  });
  test("across filesystems (no hard link) the file is copied exclusively, never through a planted link", () => {
    const other = "/dev/shm";
    // Skipped when /dev/shm is missing or on the same device as the temp folder: there is no cross-device case to test.
    if (!existsSync(other) || statSync(other).dev === statSync(tmpdir()).dev) return;
    const src = mkdtempSync(join(other, "sotto-names-"));
    dirs.push(src);
    const d = dir();
    const elsewhere = join(dir(), "target.txt");
    writeFileSync(elsewhere, "keep");
    symlinkSync(elsewhere, join(d, "a.txt"));
    const part = join(src, "p.part");
    writeFileSync(part, "copied");
    expect(placeFile(part, d, "a.txt")).toBe(join(d, "a (1).txt"));
    expect(readFileSync(join(d, "a (1).txt"), "utf8")).toBe("copied");
    expect(readFileSync(elsewhere, "utf8")).toBe("keep");
    expect(existsSync(part)).toBe(false);
  });
  test("a folder of the name that is a link is not followed: the file lands at the top under its bare name", () => {
    const d = dir();
    const elsewhere = dir();
    symlinkSync(elsewhere, join(d, "sub"));
    const part = partialPath(d, "c".repeat(32));
    writeFileSync(part, "x");
    expect(placeFile(part, d, "sub/x.txt")).toBe(join(d, "x.txt"));
    expect(readdirSync(elsewhere)).toEqual([]);
  });
});
