/** Conversation history, the table: kept in history.db (0600), bounded per contact whatever the flushes, in runs; damaged, locked and failing files; sizes counted once. */
import { Database } from "bun:sqlite";
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "bun:test";
import { History, HISTORY_FILE, MAX_PER_CONTACT, PAGE_SIZE } from "../../../src/chat/delivery/history.ts";
import { historyRows, MAX_RUN } from "../../../src/chat/delivery/history-run.ts";
import { HistoryWriter, TRIM_EVERY } from "../../../src/chat/delivery/history-writer.ts";
import { ChatStore } from "../../../src/chat/delivery/store.ts";
import type { ChatEvent } from "../../../src/chat/events.ts";
import { runCommand } from "../../../src/ui/commands.ts";
import { removeHomes, tempHome } from "../../support/home.ts";
import { until } from "../../support/wait.ts";
import { of } from "../../support/events.ts";
import { released, stopNodes } from "../../support/node.ts";
import { linesOnDisk, rowsOnDisk, historyNode } from "../../support/history.ts";

afterEach(async () => {
  await stopNodes();
  removeHomes();
});

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
    const first = await historyNode("alice", home);
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
      const e = await historyNode("alice", h).then(() => null, (x: unknown) => x as Error & { code?: string });
      expect([e?.constructor.name, e?.code, e?.message]).toEqual(["ChatError", "state", damaged(h)]);
    }
    rmSync(join(h, HISTORY_FILE));
    expect(of((await historyNode("alice", h)).events, "error")).toEqual([]);
  });

  // A run's lines overwritten (SQLite's "malformed" as the last lines are read to be shown), or no page overwritten but
  // the contact is not a key (a file another program wrote: nothing SQLite notices, a line that cannot be shown).
  for (const [what, page, pid] of [["a run's lines overwritten", 17, "aa".repeat(32)], ["a contact that is not a key", 0, "aa"]] as const) {
    test(`${what}: the chat starts and says so once in that sentence, instead of throwing SQLite's error (or a TypeError) out of its start with the home locked`, async () => {
      const h = await home(page, pid);
      const a = await historyNode("alice", h);
      expect(of(a.events, "error").map((e) => [e.code, e.message])).toEqual([["state", damaged(h)]]);
      expect(of(a.events, "history")).toEqual([]);
      // /history then says the same, as the person's error, not "internal error (a bug in sotto)".
      const out: ChatEvent[] = [];
      await runCommand("/history", a.n, (e) => out.push(e));
      expect(out.map((e) => [e.type, (e as { code?: string }).code, (e as { message?: string }).message])).toEqual([["error", "state", damaged(h)]]);
      await released(a.n).close();
      expect((await historyNode("alice", h)).events.filter((e) => e.type === "error")).toHaveLength(1); // started again: the lock was let go
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
