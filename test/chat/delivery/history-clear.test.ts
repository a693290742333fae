/** Conversation history: /clear overwrites a contact's lines in the file's bytes, and history as the chat shows and keeps it. */
import { Database } from "bun:sqlite";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "bun:test";
import { History, HISTORY_FILE, SHOWN_AT_START } from "../../../src/chat/delivery/history.ts";
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
    const bob = await historyNode("bob", tempHome());
    const aliceHome = tempHome();
    const alice = await historyNode("alice", aliceHome, { connect: [`127.0.0.1:${bob.port}`] });
    await until("connected", () => of(alice.events, "connected").length === 1 && of(bob.events, "connected").length === 1);
    for (let i = 1; i <= SHOWN_AT_START + 2; i++) alice.n.sendAll(`a${i}`);
    await until("bob got them", () => of(bob.events, "message").length === SHOWN_AT_START + 2);
    bob.n.sendAll("reply from bob");
    await until("alice got it", () => of(alice.events, "message").length === 1);
    expect(of(alice.events, "history")).toEqual([]); // nothing was kept before this run
    await alice.n.close();
    released(alice.n);

    const again = await historyNode("alice", aliceHome);
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
    const bob = await historyNode("bob", tempHome());
    const aliceHome = tempHome();
    const alice = await historyNode("alice", aliceHome, { connect: [`127.0.0.1:${bob.port}`], history: false });
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
