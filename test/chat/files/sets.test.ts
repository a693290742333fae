/**
 * PROTOCOL §11.11 FILE_SET with a raw peer ("mallory", fixtures.ts) on one side and a
 * ChatNode on the other: a hostile set (two files under one path, a path that is a file
 * and a folder, 100,000 files, files adding up past the total, a total past the free
 * disk) is refused as a whole, with the FILE_REJECTs mallory receives and nothing left on
 * disk; a malformed FILE_SET is ignored; and an "old" peer on either side (one that sends
 * no FILE_SET, or one that skips it) still gets every file through.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ChatEvent } from "../../../src/chat/events.ts";
import { FileCode, FileType } from "../../../src/protocol/constants.ts";
import { encodeFileItem, type FileItem } from "../../../src/protocol/files.ts";
import { claimPath, MAX_SET_PATH_BYTES, MAX_SET_PATH_BYTES_TOTAL, MAX_SET_PATHS, MAX_LIVE_SETS_PER_PEER, RecvSets } from "../../../src/chat/files/sets.ts";
import { safeRelativePath } from "../../../src/chat/files/names.ts";
import { Fixture, makeFile, sha256File, sha256Hex, transfers, until, waitPhase, type Mallory } from "./fixtures.ts";

const fx = new Fixture();
afterEach(() => fx.cleanup());

const hash = (s: string | Uint8Array) => new Uint8Array(Buffer.from(sha256Hex(s), "hex"));
const utf8 = (s: string) => new TextEncoder().encode(s);

async function setup(o: { autoAccept?: boolean; free?: number } = {}) {
  const home = fx.dir();
  const downloads = join(home, "downloads");
  const partials = join(home, "partials");
  const bob = await fx.node("bob", { home, files: { downloads, autoAccept: o.autoAccept ?? false, ...(o.free !== undefined ? { freeSpace: () => o.free! } : {}) } });
  const m = await fx.mallory(bob.port);
  await until("connected", () => bob.events.some((e) => e.type === "connected"));
  return { bob, m, downloads, partials };
}

/** mallory offers `name` with `content` as a file of the set `label`. */
function offer(m: Mallory, id: bigint, set: { label: string; count: number; total: number } | null, name: string, content: string): void {
  if (set !== null) m.send({ kind: "file_set", id, ...set });
  m.send({ kind: "file_offer", id, size: content.length, sha256: hash(content), name });
}

const rejects = (m: Mallory) => m.got.filter((g): g is Extract<FileItem, { kind: "file_reject" }> => g.kind === "file_reject");
const files = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String) : []);

describe("a hostile set is refused as a whole (set_refused), nothing on disk", () => {
  const cases: [string, { count: number; total: number }, [string, string][], string][] = [
    ["two files under one path", { count: 2, total: 8 }, [["f/a.txt", "1234"], ["f/a.txt", "5678"]], "two of its files would both be saved as f/a.txt"],
    ["one path sanitised onto another", { count: 2, total: 8 }, [["f/a.txt", "1234"], ["f\\\\a.txt", "5678"]], "two of its files would both be saved as f/a.txt"],
    ["a file that is also a folder", { count: 2, total: 8 }, [["f/x", "1234"], ["f/x/y", "5678"]], "f/x/y would be inside f/x, which is a file of the same folder"],
    ["a folder that is also a file", { count: 2, total: 8 }, [["f/x/y", "1234"], ["f/x", "5678"]], "f/x is both a file and a folder in it"],
    ["more files than it announced", { count: 1, total: 8 }, [["f/a", "1234"], ["f/b", "5678"]], "it offered more than the 1 files it announced"],
    ["files adding up past its total", { count: 2, total: 6 }, [["f/a", "1234"], ["f/b", "5678"]], "its files add up to more than the 6 bytes it announced"],
  ];
  for (const [what, set, list, reason] of cases) {
    test(what, async () => {
      const { bob, m, downloads, partials } = await setup({ autoAccept: true });
      const s = { label: "4821", ...set };
      // The first file is held back until the second is offered: nothing of the set is written.
      offer(m, 1n, s, list[0]![0], list[0]![1]);
      offer(m, 2n, s, list[1]![0], list[1]![1]);
      const r2 = await until("the second file refused", () => rejects(m).find((g) => g.id === 2n));
      expect([r2.code, r2.reason]).toEqual([FileCode.set_refused, `the transfer was refused: ${reason}`]);
      // The first file (accepted, its bytes never sent) is refused with it: the bytes mallory receives.
      const r1 = await until("the first file refused", () => rejects(m).find((g) => g.id === 1n));
      expect(r1.code).toBe(FileCode.set_refused);
      // Later offers of the set are refused at once.
      offer(m, 3n, s, "f/c", "90");
      expect((await until("the third refused", () => rejects(m).find((g) => g.id === 3n))).code).toBe(FileCode.set_refused);
      const failed = await waitPhase(bob.events, "failed");
      expect([failed.id, failed.code, failed.reason, failed.files]).toEqual(["4821", "set_refused", `the transfer was refused: ${reason}`, set.count]);
      expect(files(downloads)).toEqual([]);
      expect(files(partials).filter((n) => n.endsWith(".part"))).toEqual([]);
    });
  }

  test("100,000 files: refused at its first offer, before anything is asked", async () => {
    const { bob, m, downloads } = await setup();
    offer(m, 1n, { label: "big", count: 100_000, total: 100_000 }, "f/a", "1");
    const r = await until("refused", () => rejects(m).find((g) => g.id === 1n));
    expect([r.code, r.reason]).toEqual([FileCode.set_refused, "the transfer was refused: it has 100000 files; at most 10000 are taken in one transfer"]);
    expect(m.got.some((g) => g.kind === "file_pending")).toBe(false);
    expect(transfers(bob.events, "offered")).toEqual([]);
    await until("told", () => bob.events.some((e) => e.type === "error" && e.message.includes("offered 100000 files")));
    expect(files(downloads)).toEqual([]);
  });

  test("the whole set is charged against the disk before any file is accepted", async () => {
    // 70 MiB free: the 10-byte first file would fit with the 64 MiB margin, the 8 MiB set does not.
    const { bob, m, downloads } = await setup({ free: 70 * 1024 * 1024 });
    const s = { label: "77", count: 2, total: 8 * 1024 * 1024 };
    offer(m, 1n, s, "big/a", "0123456789");
    const offered = await waitPhase(bob.events, "offered");
    expect([offered.id, offered.files, offered.size]).toEqual(["77", 2, 8 * 1024 * 1024]);
    expect(bob.n.files!.accept("77")).toBe(1);
    const r = await until("refused", () => rejects(m).find((g) => g.id === 1n));
    expect(r.code).toBe(FileCode.set_refused);
    expect(r.reason).toContain("not enough free disk space");
    expect(m.got.some((g) => g.kind === "file_accept")).toBe(false);
    expect((await waitPhase(bob.events, "failed")).code).toBe("too_large");
    expect(files(downloads)).toEqual([]);
  });

  test("a malformed FILE_SET is ignored: the offer is a plain one, under the receiver's own id", async () => {
    const { bob, m } = await setup();
    m.raw(FileType.FILE_SET, new Uint8Array(0));
    const bad = encodeFileItem({ kind: "file_set", id: 1n, count: 2, total: 8, label: "48" });
    if (bad.kind !== "ext") throw new Error("ext expected");
    m.raw(FileType.FILE_SET, new Uint8Array([...bad.content, ...utf8("/../")]));
    offer(m, 1n, null, "plain.txt", "1234");
    const o = await waitPhase(bob.events, "offered");
    expect([o.name, o.files, o.peerId]).toEqual(["plain.txt", undefined, undefined]);
    expect(o.id).toMatch(/^\d{4}$/);
    expect(await until("pending", () => m.got.find((g) => g.kind === "file_pending" && g.id === 1n))).toBeTruthy();
    expect(bob.events.filter((e: ChatEvent) => e.type === "error")).toEqual([]);
  });
});

describe("every file of a set keeps the checks of a lone file", () => {
  test("hostile names in an accepted set land inside the download folder, sanitised; each file's hash is checked", async () => {
    const { bob, m, downloads } = await setup({ autoAccept: true });
    const list: [string, string][] = [["../../evil/a", "aaa"], ["/abs/b", "bb"], ["f/CON", "c"], ["f/lie", "dddd"]];
    const s = { label: "66", count: 4, total: 14 };
    list.forEach(([name, body], i) => offer(m, BigInt(i + 1), s, name, name === "f/lie" ? "not this" : body));
    for (let i = 0; i < list.length; i++) {
      const id = BigInt(i + 1);
      await until(`accept ${id}`, () => m.got.find((g) => g.kind === "file_accept" && g.id === id));
    }
    for (let i = 0; i < 3; i++) {
      const id = BigInt(i + 1);
      m.send({ kind: "file_chunk", id, offset: 0, data: utf8(list[i]![1]) });
      m.send({ kind: "file_done", id });
      await until(`received ${id}`, () => m.got.find((g) => g.kind === "file_received" && g.id === id));
    }
    expect(files(downloads).sort()).toEqual(["abs", "abs/b", "evil", "evil/a", "f", "f/_CON"]);
    expect(existsSync(join(downloads, "..", "..", "evil"))).toBe(false);
    // The last file ends before the size it offered: it fails, and so does its set; the files already placed stay.
    m.send({ kind: "file_chunk", id: 4n, offset: 0, data: utf8("dddd") });
    m.send({ kind: "file_done", id: 4n });
    const r = await until("rejected", () => rejects(m).find((g) => g.id === 4n));
    expect(r.code).toBe(FileCode.size_mismatch);
    const failed = await waitPhase(bob.events, "failed");
    expect([failed.id, failed.code, failed.filesDone]).toEqual(["66", "size_mismatch", 3]);
    expect(files(downloads)).not.toContain("f/lie");
  });
});

describe("claimPath (S6)", () => {
  test("the same file again is fine; another file on its path, or across a folder, is not; the paths a set claims are bounded", () => {
    const paths = new Map<string, string>();
    expect(claimPath(paths, "a/b/c.txt", "k1")).toBeNull();
    expect(claimPath(paths, "a/b/c.txt", "k1")).toBeNull(); // offered again after a redial
    expect(claimPath(paths, "a/b/c.txt", "k2")).toBe("two of its files would both be saved as a/b/c.txt");
    expect(claimPath(paths, "a/b", "k3")).toBe("a/b is both a file and a folder in it");
    expect(claimPath(paths, "a/b/c.txt/d", "k4")).toBe("a/b/c.txt/d would be inside a/b/c.txt, which is a file of the same folder");
    expect([...paths.keys()]).toEqual(["a", "a/b", "a/b/c.txt"]);
    let i = 0;
    while (claimPath(paths, `a/f${i}`, `x${i}`) === null) i++;
    expect(paths.size).toBeLessThanOrEqual(MAX_SET_PATHS);
    expect(paths.size).toBeGreaterThanOrEqual(MAX_SET_PATHS - 2); // (a path counts its folders, claimed or not: the bound is never passed)
    expect(claimPath(paths, `a/f${i}`, `x${i}`)).toBe(`it names more than ${MAX_SET_PATHS} files and folders`);
  });
});

describe("budgets", () => {
  test("the paths a set holds are bounded in bytes, per set and over every set (names of 1,024 bytes, 32 folders deep)", () => {
    const sets = new RecvSets();
    // The longest name an offer may carry: 32 components of 31 characters, each file in folders of its own.
    const name = (set: number, i: number) => Array.from({ length: 32 }, (_, d) => (d === 0 ? `${set}-${i}-` : "").padEnd(31, "abcdefghijklmnopqrstuvwxyz"[d % 26]!)).join("/").slice(0, 1024);
    /** Offers files of the set `label` of `pid` until one is refused; the files taken and the refusal. */
    const fill = (pid: string, label: string, n: number) => {
      const fs = { count: 10_000, total: 10_000, label };
      for (let i = 0; ; i++) {
        const r = sets.join(pid, fs, `${label}-${i}`, 1, safeRelativePath(name(n, i))!, 1e12, (s) => void (s.id = label));
        if (!("set" in r!)) return { taken: i, why: r!.reason, set: sets.get(pid, label)! };
      }
    };
    const one = fill("p1", "A1", 0);
    // Before: 20,000 entries of up to 1 KiB each (about 21 MiB a set; 16 sets of one sender took 335 MiB of RSS).
    expect(one.why).toBe(`the transfer was refused: the paths of its files and folders take more than ${MAX_SET_PATH_BYTES} bytes`);
    expect(one.set.paths.size).toBeLessThan(MAX_SET_PATHS / 2);
    let bytes = 0;
    for (const k of one.set.paths.keys()) bytes += 2 * k.length + 64;
    expect(bytes).toBe(one.set.pathBytes);
    expect(bytes).toBeLessThanOrEqual(MAX_SET_PATH_BYTES);
    // Over every set: 16 full sets (of several senders) use it all; the next set is refused at its first path.
    for (let n = 1; n < MAX_SET_PATH_BYTES_TOTAL / MAX_SET_PATH_BYTES; n++) fill(`p${1 + Math.floor(n / MAX_LIVE_SETS_PER_PEER)}x${n}`, `A${n}`, n);
    const late = fill("late", "Z", 99);
    expect(late.why).toBe("the transfer was refused: this receiver holds the paths of too many folders now; send it again later");
    expect([...sets.live.values()].reduce((n, s) => n + s.pathBytes, 0)).toBeLessThanOrEqual(MAX_SET_PATH_BYTES_TOTAL);
    // A set that ends gives its bytes back.
    sets.drop(one.set);
    expect(fill("late2", "Y", 98).taken).toBeGreaterThan(0);
  });

  test("lone files are bounded as plain offers are (20 wait); sets of several files 16 at once per sender (the 17th: busy)", async () => {
    const { m } = await setup();
    for (let i = 1; i <= 20; i++) offer(m, BigInt(i), { label: `L${i}`, count: 1, total: 2 }, `f${i}`, "ab");
    await until("20 pending", () => m.got.filter((g) => g.kind === "file_pending").length === 20);
    expect(rejects(m)).toEqual([]);
    for (let i = 1; i <= 17; i++) offer(m, BigInt(100 + i), { label: `S${i}`, count: 2, total: 4 }, `s${i}/a`, "ab");
    const busy = await until("one busy", () => rejects(m).find((g) => g.id === 117n));
    expect([busy.code, busy.reason]).toEqual([FileCode.busy, "at most 16 transfers of several files may be open at once"]);
    expect(rejects(m)).toHaveLength(1);
  });
});

describe("old peers (no FILE_SET) still get every file through", () => {
  test("a sender without FILE_SET: each offer on its own, under the receiver's ids", async () => {
    const { bob, m, downloads } = await setup({ autoAccept: true });
    for (const [id, name, body] of [[1n, "d/a", "aa"], [2n, "d/b", "bbb"]] as const) {
      offer(m, id, null, name, body);
      await until("accepted", () => m.got.find((g) => g.kind === "file_accept" && g.id === id));
      m.send({ kind: "file_chunk", id, offset: 0, data: utf8(body) });
      m.send({ kind: "file_done", id });
      await until("received", () => m.got.find((g) => g.kind === "file_received" && g.id === id));
    }
    const done = transfers(bob.events, "done");
    expect(done.map((e) => e.name)).toEqual(["d/a", "d/b"]);
    expect(new Set(done.map((e) => e.id)).size).toBe(2);
    expect(await sha256File(join(downloads, "d/b"))).toBe(sha256Hex("bbb"));
  });

  test("a receiver that skips FILE_SET: every file offered plainly; refusing one refuses that one only", async () => {
    const alice = await fx.node("alice", { files: { downloads: join(fx.dir(), "d"), autoAccept: false } });
    const m = await fx.mallory(alice.port);
    await until("connected", () => alice.events.some((e) => e.type === "connected"));
    const src = join(fx.dir(), "pics");
    mkdirSync(join(src, "sub"), { recursive: true });
    const want: Record<string, string> = { "pics/a": makeFile(join(src, "a"), 70_000, 2), "pics/sub/b": makeFile(join(src, "sub/b"), 5, 3) };
    writeFileSync(join(src, "no"), "unwanted");
    alice.n.files!.send([src], "mallory");
    // What an old receiver sees: FILE_SET (it skips it) and three ordinary FILE_OFFERs.
    const offers = await until("3 offers", () => {
      const o = m.got.filter((g): g is Extract<FileItem, { kind: "file_offer" }> => g.kind === "file_offer");
      return o.length === 3 && o;
    });
    const sets = m.got.filter((g): g is Extract<FileItem, { kind: "file_set" }> => g.kind === "file_set");
    expect(sets.map((s) => [s.id, s.count, s.total])).toEqual(offers.map((o) => [o.id, 3, 70_000 + 5 + 8]));
    const shown = await waitPhase(alice.events, "offered");
    expect(sets.every((s) => s.label === shown.id)).toBe(true);
    for (const o of offers) {
      if (o.name === "pics/no") m.send({ kind: "file_reject", id: o.id, code: FileCode.declined, reason: "not this one" });
      else m.send({ kind: "file_accept", id: o.id, offset: 0, prefix: hash("") });
    }
    for (const o of offers.filter((x) => x.name !== "pics/no")) {
      await until(`done ${o.name}`, () => m.got.find((g) => g.kind === "file_done" && g.id === o.id));
      const data = Buffer.concat(m.got.filter((g): g is Extract<FileItem, { kind: "file_chunk" }> => g.kind === "file_chunk" && g.id === o.id).map((c) => c.data));
      expect(sha256Hex(data)).toBe(want[o.name]!);
      m.send({ kind: "file_received", id: o.id, sha256: new Uint8Array(Buffer.from(want[o.name]!, "hex")) });
    }
    const end = await waitPhase(alice.events, "done");
    expect([end.id, end.files, end.filesDone, end.reason]).toEqual([shown.id, 3, 2, "1 of its files were refused"]);
    expect(alice.events.filter((e) => e.type === "transfer_file").map((e) => (e as { name: string }).name).sort()).toEqual(["pics/a", "pics/no", "pics/sub/b"]);
  });
});

describe("sets that hold nothing open do not outlive their session", () => {
  test("sets whose only offer is a file already received do not keep the 16 slots of their sender after it leaves", async () => {
    const downloads = join(fx.dir(), "downloads");
    const bob = await fx.node("bob", { files: { downloads, autoAccept: true } });
    const mhome = fx.dir();
    const m = await fx.mallory(bob.port, mhome);
    await until("connected", () => bob.events.some((e) => e.type === "connected"));
    // A lone file, received.
    offer(m, 1n, null, "x", "ab");
    await m.answer("file_accept", 1n);
    m.send({ kind: "file_chunk", id: 1n, offset: 0, data: utf8("ab") });
    m.send({ kind: "file_done", id: 1n });
    await m.answer("file_received", 1n);
    // 16 sets of two files, each offering only that file again: each is answered FILE_RECEIVED.
    for (let i = 1; i <= 16; i++) offer(m, BigInt(10 + i), { label: `E${i}`, count: 2, total: 4 }, "x", "ab");
    await until("16 received", () => m.got.filter((g) => g.kind === "file_received").length === 17);
    expect(rejects(m)).toEqual([]);
    // The sender leaves and comes back (the same identity): nothing of those sets is left, its next folder is taken.
    m.s.close("bye");
    await until("gone", () => bob.events.filter((e) => e.type === "disconnected").length === 1);
    expect(bob.n.files!.list()).toEqual([]);
    const m2 = await fx.mallory(bob.port, mhome);
    offer(m2, 1n, { label: "F1", count: 2, total: 4 }, "f/a", "ab");
    const first = await until("answered", () => m2.got.find((g) => g.id === 1n && (g.kind === "file_accept" || g.kind === "file_reject")));
    expect(first.kind).toBe("file_accept");
    expect(files(downloads)).toEqual(["x"]);
  }, 20_000);
});

describe("an auto-accepted set whose sender never comes back", () => {
  test("does not keep its total charged against the disk after its sender left: another contact's file is taken", async () => {
    const MiB = 1024 * 1024;
    const downloads = join(fx.dir(), "downloads");
    const bob = await fx.node("bob", { files: { downloads, autoAccept: true, freeSpace: () => 200 * MiB } });
    const m = await fx.mallory(bob.port);
    await until("connected", () => bob.events.some((e) => e.type === "connected"));
    // A folder announced at 100 MiB: one 4-byte file of it is sent, then mallory leaves for good.
    offer(m, 1n, { label: "77", count: 2, total: 100 * MiB }, "big/a", "abcd");
    await m.answer("file_accept", 1n);
    m.send({ kind: "file_chunk", id: 1n, offset: 0, data: utf8("abcd") });
    m.send({ kind: "file_done", id: 1n });
    await m.answer("file_received", 1n);
    m.s.close("bye");
    await until("gone", () => bob.events.some((e) => e.type === "disconnected"));
    expect(bob.n.files!.list()).toEqual([]);
    // Carol's 40 MiB file fits (200 MiB free, 64 MiB kept spare) once nothing holds the 100 MiB.
    const carol = await fx.mallory(bob.port, fx.dir(), "carol");
    carol.send({ kind: "file_offer", id: 1n, size: 40 * MiB, sha256: hash("x"), name: "c.bin" });
    const a = await until("answered", () => carol.got.find((g) => g.id === 1n && (g.kind === "file_accept" || g.kind === "file_reject")));
    expect(a.kind).toBe("file_accept");
    expect(files(downloads).sort()).toEqual(["big", "big/a"]);
  });
});

describe("a file of a set offered again after it was received", () => {
  test("counts once: the folder the person accepted goes on after a redial, and ends when every file is in", async () => {
    const downloads = join(fx.dir(), "downloads");
    const bob = await fx.node("bob", { files: { downloads, autoAccept: false } });
    const mhome = fx.dir();
    const m = await fx.mallory(bob.port, mhome);
    await until("connected", () => bob.events.some((e) => e.type === "connected"));
    const s = { label: "55", count: 2, total: 4 };
    offer(m, 1n, s, "f/a", "aa");
    offer(m, 2n, s, "f/b", "bb");
    await waitPhase(bob.events, "offered");
    expect(bob.n.files!.accept("55")).toBe(1);
    await m.answer("file_accept", 1n);
    m.send({ kind: "file_chunk", id: 1n, offset: 0, data: utf8("aa") });
    m.send({ kind: "file_done", id: 1n });
    await m.answer("file_received", 1n);
    // The link drops before f/b is sent; the sender comes back and offers the whole folder again.
    m.s.close("bye");
    await until("gone", () => bob.events.some((e) => e.type === "disconnected"));
    const m2 = await fx.mallory(bob.port, mhome);
    offer(m2, 1n, s, "f/a", "aa");
    await m2.answer("file_received", 1n);
    offer(m2, 2n, s, "f/b", "bb");
    // f/b goes on without asking: the set the person accepted is still open (f/a counted once).
    await m2.answer("file_accept", 2n);
    expect(transfers(bob.events, "done")).toEqual([]);
    m2.send({ kind: "file_chunk", id: 2n, offset: 0, data: utf8("bb") });
    m2.send({ kind: "file_done", id: 2n });
    const done = await waitPhase(bob.events, "done");
    expect([done.id, done.files, done.filesDone]).toEqual(["55", 2, 2]);
    expect(transfers(bob.events, "offered")).toHaveLength(1);
    expect(files(downloads).sort()).toEqual(["f", "f/a", "f/b"]);
  });
});

describe("a label used again", () => {
  test("after its set was received, the same label from the same sender is a new offer that waits for the person", async () => {
    const downloads = join(fx.dir(), "downloads");
    const bob = await fx.node("bob", { files: { downloads, autoAccept: false } });
    const m = await fx.mallory(bob.port);
    await until("connected", () => bob.events.some((e) => e.type === "connected"));
    const s = { label: "88", count: 1, total: 2 };
    offer(m, 1n, s, "one", "aa");
    await waitPhase(bob.events, "offered");
    expect(bob.n.files!.accept("88")).toBe(1);
    await m.answer("file_accept", 1n);
    m.send({ kind: "file_chunk", id: 1n, offset: 0, data: utf8("aa") });
    m.send({ kind: "file_done", id: 1n });
    await m.answer("file_received", 1n);
    await waitPhase(bob.events, "done");
    // The same label, count and total, another file: PENDING, not ACCEPT.
    offer(m, 2n, s, "two", "bb");
    await m.answer("file_pending", 2n);
    expect(m.got.some((g) => g.kind === "file_accept" && g.id === 2n)).toBe(false);
    expect(files(downloads)).toEqual(["one"]);
  });
});

describe("a label that is a word of the commands", () => {
  test("a set labelled \"All\" is shown under an id of the receiver's own: /accept All cannot be taken for /accept all", async () => {
    const { bob, m } = await setup();
    offer(m, 1n, { label: "All", count: 2, total: 4 }, "f/a", "ab");
    const o = await waitPhase(bob.events, "offered");
    expect(o.peerId).toBe("All");
    expect(o.id).toMatch(/^\d{4}$/);
  });
});
