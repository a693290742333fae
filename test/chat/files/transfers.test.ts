/**
 * File transfer between two ChatNodes in one process (PROTOCOL §11): several files and a
 * folder in one /send; /accept and /reject; a peer without file support; chat between
 * the chunks; resume after cuts by the fault proxy, after a receiver restart, after a
 * sender restart, and from a damaged partial (caught by the prefix hash).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";
import { runCommand } from "../../../src/ui/commands.ts";
import { ChatError, type ChatEvent } from "../../../src/chat/events.ts";
import { FaultProxy } from "../../faults/proxy.ts";
import { Fixture, makeFile, sha256File, sha256Hex, transfers, until, waitPhase } from "./fixtures.ts";
import { of } from "../../support/events.ts";

const fx = new Fixture();
let proxy: FaultProxy | null = null;
afterEach(async () => {
  proxy?.close();
  proxy = null;
  await fx.cleanup();
});

const MiB = 1 << 20;

/** bob listens (receiving into its downloads), alice dials it; both connected. */
async function pair(o: { autoAccept?: boolean; bobFiles?: false; answerTimeoutMs?: number; via?: (port: number) => number } = {}) {
  const bobHome = fx.dir();
  const downloads = join(bobHome, "downloads");
  const bob = await fx.node("bob", { home: bobHome, files: o.bobFiles ?? { downloads, autoAccept: o.autoAccept ?? false } });
  const target = o.via ? o.via(bob.port) : bob.port;
  const alice = await fx.node("alice", { listen: null, connect: [`127.0.0.1:${target}`], files: { downloads: join(fx.dir(), "dl"), autoAccept: false, answerTimeoutMs: o.answerTimeoutMs } });
  await until("connected", () => of(alice.events, "connected").length > 0 && of(bob.events, "connected").length > 0);
  return { alice, bob, downloads, bobHome };
}

describe("sending files", () => {
  test("several files and a folder in one /send: one offer per path under the sender's id; /accept all takes them; both sides verify", async () => {
    const { alice, bob, downloads } = await pair();
    const src = fx.dir();
    const want: Record<string, string> = {};
    want["one.txt"] = sha256Hex("first file");
    writeFileSync(join(src, "one.txt"), "first file");
    want["two words.bin"] = makeFile(join(src, "two words.bin"), 3 * MiB + 17);
    mkdirSync(join(src, "album/2024"), { recursive: true });
    want["album/a.jpg"] = makeFile(join(src, "album/a.jpg"), 200_000, 2);
    want["album/2024/b.jpg"] = makeFile(join(src, "album/2024/b.jpg"), 0);
    writeFileSync(join(src, "album/2024/c.txt"), "ccc");
    want["album/2024/c.txt"] = sha256Hex("ccc");

    const out: ChatEvent[] = [];
    await runCommand(`/send ${join(src, "one.txt")} "${join(src, "two words.bin")}" ${join(src, "album")}`, alice.n, (e) => out.push(e));
    expect(of(out, "offering")[0]).toEqual({ type: "offering", files: 5 });
    // PROTOCOL §11.11: one offer per path, the folder's three files as one; each under the sender's id.
    await until("3 offers", () => transfers(bob.events, "offered").length === 3);
    const offers = transfers(bob.events, "offered");
    expect(offers.map((e) => e.name).sort()).toEqual(["album", "one.txt", "two words.bin"]);
    const album = offers.find((e) => e.name === "album")!;
    expect([album.files, album.size]).toEqual([3, 200_003]);
    const sent = transfers(alice.events, "offered");
    expect(sent.map((e) => `${e.id} ${e.name}`).sort()).toEqual(offers.map((e) => `${e.id} ${e.name}`).sort());
    expect(new Set(offers.map((e) => e.id)).size).toBe(3);
    await until("3 answers (PENDING) back at the sender", () => transfers(alice.events, "waiting").length === 3);
    expect(bob.n.files!.list().map((t) => t.state)).toEqual(["offered", "offered", "offered"]);

    // A bare /accept with three waiting asks for an id and accepts none; "/accept all" takes them all.
    await runCommand("/accept", bob.n, (e) => out.push(e));
    expect(of(out, "error").at(-1)!.message).toContain("3 offers are waiting");
    expect(bob.n.files!.list().every((t) => t.state === "offered")).toBe(true);
    await runCommand("/accept all", bob.n, (e) => out.push(e));
    await until("3 done on both sides", () => transfers(bob.events, "done").length === 3 && transfers(alice.events, "done").length === 3);
    const files = of(bob.events, "transfer_file");
    expect(files.map((f) => f.name).sort()).toEqual(["album/2024/b.jpg", "album/2024/c.txt", "album/a.jpg"]);
    expect(files.every((f) => f.id === album.id)).toBe(true);
    for (const [name, sha] of Object.entries(want)) {
      const path = join(downloads, name);
      expect(await sha256File(path)).toBe(sha);
      const done = transfers(bob.events, "done").find((e) => e.name === name) ?? files.find((e) => e.name === name)!;
      expect(done.sha256).toBe(sha);
      expect(done.path).toBe(path);
      const sentDone = transfers(alice.events, "done").find((e) => e.name === name) ?? of(alice.events, "transfer_file").find((e) => e.name === name)!;
      expect(sentDone.sha256).toBe(sha);
    }
    // One bar for the folder: every progress event of it is over its total, and never goes back.
    const bars = transfers(bob.events).filter((e) => e.id === album.id && (e.phase === "progress" || e.phase === "accepted" || e.phase === "done"));
    expect(bars.every((e) => e.size === 200_003)).toBe(true);
    expect(bars.map((e) => e.bytes)).toEqual([...bars.map((e) => e.bytes)].sort((x, y) => x - y));
    expect(bars.at(-1)!.bytes).toBe(200_003);
    // Nothing else in the download folder: the partials were renamed away.
    expect(readdirSync(downloads).sort()).toEqual(["album", "one.txt", "two words.bin"]);
    expect(alice.n.files!.list()).toEqual([]);
    expect(bob.n.files!.list()).toEqual([]);
  });

  test("a folder that holds the sender's sotto home is offered without it (the identity key stays), with a warning", async () => {
    const top = fx.dir();
    const bobHome = fx.dir();
    const bob = await fx.node("bob", { home: bobHome, files: { downloads: join(bobHome, "downloads"), autoAccept: false } });
    const alice = await fx.node("alice", { home: join(top, "sotto"), listen: null, connect: [`127.0.0.1:${bob.port}`] });
    await until("connected", () => of(alice.events, "connected").length > 0);
    writeFileSync(join(top, "notes.txt"), "mine");
    const out: ChatEvent[] = [];
    await runCommand(`/send ${top}`, alice.n, (e) => out.push(e));
    const warn = of(alice.events, "send_skipped")[0]!;
    expect(warn.home).toBe(join(top, "sotto"));
    expect(warn.files).toBeGreaterThanOrEqual(1);
    const offer = await waitPhase(bob.events, "offered");
    expect([offer.size, offer.files]).toEqual([4, undefined]);
    expect(offer.name.endsWith("notes.txt")).toBe(true);
  });

  test("/reject of a folder refuses it as a whole: one answer, the sender ends every file of it (set_refused)", async () => {
    const { alice, bob, downloads } = await pair();
    const src = join(fx.dir(), "many");
    mkdirSync(src);
    for (let i = 0; i < 70; i++) writeFileSync(join(src, `f${i}.txt`), `file ${i}`); // more than the 64 offered at once
    alice.n.files!.send([src], "bob");
    const offer = await waitPhase(bob.events, "offered");
    expect(offer.files).toBe(70);
    await waitPhase(alice.events, "waiting");
    const out: ChatEvent[] = [];
    await runCommand(`/reject ${offer.id}`, bob.n, (e) => out.push(e));
    const r = await waitPhase(alice.events, "rejected");
    expect([r.id, r.code, r.files]).toEqual([offer.id, "set_refused", 70]);
    await Bun.sleep(200);
    expect(transfers(alice.events, "rejected")).toHaveLength(1);
    expect(transfers(bob.events, "rejected")).toHaveLength(1);
    expect(transfers(bob.events, "offered")).toHaveLength(1);
    expect(alice.n.files!.list()).toEqual([]);
    expect(bob.n.files!.list()).toEqual([]);
    expect(existsSync(downloads) ? readdirSync(downloads) : []).toEqual([]);
  });

  test("/send name PATH goes to that peer only; /reject refuses and the sender hears it", async () => {
    const { alice, bob, downloads } = await pair();
    const f = join(fx.dir(), "secret.txt");
    writeFileSync(f, "no thanks");
    const out: ChatEvent[] = [];
    await runCommand(`/send bob ${f}`, alice.n, (e) => out.push(e));
    expect(of(out, "offering")[0]).toEqual({ type: "offering", files: 1, peer: "bob" });
    const offer = await waitPhase(bob.events, "offered");
    await runCommand(`/reject ${offer.id}`, bob.n, (e) => out.push(e));
    const r = await waitPhase(alice.events, "rejected");
    expect(r.code).toBe("declined");
    expect(existsSync(join(downloads, "secret.txt"))).toBe(false);
    expect(transfers(bob.events, "rejected")).toHaveLength(1);
    await runCommand("/accept 99", bob.n, (e) => out.push(e));
    expect(of(out, "error").at(-1)!.code).toBe("unknown_transfer");
  });

  test("a peer without file support: 'the peer cannot receive files', and chat goes on", async () => {
    const { alice, bob } = await pair({ bobFiles: false, answerTimeoutMs: 300 });
    const f = join(fx.dir(), "a.txt");
    writeFileSync(f, "x");
    alice.n.files!.send([f]);
    const u = await waitPhase(alice.events, "unsupported");
    expect(u.reason).toBe("the peer cannot receive files");
    expect(() => alice.n.files!.send([f], "bob")).toThrow(ChatError);
    try {
      alice.n.files!.send([f]);
    } catch (e) {
      expect((e as ChatError).code).toBe("files_unsupported");
    }
    alice.n.sendAll("still chatting");
    await until("message", () => of(bob.events, "message").length === 1);
  });

  test("a chat line typed during a transfer arrives before the transfer ends", async () => {
    const { alice, bob } = await pair({ autoAccept: true });
    const f = join(fx.dir(), "big.bin");
    makeFile(f, 96 * MiB);
    alice.n.files!.send([f]);
    await waitPhase(bob.events, "progress");
    alice.n.sendAll("typed mid-transfer");
    await until("message", () => of(bob.events, "message").length === 1);
    expect(transfers(bob.events, "done")).toHaveLength(0);
    await waitPhase(bob.events, "done", undefined, 30_000);
  }, 40_000);

  test("the same file again is answered at once (FILE_RECEIVED); a taken name gets a suffix", async () => {
    const { alice, bob, downloads } = await pair({ autoAccept: true });
    const f = join(fx.dir(), "note.txt");
    writeFileSync(f, "same");
    writeFileSync(join(fx.dir(), "other"), "");
    mkdirSync(downloads, { recursive: true });
    writeFileSync(join(downloads, "note.txt"), "already here");
    alice.n.files!.send([f]);
    await until("done", () => transfers(alice.events, "done").length === 1);
    expect(readFileSync(join(downloads, "note.txt"), "utf8")).toBe("already here");
    expect(readFileSync(join(downloads, "note (1).txt"), "utf8")).toBe("same");
    alice.n.files!.send([f]);
    await until("done twice", () => transfers(alice.events, "done").length === 2);
    expect(transfers(bob.events, "done")).toHaveLength(1);
    expect(existsSync(join(downloads, "note (2).txt"))).toBe(false);
  });
});

describe("resume", () => {
  test("a folder accepted once, cut twice by the fault proxy, resumes without asking again; one offer, every file verified", async () => {
    const { alice, bob, downloads } = await pair({
      via: (port) => {
        proxy = new FaultProxy({ target: { host: "127.0.0.1", port }, onConnection: (c) => c.id >= 2 && c.id <= 3 && c.set({ cutAfterBytes: 10 * MiB }) });
        return proxy.port;
      },
    });
    const src = join(fx.dir(), "set");
    mkdirSync(join(src, "sub"), { recursive: true });
    const want: Record<string, string> = { "set/a.bin": makeFile(join(src, "a.bin"), 9 * MiB, 4), "set/sub/b.bin": makeFile(join(src, "sub/b.bin"), 9 * MiB, 5), "set/c.bin": makeFile(join(src, "c.bin"), 2 * MiB, 6) };
    proxy!.cutAll();
    await until("connected again", () => of(alice.events, "connected").length >= 2);
    alice.n.files!.send([src]);
    const offer = await waitPhase(bob.events, "offered");
    expect([offer.files, offer.size]).toEqual([3, 20 * MiB]);
    expect(bob.n.files!.accept(offer.id)).toBe(1);
    const done = await waitPhase(bob.events, "done", undefined, 30_000);
    expect([done.id, done.filesDone, done.bytes]).toEqual([offer.id, 3, 20 * MiB]);
    for (const [name, sha] of Object.entries(want)) expect(await sha256File(join(downloads, name))).toBe(sha);
    await waitPhase(alice.events, "done");
    expect(proxy!.cuts).toBeGreaterThanOrEqual(2);
    // Asked once; paused and resumed as one transfer, under one id, on both sides.
    expect(transfers(bob.events, "offered")).toHaveLength(1);
    expect(transfers(bob.events, "paused").length).toBeGreaterThanOrEqual(1);
    expect(new Set(transfers(bob.events).map((e) => e.id))).toEqual(new Set([offer.id]));
    expect(new Set(transfers(alice.events).map((e) => e.id))).toEqual(new Set([offer.id]));
  }, 40_000);

  test("a transfer cut three times by the fault proxy resumes each time and ends with the right hash", async () => {
    const { alice, bob, downloads } = await pair({
      autoAccept: true,
      via: (port) => {
        proxy = new FaultProxy({ target: { host: "127.0.0.1", port }, onConnection: (c) => c.id >= 2 && c.id <= 4 && c.set({ cutAfterBytes: 12 * MiB }) });
        return proxy.port;
      },
    });
    const f = join(fx.dir(), "movie.bin");
    const sha = makeFile(f, 48 * MiB, 3);
    // The first connection is the one already up; the cuts start with the next three.
    proxy!.cutAll();
    await until("connected again", () => of(alice.events, "connected").length >= 2);
    alice.n.files!.send([f]);
    const done = await waitPhase(bob.events, "done", undefined, 30_000);
    expect(done.sha256).toBe(sha);
    expect(await sha256File(join(downloads, "movie.bin"))).toBe(sha);
    await waitPhase(alice.events, "done");
    const offsets = transfers(bob.events, "accepted").map((e) => e.offset!);
    expect(offsets.length).toBe(4);
    expect(offsets[0]).toBe(0);
    for (let i = 1; i < offsets.length; i++) expect(offsets[i]!).toBeGreaterThan(offsets[i - 1]! + 8 * MiB);
    expect(transfers(alice.events, "paused")).toHaveLength(3);
    expect(transfers(bob.events, "paused")).toHaveLength(3);
    expect(proxy!.cuts).toBeGreaterThanOrEqual(4);
    // Resumed, not restarted: about one file's worth crossed the proxy toward bob.
    expect(proxy!.bytes.up).toBeLessThan(48 * MiB * 1.1);
  }, 40_000);

  test("the receiver restarts: its partial on disk resumes when the sender redials", async () => {
    const { alice, bob, downloads, bobHome } = await pair({ autoAccept: true });
    const f = join(fx.dir(), "disk.bin");
    const sha = makeFile(f, 64 * MiB, 4);
    alice.n.files!.send([f]);
    await until("some bytes", () => (bob.n.files!.list()[0]?.bytes ?? 0) > 8 * MiB);
    await bob.n.close();
    // The partial waits in the private folder of the home, under a random name, not in downloads.
    expect(existsSync(downloads) ? readdirSync(downloads) : []).toEqual([]);
    const part = readdirSync(join(bobHome, "partials")).find((n) => n.endsWith(".part"))!;
    expect(part).toMatch(/^[0-9a-f]{32}\.part$/);
    const bob2 = await fx.node("bob", { home: bobHome, port: bob.port, files: { downloads, autoAccept: false } });
    const acc = await waitPhase(bob2.events, "accepted", undefined, 15_000);
    expect(acc.offset).toBeGreaterThan(8 * MiB);
    expect(transfers(bob2.events, "offered")[0]!.auto).toBe(true);
    expect((await waitPhase(bob2.events, "done", undefined, 30_000)).sha256).toBe(sha);
    expect(await sha256File(join(downloads, "disk.bin"))).toBe(sha);
    await waitPhase(alice.events, "done");
  }, 40_000);

  test("the sender restarts and sends the same file again: accepted before, so it resumes without asking", async () => {
    const { alice, bob, downloads } = await pair();
    const f = join(fx.dir(), "again.bin");
    const sha = makeFile(f, 64 * MiB, 5);
    alice.n.files!.send([f]);
    bob.n.files!.accept((await waitPhase(bob.events, "offered")).id);
    await until("some bytes", () => (bob.n.files!.list()[0]?.bytes ?? 0) > 8 * MiB);
    await alice.n.close();
    await waitPhase(bob.events, "paused");
    const alice2 = await fx.node("alice", { listen: null, connect: [`127.0.0.1:${bob.port}`], home: alice.home });
    await until("connected", () => of(alice2.events, "connected").length > 0);
    alice2.n.files!.send([f]);
    const done = await waitPhase(bob.events, "done", undefined, 30_000);
    expect(done.sha256).toBe(sha);
    const acc = transfers(bob.events, "accepted");
    expect(acc).toHaveLength(2);
    expect(acc[1]!.offset).toBeGreaterThan(8 * MiB);
    expect(await sha256File(join(downloads, "again.bin"))).toBe(sha);
  }, 40_000);

  test("the sender restarts and sends the same folder again: one new offer; accepted, its file cut halfway resumes; nothing of the old one is left", async () => {
    const { alice, bob, downloads } = await pair();
    const src = join(fx.dir(), "twice");
    mkdirSync(src);
    const want: Record<string, string> = { "twice/big.bin": makeFile(join(src, "big.bin"), 64 * MiB, 7), "twice/small.txt": sha256Hex("small") };
    writeFileSync(join(src, "small.txt"), "small");
    alice.n.files!.send([src]);
    const first = await waitPhase(bob.events, "offered");
    bob.n.files!.accept(first.id);
    await until("some bytes", () => (bob.n.files!.list()[0]?.bytes ?? 0) > 8 * MiB);
    await alice.n.close();
    await waitPhase(bob.events, "paused");
    const alice2 = await fx.node("alice", { listen: null, connect: [`127.0.0.1:${bob.port}`], home: alice.home });
    await until("connected", () => of(alice2.events, "connected").length > 0);
    alice2.n.files!.send([src]);
    const second = await until("a second offer", () => transfers(bob.events, "offered")[1]);
    expect(second.files).toBe(2);
    bob.n.files!.accept(second.id);
    const done = await waitPhase(bob.events, "done", undefined, 30_000);
    expect(done.id).toBe(second.id);
    for (const [name, sha] of Object.entries(want)) expect(await sha256File(join(downloads, name))).toBe(sha);
    const big = of(bob.events, "transfer_file").find((e) => e.name === "twice/big.bin")!;
    expect(big.id).toBe(second.id);
    // Resumed, not restarted: the second accepted bar began past the bytes of the first session.
    expect(transfers(bob.events, "accepted").filter((e) => e.id === second.id)[0]!.offset).toBeGreaterThan(8 * MiB);
    expect(bob.n.files!.list()).toEqual([]);
  }, 40_000);

  test("a damaged partial fails the prefix check: the sender says so and the transfer starts over at 0", async () => {
    const { alice, bob, downloads, bobHome } = await pair({ autoAccept: true });
    const f = join(fx.dir(), "fragile.bin");
    const sha = makeFile(f, 48 * MiB, 6);
    alice.n.files!.send([f]);
    await until("some bytes", () => (bob.n.files!.list()[0]?.bytes ?? 0) > 4 * MiB);
    await bob.n.close();
    const part = join(bobHome, "partials", readdirSync(join(bobHome, "partials")).find((n) => n.endsWith(".part"))!);
    const fd = openSync(part, "r+");
    writeSync(fd, new Uint8Array(64).fill(0xee), 0, 64, 1000);
    closeSync(fd);
    const bob2 = await fx.node("bob", { home: bobHome, port: bob.port, files: { downloads, autoAccept: false } });
    const done = await waitPhase(bob2.events, "done", undefined, 30_000);
    expect(done.sha256).toBe(sha);
    expect(transfers(bob2.events, "accepted").map((e) => e.offset! > 0)).toEqual([true, false]);
    expect(await sha256File(join(downloads, "fragile.bin"))).toBe(sha);
  }, 40_000);
});
