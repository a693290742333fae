/** disk.ts collectSets: one transfer per /send path; the sotto home (the private identity key) is never offered. */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChatError } from "../../../src/chat/events.ts";
import { collectSets, hashFile } from "../../../src/chat/files/disk.ts";

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

describe("hashFile", () => {
  const MiB = 1 << 20;
  const content = new Uint8Array(2 * MiB + MiB / 2).map((_, i) => (i * 7 + (i >>> 13)) & 0xff);
  const sha = (b: Uint8Array) => new Uint8Array(new Bun.CryptoHasher("sha256").update(b).digest());
  function file(): string {
    dir = mkdtempSync(join(tmpdir(), "sotto-disk-"));
    const p = join(dir, "f.bin");
    writeFileSync(p, content);
    return p;
  }

  test("the next piece is read while this one is hashed: its read is asked for before the piece goes on", async () => {
    const log: string[] = [];
    const seen: number[] = [];
    const { hasher, read } = await hashFile(file(), content.length, undefined, () => (log.push("read"), true), (piece) => (log.push("hashed"), seen.push(piece.length)));
    // 1 MiB pieces: the second and third reads go out before the first and second pieces are hashed.
    expect(log).toEqual(["read", "read", "hashed", "read", "hashed", "hashed"]);
    expect(seen).toEqual([MiB, MiB, MiB / 2]);
    expect(read).toBe(content.length);
    expect(new Uint8Array(hasher.digest())).toEqual(sha(content));
  });

  test("a prefix, a file shorter than asked, and a stop asked for: the bytes read are hashed whole and counted", async () => {
    const p = file();
    const prefix = await hashFile(p, MiB + 5);
    expect([prefix.read, new Uint8Array(prefix.hasher.digest())]).toEqual([MiB + 5, sha(content.subarray(0, MiB + 5))]);
    const longer = await hashFile(p, 10 * MiB);
    expect([longer.read, new Uint8Array(longer.hasher.digest())]).toEqual([content.length, sha(content)]);
    let asks = 0;
    const stopped = await hashFile(p, content.length, undefined, () => ++asks < 2);
    expect([stopped.read, new Uint8Array(stopped.hasher.digest())]).toEqual([MiB, sha(content.subarray(0, MiB))]);
    const none = await hashFile(p, 0);
    expect([none.read, new Uint8Array(none.hasher.digest())]).toEqual([0, sha(new Uint8Array(0))]);
  });
});
