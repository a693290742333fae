/**
 * The receiver side of PROTOCOL §11 over a fake session (fake-session.ts): where the bytes
 * go on disk whatever is planted in the download or the partials folder, and what a resume may pick up.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, linkSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ChatError } from "../../../src/chat/events.ts";
import { fileKey } from "../../../src/chat/files/disk.ts";
import { removeHomes, tempHome } from "../../support/home.ts";
import { until } from "../../support/wait.ts";
import { sha } from "./fake-hosts.ts";
import { pidOf, type FakeSession, type Harness } from "./fake-session.ts";
import { bytes, harness, harnesses } from "./receiver-support.ts";

afterEach(() => {
  for (const h of harnesses.splice(0)) h.close();
  removeHomes();
});

/** Offer `data` as `name` under wire id `id` and, once accepted, send it all. */
async function push(h: Harness, s: FakeSession, id: bigint, name: string, data: Uint8Array): Promise<void> {
  h.deliver(s, { kind: "file_offer", id, size: data.length, sha256: sha(data), name });
  const acc = await until(`accept of ${id}`, () => s.of("file_accept", id)[0]);
  for (let off = acc.offset; off < data.length; off += 60_000) h.deliver(s, { kind: "file_chunk", id, offset: off, data: data.subarray(off, off + 60_000) });
  h.deliver(s, { kind: "file_done", id });
}

/** A file outside the download folder, and how to tell it is untouched. */
function outsideFile(): { path: string; unchanged: () => void } {
  const dir = tempHome("sotto-outside-");
  const path = join(dir, "precious.txt");
  writeFileSync(path, "do not touch me\n");
  const old = new Date(Date.now() - 3_600_000);
  utimesSync(path, old, old);
  const before = statSync(path);
  return {
    path,
    unchanged: () => {
      expect(readFileSync(path, "utf8")).toBe("do not touch me\n");
      expect(statSync(path).mtimeMs).toBe(before.mtimeMs);
      expect(readdirSync(dir)).toEqual(["precious.txt"]);
    },
  };
}

describe("no received byte lands outside the download folder", () => {
  test("a planted .part symlink named after the resume key is neither followed nor resumed", async () => {
    const h = harness({ autoAccept: true });
    const out = outsideFile();
    const s = h.open();
    const data = bytes(40_000);
    const downloads = join(h.home, "downloads");
    mkdirSync(downloads, { recursive: true });
    // The name the sender could predict: .sotto-<first 16 bytes of the key>.part.
    const key = fileKey(pidOf(s), data.length, sha(data), "a.bin");
    symlinkSync(out.path, join(downloads, `.sotto-${key.slice(0, 32)}.part`));
    await push(h, s, 1n, "a.bin", data);
    expect(s.of("file_accept", 1n)[0]!.offset).toBe(0);
    await until("received", () => s.of("file_received", 1n)[0]);
    expect(new Uint8Array(readFileSync(join(downloads, "a.bin")))).toEqual(data);
    out.unchanged();
  });

  test("a symlinked sub-folder does not take a folder transfer outside", async () => {
    const h = harness({ autoAccept: true });
    const out = outsideFile();
    const s = h.open();
    const downloads = join(h.home, "downloads");
    mkdirSync(downloads, { recursive: true });
    symlinkSync(join(out.path, ".."), join(downloads, "album"));
    const data = bytes(1000, 2);
    await push(h, s, 1n, "album/precious.txt", data);
    await push(h, s, 2n, "album/new.txt", data);
    await until("received", () => s.of("file_received", 2n)[0]);
    const done = h.transfers("done").map((e) => e.path!);
    expect(done).toHaveLength(2);
    for (const p of done) {
      expect(p.startsWith(`${downloads}/`)).toBe(true);
      expect(lstatSync(p).isFile()).toBe(true);
      expect(new Uint8Array(readFileSync(p))).toEqual(data);
    }
    out.unchanged();
  });

  test("a planted link at the final name is never replaced nor written through", async () => {
    const h = harness({ autoAccept: true });
    const out = outsideFile();
    const s = h.open();
    const downloads = join(h.home, "downloads");
    mkdirSync(downloads, { recursive: true });
    symlinkSync(out.path, join(downloads, "report.txt"));
    await push(h, s, 1n, "report.txt", bytes(100));
    await until("received", () => s.of("file_received", 1n)[0]);
    expect(h.transfers("done")[0]!.path).toBe(join(downloads, "report (1).txt"));
    expect(lstatSync(join(downloads, "report.txt")).isSymbolicLink()).toBe(true);
    out.unchanged();
  });

  test("partials stay out of the download folder, under unpredictable names, in a private folder", async () => {
    const h = harness({ autoAccept: true });
    const s = h.open();
    const data = bytes(100_000, 3);
    h.deliver(s, { kind: "file_offer", id: 1n, size: data.length, sha256: sha(data), name: "p.bin" });
    await until("accept", () => s.of("file_accept", 1n)[0]);
    h.deliver(s, { kind: "file_chunk", id: 1n, offset: 0, data: data.subarray(0, 50_000) });
    const downloads = join(h.home, "downloads");
    expect(existsSync(downloads) ? readdirSync(downloads) : []).toEqual([]);
    const partials = join(h.home, "partials");
    expect(statSync(partials).mode & 0o777).toBe(0o700);
    const parts = readdirSync(partials).filter((n) => n.endsWith(".part"));
    expect(parts).toHaveLength(1);
    const key = fileKey(pidOf(s), data.length, sha(data), "p.bin");
    expect(parts[0]!.includes(key.slice(0, 16))).toBe(false);
    expect(statSync(join(partials, parts[0]!)).mode & 0o777).toBe(0o600);
  });
});

describe("the partials folder", () => {
  test("a partials folder that is a link, or open to others, is refused or closed up before any byte is written", () => {
    const home = tempHome("sotto-recv-");
    const elsewhere = tempHome("sotto-elsewhere-");
    symlinkSync(elsewhere, join(home, "partials"));
    let err: unknown;
    try {
      harness({}, home);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ChatError);
    expect((err as ChatError).code).toBe("state");
    expect((err as Error).message).toContain("not a link");
    const home2 = tempHome("sotto-recv-");
    mkdirSync(join(home2, "partials"), { mode: 0o777 });
    chmodSync(join(home2, "partials"), 0o777);
    harness({}, home2);
    expect(statSync(join(home2, "partials")).mode & 0o777).toBe(0o700);
  });
});

describe("resume", () => {
  test("after a restart the partial resumes for the same key and hash only; another key starts at 0", async () => {
    const home = tempHome("sotto-recv-");
    const h1 = harness({ autoAccept: true }, home);
    const alice = h1.open();
    const data = bytes(200_000, 4);
    h1.deliver(alice, { kind: "file_offer", id: 1n, size: data.length, sha256: sha(data), name: "r.bin" });
    await until("accept", () => alice.of("file_accept", 1n)[0]);
    h1.deliver(alice, { kind: "file_chunk", id: 1n, offset: 0, data: data.subarray(0, 40_000) });
    h1.deliver(alice, { kind: "file_chunk", id: 1n, offset: 40_000, data: data.subarray(40_000, 80_000) });
    h1.close();
    const h2 = harness({ autoAccept: false }, home);
    // mallory offers the same name, size and hash: never alice's partial.
    const mallory = h2.open();
    h2.deliver(mallory, { kind: "file_offer", id: 1n, size: data.length, sha256: sha(data), name: "r.bin" });
    expect(mallory.of("file_accept")).toHaveLength(0);
    expect(mallory.of("file_pending", 1n)).toHaveLength(1);
    // alice again: accepted without asking, at the bytes held, with their hash.
    const alice2 = h2.open(alice);
    h2.deliver(alice2, { kind: "file_offer", id: 5n, size: data.length, sha256: sha(data), name: "r.bin" });
    const acc = await until("accept", () => alice2.of("file_accept", 5n)[0]);
    expect(acc.offset).toBe(80_000);
    expect(acc.prefix).toEqual(sha(data.subarray(0, 80_000)));
    for (let off = 80_000; off < data.length; off += 60_000) h2.deliver(alice2, { kind: "file_chunk", id: 5n, offset: off, data: data.subarray(off, off + 60_000) });
    h2.deliver(alice2, { kind: "file_done", id: 5n });
    await until("received", () => alice2.of("file_received", 5n)[0]);
    expect(new Uint8Array(readFileSync(join(home, "downloads", "r.bin")))).toEqual(data);
    // mallory's offer, accepted now, starts at 0.
    h2.ft.accept(h2.ft.list().find((t) => t.state === "offered")!.id);
    expect((await until("accept", () => mallory.of("file_accept", 1n)[0])).offset).toBe(0);
  });
});

describe("a partial that was swapped", () => {
  for (const how of ["a symlink", "a hard link"] as const) {
    test(`a partial replaced by ${how} to a file elsewhere between runs is not resumed: the transfer starts at 0 and that file is left alone`, async () => {
      const home = tempHome("sotto-recv-");
      const h1 = harness({ autoAccept: true }, home);
      const s = h1.open();
      const data = bytes(50_000, 6);
      h1.deliver(s, { kind: "file_offer", id: 1n, size: data.length, sha256: sha(data), name: "w.bin" });
      await until("accept", () => s.of("file_accept", 1n)[0]);
      h1.deliver(s, { kind: "file_chunk", id: 1n, offset: 0, data: data.subarray(0, 20_000) });
      h1.close();
      const dir = join(home, "partials");
      const part = readdirSync(dir).find((n) => n.endsWith(".part"))!;
      const out = outsideFile();
      // Same name, another inode: a link to a file elsewhere.
      rmSync(join(dir, part));
      if (how === "a symlink") symlinkSync(out.path, join(dir, part));
      else linkSync(out.path, join(dir, part));
      const h2 = harness({ autoAccept: true }, home);
      const s2 = h2.open(s);
      h2.deliver(s2, { kind: "file_offer", id: 2n, size: data.length, sha256: sha(data), name: "w.bin" });
      const acc = await until("accept", () => s2.of("file_accept", 2n)[0]);
      expect(acc.offset).toBe(0);
      for (let off = 0; off < data.length; off += 25_000) h2.deliver(s2, { kind: "file_chunk", id: 2n, offset: off, data: data.subarray(off, off + 25_000) });
      h2.deliver(s2, { kind: "file_done", id: 2n });
      await until("received", () => s2.of("file_received", 2n)[0]);
      expect(new Uint8Array(readFileSync(join(home, "downloads", "w.bin")))).toEqual(data);
      out.unchanged();
    });
  }
});
