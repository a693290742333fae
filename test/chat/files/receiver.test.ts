/**
 * The receiver side of PROTOCOL §11 over a fake session (fake-session.ts): who may offer,
 * where the bytes go on disk whatever is planted in the download folder, what a resume
 * may pick up, the disk and descriptor budgets, and the bare /accept.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, linkSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ChatError } from "../../../src/chat/events.ts";
import { fileKey } from "../../../src/chat/files/disk.ts";
import { FileCode, MAX_OPEN_TRANSFERS } from "../../../src/protocol/constants.ts";
import { removeHomes, tempHome } from "../../support/home.ts";
import { until } from "../../support/wait.ts";
import { MAX_PENDING_PER_PEER, MAX_PENDING_TOTAL, OFFER_BURST } from "../../../src/chat/files/state.ts";
import { Harness, pidOf, type FakeSession } from "./fake-session.ts";

const harnesses: Harness[] = [];
afterEach(() => {
  for (const h of harnesses.splice(0)) h.close();
  removeHomes();
});
const harness = (o: ConstructorParameters<typeof Harness>[1] = {}, home = tempHome("sotto-recv-")) => {
  const h = new Harness(home, o);
  harnesses.push(h);
  return h;
};
const sha = (b: Uint8Array | string) => new Uint8Array(new Bun.CryptoHasher("sha256").update(b).digest());
const bytes = (n: number, seed = 1) => new Uint8Array(n).map((_, i) => (i * 31 + seed) & 0xff);

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

describe("who may offer", () => {
  test("an offer from a key that is not a contact is refused, and nothing is shown or written", async () => {
    const h = harness({ autoAccept: true });
    h.allContacts = false;
    const s = h.open();
    h.deliver(s, { kind: "file_offer", id: 1n, size: 5, sha256: sha("hello"), name: "a.txt" });
    expect(s.of("file_reject", 1n)).toHaveLength(1);
    expect(s.of("file_reject", 1n)[0]!.code).toBe(FileCode.declined);
    expect(s.of("file_accept")).toHaveLength(0);
    expect(h.transfers("offered")).toHaveLength(0);
    h.deliver(s, { kind: "file_chunk", id: 1n, offset: 0, data: new TextEncoder().encode("hello") });
    expect(existsSync(join(h.home, "downloads", "a.txt"))).toBe(false);
    h.contacts.add(pidOf(s));
    h.deliver(s, { kind: "file_offer", id: 2n, size: 5, sha256: sha("hello"), name: "a.txt" });
    expect(s.of("file_accept", 2n)).toHaveLength(1);
  });
});

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

describe("a lost session", () => {
  test("what the person accepted stays accepted (the next offer goes on without asking); what waited for an answer is dropped", async () => {
    const h = harness();
    const s1 = h.open();
    h.deliver(s1, { kind: "file_offer", id: 1n, size: 10, sha256: sha("k"), name: "keep.bin" });
    h.deliver(s1, { kind: "file_offer", id: 2n, size: 10, sha256: sha("d"), name: "drop.bin" });
    h.ft.accept(h.ft.list().find((t) => t.name === "keep.bin")!.id);
    await until("accept", () => s1.of("file_accept", 1n)[0]);
    h.lose(s1);
    expect(h.ft.list().map((t) => t.name)).toEqual(["keep.bin"]);
    expect(h.transfers("cancelled").map((e) => e.name)).toEqual(["drop.bin"]);
    const s2 = h.open(s1);
    h.deliver(s2, { kind: "file_offer", id: 7n, size: 10, sha256: sha("k"), name: "keep.bin" });
    expect((await until("accept", () => s2.of("file_accept", 7n)[0])).offset).toBe(0);
    expect(h.transfers("offered")).toHaveLength(2);
  });
});

describe("disk", () => {
  test("the sum of accepted sizes is checked against free space with a margin, not each offer alone", async () => {
    const MiB = 1 << 20;
    const h = harness({ autoAccept: true, freeSpace: () => 100 * MiB });
    const s = h.open();
    for (let i = 1n; i <= 3n; i++) h.deliver(s, { kind: "file_offer", id: i, size: 30 * MiB, sha256: sha(`${i}`), name: `f${i}` });
    await until("three answers", () => s.sent.length >= 3);
    expect(s.of("file_accept").map((a) => a.id)).toEqual([1n]);
    expect(s.of("file_reject").map((r) => [r.id, r.code])).toEqual([
      [2n, FileCode.too_large],
      [3n, FileCode.too_large],
    ]);
  });

  test("abandoned partials are listed by /transfers and removed on /cancel", async () => {
    const home = tempHome("sotto-recv-");
    const h1 = harness({ autoAccept: true }, home);
    const s = h1.open();
    h1.deliver(s, { kind: "file_offer", id: 1n, size: 1000, sha256: sha("x"), name: "left.bin" });
    await until("accept", () => s.of("file_accept", 1n)[0]);
    h1.deliver(s, { kind: "file_chunk", id: 1n, offset: 0, data: bytes(500) });
    h1.close();
    const h2 = harness({}, home);
    const list = h2.ft.list();
    expect(list.map((t) => [t.name, t.bytes, t.state])).toEqual([["left.bin", 500, "paused"]]);
    expect(h2.ft.cancel(list[0]!.id)).toBe(1);
    expect(readdirSync(join(home, "partials")).filter((n) => n.endsWith(".part"))).toEqual([]);
    expect(h2.ft.list()).toEqual([]);
  });

  test("a partial older than the bounded age is removed at start", async () => {
    const home = tempHome("sotto-recv-");
    const h1 = harness({ autoAccept: true }, home);
    const s = h1.open();
    h1.deliver(s, { kind: "file_offer", id: 1n, size: 1000, sha256: sha("y"), name: "old.bin" });
    await until("accept", () => s.of("file_accept", 1n)[0]);
    h1.deliver(s, { kind: "file_chunk", id: 1n, offset: 0, data: bytes(500) });
    h1.close();
    const dir = join(home, "partials");
    const old = new Date(Date.now() - 8 * 24 * 3_600_000);
    for (const n of readdirSync(dir).filter((n) => n.endsWith(".part"))) utimesSync(join(dir, n), old, old);
    const h2 = harness({}, home);
    expect(h2.ft.list()).toEqual([]);
    expect(readdirSync(dir).filter((n) => n.endsWith(".part"))).toEqual([]);
  });

  test("a paused partial whose sender does not come back within the bounded age is deleted while the chat runs", async () => {
    const h = harness({ autoAccept: true, partialMaxAgeMs: 200 });
    const s = h.open();
    h.deliver(s, { kind: "file_offer", id: 1n, size: 1000, sha256: sha("z"), name: "gone.bin" });
    await until("accept", () => s.of("file_accept", 1n)[0]);
    h.deliver(s, { kind: "file_chunk", id: 1n, offset: 0, data: bytes(500) });
    h.lose(s);
    expect(h.ft.list().map((t) => t.state)).toEqual(["paused"]);
    const cancelled = await until("swept", () => h.transfers("cancelled")[0]);
    expect(cancelled.reason).toContain("partial file was deleted");
    expect(h.ft.list()).toEqual([]);
    expect(readdirSync(join(h.home, "partials")).filter((n) => n.endsWith(".part"))).toEqual([]);
  });

  test("an offer never accepted leaves no partial behind", async () => {
    const h = harness({ autoAccept: true });
    const s = h.open();
    for (let i = 1n; i <= 10n; i++) h.deliver(s, { kind: "file_offer", id: i, size: 100, sha256: sha(`${i}`), name: `e${i}` });
    await until("accepts", () => s.of("file_accept").length === 10);
    h.lose(s);
    const dir = (d: string) => (existsSync(join(h.home, d)) ? readdirSync(join(h.home, d)).filter((n) => n.endsWith(".part")) : []);
    expect([...dir("partials"), ...dir("downloads")]).toEqual([]);
  });
});

describe("/accept and /reject without an id", () => {
  test("accepts only when exactly one offer waits; otherwise says how many and asks for an id", () => {
    const h = harness();
    const s = h.open();
    h.deliver(s, { kind: "file_offer", id: 1n, size: 1, sha256: sha("1"), name: "one" });
    h.deliver(s, { kind: "file_offer", id: 2n, size: 1, sha256: sha("2"), name: "two" });
    let err: unknown;
    try {
      h.ft.accept();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ChatError);
    expect((err as Error).message).toContain("2 offers are waiting");
    expect(() => h.ft.reject()).toThrow(ChatError);
    expect(s.of("file_accept")).toHaveLength(0);
    expect(s.of("file_reject")).toHaveLength(0);
    h.ft.reject(h.ft.list()[0]!.id);
    expect(h.ft.accept()).toBe(1);
    expect(s.of("file_accept", 2n)).toHaveLength(1);
  });
});

describe("budgets", () => {
  test(`pending offers are counted per identity across its sessions (${MAX_OPEN_TRANSFERS}) and dropped with their session`, () => {
    const h = harness();
    const a = h.open();
    const b = h.open(a);
    for (let i = 1; i <= MAX_OPEN_TRANSFERS; i++) h.deliver(a, { kind: "file_offer", id: BigInt(i), size: 1, sha256: sha(`a${i}`), name: `a${i}` });
    for (let i = 1; i <= 10; i++) h.deliver(b, { kind: "file_offer", id: BigInt(i), size: 1, sha256: sha(`b${i}`), name: `b${i}` });
    expect(a.of("file_pending")).toHaveLength(MAX_OPEN_TRANSFERS);
    expect(b.of("file_reject").every((r) => r.code === FileCode.busy)).toBe(true);
    expect(b.of("file_reject")).toHaveLength(10);
    h.lose(a);
    expect(h.ft.list()).toEqual([]);
    h.deliver(b, { kind: "file_offer", id: 11n, size: 1, sha256: sha("b11"), name: "b11" });
    expect(b.of("file_pending", 11n)).toHaveLength(1);
  });

  test(`offers waiting for the person are bounded over every peer too (${MAX_PENDING_TOTAL})`, () => {
    const h = harness();
    const peers = Array.from({ length: Math.ceil(MAX_PENDING_TOTAL / MAX_PENDING_PER_PEER) + 1 }, () => h.open());
    for (const p of peers) for (let i = 1; i <= MAX_PENDING_PER_PEER; i++) h.deliver(p, { kind: "file_offer", id: BigInt(i), size: 1, sha256: sha(`${pidOf(p)}${i}`), name: `t${i}` });
    const pending = peers.reduce((n, p) => n + p.of("file_pending").length, 0);
    expect(pending).toBe(MAX_PENDING_TOTAL);
    expect(peers.at(-1)!.of("file_reject").every((r) => r.code === FileCode.busy)).toBe(true);
    expect(h.ft.list()).toHaveLength(MAX_PENDING_TOTAL);
  });

  test("offers from one identity have a rate: churn beyond the burst is refused busy, without events", () => {
    const h = harness({ now: () => 1000 });
    const a = h.open();
    const b = h.open(a);
    for (let i = 1; i <= 1500; i++) {
      const s = i % 2 === 0 ? a : b;
      h.deliver(s, { kind: "file_offer", id: BigInt(i), size: 1, sha256: sha(`${i}`), name: `c${i}` });
      h.deliver(s, { kind: "file_cancel", id: BigInt(i), code: FileCode.declined, reason: "" });
    }
    const offered = h.transfers("offered").length;
    expect(offered).toBeLessThan(1500);
    expect(offered).toBe(a.of("file_pending").length + b.of("file_pending").length);
    const busy = [...a.of("file_reject"), ...b.of("file_reject")].filter((r) => r.code === FileCode.busy);
    expect(busy.length + offered).toBe(1500);
  });

  test("a session that keeps offering past the rate is ended with busy; another identity's session goes on", () => {
    const h = harness({ now: () => 1000 });
    const flood = h.open();
    const good = h.open();
    for (let i = 1; i <= 2 * OFFER_BURST + 10 && flood.state === "open"; i++) {
      h.deliver(flood, { kind: "file_offer", id: BigInt(i), size: 1, sha256: sha(`${i}`), name: `c${i}` });
      h.deliver(flood, { kind: "file_cancel", id: BigInt(i), code: FileCode.declined, reason: "" });
    }
    expect(flood.state).toBe("closed");
    expect(flood.of("file_reject").filter((r) => r.code === FileCode.busy)).toHaveLength(OFFER_BURST);
    h.deliver(good, { kind: "file_offer", id: 1n, size: 1, sha256: sha("g"), name: "g" });
    expect(good.of("file_pending", 1n)).toHaveLength(1);
    expect(good.state).toBe("open");
  });

  test("partial files are open only while being written, within a per-process descriptor budget", async () => {
    const fds = () => readdirSync("/proc/self/fd").length;
    const h = harness({ autoAccept: true });
    const s = h.open();
    const before = fds();
    for (let i = 1; i <= MAX_OPEN_TRANSFERS; i++) h.deliver(s, { kind: "file_offer", id: BigInt(i), size: 1000, sha256: sha(`${i}`), name: `d${i}` });
    await until("accepts", () => s.of("file_accept").length === MAX_OPEN_TRANSFERS);
    for (let i = 1; i <= MAX_OPEN_TRANSFERS; i++) h.deliver(s, { kind: "file_chunk", id: BigInt(i), offset: 0, data: bytes(10) });
    expect(h.ft.list().filter((t) => t.bytes === 10)).toHaveLength(MAX_OPEN_TRANSFERS);
    expect(fds() - before).toBeLessThanOrEqual(16);
    h.lose(s);
    expect(fds()).toBeLessThanOrEqual(before);
  });
});
