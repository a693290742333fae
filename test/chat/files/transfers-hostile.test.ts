/**
 * A hostile peer on a raw session ("mallory", fixtures.ts) against a ChatNode, one
 * test per check of PROTOCOL §11.5: hostile names land inside the download folder or are
 * refused; lies about size or hash are caught and the partial deleted; chunks out of
 * order, unasked or for unknown ids are refused; the open-transfer cap holds; malformed
 * items end their transfer, not the chat. And mallory as a lying receiver.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import type { ChatEvent } from "../../../src/chat/events.ts";
import { concat, utf8 } from "../../../src/crypto/bytes.ts";
import { FileCode, FileType, MAX_OPEN_TRANSFERS } from "../../../src/protocol/constants.ts";
import { Fixture, makeFile, sha256Hex, transfers, until, waitPhase, type Mallory } from "./fixtures.ts";

const fx = new Fixture();
afterEach(() => fx.cleanup());

const hash = (s: string | Uint8Array) => new Uint8Array(Buffer.from(sha256Hex(s), "hex"));
const u64 = (n: bigint) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n);
  return b;
};

/** bob receives (auto-accepting unless told), mallory dials him. */
async function setup(autoAccept = true): Promise<{ bob: Awaited<ReturnType<Fixture["node"]>>; m: Mallory; downloads: string }> {
  const home = fx.dir();
  const downloads = join(home, "downloads");
  const bob = await fx.node("bob", { home, files: { downloads, autoAccept } });
  const m = await fx.mallory(bob.port);
  await until("connected", () => bob.events.some((e) => e.type === "connected"));
  return { bob, m, downloads };
}

/** mallory offers `content` under `name` (with optional lies) and sends it all once accepted. */
async function push(m: Mallory, id: bigint, name: string, content: Uint8Array, lie: { size?: number; sha?: Uint8Array } = {}): Promise<void> {
  m.send({ kind: "file_offer", id, size: lie.size ?? content.length, sha256: lie.sha ?? hash(content), name });
  const acc = await m.answer("file_accept", id);
  expect(acc.offset).toBe(0);
  if (content.length > 0) m.send({ kind: "file_chunk", id, offset: 0, data: content });
  m.send({ kind: "file_done", id });
}

const partials = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith(".part")) : []);
const errors = (ev: ChatEvent[]) => ev.filter((e) => e.type === "error");

describe("hostile names", () => {
  const names: [string, string][] = [
    ["../../etc/passwd", "etc/passwd"],
    ["/etc/shadow", "etc/shadow"],
    ["..\\..\\boot.ini", "boot.ini"],
    ["\x1b[2J\x1b]0;owned\x07\u202Etxt.exe", "[2J]0;ownedtxt.exe"],
    ["a/../../../../tmp/x", "a/tmp/x"],
    [".profile", "_.profile"],
    ["n".repeat(1000), "n".repeat(200)],
  ];
  test("land inside the download folder under a sanitised name", async () => {
    const { bob, m, downloads } = await setup();
    let id = 1n;
    for (const [name] of names) await push(m, id++, name, utf8(`content of ${name.slice(0, 20)}`));
    await until("all received", () => m.got.filter((g) => g.kind === "file_received").length === names.length);
    for (const [name, want] of names) {
      const done = transfers(bob.events, "done").find((e) => e.name === name)!;
      expect(done.saveAs).toBe(want);
      expect(done.path).toBe(join(downloads, want));
      expect(relative(downloads, done.path!).startsWith("..")).toBe(false);
      expect(readFileSync(done.path!, "utf8")).toBe(`content of ${name.slice(0, 20)}`);
    }
    // Nothing was written next to the download folder.
    expect(readdirSync(dirname(downloads)).filter((n) => n !== "downloads" && n !== "state.db" && !n.startsWith("state.db-") && n !== "history.db" && !n.startsWith("history.db-") && n !== "identity" && n !== "known_peers" && n !== "listening" && n !== "partials")).toEqual([]);
    // The private partials folder holds no file once every transfer is placed, only the index.
    expect(readdirSync(join(dirname(downloads), "partials")).filter((n) => n !== "index.json")).toEqual([]);
  });

  test("a 10,000-character name is refused before anything is written; an empty one too", async () => {
    const { bob, m, downloads } = await setup();
    const offerHead = (id: bigint) => concat(u64(id), u64(3n), hash("abc"));
    m.raw(FileType.FILE_OFFER, concat(offerHead(1n), utf8("x".repeat(10_000).slice(0, 10_000))).subarray(0, 48 + 10_000));
    expect((await m.answer("file_reject", 1n)).code).toBe(FileCode.protocol);
    m.send({ kind: "file_offer", id: 2n, size: 3, sha256: hash("abc"), name: "../.././" });
    expect((await m.answer("file_reject", 2n)).code).toBe(FileCode.bad_name);
    expect(existsSync(downloads) ? readdirSync(downloads) : []).toEqual([]);
    expect(transfers(bob.events)).toEqual([]);
  });

  test("names are shown escaped: no raw escape reaches the event text", async () => {
    const { bob, m } = await setup(false);
    m.send({ kind: "file_offer", id: 1n, size: 1, sha256: hash("x"), name: "\x1b[31mred\x1b[0m.txt" });
    const o = await waitPhase(bob.events, "offered");
    expect(o.name).toBe("\x1b[31mred\x1b[0m.txt"); // raw in the event, as every peer string
    const { formatEvent } = await import("../../../src/ui/format.ts");
    const text = formatEvent(o, { color: false })!;
    expect(text).not.toContain("\x1b");
    expect(text).toContain("\\x1b[31mred");
    expect((await m.answer("file_pending", 1n)).id).toBe(1n);
  });
});

describe("a peer lying about size or hash is caught", () => {
  test("more bytes than offered: size_mismatch, partial deleted", async () => {
    const { bob, m, downloads } = await setup();
    await push(m, 1n, "big.txt", utf8("twenty bytes exactly"), { size: 10 });
    expect((await m.answer("file_reject", 1n)).code).toBe(FileCode.size_mismatch);
    expect((await waitPhase(bob.events, "failed")).code).toBe("size_mismatch");
    expect(partials(downloads)).toEqual([]);
    expect(existsSync(join(downloads, "big.txt"))).toBe(false);
  });

  test("fewer bytes than offered, then DONE: size_mismatch", async () => {
    const { bob, m, downloads } = await setup();
    await push(m, 1n, "short.txt", utf8("five!"), { size: 10, sha: hash("five!") });
    expect((await m.answer("file_reject", 1n)).code).toBe(FileCode.size_mismatch);
    expect((await waitPhase(bob.events, "failed")).reason).toContain("sent 5");
    expect(partials(downloads)).toEqual([]);
  });

  test("the bytes do not match the offered SHA-256: hash_mismatch, nothing reaches its final name", async () => {
    const { bob, m, downloads } = await setup();
    await push(m, 1n, "report.pdf", utf8("HELLO"), { sha: hash("hello") });
    expect((await m.answer("file_reject", 1n)).code).toBe(FileCode.hash_mismatch);
    const f = await waitPhase(bob.events, "failed");
    expect(f.code).toBe("hash_mismatch");
    expect(f.reason).toContain("deleted");
    expect(existsSync(downloads) ? readdirSync(downloads) : []).toEqual([]);
  });

  test("a large lie is caught after the bytes are streamed (2 MiB, wrong hash)", async () => {
    const { m, downloads } = await setup();
    const data = new Uint8Array(2 << 20).fill(7);
    m.send({ kind: "file_offer", id: 5n, size: data.length, sha256: hash("not it"), name: "x.bin" });
    await m.answer("file_accept", 5n);
    for (let off = 0; off < data.length; off += 60_000) m.send({ kind: "file_chunk", id: 5n, offset: off, data: data.subarray(off, off + 60_000) });
    m.send({ kind: "file_done", id: 5n });
    expect((await m.answer("file_reject", 5n)).code).toBe(FileCode.hash_mismatch);
    expect(existsSync(downloads) ? readdirSync(downloads) : []).toEqual([]);
  });
});

describe("chunks only for accepted transfers, at the next offset", () => {
  test("data before /accept is refused", async () => {
    const { bob, m, downloads } = await setup(false);
    m.send({ kind: "file_offer", id: 1n, size: 3, sha256: hash("abc"), name: "a" });
    await m.answer("file_pending", 1n);
    m.send({ kind: "file_chunk", id: 1n, offset: 0, data: utf8("abc") });
    expect((await m.answer("file_reject", 1n)).code).toBe(FileCode.protocol);
    expect((await waitPhase(bob.events, "failed")).code).toBe("protocol");
    expect(partials(downloads)).toEqual([]);
  });

  test("a chunk at the wrong offset (a gap or a repeat) is refused", async () => {
    const { m } = await setup();
    for (const [id, offset] of [
      [1n, 1],
      [2n, 0],
    ] as const) {
      m.send({ kind: "file_offer", id, size: 6, sha256: hash("abcdef"), name: `f${id}` });
      await m.answer("file_accept", id);
      if (id === 2n) m.send({ kind: "file_chunk", id, offset: 0, data: utf8("abc") });
      m.send({ kind: "file_chunk", id, offset: id === 2n ? 0 : offset, data: utf8("abc") });
      expect((await m.answer("file_reject", id)).code).toBe(FileCode.protocol);
    }
  });

  test("items for an id never offered are dropped and reported once; the chat goes on", async () => {
    const { bob, m } = await setup();
    m.send({ kind: "file_chunk", id: 42n, offset: 0, data: utf8("?") });
    m.send({ kind: "file_done", id: 42n });
    await until("reported", () => errors(bob.events).length >= 1);
    expect(errors(bob.events)[0]).toMatchObject({ type: "error", code: "file_protocol" });
    m.item({ kind: "text", id: 1n, text: "still here" });
    await until("message", () => bob.events.some((e) => e.type === "message" && e.text === "still here"));
    expect(m.got.filter((g) => g.kind === "file_reject")).toEqual([]);
  });

  test("chunks still in flight after our REJECT are dropped without a word", async () => {
    const { bob, m } = await setup(false);
    m.send({ kind: "file_offer", id: 1n, size: 10, sha256: hash("x"), name: "no" });
    await m.answer("file_pending", 1n);
    bob.n.files!.reject(transfers(bob.events, "offered")[0]!.id);
    await m.answer("file_reject", 1n);
    m.send({ kind: "file_chunk", id: 1n, offset: 0, data: utf8("late") });
    m.item({ kind: "text", id: 1n, text: "after" });
    await until("message", () => bob.events.some((e) => e.type === "message"));
    expect(errors(bob.events)).toEqual([]);
  });
});

describe("resume on the wire", () => {
  test("a cut transfer offered again on a new session: PENDING at once, then ACCEPT at exactly the bytes held, with their hash", async () => {
    const { bob, downloads } = await setup();
    const mhome = fx.dir();
    // A second key needs a name of its own: a new key claiming a contact's name ("mallory", from setup) is a key change, not a contact.
    const m1 = await fx.mallory(bob.port, mhome, "mallory2");
    const data = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff);
    const sha = hash(data);
    m1.send({ kind: "file_offer", id: 1n, size: data.length, sha256: sha, name: "r.bin" });
    await m1.answer("file_accept", 1n);
    for (let off = 0; off < 100_000; off += 50_000) m1.send({ kind: "file_chunk", id: 1n, offset: off, data: data.subarray(off, off + 50_000) });
    await until("bytes written", () => bob.n.files!.list().some((t) => t.name === "r.bin" && t.bytes === 100_000));
    m1.s.destroy();
    await waitPhase(bob.events, "paused");
    const m2 = await fx.mallory(bob.port, mhome, "mallory2");
    m2.send({ kind: "file_offer", id: 9n, size: data.length, sha256: sha, name: "r.bin" });
    const acc = await m2.answer("file_accept", 9n);
    expect(m2.got.findIndex((g) => g.kind === "file_pending" && g.id === 9n)).toBeLessThan(m2.got.indexOf(acc));
    expect(acc.offset).toBe(100_000);
    expect(acc.prefix).toEqual(hash(data.subarray(0, 100_000)));
    for (let off = 100_000; off < data.length; off += 50_000) m2.send({ kind: "file_chunk", id: 9n, offset: off, data: data.subarray(off, off + 50_000) });
    m2.send({ kind: "file_done", id: 9n });
    expect((await m2.answer("file_received", 9n)).sha256).toEqual(sha);
    expect(new Uint8Array(readFileSync(join(downloads, "r.bin")))).toEqual(data);
  });
});

describe("bounds and malformed items", () => {
  test(`at most ${MAX_OPEN_TRANSFERS} open transfers per session: the next offer is refused busy`, async () => {
    const { m } = await setup(false);
    for (let i = 1; i <= MAX_OPEN_TRANSFERS + 1; i++) m.send({ kind: "file_offer", id: BigInt(i), size: 1, sha256: hash(`${i}`), name: `f${i}` });
    expect((await m.answer("file_reject", BigInt(MAX_OPEN_TRANSFERS + 1))).code).toBe(FileCode.busy);
    expect(m.got.filter((g) => g.kind === "file_pending")).toHaveLength(MAX_OPEN_TRANSFERS);
  });

  test("a file larger than the receiver's limit is refused too_large", async () => {
    const home = fx.dir();
    const bob = await fx.node("bob", { home, files: { downloads: join(home, "d"), autoAccept: true, maxFileBytes: 1000 } });
    const m = await fx.mallory(bob.port);
    m.send({ kind: "file_offer", id: 1n, size: 1001, sha256: hash("x"), name: "big" });
    expect((await m.answer("file_reject", 1n)).code).toBe(FileCode.too_large);
    m.send({ kind: "file_offer", id: 2n, size: Number.MAX_SAFE_INTEGER, sha256: hash("x"), name: "huge" });
    expect((await m.answer("file_reject", 2n)).code).toBe(FileCode.too_large);
  });

  test("malformed items end their transfer (REJECT protocol), never the session", async () => {
    const { bob, m } = await setup();
    m.raw(FileType.FILE_OFFER, concat(u64(1n), u64(3n))); // cut short
    m.raw(FileType.FILE_OFFER, concat(u64(2n), u64(3n), hash("x"), new Uint8Array([0xc0, 0xaf]))); // overlong UTF-8
    m.raw(FileType.FILE_OFFER, concat(u64(3n), u64(2n ** 60n), hash("x"), utf8("a"))); // size over 2^53
    m.raw(FileType.FILE_DONE, new Uint8Array(3)); // no id at all
    for (const id of [1n, 2n, 3n]) expect((await m.answer("file_reject", id)).code).toBe(FileCode.protocol);
    m.send({ kind: "file_offer", id: 4n, size: 3, sha256: hash("abc"), name: "good" });
    await m.answer("file_accept", 4n);
    m.raw(FileType.FILE_CHUNK, concat(u64(4n), u64(0n))); // a chunk without data: that transfer ends
    expect((await m.answer("file_reject", 4n)).code).toBe(FileCode.protocol);
    m.item({ kind: "text", id: 1n, text: "the session is fine" });
    await until("message", () => bob.events.some((e) => e.type === "message"));
    expect(m.s.state).toBe("open");
  });
});

describe("a lying receiver", () => {
  async function offerTo(): Promise<{ alice: Awaited<ReturnType<Fixture["node"]>>; m: Mallory; id: bigint; sha: string }> {
    const alice = await fx.node("alice", { files: { downloads: join(fx.dir(), "d"), autoAccept: false } });
    const m = await fx.mallory(alice.port);
    await until("connected", () => alice.events.some((e) => e.type === "connected"));
    const f = join(fx.dir(), "f.bin");
    const sha = makeFile(f, 300_000);
    alice.n.files!.send([f]);
    const offer = await until("offer", () => m.got.find((g) => g.kind === "file_offer"));
    return { alice, m, id: offer.id, sha };
  }

  test("resume past the end is refused (CANCEL protocol)", async () => {
    const { alice, m, id } = await offerTo();
    m.send({ kind: "file_accept", id, offset: 300_001, prefix: hash("") });
    expect((await m.answer("file_cancel", id)).code).toBe(FileCode.protocol);
    expect((await waitPhase(alice.events, "failed")).code).toBe("protocol");
  });

  test("a false prefix hash: resume_mismatch, one new offer, then the sender gives up", async () => {
    const { alice, m, id } = await offerTo();
    m.send({ kind: "file_accept", id, offset: 1000, prefix: hash("not the prefix") });
    expect((await m.answer("file_cancel", id)).code).toBe(FileCode.resume_mismatch);
    const again = await until("a new offer", () => m.got.find((g) => g.kind === "file_offer" && g.id !== id));
    m.send({ kind: "file_accept", id: again.id, offset: 1000, prefix: hash("still not") });
    expect((await m.answer("file_cancel", again.id)).code).toBe(FileCode.resume_mismatch);
    expect((await waitPhase(alice.events, "failed")).code).toBe("resume_mismatch");
  });

  test("a receipt with another hash is a fault, not a delivery", async () => {
    const { alice, m, id } = await offerTo();
    m.send({ kind: "file_received", id, sha256: hash("other") });
    expect((await waitPhase(alice.events, "failed")).code).toBe("hash_mismatch");
    expect(transfers(alice.events, "done")).toEqual([]);
  });

  test("an honest receiver on a raw session gets every byte, and the sender's receipt check passes", async () => {
    const { alice, m, id, sha } = await offerTo();
    m.send({ kind: "file_accept", id, offset: 0, prefix: hash("") });
    await m.answer("file_done", id);
    const chunks = m.got.filter((g) => g.kind === "file_chunk" && g.id === id) as { offset: number; data: Uint8Array }[];
    const all = concat(...chunks.map((c) => c.data));
    expect(sha256Hex(all)).toBe(sha);
    // Each chunk at the end of the one before (their size follows the path: net/pacer.ts quantum).
    expect(chunks.map((c) => c.offset)).toEqual(chunks.map((_, i) => chunks.slice(0, i).reduce((n, c) => n + c.data.length, 0)));
    m.send({ kind: "file_received", id, sha256: new Uint8Array(Buffer.from(sha, "hex")) });
    expect((await waitPhase(alice.events, "done")).sha256).toBe(sha);
  });
});


describe("a shared download folder with links planted in it (--accept-files)", () => {
  test("no byte lands outside: not through the predictable .part name, not through a symlinked sub-folder", async () => {
    const { symlinkSync, statSync, utimesSync, writeFileSync, mkdirSync } = await import("node:fs");
    const { fileKey } = await import("../../../src/chat/files/disk.ts");
    const home = fx.dir();
    const shared = fx.dir("sotto-shared-");
    const outside = fx.dir("sotto-outside-");
    const victim = join(outside, "victim.txt");
    writeFileSync(victim, "precious");
    const old = new Date(Date.now() - 3_600_000);
    utimesSync(victim, old, old);
    const before = statSync(victim).mtimeMs;
    const bob = await fx.node("bob", { home, files: { downloads: shared, autoAccept: true } });
    const mhome = fx.dir();
    const m = await fx.mallory(bob.port, mhome);
    await until("connected", () => bob.events.some((e) => e.type === "connected"));
    const data = new Uint8Array(60_000).map((_, i) => i & 0xff);
    const { loadOrCreateIdentity } = await import("../../../src/chat/trust/identity.ts");
    const mallorysKey = Buffer.from(loadOrCreateIdentity(mhome).publicKey).toString("hex");
    mkdirSync(shared, { recursive: true });
    symlinkSync(victim, join(shared, `.sotto-${fileKey(mallorysKey, data.length, hash(data), "x.bin").slice(0, 32)}.part`));
    symlinkSync(outside, join(shared, "docs"));
    await push(m, 1n, "x.bin", data);
    await push(m, 2n, "docs/victim.txt", data);
    await push(m, 3n, "docs/new.txt", data);
    for (const id of [1n, 2n, 3n]) await m.answer("file_received", id);
    expect(readFileSync(victim, "utf8")).toBe("precious");
    expect(statSync(victim).mtimeMs).toBe(before);
    expect(readdirSync(outside)).toEqual(["victim.txt"]);
    for (const e of transfers(bob.events, "done")) expect(dirname(e.path!)).toBe(shared);
  });
});
