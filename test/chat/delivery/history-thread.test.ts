/** Conversation history written by a thread of its own: the write lock, the store's ACK deletes on that thread, and homes from before history.db. */
import { Database } from "bun:sqlite";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "bun:test";
import { History, HISTORY_FILE } from "../../../src/chat/delivery/history.ts";
import { historyRows } from "../../../src/chat/delivery/history-run.ts";
import { ChatStore } from "../../../src/chat/delivery/store.ts";
import { WriteLock } from "../../../src/chat/delivery/write-lock.ts";
import { removeHomes, tempHome } from "../../support/home.ts";
import { until } from "../../support/wait.ts";
import { stopNodes } from "../../support/node.ts";
import { rowsOnDisk } from "../../support/history.ts";

afterEach(async () => {
  await stopNodes();
  removeHomes();
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
