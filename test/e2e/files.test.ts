/**
 * File transfer with real `sotto chat` processes (--json line mode) over 127.0.0.1:
 * several files and a folder in one /send, then /accept; a 200 MB file through the fault
 * proxy, cut three times, resumed each time, with the right hash at the end and flat
 * memory on both sides; a hostile sender (a raw session in this process) whose names
 * land safely or are refused and whose lies about size and hash are caught; and links
 * planted in a shared --accept-files folder, never followed.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import type { TransferEvent } from "../../src/chat/events.ts";
import { FileCode } from "../../src/protocol/constants.ts";
import { Fixture, makeFile, sha256File, sha256Hex, until } from "../chat/files/fixtures.ts";
import { FaultProxy } from "../faults/proxy.ts";
import { ChatProcess, cleanup, tempHome, loopbackChat } from "./harness.ts";

const homes: string[] = [];
const procs: ChatProcess[] = [];
const fx = new Fixture();
let proxy: FaultProxy | null = null;
afterEach(async () => {
  proxy?.close();
  proxy = null;
  cleanup(homes, procs);
  await fx.cleanup();
});

const MiB = 1 << 20;
const chat = loopbackChat(procs);
const tr = (p: ChatProcess, phase?: TransferEvent["phase"]) => p.of("transfer").filter((e) => phase === undefined || e.phase === phase);

/** Resident memory of a process, in bytes (Linux /proc). */
function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

describe("sotto chat processes sending files", () => {
  test("several files and a folder in one /send; the receiver accepts with /accept", async () => {
    const alice = chat(tempHome(homes), "--name", "alice", "--port", "0", "--allow-new"); // bob dials in: a contact, so his offers are taken
    const port = await alice.port();
    const bob = chat(tempHome(homes), "--name", "bob", "--no-listen", "--connect", `127.0.0.1:${port}`);
    await bob.waitFor("connected");
    await alice.waitFor("connected");
    const src = tempHome(homes);
    const want: Record<string, string> = {};
    writeFileSync(join(src, "a.txt"), "alpha");
    want["a.txt"] = sha256Hex("alpha");
    want["b.bin"] = makeFile(join(src, "b.bin"), 5 * MiB + 3);
    mkdirSync(join(src, "docs/deep"), { recursive: true });
    want["docs/x.md"] = makeFile(join(src, "docs/x.md"), 70_000, 2);
    want["docs/deep/y.md"] = makeFile(join(src, "docs/deep/y.md"), 1, 3);
    bob.say(`/send ${join(src, "a.txt")} ${join(src, "b.bin")} ${join(src, "docs")}`);
    // Three paths, three offers: the folder docs/ is one (PROTOCOL §11.11).
    await until("3 offers", () => tr(alice, "offered").length === 3, 15_000);
    alice.say("/accept all");
    await until("3 done both sides", () => tr(alice, "done").length === 3 && tr(bob, "done").length === 3, 20_000);
    const downloads = join(alice.home, "downloads");
    const file = (p: ChatProcess, name: string) => tr(p, "done").find((e) => e.name === name)?.sha256 ?? p.of("transfer_file").find((e) => e.name === name)?.sha256;
    for (const [name, sha] of Object.entries(want)) {
      expect(await sha256File(join(downloads, name))).toBe(sha);
      expect(file(alice, name)).toBe(sha);
      expect(file(bob, name)).toBe(sha);
    }
    expect(await bob.endInput()).toBe(0);
  }, 40_000);

  test("a folder with a subfolder is one offer under the sender's id; one /accept ID; every file arrives with its hash", async () => {
    const alice = chat(tempHome(homes), "--name", "alice", "--port", "0", "--allow-new");
    const port = await alice.port();
    const bob = chat(tempHome(homes), "--name", "bob", "--no-listen", "--connect", `127.0.0.1:${port}`);
    await bob.waitFor("connected");
    await alice.waitFor("connected");
    const src = join(tempHome(homes), "photos");
    mkdirSync(join(src, "2024/summer"), { recursive: true });
    const want: Record<string, string> = {};
    want["photos/a.jpg"] = makeFile(join(src, "a.jpg"), 300_000, 5);
    want["photos/b.jpg"] = makeFile(join(src, "b.jpg"), 2 * MiB + 1, 6);
    want["photos/2024/c.jpg"] = makeFile(join(src, "2024/c.jpg"), 70_000, 7);
    want["photos/2024/summer/d.jpg"] = makeFile(join(src, "2024/summer/d.jpg"), 1, 8);
    const total = 300_000 + 2 * MiB + 1 + 70_000 + 1;
    bob.say(`/send alice ${src}`);
    const offer = (await alice.waitFor("transfer", (e) => e.phase === "offered")) as TransferEvent;
    const sent = tr(bob, "offered");
    expect(sent).toHaveLength(1);
    expect(offer.id).toBe(sent[0]!.id);
    expect([offer.name, offer.files, offer.size]).toEqual(["photos", 4, total]);
    expect(offer.peerId).toBeUndefined();
    await Bun.sleep(300); // the other three offers of the folder have arrived by now: still one offer shown
    expect(tr(alice, "offered")).toHaveLength(1);
    alice.say(`/accept ${offer.id}`);
    await until("done both sides", () => tr(alice, "done").length === 1 && tr(bob, "done").length === 1, 20_000);
    const downloads = join(alice.home, "downloads");
    for (const [name, sha] of Object.entries(want)) {
      expect(await sha256File(join(downloads, name))).toBe(sha);
      expect(alice.of("transfer_file").find((e) => e.name === name)!.sha256).toBe(sha);
      expect(bob.of("transfer_file").find((e) => e.name === name)!.sha256).toBe(sha);
    }
    // One transfer on each side, under one id, start to end.
    expect(new Set(tr(alice).map((e) => e.id))).toEqual(new Set([offer.id]));
    expect(new Set(tr(bob).map((e) => e.id))).toEqual(new Set([offer.id]));
    expect(tr(alice, "done")[0]).toMatchObject({ files: 4, filesDone: 4, size: total, bytes: total });
    expect(await bob.endInput()).toBe(0);
  }, 40_000);

  test("one-shot from a pipe: /send then end of input waits for the transfer, then exits 0", async () => {
    const inbox = join(tempHome(homes), "inbox");
    const alice = chat(tempHome(homes), "--name", "alice", "--port", "0", "--allow-new", "--accept-files", inbox); // bob dials in: a contact
    const port = await alice.port();
    const f = join(tempHome(homes), "pipe.bin");
    const sha = makeFile(f, 20 * MiB, 4);
    const bob = chat(tempHome(homes), "--name", "bob", "--no-listen", "--connect", `127.0.0.1:${port}`);
    bob.say(`/send ${f}`);
    expect(await bob.endInput()).toBe(0);
    expect(bob.of("notice").some((n) => n.message.includes("waiting for 1 file transfer"))).toBe(true);
    expect(tr(bob, "done")[0]!.sha256).toBe(sha);
    expect(await sha256File(join(inbox, "pipe.bin"))).toBe(sha);
  }, 30_000);

  test("a 200 MB file cut three times by the fault proxy resumes each time, ends with the right hash, in flat memory", async () => {
    const inbox = join(tempHome(homes), "inbox");
    const alice = chat(tempHome(homes), "--name", "alice", "--port", "0", "--allow-new", "--accept-files", inbox); // bob dials in: a contact
    const port = await alice.port();
    // Connections 2, 3 and 4 are cut after 50 MiB each; the first carries no file (it is cut at once).
    proxy = new FaultProxy({ target: { host: "127.0.0.1", port }, onConnection: (c) => c.id >= 2 && c.id <= 4 && c.set({ cutAfterBytes: 50 * MiB }) });
    const bob = chat(tempHome(homes), "--name", "bob", "--no-listen", "--connect", `127.0.0.1:${proxy.port}`);
    await bob.waitFor("connected");
    proxy.cutAll();
    await until("connected again", () => bob.of("connected").length >= 2, 15_000);
    const f = join(tempHome(homes), "big.bin");
    const size = 200 * 1000 * 1000;
    const sha = makeFile(f, size, 9);
    const base = { alice: rss(alice.proc.pid), bob: rss(bob.proc.pid) };
    const peak = { ...base };
    const sampler = setInterval(() => {
      peak.alice = Math.max(peak.alice, rss(alice.proc.pid));
      peak.bob = Math.max(peak.bob, rss(bob.proc.pid));
    }, 25);
    try {
      bob.say(`/send ${f}`);
      const done = await alice.waitFor("transfer", (e) => e.phase === "done" || e.phase === "failed", 60_000);
      expect(done.phase).toBe("done");
      expect(done.sha256).toBe(sha);
      await bob.waitFor("transfer", (e) => e.phase === "done", 10_000);
    } finally {
      clearInterval(sampler);
    }
    expect(await sha256File(join(inbox, "big.bin"))).toBe(sha);
    const offsets = tr(alice, "accepted").map((e) => e.offset!);
    expect(offsets).toHaveLength(4);
    expect(offsets[0]).toBe(0);
    for (let i = 1; i < 4; i++) expect(offsets[i]! - offsets[i - 1]!).toBeGreaterThan(40 * MiB);
    expect(tr(bob, "paused")).toHaveLength(3);
    expect(proxy.bytes.up).toBeLessThan(size * 1.1); // resumed, never restarted
    // Memory stays flat: far less than the file, on both sides.
    const grew = { alice: peak.alice - base.alice, bob: peak.bob - base.bob };
    console.log(`RSS growth during 200 MB: receiver ${(grew.alice / MiB).toFixed(1)} MiB, sender ${(grew.bob / MiB).toFixed(1)} MiB; peaks ${(peak.alice / MiB).toFixed(0)} / ${(peak.bob / MiB).toFixed(0)} MiB`);
    expect(grew.alice).toBeLessThan(64 * MiB);
    expect(grew.bob).toBeLessThan(64 * MiB);
    expect(readdirSync(inbox)).toEqual(["big.bin"]);
  }, 90_000);

  test("a hostile sender: names land inside the folder or are refused; lies about size and hash are caught", async () => {
    const inbox = join(tempHome(homes), "inbox");
    const alice = chat(tempHome(homes), "--name", "alice", "--port", "0", "--allow-new", "--accept-files", inbox); // bob dials in: a contact
    const m = await fx.mallory(await alice.port());
    await alice.waitFor("connected");
    const hash = (s: string) => new Uint8Array(Buffer.from(sha256Hex(s), "hex"));
    const enc = new TextEncoder();
    const names = ["../../etc/passwd", "/etc/hosts", "\x1b]0;pwn\x07\x1b[2Jevil.sh", "x".repeat(1000)];
    let id = 1n;
    for (const name of names) {
      const body = `body ${id}`;
      m.send({ kind: "file_offer", id, size: body.length, sha256: hash(body), name });
      await m.answer("file_accept", id);
      m.send({ kind: "file_chunk", id, offset: 0, data: enc.encode(body) });
      m.send({ kind: "file_done", id });
      await m.answer("file_received", id);
      id++;
    }
    for (const e of tr(alice, "done")) {
      expect(relative(inbox, e.path!).startsWith("..")).toBe(false);
      expect(e.path!.startsWith(inbox + "/")).toBe(true);
    }
    expect(tr(alice, "done").map((e) => relative(inbox, e.path!))).toEqual(["etc/passwd", "etc/hosts", "]0;pwn[2Jevil.sh", "x".repeat(200)]);
    // A 10,000-character name does not fit the wire's 1,024 bytes: refused.
    m.raw(0xa0, new Uint8Array([...new Uint8Array(7), 99, ...new Uint8Array(7), 1, ...hash("a"), ...enc.encode("y".repeat(10_000))]));
    expect((await m.answer("file_reject", 99n)).code).toBe(FileCode.protocol);
    // Lies: more bytes than offered, then a wrong hash.
    m.send({ kind: "file_offer", id: 100n, size: 4, sha256: hash("four"), name: "size.txt" });
    await m.answer("file_accept", 100n);
    m.send({ kind: "file_chunk", id: 100n, offset: 0, data: enc.encode("many more than four") });
    expect((await m.answer("file_reject", 100n)).code).toBe(FileCode.size_mismatch);
    m.send({ kind: "file_offer", id: 101n, size: 5, sha256: hash("hello"), name: "hash.txt" });
    await m.answer("file_accept", 101n);
    m.send({ kind: "file_chunk", id: 101n, offset: 0, data: enc.encode("HELLO") });
    m.send({ kind: "file_done", id: 101n });
    expect((await m.answer("file_reject", 101n)).code).toBe(FileCode.hash_mismatch);
    const failed = await alice.waitFor("transfer", (e) => e.phase === "failed" && e.name === "hash.txt");
    expect(failed.code).toBe("hash_mismatch");
    expect(existsSync(join(inbox, "size.txt")) || existsSync(join(inbox, "hash.txt"))).toBe(false);
    expect(readdirSync(inbox).filter((n) => n.endsWith(".part"))).toEqual([]);
  }, 30_000);

  test("a shared --accept-files folder with planted links: the file outside is unchanged, the partials wait in the home", async () => {
    const { statSync, symlinkSync, utimesSync } = await import("node:fs");
    const { fileKey } = await import("../../src/chat/files/disk.ts");
    const { loadOrCreateIdentity } = await import("../../src/chat/trust/identity.ts");
    const shared = tempHome(homes);
    const outside = tempHome(homes);
    const victim = join(outside, "victim.txt");
    writeFileSync(victim, "precious");
    const old = new Date(Date.now() - 3_600_000);
    utimesSync(victim, old, old);
    const before = statSync(victim).mtimeMs;
    const aliceHome = tempHome(homes);
    // --allow-new: the hostile sender is taken as a contact, the worst case for the folder (a request's offers are refused outright).
    const alice = chat(aliceHome, "--name", "alice", "--port", "0", "--allow-new", "--accept-files", shared);
    const mhome = tempHome(homes);
    const m = await fx.mallory(await alice.port(), mhome);
    await alice.waitFor("connected");
    const enc = new TextEncoder();
    const body = enc.encode("x".repeat(5000));
    const sha = new Uint8Array(new Bun.CryptoHasher("sha256").update(body).digest());
    const pid = Buffer.from(loadOrCreateIdentity(mhome).publicKey).toString("hex");
    symlinkSync(victim, join(shared, `.sotto-${fileKey(pid, body.length, sha, "a.bin").slice(0, 32)}.part`));
    symlinkSync(outside, join(shared, "sub"));
    let id = 1n;
    for (const name of ["a.bin", "sub/victim.txt"]) {
      m.send({ kind: "file_offer", id, size: body.length, sha256: sha, name });
      expect((await m.answer("file_accept", id)).offset).toBe(0);
      m.send({ kind: "file_chunk", id, offset: 0, data: body });
      m.send({ kind: "file_done", id });
      await m.answer("file_received", id);
      id++;
    }
    expect(readFileSync(victim, "utf8")).toBe("precious");
    expect(statSync(victim).mtimeMs).toBe(before);
    expect(readdirSync(outside)).toEqual(["victim.txt"]);
    expect(tr(alice, "done").map((e) => relative(shared, e.path!))).toEqual(["a.bin", "victim.txt"]);
    expect(statSync(join(aliceHome, "partials")).mode & 0o777).toBe(0o700);
  }, 30_000);
});
