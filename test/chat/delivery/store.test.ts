import { afterEach, describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { join, resolve } from "node:path";
import { ChatStore, STATE_FILE } from "../../../src/chat/delivery/store.ts";
import { removeHomes, tempHome } from "../../support/home.ts";

const ME = "aa".repeat(32);
const BOB = "0b".repeat(32);
const CAROL = "0c".repeat(32);
const STORE = resolve(import.meta.dir, "../../../src/chat/delivery/store.ts");

afterEach(removeHomes);

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

describe("ChatStore (state.db)", () => {
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
