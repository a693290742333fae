/** The chat's durable state (store.ts): a commit's lines are one outbox row, ACKs cover them in part or whole, and a reopened store gives back exactly the unacknowledged lines. */
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { ChatError } from "../../../src/chat/events.ts";
import { ChatStore, decodeRun, encodeRun, STATE_PAGE_SIZE, StateError, WAL_BOUND_BYTES, WAL_DEFAULT_BYTES } from "../../../src/chat/delivery/store.ts";
import { History } from "../../../src/chat/delivery/history.ts";
import { until } from "../../support/wait.ts";
import { removeHomes, tempHome } from "../../support/home.ts";
import { resolve } from "node:path";
import { STATE_FILE } from "../../../src/chat/delivery/home-files.ts";
import { HomeLock, LOCK_FILE } from "../../../src/chat/delivery/lock.ts";

afterAll(removeHomes);
const A = "ab".repeat(32);
const B = "cd".repeat(32);
const texts = (m: Map<string, { id: bigint; text: string }[]>, pid: string) => (m.get(pid) ?? []).map((l) => `${l.id}:${l.text}`);

describe("ChatStore outbox", () => {
  test("one row per peer per commit; a partial ACK hides the covered lines after a reopen; a full ACK deletes the row", () => {
    const home = tempHome();
    const s = new ChatStore(home);
    for (let i = 1; i <= 100; i++) s.queue(A, { id: BigInt(i), text: `a${i} ✓`, written: 1000 + i });
    s.queue(B, { id: 1n, text: "b1", written: 0 });
    s.commit();
    for (let i = 101; i <= 150; i++) s.queue(A, { id: BigInt(i), text: `a${i}`, written: 0 });
    s.commit();
    const db = new Database(join(home, "state.db"), { readonly: true });
    const rows = () => db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM outbox_run").get()!.n;
    expect(rows()).toBe(3);
    s.ack(A, 60n); // inside the first run
    expect(rows()).toBe(3);
    s.close();

    const again = new ChatStore(home);
    const p = again.pending();
    expect(texts(p, A)).toEqual(Array.from({ length: 90 }, (_, i) => `${61 + i}:a${61 + i}${61 + i <= 100 ? " ✓" : ""}`));
    expect(p.get(A)![0]!.written).toBe(1061);
    expect(texts(p, B)).toEqual(["1:b1"]);
    expect(again.nextId(A)).toBe(151n);
    again.ack(A, 100n);
    expect(rows()).toBe(2);
    again.ack(A, 150n);
    again.ack(B, 1n);
    expect(rows()).toBe(0);
    expect(again.pending().size).toBe(0);
    again.close();
    db.close();
  });

  test("lines from the one-row-per-line table of an older home are read, acknowledged and set aside as before", () => {
    const home = tempHome();
    new ChatStore(home).close();
    const db = new Database(join(home, "state.db"));
    db.query("INSERT INTO outbox (pid, id, text, written) VALUES (?, ?, ?, ?)").run(A, 1, "old1", 5);
    db.query("INSERT INTO outbox (pid, id, text, written) VALUES (?, ?, ?, ?)").run(A, 2, "old2", 6);
    db.query("INSERT OR REPLACE INTO next_id (pid, next) VALUES (?, ?)").run(A, 3);
    db.close();
    const s = new ChatStore(home);
    s.queue(A, { id: 3n, text: "new3", written: 7 });
    s.commit();
    expect(texts(s.pending(), A)).toEqual(["1:old1", "2:old2", "3:new3"]);
    s.setAside(A, { id: 3n, text: "new3", written: 7 }, "test");
    s.ack(A, 1n);
    expect(texts(s.pending(), A)).toEqual(["2:old2"]);
    s.close();
  });

  test("a run row holds each line's id, time and UTF-8 text in its layout (a lone surrogate as U+FFFD, as Buffer.from has it)", () => {
    const lines = [
      { id: 1n, text: "", written: 0 },
      { id: 2n, text: "héllo 🎉", written: 1_764_590_400_000.5 },
      { id: 2n ** 63n, text: "x".repeat(5000), written: 3 },
      { id: 4n, text: "lone \ud800 surrogate", written: 4 },
    ];
    // The layout (store.ts RUN_LINE_HEADER): id u64, written f64, length u32, then the text.
    const want = Buffer.concat(
      lines.map((l) => {
        const t = Buffer.from(l.text, "utf8");
        const h = Buffer.alloc(20);
        h.writeBigUInt64BE(l.id, 0);
        h.writeDoubleBE(l.written, 8);
        h.writeUInt32BE(t.length, 16);
        return Buffer.concat([h, t]);
      }),
    );
    expect(Buffer.from(encodeRun(lines)).equals(want)).toBe(true);
    expect(decodeRun(encodeRun(lines))).toEqual(lines.map((l) => ({ ...l, text: l.text.replace("\ud800", "\ufffd") })));
  });

  test("a damaged run row is a StateError with one sentence, not a crash or a wrong line", () => {
    const row = encodeRun([{ id: 7n, text: "hello", written: 1 }]);
    expect(decodeRun(row)).toEqual([{ id: 7n, text: "hello", written: 1 }]);
    expect(() => decodeRun(row.subarray(0, row.length - 1))).toThrow(StateError);
    expect(() => decodeRun(row.subarray(0, 10))).toThrow(StateError);
  });
});

describe("ChatStore: acknowledged lines leave no text behind", () => {
  test("an ACK'd run's text is overwritten in state.db, not left in its free pages (a /clear of the history then leaves no copy of what was sent); an unacknowledged one stays", async () => {
    const home = tempHome();
    const s = new ChatStore(home, A);
    for (let i = 1; i <= 20; i++) s.queue(B, { id: BigInt(i), text: `SENT-${i}-${"z".repeat(3000)}`, written: 1 });
    s.commit();
    s.ack(B, 20n);
    s.queue(B, { id: 21n, text: `KEPT-21-${"k".repeat(300)}`, written: 1 });
    s.commit();
    await s.close();
    // The log moved into the file (as the checkpoint thread does; until then a copy in the log is what SECURITY.md allows).
    const db = new Database(join(home, STATE_FILE));
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    db.close();
    const bytes = await Bun.file(join(home, STATE_FILE)).bytes();
    const has = (t: string) => Buffer.from(bytes).includes(t);
    expect(has("KEPT-21-")).toBe(true);
    for (let i = 1; i <= 20; i++) expect(has(`SENT-${i}-`)).toBe(false);
  });
});

describe("ChatStore: state.db's page size", () => {
  test("a new state.db is made of 16 KiB pages (the file header says so): a piped tick's 500 lines of 1 KiB are one commit of about 35 pages in the log, not 130; the log's bounds stay in bytes", async () => {
    const home = tempHome();
    const s = new ChatStore(home, A, { backgroundCheckpoint: true });
    s.queue(B, { id: 1n, text: "first", written: 1 });
    s.commit();
    const wal = join(home, `${STATE_FILE}-wal`);
    const before = statSync(wal).size;
    for (let i = 2; i <= 501; i++) s.queue(B, { id: BigInt(i), text: `${i}:${"x".repeat(1020)}`, written: 1 });
    s.commit();
    const frames = (statSync(wal).size - before) / (STATE_PAGE_SIZE + 24);
    expect(STATE_PAGE_SIZE).toBe(16_384);
    expect(frames).toBeLessThan(40);
    expect(s.walBoundPages * STATE_PAGE_SIZE).toBe(WAL_BOUND_BYTES);
    await s.close();
    const header = await Bun.file(join(home, STATE_FILE)).bytes();
    expect(Buffer.from(header).readUInt16BE(16)).toBe(STATE_PAGE_SIZE); // SQLite's header: the page size at offset 16
    const plain = new ChatStore(home, A);
    expect(plain.walBoundPages * STATE_PAGE_SIZE).toBe(WAL_DEFAULT_BYTES);
    await plain.close();
  });

  test("a home from before, of 4 KiB pages, keeps them and its bounds (16,384 and 1,000 pages): its waiting lines are there, new ones commit, ACKs on the history's thread overwrite them, a reopen finds the rest", async () => {
    const home = tempHome();
    // state.db as sotto made it before: SQLite's 4 KiB pages, a run waiting.
    const old = new Database(join(home, STATE_FILE), { create: true });
    old.exec("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL;");
    old.exec("CREATE TABLE outbox_run (pid TEXT NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL, lines BLOB NOT NULL, PRIMARY KEY (pid, first)); CREATE TABLE next_id (pid TEXT PRIMARY KEY, next INTEGER NOT NULL);");
    old.query("INSERT INTO outbox_run (pid, first, last, lines) VALUES (?, 1, 2, ?)").run(B, encodeRun([{ id: 1n, text: "OLD-1", written: 1 }, { id: 2n, text: "OLD-2", written: 1 }]));
    old.query("INSERT INTO next_id (pid, next) VALUES (?, 3)").run(B);
    old.close();
    const s = new ChatStore(home, A, { backgroundCheckpoint: true });
    expect(s.walBoundPages).toBe(16_384);
    const h = new History(home, 100, s);
    expect(texts(s.pending(), B)).toEqual(["1:OLD-1", "2:OLD-2"]);
    expect(s.nextId(B)).toBe(3n);
    s.queue(B, { id: 3n, text: `NEW-3-${"n".repeat(5000)}`, written: 1 });
    s.commit();
    s.queue(B, { id: 4n, text: "NEW-4", written: 1 });
    s.commit();
    s.ack(B, 3n); // on the history's thread
    h.written();
    h.close();
    await s.close();
    const db = new Database(join(home, STATE_FILE));
    expect(db.query<{ page_size: number }, []>("PRAGMA page_size").get()!.page_size).toBe(4096);
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    db.close();
    const bytes = Buffer.from(await Bun.file(join(home, STATE_FILE)).bytes());
    for (const t of ["OLD-1", "OLD-2", "NEW-3-"]) expect(bytes.includes(t)).toBe(false);
    const again = new ChatStore(home, A);
    expect(again.walBoundPages).toBe(1000);
    expect(texts(again.pending(), B)).toEqual(["4:NEW-4"]);
    await again.close();
  });
});

describe("ChatStore backgroundCheckpoint", () => {
  test("the log is moved into state.db by the checkpoint thread, below the bound at which the chat's own commits would do it", async () => {
    const home = tempHome();
    const s = new ChatStore(home, "", { backgroundCheckpoint: true });
    const text = "z".repeat(60_000);
    // 8 MB: twice SQLite's default 1000-page checkpoint (of 4 KiB), far below WAL_BOUND_BYTES (64 MiB).
    for (let t = 0; t < 140; t++) {
      s.queue(A, { id: BigInt(t + 1), text, written: 0 });
      s.commit();
      await Bun.sleep(1);
    }
    expect(s.walBoundPages * 16_384).toBe(WAL_BOUND_BYTES);
    expect(WAL_BOUND_BYTES).toBeGreaterThan(60 << 20);
    const db = join(home, "state.db");
    await until("the checkpoint thread copied the log into state.db", () => statSync(db).size > 8_000_000, 10_000);
    // Awaited: the last connection to close checkpoints what is left and removes the log,
    // and a store opened meanwhile could meet that within its 20 ms busy timeout.
    await s.close();
    const again = new ChatStore(home);
    expect(again.pending().get(A)!.length).toBe(140);
    again.close();
  }, 15_000);

  test("close() resolves once the checkpoint thread has let go of state.db: the last connection gone, SQLite removes the log", async () => {
    for (let round = 0; round < 5; round++) {
      const home = tempHome();
      const s = new ChatStore(home, "", { backgroundCheckpoint: true });
      s.queue(A, { id: 1n, text: "one", written: 0 });
      s.commit();
      await Bun.sleep(20);
      await s.close();
      // SQLite deletes state.db-wal when its last connection closes; a thread still holding one keeps it.
      expect(existsSync(join(home, "state.db-wal"))).toBe(false);
    }
  });
});

const ME = "aa".repeat(32);
const BOB = "0b".repeat(32);
const CAROL = "0c".repeat(32);
const STORE = resolve(import.meta.dir, "../../../src/chat/delivery/store.ts");

function line(id: bigint, text: string) {
  return { id, text, written: 1_764_590_400_000 + Number(id) };
}

/** A child process that opens the store in `home`, runs `body` with it as `s`, and is killed (SIGKILL) by itself. */
function crashAfter(home: string, body: string): number | null {
  const code = `import { ChatStore } from ${JSON.stringify(STORE)};
const s = new ChatStore(${JSON.stringify(home)}, ${JSON.stringify(ME)});
${body}
process.kill(process.pid, "SIGKILL");`;
  const r = Bun.spawnSync(["bun", "-e", code], { stderr: "pipe" });
  return r.signalCode === "SIGKILL" ? 9 : r.exitCode;
}

describe("ChatStore across reopens and crashes", () => {
  test("committed lines, next ids, shown counters and the instance id survive a reopen", () => {
    const home = tempHome();
    const a = new ChatStore(home, ME);
    const inst = a.instance();
    a.queue(BOB, line(1n, "one"));
    a.queue(BOB, line(2n, "two"));
    a.queue(CAROL, line(1n, "to carol"));
    a.commit();
    a.ack(BOB, 1n);
    a.setDelivered(BOB, "i1", 7n);
    a.setDeliveredMany([{ pid: CAROL, instance: "i2", id: 18_446_744_073_709_551_615n }]);
    a.close();
    const b = new ChatStore(home, ME);
    expect([...b.pending()]).toEqual([[BOB, [line(2n, "two")]], [CAROL, [line(1n, "to carol")]]]);
    expect([b.nextId(BOB), b.nextId(CAROL), b.nextId("0d".repeat(32))]).toEqual([3n, 2n, 1n]);
    expect(b.delivered(BOB, "i1")).toBe(7n);
    expect(b.delivered(CAROL, "i2")).toBe(18_446_744_073_709_551_615n);
    expect(Buffer.from(b.instance()).equals(Buffer.from(inst))).toBe(true);
    b.close();
    // Shown counters belong to our identity: a new key starts from zero.
    const c = new ChatStore(home, "cc".repeat(32));
    expect(c.delivered(BOB, "i1")).toBe(0n);
    c.close();
  });

  test("state.db and its WAL files are 0600", () => {
    const home = tempHome();
    const s = new ChatStore(home, ME);
    s.queue(BOB, line(1n, "x"));
    s.commit();
    for (const f of [STATE_FILE, `${STATE_FILE}-wal`, `${STATE_FILE}-shm`]) {
      expect({ f, mode: statSync(join(home, f)).mode & 0o777 }).toEqual({ f, mode: 0o600 });
    }
    s.close();
  });

  test("state.db-lock (who holds the home, and since when) is 0600, as every other file in the home", () => {
    const home = tempHome();
    const lock = HomeLock.acquire(home);
    try {
      expect(statSync(join(home, LOCK_FILE)).mode & 0o777).toBe(0o600);
    } finally {
      lock.release();
    }
  });

  test("a home lock that cannot be written is refused in a sentence that says so, not the system's code", () => {
    const home = tempHome();
    writeFileSync(join(home, LOCK_FILE), "");
    chmodSync(home, 0o500);
    try {
      // root writes anywhere: make the lock file itself immutable to the open instead.
      if (process.getuid?.() === 0) {
        chmodSync(home, 0o700);
        rmSync(join(home, LOCK_FILE));
        mkdirSync(join(home, LOCK_FILE));
      }
      let err: unknown;
      try {
        HomeLock.acquire(home).release();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ChatError);
      const message = (err as ChatError).message;
      expect(message).toContain(join(home, LOCK_FILE));
      // The path's random part may hold capitals: only the rest must be free of a system code.
      expect(message.replaceAll(join(home, LOCK_FILE), "<lock>")).not.toMatch(/\bE[A-Z]{3,}\b|errno/);
    } finally {
      chmodSync(home, 0o700);
    }
  });

  test("a FIFO in the home lock's place is refused in a sentence, not waited on for ever (a careless user's mkfifo, or something else left there)", () => {
    const home = tempHome();
    expect(Bun.spawnSync(["mkfifo", join(home, LOCK_FILE)]).exitCode).toBe(0);
    // In a child: an open that waits for a reader blocks its whole thread, the test runner's too.
    const lock = resolve(import.meta.dir, "../../../src/chat/delivery/lock.ts");
    const code = `import { HomeLock } from ${JSON.stringify(lock)};
try { HomeLock.acquire(${JSON.stringify(home)}).release(); console.log("acquired"); } catch (e) { console.log(e.constructor.name + ": " + e.message); }`;
    const r = Bun.spawnSync(["bun", "-e", code], { stdout: "pipe", stderr: "pipe", timeout: 15_000 });
    const out = r.stdout.toString().trim();
    expect({ signal: r.signalCode ?? null, out: out.replaceAll(join(home, LOCK_FILE), "<lock>") }).toEqual({
      signal: null,
      out: "ChatError: <lock> is not a file sotto can use (something else is in its place), so taking the home lock failed; move it aside and try again",
    });
    }, 20_000);

  test("a FIFO in state.db's place is refused in a sentence, not waited on for ever", () => {
    const home = tempHome();
    expect(Bun.spawnSync(["mkfifo", join(home, STATE_FILE)]).exitCode).toBe(0);
    // In a child, as the home lock's: an open that waits for a reader blocks the whole thread.
    const code = `import { ChatStore } from ${JSON.stringify(STORE)};
try { new ChatStore(${JSON.stringify(home)}, ${JSON.stringify(ME)}).close(); console.log("opened"); } catch (e) { console.log(e.constructor.name + ": " + e.message); }`;
    const r = Bun.spawnSync(["bun", "-e", code], { stdout: "pipe", stderr: "pipe", timeout: 15_000 });
    const out = r.stdout.toString().trim().replaceAll(join(home, STATE_FILE), "<state>");
    expect({ signal: r.signalCode ?? null, out: out.replace(/, so .*$/, ", so …") }).toEqual({
      signal: null,
      out: "StateError: <state> is not a file sotto can use (something else is in its place), so …",
    });
  }, 20_000);

  test("a home folder gone before the lock and the store are opened: a sentence for each, not the system's code", () => {
    const home = join(tempHome(), "removed");
    const messages: string[] = [];
    for (const open of [() => HomeLock.acquire(home).release(), () => new ChatStore(home, ME).close()]) {
      try {
        open();
        messages.push("opened");
      } catch (e) {
        messages.push((e as Error).message.replaceAll(home, "<home>"));
      }
    }
    expect(messages).toEqual([
      "the folder of <home>/state.db-lock is gone (moved or deleted while sotto started), so taking the home lock failed; check the home folder and try again",
      expect.stringMatching(/^the folder of <home>\/state\.db is gone \(moved or deleted while sotto started\), so .* failed; check the home folder and try again$/),
    ]);
  });

  test("a set-aside line leaves the outbox for good", () => {
    const home = tempHome();
    const s = new ChatStore(home, ME);
    s.queue(BOB, line(1n, "too long"));
    s.queue(BOB, line(2n, "fine"));
    s.commit();
    s.setAside(BOB, line(1n, "too long"), "longer than one message");
    s.close();
    const t = new ChatStore(home, ME);
    expect([...t.pending()]).toEqual([[BOB, [line(2n, "fine")]]]);
    t.close();
  });

  test("a process killed between queue and commit leaves nothing of the batch; one killed after commit leaves all of it", () => {
    const home = tempHome();
    expect(crashAfter(home, `s.queue(${JSON.stringify(BOB)}, { id: 1n, text: "lost", written: 1 });`)).toBe(9);
    let s = new ChatStore(home, ME);
    expect([...s.pending()]).toEqual([]);
    expect(s.nextId(BOB)).toBe(1n);
    s.close();
    expect(crashAfter(home, `s.queue(${JSON.stringify(BOB)}, { id: 1n, text: "kept", written: 1 }); s.queue(${JSON.stringify(BOB)}, { id: 2n, text: "kept too", written: 2 }); s.commit();`)).toBe(9);
    s = new ChatStore(home, ME);
    expect([...s.pending()]).toEqual([[BOB, [{ id: 1n, text: "kept", written: 1 }, { id: 2n, text: "kept too", written: 2 }]]]);
    expect(s.nextId(BOB)).toBe(3n);
    s.close();
    // Killed after the ACK: the acknowledged line is gone, the next one kept.
    expect(crashAfter(home, `s.ack(${JSON.stringify(BOB)}, 1n);`)).toBe(9);
    s = new ChatStore(home, ME);
    expect([...s.pending()]).toEqual([[BOB, [{ id: 2n, text: "kept too", written: 2 }]]]);
    s.close();
  });
});
