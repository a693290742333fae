/** Conversation history: kept in history.db (0600), bounded, shown after a restart, cleared per contact, off with --no-history. */
import { Database } from "bun:sqlite";
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "bun:test";
import { History, HISTORY_FILE, MAX_PER_CONTACT, PAGE_SIZE, SHOWN_AT_START } from "../../../src/chat/delivery/history.ts";
import { decodeHistoryRun, historyRows, MAX_RUN } from "../../../src/chat/delivery/history-run.ts";
import { HistoryWriter, TRIM_EVERY } from "../../../src/chat/delivery/history-writer.ts";
import { ChatStore } from "../../../src/chat/delivery/store.ts";
import { WriteLock } from "../../../src/chat/delivery/write-lock.ts";
import type { ChatEvent } from "../../../src/chat/events.ts";
import { runCommand } from "../../../src/ui/commands.ts";
import { removeHomes, tempHome } from "../../support/home.ts";
import { until } from "../../support/wait.ts";
import { of } from "../../support/events.ts";
import { released, startNode, stopNodes } from "../../support/node.ts";

afterEach(async () => {
  await stopNodes();
  removeHomes();
});

/** Every line in the table, in order, as the file holds it: a row is one line, or a run of them. */
function linesOnDisk(home: string): { pid: string; text: string; private: number; mid: string | null }[] {
  const db = new Database(join(home, HISTORY_FILE), { readonly: true });
  const rows = db.query<{ pid: string; text: string; private: number; mid: string | null; lines: Uint8Array | null }, []>("SELECT pid, text, private, mid, lines FROM history ORDER BY n").all();
  db.close();
  return rows.flatMap((r) => (r.lines === null ? [{ pid: r.pid, text: r.text, private: r.private, mid: r.mid }] : decodeHistoryRun(r.lines).map((l) => ({ pid: r.pid, text: l.text, private: 0, mid: null }))));
}

/** Rows of the table. */
function rowsOnDisk(home: string): number {
  const db = new Database(join(home, HISTORY_FILE), { readonly: true });
  const n = db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM history").get()!.n;
  db.close();
  return n;
}

async function node(name: string, home: string, o: { connect?: string[]; port?: number; history?: boolean } = {}) {
  // allowNew: the one that dials in is a contact too (this file is about history, not trust).
  const { n, events, port } = await startNode(name, { home, allowNew: true, port: o.port, connect: o.connect, history: o.history ?? true });
  return { n, events, port };
}

describe("History (the table)", () => {
  test("keeps lines per contact in order, bounded per contact, in a 0600 file", () => {
    const home = tempHome();
    const MAX = 50;
    const h = new History(home, MAX);
    expect(MAX_PER_CONTACT).toBeGreaterThan(MAX);
    for (let i = 0; i < 1000; i++) h.add({ pid: "aa", peer: "bob", dir: i % 2 ? "out" : "in", text: `m${i}`, time: i, private: false });
    h.trim("aa");
    h.add({ pid: "bb", peer: "cy", dir: "in", text: "other", time: 1, private: true });
    expect(h.last(3, "aa").map((l) => l.text)).toEqual(["m997", "m998", "m999"]);
    expect(linesOnDisk(home).filter((l) => l.pid === "aa")).toHaveLength(MAX);
    expect(h.last(5, "bb")).toEqual([{ pid: "bb", peer: "cy", dir: "in", text: "other", time: 1, private: true }]);
    expect(h.clear("aa")).toBe(MAX);
    expect(h.last(5, "aa")).toEqual([]);
    expect(h.pidByName("CY")).toBe("bb");
    h.add({ pid: "bb", peer: "cyril", dir: "in", text: "renamed", time: 2, private: false });
    expect(h.names().sort()).toEqual(["cyril"]); // aa was cleared; bb's latest name
    h.close();
    expect(statSync(join(home, HISTORY_FILE)).mode & 0o777).toBe(0o600);
  });

  test("a FIFO in history.db's place is refused in a sentence, not waited on for ever (as state.db's and the lock's)", () => {
    const home = tempHome();
    expect(Bun.spawnSync(["mkfifo", join(home, HISTORY_FILE)]).exitCode).toBe(0);
    // In a child: an open that waits for a reader blocks the whole thread.
    const code = `import { History } from ${JSON.stringify(join(import.meta.dir, "../../../src/chat/delivery/history.ts"))};
try { new History(${JSON.stringify(home)}).close(); console.log("opened"); } catch (e) { console.log(e.message); }`;
    const r = Bun.spawnSync(["bun", "-e", code], { stdout: "pipe", stderr: "pipe", timeout: 15_000 });
    expect(r.signalCode ?? null).toBeNull();
    expect(r.stdout.toString()).toContain("cannot open the conversation history");
    expect(r.stdout.toString()).toContain("is not a file sotto can use (something else is in its place)");
    expect(r.stdout.toString().replaceAll(home, "<home>")).not.toMatch(/\bE[A-Z]{3,}\b/);
  }, 20_000);

  test("a new history.db is made of 16 KiB pages (the file header says so), and a piped tick of 465 lines of 1 KiB is written in about 30 of them, not 120", () => {
    const home = tempHome();
    const h = new History(home, 1000);
    h.written();
    for (let i = 0; i < 465; i++) h.add({ pid: "aa", peer: "bob", dir: "out", text: `${String(i).padStart(8, "0")}${"x".repeat(1016)}`, time: i, private: false });
    h.written();
    h.close();
    const file = readFileSync(join(home, HISTORY_FILE));
    expect(PAGE_SIZE).toBe(16_384);
    expect(file.readUInt16BE(16)).toBe(PAGE_SIZE); // SQLite's header: the page size at offset 16
    expect(file.length / PAGE_SIZE).toBeLessThan(40);
  });
});

describe("History: a history.db that is not one", () => {
  test("not a database at all: the open refuses with a sentence that says what to do, the outbox's state.db untouched, the file left as it was", () => {
    const home = tempHome();
    const store = new ChatStore(home);
    store.close();
    const state = readFileSync(join(home, "state.db"));
    writeFileSync(join(home, HISTORY_FILE), Buffer.alloc(8192, 7));
    expect(() => new History(home, 100)).toThrow(/is not a database\)\. Messages waiting for delivery are in state\.db, untouched\. Move .*history\.db aside to start a new history \(the old one is kept there\), or start with --no-history\.$/);
    expect(readFileSync(join(home, HISTORY_FILE))).toEqual(Buffer.alloc(8192, 7));
    expect(readFileSync(join(home, "state.db"))).toEqual(state);
  });
});

describe("History: a history.db damaged inside (it opens; its pages do not read)", () => {
  const damaged = (home: string) =>
    `${join(home, HISTORY_FILE)} is damaged, so reading the conversation history failed; move it aside to start a new history (the messages waiting for delivery are not in it, they are kept), or start with --no-history`;
  /** A home whose history.db holds 300 lines with one contact (`pid`), page `page` (1-based) overwritten unless 0. */
  async function home(page: number, pid: string): Promise<string> {
    const home = tempHome();
    const first = await node("alice", home);
    await released(first.n).close();
    const h = new History(home, 100);
    for (let i = 0; i < 300; i++) h.add({ pid, peer: "bob", dir: "in", text: `L-${i}-`.padEnd(2000, "x"), time: i, private: false });
    h.close();
    const b = readFileSync(join(home, HISTORY_FILE));
    if (page > 0) b.fill(0x5a, (page - 1) * PAGE_SIZE, page * PAGE_SIZE);
    writeFileSync(join(home, HISTORY_FILE), b);
    return home;
  }

  test("its table's root overwritten (the chat's first read fails as it is made): the start is refused in a sentence naming history.db and what to do (not SQLite's bare error, not 'an empty outbox'), the home left unlocked; moved aside, the chat starts with no error", async () => {
    const h = await home(2, "aa".repeat(32));
    for (let k = 0; k < 2; k++) {
      // Twice: the first refusal left no lock behind (the second is refused for the same reason, not "already using").
      const e = await node("alice", h).then(() => null, (x: unknown) => x as Error & { code?: string });
      expect([e?.constructor.name, e?.code, e?.message]).toEqual(["ChatError", "state", damaged(h)]);
    }
    rmSync(join(h, HISTORY_FILE));
    expect(of((await node("alice", h)).events, "error")).toEqual([]);
  });

  // A run's lines overwritten (SQLite's "malformed" as the last lines are read to be shown), or no page overwritten but
  // the contact is not a key (a file another program wrote: nothing SQLite notices, a line that cannot be shown).
  for (const [what, page, pid] of [["a run's lines overwritten", 17, "aa".repeat(32)], ["a contact that is not a key", 0, "aa"]] as const) {
    test(`${what}: the chat starts and says so once in that sentence, instead of throwing SQLite's error (or a TypeError) out of its start with the home locked`, async () => {
      const h = await home(page, pid);
      const a = await node("alice", h);
      expect(of(a.events, "error").map((e) => [e.code, e.message])).toEqual([["state", damaged(h)]]);
      expect(of(a.events, "history")).toEqual([]);
      // /history then says the same, as the person's error, not "internal error (a bug in sotto)".
      const out: ChatEvent[] = [];
      await runCommand("/history", a.n, (e) => out.push(e));
      expect(out.map((e) => [e.type, (e as { code?: string }).code, (e as { message?: string }).message])).toEqual([["error", "state", damaged(h)]]);
      await released(a.n).close();
      expect((await node("alice", h)).events.filter((e) => e.type === "error")).toHaveLength(1); // started again: the lock was let go
    });
  }
});

describe("History: a run damaged in history.db", () => {
  test("a read says which file holds it (history.db, not state.db) and what to do", () => {
    const home = tempHome();
    const h = new History(home, 100);
    for (let i = 0; i < 3; i++) h.add({ pid: "aa", peer: "bob", dir: "in", text: `l${i}`, time: i, private: false });
    h.close();
    const db = new Database(join(home, HISTORY_FILE));
    db.exec("UPDATE history SET lines = x'0000000000000000ffffffff' WHERE lines IS NOT NULL");
    db.close();
    const again = new History(home, 100);
    expect(() => again.last(5, "aa")).toThrow(`reading the conversation history in ${join(home, HISTORY_FILE)} failed (a row of the conversation history in history.db is damaged; /clear that contact to start its history again)`);
    again.close();
  });
});

describe("History: runs", () => {
  test("a flush of consecutive lines with one contact is a few rows of up to MAX_RUN lines, read back line by line, trimmed to the line", () => {
    const home = tempHome();
    const MAX = 1500;
    const h = new History(home, MAX);
    for (let i = 0; i < 2000; i++) h.add({ pid: "aa", peer: "bob", dir: "out", text: `m${i}`, time: i, private: false, id: BigInt(i + 1) });
    h.written();
    // 2,000 lines: three runs of MAX_RUN and one of the rest, in one statement.
    expect(MAX_RUN).toBe(512);
    expect(rowsOnDisk(home)).toBe(4);
    expect(h.writes.statements).toBe(1);
    expect(h.last(3, "aa").map((l) => `${l.text}@${l.time}`)).toEqual(["m1997@1997", "m1998@1998", "m1999@1999"]);
    expect(h.last(500, "aa").map((l) => l.text)).toEqual(Array.from({ length: 500 }, (_, i) => `m${1500 + i}`)); // MAX_PAGE, across two runs
    // A private line, a name change and the other direction each start a row of their own.
    h.add({ pid: "aa", peer: "bob", dir: "out", text: "p", time: 2000, private: true, id: 2001n });
    h.add({ pid: "aa", peer: "bob", dir: "in", text: "r1", time: 2001, private: false });
    h.add({ pid: "aa", peer: "bob", dir: "in", text: "r2", time: 2002, private: false });
    h.add({ pid: "aa", peer: "robert", dir: "in", text: "r3", time: 2003, private: false });
    expect(h.last(4, "aa").map((l) => `${l.dir} ${l.peer} ${l.text} ${l.private}`)).toEqual(["out bob p true", "in bob r1 false", "in bob r2 false", "in robert r3 false"]);
    expect(rowsOnDisk(home)).toBe(7);
    // 2,004 lines, bound 1,500: the 504 oldest go, the cut inside the first run.
    h.trim("aa");
    const kept = linesOnDisk(home);
    expect(kept).toHaveLength(MAX);
    expect(kept[0]!.text).toBe("m504");
    expect(kept.at(-1)!.text).toBe("r3");
    expect(h.last(1, "aa")[0]!.text).toBe("r3");
    expect(h.clear("aa")).toBe(MAX);
    expect(rowsOnDisk(home)).toBe(0);
    h.close();
  });
});

describe("History: a piped contact at the bound", () => {
  test("each flush cuts as many of the oldest lines as it adds, before its insert, which takes back the pages the cut overwrote: the log gets each page once, not zeroed and then again", () => {
    const home = tempHome();
    new History(home, 10).close();
    const db = new Database(join(home, HISTORY_FILE));
    // As the writer thread has it (secure_delete), but with no checkpoint: the log keeps every page written.
    db.exec("PRAGMA secure_delete = ON; PRAGMA wal_autocheckpoint = 0;");
    const MAX = 2000;
    const w = new HistoryWriter(db, MAX);
    const frames = () => statSync(join(home, `${HISTORY_FILE}-wal`)).size / (PAGE_SIZE + 24);
    const tick = (t: number) => historyRows(Array.from({ length: 500 }, (_, i) => ({ pid: "aa", peer: "bob", dir: "out" as const, text: `${t}:${i}:${"x".repeat(1016)}`, time: t, private: false })));
    for (let t = 0; t < 4; t++) w.flush(tick(t));
    const full = frames();
    for (let t = 4; t < 16; t++) w.flush(tick(t));
    // 12 ticks past the bound: their 6 MB are about 380 pages of runs, 456 pages in all; when
    // the cut came after the insert, every cut page went to the log zeroed as well: 830.
    expect(frames() - full).toBeLessThan(550);
    const kept = linesOnDisk(home);
    expect(kept).toHaveLength(MAX);
    expect(kept[0]!.text.startsWith("12:0:")).toBe(true);
    expect(kept.at(-1)!.text.startsWith("15:499:")).toBe(true);
    w.close();
  });
});

describe("History: the bound, whatever the flushes", () => {
  test("flushes of 1 to 700 lines, runs and private lines mixed: after each, the kept lines are the newest ones in order, at least the bound's worth and never more than it + TRIM_EVERY", () => {
    const home = tempHome();
    new History(home, 10).close();
    const db = new Database(join(home, HISTORY_FILE));
    db.exec("PRAGMA secure_delete = ON;");
    const MAX = 300;
    const w = new HistoryWriter(db, MAX);
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const all: string[] = [];
    for (let f = 0; f < 40; f++) {
      const n = 1 + (f % 3 === 0 ? rand(700) : rand(80));
      const lines = Array.from({ length: n }, () => {
        const text = `l${all.length}`;
        all.push(text);
        return { pid: "aa", peer: "bob", dir: "out" as const, text, time: all.length, private: rand(10) === 0 };
      });
      w.flush(historyRows(lines));
      const kept = linesOnDisk(home).map((l) => l.text);
      expect(kept).toEqual(all.slice(all.length - kept.length));
      expect(kept.length).toBeGreaterThanOrEqual(Math.min(all.length, MAX));
      expect(kept.length).toBeLessThanOrEqual(MAX + TRIM_EVERY);
    }
    w.close();
  });
});

describe("History: a flush that fails", () => {
  test("a flush rolled back by a failure after its INSERTs (disk full in the trim or the commit) leaves the counts as the table is: the next flush trims none of the lines it should keep", () => {
    const home = tempHome();
    new History(home, 10).close();
    const db = new Database(join(home, HISTORY_FILE));
    const w = new HistoryWriter(db, 10);
    const line = (text: string, time: number) => ({ pid: "aa", peer: "bob", dir: "in" as const, text, time, private: false });
    // One line a row (a private mark keeps each out of runs): 10 + TRIM_EVERY lines, trimmed down to 10.
    const rows = (prefix: string, n: number) => historyRows(Array.from({ length: n }, (_, i) => ({ ...line(`${prefix}${i}`, i), private: true })));
    w.flush(rows("a", 10 + TRIM_EVERY));
    expect(linesOnDisk(home).map((l) => l.text)).toEqual(Array.from({ length: 10 }, (_, i) => `a${TRIM_EVERY + i}`));
    // The disk fills while the next flush trims: the whole flush is rolled back.
    db.exec("CREATE TEMP TRIGGER full BEFORE DELETE ON history BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END");
    expect(() => w.flush(rows("b", TRIM_EVERY))).toThrow("database or disk is full");
    db.exec("DROP TRIGGER full");
    expect(linesOnDisk(home)).toHaveLength(10);
    // Space again: five new lines join the ten.
    w.flush(rows("c", 5));
    expect(linesOnDisk(home).map((l) => l.text)).toEqual([...Array.from({ length: 10 }, (_, i) => `a${TRIM_EVERY + i}`), "c0", "c1", "c2", "c3", "c4"]);
    w.close();
  });
});

describe("History: history.db locked by another program", () => {
  test("a flush it refuses is told once with SQLite's code, reads do not wait past it, and the lines after it are kept in order", async () => {
    const home = tempHome();
    const h = new History(home, 1000);
    const told: Error[] = [];
    h.onError = (e) => told.push(e);
    h.add({ pid: "aa", peer: "bob", dir: "in", text: "before", time: 1, private: false });
    h.written();
    const other = new Database(join(home, HISTORY_FILE));
    other.exec("PRAGMA busy_timeout = 0; BEGIN IMMEDIATE");
    for (let i = 0; i < 3; i++) h.add({ pid: "aa", peer: "bob", dir: "in", text: `refused${i}`, time: 2 + i, private: false });
    // The read waits for the writer thread's answer (a failure is one), not for the lock.
    expect(h.last(10, "aa").map((l) => l.text)).toEqual(["before"]);
    other.exec("COMMIT");
    other.close();
    await until("the failure told", () => told.length > 0);
    expect(told.map((e) => (e as { code?: string }).code)).toEqual(["SQLITE_BUSY"]);
    for (let i = 0; i < 3; i++) h.add({ pid: "aa", peer: "bob", dir: "in", text: `after${i}`, time: 10 + i, private: false });
    expect(h.last(10, "aa").map((l) => l.text)).toEqual(["before", "after0", "after1", "after2"]);
    h.close();
  });
});

describe("History: sizes counted once", () => {
  test("a run reuses the UTF-8 sizes the lines came with (the chat counted them when it checked them) and reads back whole", () => {
    const home = tempHome();
    // The table made as History makes it; then its writer (history-writer.ts) on this thread, where the counting can be seen.
    new History(home, 1000).close();
    const db = new Database(join(home, HISTORY_FILE));
    const w = new HistoryWriter(db, 1000);
    const texts = Array.from({ length: 40 }, (_, i) => `m${i} é ✓ ${"y".repeat(i)}`);
    const lines = texts.map((text, i) => ({ pid: "aa", peer: "bob", dir: "out" as const, text, time: i, private: false, id: BigInt(i + 1), bytes: Buffer.byteLength(text) }));
    const real = Buffer.byteLength;
    let counted = 0;
    Buffer.byteLength = ((...a: Parameters<typeof real>) => (counted++, real(...a))) as typeof real;
    try {
      w.flush(historyRows(lines));
    } finally {
      Buffer.byteLength = real;
    }
    w.close();
    expect(counted).toBe(0);
    expect(rowsOnDisk(home)).toBe(1);
    const h = new History(home, 1000);
    expect(h.last(100, "aa").map((l) => l.text)).toEqual(texts);
    h.close();
  });
});

describe("History: written by a thread of its own", () => {
  test("flush hands the lines over and returns; every read waits for them", () => {
    const home = tempHome();
    const h = new History(home, 1000);
    expect(h.last(5)).toEqual([]); // the writer thread is up
    for (let i = 0; i < 100; i++) h.add({ pid: "aa", peer: "bob", dir: "in", text: `m${i}`, time: i, private: false });
    h.flush();
    expect(h.last(2, "aa").map((l) => l.text)).toEqual(["m98", "m99"]);
    expect(h.writes.transactions).toBe(1);
    h.close();
  });

  test("a flush waits for no one: while the store's commit holds state.db's write lock, the history's lines are written (history.db is a file of its own)", async () => {
    const home = tempHome();
    const store = new ChatStore(home, "aa");
    const h = new History(home, 1000, store); // as the chat makes it: the store's lock
    expect(h.last(5)).toEqual([]); // the writer thread is up
    let rows = 0;
    store.writeLock.hold(() => {
      for (let i = 0; i < 100; i++) h.add({ pid: "aa", peer: "bob", dir: "in", text: `m${i}`, time: i, private: false });
      h.flush();
      // In state.db the writer thread waited here for the lock, until this thread let go of it.
      for (let i = 0; i < 200 && rows === 0; i++) (Bun.sleepSync(5), (rows = rowsOnDisk(home)));
    });
    expect(rows).toBe(1);
    expect(h.last(2, "aa").map((l) => l.text)).toEqual(["m98", "m99"]);
    h.close();
    await store.close();
  });

  test("the store's commit waits for a transaction our other thread holds (the write lock), instead of failing at SQLite's 20 ms busy timeout", async () => {
    const home = tempHome();
    const store = new ChatStore(home, "aa");
    // Another thread of ours: takes the store's write lock, then SQLite's, for 150 ms (as a long history flush does).
    const src = `import { Database } from "bun:sqlite"; import { WriteLock } from ${JSON.stringify(join(import.meta.dir, "../../../src/chat/delivery/write-lock.ts"))};
      self.onmessage = (e) => { const db = new Database(e.data.path); db.exec("PRAGMA busy_timeout = 20");
        new WriteLock(e.data.lock).hold(() => { db.exec("BEGIN IMMEDIATE"); postMessage("holding"); Bun.sleepSync(150); db.exec("COMMIT"); }); db.close(); postMessage("done"); };`;
    const w = new Worker(URL.createObjectURL(new Blob([src], { type: "application/typescript" })));
    const said: string[] = [];
    const holding = new Promise<void>((resolve) => (w.onmessage = (e) => (said.push(e.data as string), e.data === "holding" && resolve())));
    w.postMessage({ path: join(home, "state.db"), lock: store.writeLock.shared });
    await holding;
    store.queue("bb", { id: 1n, text: "one", written: 1 });
    store.commit(); // a StateError ("locked by another program") if it went to SQLite while the other held it
    expect(store.pending().get("bb")!.map((l) => l.text)).toEqual(["one"]);
    await until("the other thread finished", () => said.includes("done"));
    w.terminate();
    await store.close();
  });
});

describe("the write lock held past its wait by our own thread", () => {
  test("the store's commit fails with a sentence that names the chat's own history writer, not another program; once the lock is free the next line commits", async () => {
    const home = tempHome();
    const store = new ChatStore(home, "aa");
    const held = new Int32Array(store.writeLock.shared);
    Atomics.store(held, 0, 1); // as our history thread holding it through a stalled write
    store.queue("bb", { id: 1n, text: "one", written: 1 });
    let said = "";
    try {
      store.commit();
    } catch (e) {
      said = (e as Error).message;
    }
    expect(said).toContain("the chat's own history writer kept");
    expect(said).not.toContain("another program");
    expect(store.pending().get("bb")).toBeUndefined(); // not saved: the chat refuses it to the person
    Atomics.store(held, 0, 0);
    store.queue("bb", { id: 2n, text: "two", written: 1 });
    store.commit();
    expect(store.pending().get("bb")!.map((l) => l.text)).toEqual(["two"]);
    await store.close();
  });
});

describe("History's thread takes the store's ACK deletes", () => {
  test("ack() hands them over and returns: while this thread holds the write lock the lines stay; then they are gone, their text overwritten", async () => {
    const home = tempHome();
    const store = new ChatStore(home, "aa");
    const h = new History(home, 1000, store); // as the chat makes it: the store's lock, and its ACK deletes
    for (let i = 1; i <= 10; i++) store.queue("bb", { id: BigInt(i), text: `ACKED-${i}-${"q".repeat(2000)}`, written: 1 });
    store.commit();
    store.writeLock.hold(() => {
      store.ack("bb", 10n);
      Bun.sleepSync(50);
      expect(store.pending().get("bb")!.length).toBe(10); // here it would be gone by now
    });
    h.written();
    expect(store.pending().get("bb")).toBeUndefined();
    h.close();
    // Closed: the store runs them itself.
    store.queue("bb", { id: 11n, text: "eleven", written: 1 });
    store.commit();
    store.ack("bb", 11n);
    expect(store.pending().get("bb")).toBeUndefined();
    await store.close();
    const db = new Database(join(home, "state.db"));
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    db.close();
    expect(readFileSync(join(home, "state.db")).includes("ACKED-3-")).toBe(false);
  });
});

describe("History: a home from before history.db", () => {
  /** A state.db as a home from before kept it: a history table of one line a row (before runs) or with runs. */
  function oldHome(withRuns: boolean): string {
    const home = tempHome();
    const db = new Database(join(home, "state.db"), { create: true });
    db.exec("PRAGMA journal_mode = WAL");
    db.exec(`CREATE TABLE history (n INTEGER PRIMARY KEY AUTOINCREMENT, pid TEXT NOT NULL, peer TEXT NOT NULL, dir TEXT NOT NULL,
      text TEXT NOT NULL, time INTEGER NOT NULL, private INTEGER NOT NULL, mid TEXT${withRuns ? ", count INTEGER NOT NULL DEFAULT 1, lines BLOB" : ""}); CREATE INDEX history_pid ON history (pid, n);
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO meta VALUES ('instance', '00');`);
    for (let i = 0; i < 3; i++) db.query("INSERT INTO history (pid, peer, dir, text, time, private, mid) VALUES ('aa', 'bob', ?, ?, ?, ?, ?)").run(i === 1 ? "out" : "in", `OLD-${i}-${"o".repeat(300)}`, i, i === 1 ? 1 : 0, i === 1 ? "7" : null);
    if (withRuns) {
      const run = historyRows(Array.from({ length: 4 }, (_, i) => ({ pid: "aa", peer: "bob", dir: "out" as const, text: `RUN-${i}-${"r".repeat(300)}`, time: 10 + i, private: false })))[0]!;
      db.query("INSERT INTO history (pid, peer, dir, text, time, private, mid, count, lines) VALUES ('aa', 'bob', 'out', '', 10, 0, NULL, 4, ?)").run(run.lines);
    }
    db.close();
    return home;
  }
  /** A line's text up to its second "-" ("OLD-0-"), or all of it. */
  const head = (t: string) => (t.includes("-") ? t.slice(0, t.indexOf("-", t.indexOf("-") + 1) + 1) : t);
  const oldLines = (withRuns: boolean) => [...["OLD-0-", "OLD-1-", "OLD-2-"], ...(withRuns ? ["RUN-0-", "RUN-1-", "RUN-2-", "RUN-3-"] : [])];

  for (const withRuns of [false, true]) {
    test(`its lines (${withRuns ? "with runs" : "from before runs"}) move to history.db in order, marks and all, before the new ones; state.db keeps neither the table nor their text; the next open moves nothing`, () => {
      const home = oldHome(withRuns);
      const h = new History(home, 100);
      for (let i = 0; i < 3; i++) h.add({ pid: "aa", peer: "bob", dir: "in", text: `new${i}`, time: 20 + i, private: false });
      const read = h.last(20, "aa");
      expect(read.map((l) => head(l.text))).toEqual([...oldLines(withRuns), "new0", "new1", "new2"]);
      expect(read[1]!.private).toBe(true);
      expect(h.privateOut(10)).toEqual(new Map([["aa", new Set([7n])]]));
      h.close();
      const d = new Database(join(home, "state.db"), { readonly: true });
      expect(d.query("SELECT name FROM sqlite_master WHERE name LIKE 'history%'").all()).toEqual([]);
      expect(d.query<{ value: string }, []>("SELECT value FROM meta").get()!.value).toBe("00"); // the rest of state.db stays
      d.close();
      const bytes = Buffer.concat([readFileSync(join(home, "state.db")), ...(existsSync(join(home, "state.db-wal")) ? [readFileSync(join(home, "state.db-wal"))] : [])]);
      expect(oldLines(withRuns).filter((t) => bytes.includes(t))).toEqual([]);
      // Opened again: the lines are there once.
      const again = new History(home, 100);
      expect(again.last(20, "aa")).toHaveLength(oldLines(withRuns).length + 3);
      again.close();
      const cols = new Database(join(home, HISTORY_FILE), { readonly: true });
      const names = cols.query<{ name: string }, []>("PRAGMA table_info(history)").all().map((c) => c.name);
      cols.close();
      // `count` comes before `lines`: a count is read without walking a run's overflow pages.
      expect(names.indexOf("count")).toBeGreaterThan(names.indexOf("mid"));
      expect(names.indexOf("lines")).toBe(names.indexOf("count") + 1);
    });
  }

  test("a state.db history put back from a backup, whose row numbers history.db holds for other lines: its lines are added after them, none lost, none twice", () => {
    const home = tempHome();
    const h = new History(home, 100);
    for (let i = 0; i < 3; i++) h.add({ pid: "aa", peer: "bob", dir: "in", text: `NEWER-${i}-`, time: 100 + i, private: true }); // one row each: numbers 1..3
    h.close();
    rmSync(join(home, "state.db"), { force: true });
    const backup = oldHome(true); // numbers 1..4: three lines and a run
    for (const f of ["state.db", "state.db-wal", "state.db-shm"]) if (existsSync(join(backup, f))) writeFileSync(join(home, f), readFileSync(join(backup, f)));
    const again = new History(home, 100);
    expect(again.last(20, "aa").map((l) => head(l.text))).toEqual(["NEWER-0-", "NEWER-1-", "NEWER-2-", ...oldLines(true)]);
    again.close();
  });

  test("a backup's move (its numbers taken by history.db's lines) cut short after the copy (state.db locked by another program) is done again without a line twice", () => {
    const home = tempHome();
    const h = new History(home, 100);
    for (let i = 0; i < 3; i++) h.add({ pid: "aa", peer: "bob", dir: "in", text: `NEWER-${i}-`, time: 100 + i, private: false }); // numbers 1..3
    h.close();
    rmSync(join(home, "state.db"), { force: true });
    const backup = oldHome(true); // numbers 1..4: their lines go after history.db's, under new numbers
    writeFileSync(join(home, "state.db"), readFileSync(join(backup, "state.db")));
    // Cut short after the copy: another program holds state.db's write lock, so its table cannot be deleted.
    const other = new Database(join(home, "state.db"));
    other.exec("BEGIN IMMEDIATE");
    expect(() => new History(home, 100)).toThrow(/cannot move the conversation history it holds into history\.db \(database is locked\)\. Nothing was lost: the move is done again at the next start\. If another program has state\.db open, close it and start again; or start with --no-history\.$/);
    other.exec("COMMIT");
    other.close();
    const again = new History(home, 100);
    expect(again.last(20, "aa").map((l) => head(l.text))).toEqual(["NEWER-0-", "NEWER-1-", "NEWER-2-", ...oldLines(true)]);
    again.close();
    // Once the move is whole, history.db keeps no note of it.
    const d = new Database(join(home, HISTORY_FILE), { readonly: true });
    expect(d.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'sqlite_sequence'").all()).toEqual([{ name: "history" }]);
    d.close();
  });

  test("a move cut short after the copy (a crash before state.db's table was deleted) is done again without a line twice", () => {
    const home = oldHome(true);
    // The copy as the first open made it, with state.db left as it was.
    const saved = readFileSync(join(home, "state.db"));
    new History(home, 100).close();
    for (const f of ["state.db-wal", "state.db-shm"]) rmSync(join(home, f), { force: true });
    writeFileSync(join(home, "state.db"), saved);
    const h = new History(home, 100);
    expect(h.last(20, "aa").map((l) => head(l.text))).toEqual(oldLines(true));
    h.add({ pid: "aa", peer: "bob", dir: "in", text: "new", time: 30, private: false });
    expect(h.last(1, "aa")[0]!.text).toBe("new");
    h.close();
  });

  test("a move whose cut of state.db's log was refused (another program reading state.db) is cut at the next start: no old line's text is left in state.db or its log", () => {
    const home = oldHome(true);
    const statePath = join(home, "state.db");
    // Another program reads state.db across the move: the delete goes to the log, and the log cannot be cut.
    const reader = new Database(statePath);
    reader.exec("BEGIN");
    reader.query("SELECT count(*) FROM meta").get();
    const h = new History(home, 100);
    expect(h.last(20, "aa").map((l) => head(l.text))).toEqual(oldLines(true));
    h.close();
    reader.exec("COMMIT"); // it stays open, as a program that goes on running: its close would cut the log itself
    const texts = oldLines(true);
    const leftIn = () => {
      const bytes = [statePath, `${statePath}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f));
      return texts.filter((t) => bytes.some((b) => b.includes(t)));
    };
    expect(leftIn().length).toBeGreaterThan(0); // the old lines are still in state.db's pages at this point
    const again = new History(home, 100);
    expect(leftIn()).toEqual([]);
    expect(again.last(20, "aa").map((l) => head(l.text))).toEqual(oldLines(true));
    again.close();
    const d = new Database(join(home, HISTORY_FILE), { readonly: true });
    expect(d.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'sqlite_sequence'").all()).toEqual([{ name: "history" }]);
    d.close();
    reader.close();
  });
});

describe("History: /clear overwrites", () => {
  test("a cleared contact's lines are gone from the file's bytes, not only from the table; another contact's stay", () => {
    const home = tempHome();
    const h = new History(home, 50);
    // Trimmed too (more than the bound), then cleared: no copy of any of the contact's lines is left.
    for (let i = 0; i < 300; i++) h.add({ pid: "aa", peer: "bob", dir: "in", text: `SECRET-${i}-${"s".repeat(200)}`, time: i, private: false });
    for (let i = 0; i < 20; i++) h.add({ pid: "bb", peer: "cy", dir: "in", text: `KEPT-${i}`, time: i, private: false });
    h.trim("aa");
    h.clear("aa");
    h.close();
    // The log moved into the file: a copy in the log is what SECURITY.md allows until then.
    const db = new Database(join(home, HISTORY_FILE));
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    db.close();
    const bytes = readFileSync(join(home, HISTORY_FILE));
    expect(bytes.includes("KEPT-19")).toBe(true);
    for (let i = 0; i < 300; i++) expect(bytes.includes(`SECRET-${i}-`)).toBe(false);
  });

  test("while the chat runs, /clear leaves none of the contact's lines in history.db-wal either, even after later checkpoints and writes", () => {
    const home = tempHome();
    const h = new History(home, 1_000_000);
    for (let i = 0; i < 300; i++) h.add({ pid: "aa", peer: "bob", dir: "in", text: `SECRET-${i}-${"s".repeat(200)}`, time: i, private: false });
    h.written();
    // Another connection checkpoints (PASSIVE), as SQLite's own does: the frames stay in the log's file.
    const ck = new Database(join(home, HISTORY_FILE));
    const checkpoint = () => ck.exec("PRAGMA wal_checkpoint(PASSIVE)");
    checkpoint();
    expect(h.last(3, "aa").map((l) => l.text.slice(0, 10))).toEqual(["SECRET-297", "SECRET-298", "SECRET-299"]);
    expect(h.clear("aa")).toBe(300);
    checkpoint();
    for (let i = 0; i < 3; i++) h.add({ pid: "bb", peer: "cy", dir: "in", text: `KEPT-${i}`, time: i, private: false });
    h.written();
    checkpoint();
    const file = readFileSync(join(home, HISTORY_FILE));
    const wal = readFileSync(join(home, `${HISTORY_FILE}-wal`));
    const left = Array.from({ length: 300 }, (_, i) => `SECRET-${i}-`).filter((s) => file.includes(s) || wal.includes(s));
    expect(left).toEqual([]);
    expect(h.last(5, "bb").map((l) => l.text)).toEqual(["KEPT-0", "KEPT-1", "KEPT-2"]);
    ck.close();
    h.close();
  });

  test("as the chat opens it (the store, its checkpoint thread, ACKs on the history's thread): /clear is told no failure and leaves neither the contact's lines nor its acknowledged outbox text in either file", async () => {
    const home = tempHome();
    const store = new ChatStore(home, "aa", { backgroundCheckpoint: true });
    const h = new History(home, 1000, store);
    const told: Error[] = [];
    h.onError = (e) => told.push(e);
    for (let i = 1; i <= 50; i++) {
      store.queue("bb", { id: BigInt(i), text: `SENT-${i}-${"o".repeat(300)}`, written: 1 });
      h.add({ pid: "bb", peer: "bob", dir: "out", text: `SENT-${i}-${"o".repeat(300)}`, time: i, private: false, id: BigInt(i) });
    }
    store.commit();
    h.flush();
    store.ack("bb", 50n);
    h.written();
    expect(h.clear("bb")).toBe(50);
    h.add({ pid: "cc", peer: "cy", dir: "in", text: "KEPT", time: 99, private: false });
    h.written();
    const files = ["state.db", "state.db-wal", HISTORY_FILE, `${HISTORY_FILE}-wal`].map((f) => readFileSync(join(home, f)));
    expect(Array.from({ length: 50 }, (_, i) => `SENT-${i + 1}-`).filter((t) => files.some((f) => f.includes(t)))).toEqual([]);
    h.close();
    await store.close();
    expect(told).toEqual([]);
  });

  test("a commit the contact acknowledged in part (the rest still waiting, as when a link drops mid-file): /clear leaves none of its acknowledged lines in either file, and the waiting ones are still sent after a restart", async () => {
    const home = tempHome();
    const store = new ChatStore(home, "aa", { backgroundCheckpoint: true });
    const h = new History(home, 1000, store);
    const told: Error[] = [];
    h.onError = (e) => told.push(e);
    const text = (i: number) => `SENT-${i}-${"o".repeat(300)}`;
    for (let i = 1; i <= 20; i++) {
      store.queue("bb", { id: BigInt(i), text: text(i), written: 1 });
      h.add({ pid: "bb", peer: "bob", dir: "out", text: text(i), time: i, private: false, id: BigInt(i) });
    }
    // Another contact's commit, acknowledged in part too: a /clear of bob leaves it as it is.
    for (let i = 1; i <= 4; i++) store.queue("cc", { id: BigInt(i), text: `OTHER-${i}`, written: 1 });
    store.commit();
    h.flush();
    store.ack("bb", 12n);
    store.ack("cc", 2n);
    h.written();
    expect(h.clear("bb")).toBe(20);
    h.written();
    const files = ["state.db", "state.db-wal", HISTORY_FILE, `${HISTORY_FILE}-wal`].map((f) => readFileSync(join(home, f)));
    const left = (ids: number[]) => ids.map((i) => `SENT-${i}-`).filter((t) => files.some((f) => f.includes(t)));
    expect(left(Array.from({ length: 12 }, (_, i) => i + 1))).toEqual([]);
    // The lines not yet acknowledged stay in the outbox, as they were written.
    expect(left(Array.from({ length: 8 }, (_, i) => i + 13))).toHaveLength(8);
    h.close();
    await store.close();
    expect(told).toEqual([]);
    const again = new ChatStore(home, "aa");
    const pending = again.pending();
    expect(pending.get("bb")!.map((l) => [l.id, l.text])).toEqual(Array.from({ length: 8 }, (_, i) => [BigInt(i + 13), text(i + 13)]));
    expect(pending.get("cc")!.map((l) => l.text)).toEqual(["OTHER-3", "OTHER-4"]);
    await again.close();
  });

  test("/clear writes first what beforeClear hands it (the chat's ACK deletes not yet due): no acknowledged outbox text is left in either file", async () => {
    const home = tempHome();
    const store = new ChatStore(home, "aa", { backgroundCheckpoint: true });
    const h = new History(home, 1000, store);
    for (let i = 1; i <= 50; i++) {
      store.queue("bb", { id: BigInt(i), text: `SENT-${i}-${"o".repeat(300)}`, written: 1 });
      h.add({ pid: "bb", peer: "bob", dir: "out", text: `SENT-${i}-${"o".repeat(300)}`, time: i, private: false, id: BigInt(i) });
    }
    store.commit();
    h.written();
    // Acknowledged, its delete not yet handed over (outbox.ts flushDueAcks): /clear hands it first.
    let handed = 0;
    h.beforeClear = () => {
      handed++;
      store.ack("bb", 50n);
    };
    expect(h.clear("bb")).toBe(50);
    expect(handed).toBe(1);
    h.written();
    const files = ["state.db", "state.db-wal", HISTORY_FILE, `${HISTORY_FILE}-wal`].map((f) => readFileSync(join(home, f)));
    expect(Array.from({ length: 50 }, (_, i) => `SENT-${i + 1}-`).filter((t) => files.some((f) => f.includes(t)))).toEqual([]);
    h.close();
    await store.close();
  });

  test("another program reading state.db keeps its log from being emptied at a /clear: the failure is told as state.db's, not history.db's", async () => {
    const home = tempHome();
    const store = new ChatStore(home, "aa");
    const h = new History(home, 1000, store);
    const told: Error[] = [];
    h.onError = (e) => told.push(e);
    for (let i = 0; i < 10; i++) h.add({ pid: "bb", peer: "bob", dir: "in", text: `L-${i}`, time: i, private: false });
    h.written();
    const other = new Database(join(home, "state.db"));
    other.exec("BEGIN");
    other.query("SELECT count(*) FROM sqlite_master").get();
    expect(h.clear("bb")).toBe(10);
    await until("the failure told", () => told.length > 0);
    other.exec("COMMIT");
    other.close();
    expect(told.map((e) => [(e as { code?: string }).code, (e as { doing?: string }).doing, (e as { path?: string }).path])).toEqual([["SQLITE_BUSY", "emptying state.db-wal of the cleared lines", join(home, "state.db")]]);
    h.close();
    await store.close();
  });

  test("another program reading history.db keeps the log from being emptied: the lines are deleted all the same, the count is right, and the failure is told once as a sentence", async () => {
    const home = tempHome();
    const h = new History(home, 1_000_000);
    const told: Error[] = [];
    h.onError = (e) => told.push(e);
    for (let i = 0; i < 40; i++) h.add({ pid: "aa", peer: "bob", dir: "in", text: `SECRET-${i}`, time: i, private: false });
    h.written();
    const other = new Database(join(home, HISTORY_FILE));
    other.exec("BEGIN");
    expect(other.query<{ n: number }, []>("SELECT SUM(count) AS n FROM history").get()!.n).toBe(40);
    const n = h.clear("aa");
    expect(n).toBe(40);
    expect(h.last(5, "aa")).toEqual([]);
    other.exec("COMMIT");
    other.close();
    // Told by the writer thread's message, in a later turn.
    await until("the failure told", () => told.length > 0);
    expect(told.map((e) => [(e as { code?: string }).code, (e as { doing?: string }).doing])).toEqual([["SQLITE_BUSY", "emptying history.db-wal of the cleared lines"]]);
    // The chat goes on: the next lines are kept.
    h.add({ pid: "aa", peer: "bob", dir: "in", text: "after", time: 99, private: false });
    expect(h.last(5, "aa").map((l) => l.text)).toEqual(["after"]);
    h.close();
  });
});

describe("history in the chat", () => {
  test("flushes of every size from 1 to 1,100 lines prepare at most ten INSERTs in all, and keep every line once in order", () => {
    const home = tempHome();
    const h = new History(home, 1_000_000);
    let k = 0;
    for (let size = 1; size <= 1100; size += 37) {
      for (let i = 0; i < size; i++, k++) h.add({ pid: "aa", peer: "bob", dir: "in", text: `m${k}`, time: k, private: false });
      h.flush();
    }
    expect(h.writes.prepared).toBeLessThanOrEqual(10);
    expect(linesOnDisk(home).map((l) => l.text)).toEqual(Array.from({ length: k }, (_, i) => `m${i}`));
    h.close();
  });

  test("a tick's lines are one transaction of a few multi-row INSERTs, in order, counted and trimmed as before", () => {
    const home = tempHome();
    const MAX = 3000;
    const h = new History(home, MAX);
    for (let i = 0; i < 2000; i++) h.add({ pid: i % 4 === 0 ? "bb" : "aa", peer: "bob", dir: "out", text: `m${i}`, time: i, private: i === 7, id: BigInt(i + 1) });
    h.flush();
    // bb, then a run of three aa lines, and again (the private m7 is a row of its own, so m5–m6
    // are a run of two): 1,001 rows, 512 a statement, then 489 as 256 + 128 + 64 + 32 + 8 + 1.
    expect(h.writes).toEqual({ statements: 7, transactions: 1, prepared: 7 });
    expect(rowsOnDisk(home)).toBe(1001);
    expect(h.privateOut(10)).toEqual(new Map([["aa", new Set([8n])]]));
    for (let i = 2000; i < 6000; i++) h.add({ pid: "aa", peer: "bob", dir: "in", text: `m${i}`, time: i, private: false });
    h.flush();
    expect(h.writes.transactions).toBe(2);
    const rows = linesOnDisk(home);
    // aa: 1,500 + 4,000 rows reached MAX + 1,024, so it was cut to MAX; bb keeps its 500.
    expect(rows.filter((r) => r.pid === "aa").length).toBe(MAX);
    expect(rows.filter((r) => r.pid === "bb").map((r) => r.text)).toEqual(Array.from({ length: 500 }, (_, k) => `m${k * 4}`));
    expect(rows.filter((r) => r.pid === "aa").at(-1)!.text).toBe("m5999");
    expect(rows.filter((r) => r.pid === "aa").slice(0, 2).map((r) => r.text)).toEqual(["m3000", "m3001"]); // (1,500 + 4,000) - MAX = 2,500 aa lines cut: the 1,500 first ones, then m2000..m2999 (the cut fell inside a run, which keeps its newest lines)
    // the next flush sees the rows the trim left, not a fresh count
    h.add({ pid: "aa", peer: "bob", dir: "in", text: "last", time: 9, private: false });
    expect(h.last(2, "aa").map((l) => l.text)).toEqual(["m5999", "last"]);
    h.close();
  });

  test("after a restart the last lines per contact, ours too, are shown with their times; /history pages; /clear forgets", async () => {
    const bob = await node("bob", tempHome());
    const aliceHome = tempHome();
    const alice = await node("alice", aliceHome, { connect: [`127.0.0.1:${bob.port}`] });
    await until("connected", () => of(alice.events, "connected").length === 1 && of(bob.events, "connected").length === 1);
    for (let i = 1; i <= SHOWN_AT_START + 2; i++) alice.n.sendAll(`a${i}`);
    await until("bob got them", () => of(bob.events, "message").length === SHOWN_AT_START + 2);
    bob.n.sendAll("reply from bob");
    await until("alice got it", () => of(alice.events, "message").length === 1);
    expect(of(alice.events, "history")).toEqual([]); // nothing was kept before this run
    await alice.n.close();
    released(alice.n);

    const again = await node("alice", aliceHome);
    const h = of(again.events, "history");
    expect(h).toHaveLength(1);
    expect(h[0]!.start).toBe(true);
    const texts = h[0]!.lines.map((l) => `${l.from} ${l.peer} ${l.text}`);
    expect(texts).toEqual([...[3, 4, 5, 6].map((i) => `out bob a${i + 1}`), "in bob reply from bob"].slice(-SHOWN_AT_START));
    for (const l of h[0]!.lines) expect(l.time).toBeGreaterThan(0);
    expect(h[0]!.lines.at(-1)!.fingerprint).toBe(bob.n.fingerprint);

    // /history and /clear answer through the chat's listener, as every event does.
    const out = again.events;
    await runCommand("/history bob 3", again.n, (e) => out.push(e));
    expect(of(out, "history")[1]!.lines.map((l) => l.text)).toEqual(["a6", "a7", "reply from bob"]);
    await runCommand("/clear bob", again.n, (e) => out.push(e));
    expect(of(out, "history_cleared")).toEqual([{ type: "history_cleared", peer: "bob", count: SHOWN_AT_START + 3 }]);
    await runCommand("/history bob", again.n, (e) => out.push(e));
    expect(of(out, "history")).toHaveLength(2); // bob is not connected and nothing is kept: no page
    expect(of(out, "error").at(-1)!.message).toContain("no conversation with");
  });

  test("--no-history keeps nothing: no history.db, no table in state.db, no lines at start, /history says it is off", async () => {
    const bob = await node("bob", tempHome());
    const aliceHome = tempHome();
    const alice = await node("alice", aliceHome, { connect: [`127.0.0.1:${bob.port}`], history: false });
    await until("connected", () => of(alice.events, "connected").length === 1);
    alice.n.sendAll("not kept");
    await until("acked", () => of(alice.events, "ack").length === 1);
    const out: ChatEvent[] = [];
    await runCommand("/history", alice.n, (e) => out.push(e));
    expect(of(out, "error")[0]!.message).toContain("--no-history");
    await alice.n.close();
    released(alice.n);
    const db = new Database(join(aliceHome, "state.db"), { readonly: true });
    // The store's checkpoint thread may still be closing its connection (the last one moves the log into the file): wait for it, as sotto's own connections do.
    db.exec("PRAGMA busy_timeout = 5000");
    expect(db.query("SELECT name FROM sqlite_master WHERE name = 'history'").all()).toEqual([]);
    db.close();
    expect(existsSync(join(aliceHome, HISTORY_FILE))).toBe(false);
  });
});
