/**
 * A full disk, for real: alice's home on a small tmpfs filled to its last byte while she
 * chats. Mounting needs root and a kernel that allows it (this suite's machines do); where it
 * cannot, the test is skipped with that reason.
 */
import { spawnSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "bun:test";
import { removeHomes } from "../../support/home.ts";
import { until } from "../../support/wait.ts";
import { of } from "../../support/events.ts";
import { released, startNode, stopNodes } from "../../support/node.ts";

const mounts: string[] = [];
afterEach(async () => {
  await stopNodes();
  removeHomes();
  for (const m of mounts.splice(0)) {
    spawnSync("umount", ["-l", m]);
    rmSync(m, { recursive: true, force: true });
  }
});

/** A tmpfs of `size` mounted on a fresh directory, or null when this machine does not allow it. */
function smallDisk(size: string): string | null {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return null;
  const dir = mkdtempSync(join(tmpdir(), "sotto-full-"));
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0700`, "tmpfs", dir]);
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
  mounts.push(dir);
  return dir;
}

/** Fill the file system holding `dir` until it takes no byte more; returns the filler's path. */
function fill(dir: string): string {
  const path = join(dir, "filler");
  const fd = openSync(path, "w");
  try {
    for (const size of [1 << 16, 4096, 512, 1]) {
      const b = Buffer.alloc(size, 0x55);
      for (;;) {
        try {
          if (writeSync(fd, b) < size) break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === "ENOSPC") break;
          throw e;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return path;
}

// Skipped where a tmpfs cannot be mounted (not root, or a container that forbids mount): no full disk can be made there.
const canMount = (() => {
  const d = smallDisk("1m");
  if (d === null) return false;
  spawnSync("umount", [d]);
  mounts.splice(mounts.indexOf(d), 1);
  rmSync(d, { recursive: true, force: true });
  return true;
})();

describe("a full disk", () => {
  test.skipIf(!canMount)("alice's home fills up while she chats: every line is either refused in a sentence or delivered once; nothing crashes; once space is freed every new line goes, in order", async () => {
    const disk = smallDisk("16m")!;
    const home = join(disk, "home");
    mkdirSync(home, { mode: 0o700 });
    const bob = await startNode("bob", { allowNew: true });
    const alice = await startNode("alice", { home, allowNew: true, connect: [`127.0.0.1:${bob.port}`] });
    await until("both connected", () => of(alice.events, "connected").length === 1 && of(bob.events, "connected").length === 1);
    alice.n.sendAll("before");
    await until("shown", () => of(bob.events, "message").length === 1);
    const filler = fill(disk);
    const sent: string[] = [];
    for (let i = 0; i < 400; i++) {
      const text = `full-${i}-${"f".repeat(2000)}`;
      alice.n.sendAll(text); // committed in the tick's one transaction, which the full disk refuses
      sent.push(text);
      if (i % 50 === 49) await Bun.sleep(20); // ticks pass: the history's thread flushes, ACKs come back
    }
    await until("each line shown or told unsent", () => of(bob.events, "message").length - 1 + of(alice.events, "unsent").length === sent.length);
    const unsent = of(alice.events, "unsent");
    // The disk did fill: lines were refused, each in a sentence that says what happened and what to do.
    expect(unsent.length).toBeGreaterThan(0);
    for (const u of unsent) expect(u.reason).toMatch(/is full, so .* failed; free some space and try again/);
    const refusedTexts = new Set(unsent.map((u) => u.text));
    const delivered = sent.filter((t) => !refusedTexts.has(t));
    expect(refusedTexts.size).toBe(unsent.length); // each told once
    rmSync(filler);
    for (let i = 0; i < 20; i++) alice.n.sendAll(`after-${i}`);
    await until("after shown", () => of(bob.events, "message").length === 1 + delivered.length + 20);
    await Bun.sleep(100);
    // Every line not told unsent was shown once, in order; nothing was shown that was told unsent.
    expect(of(bob.events, "message").map((m) => m.text)).toEqual(["before", ...delivered, ...Array.from({ length: 20 }, (_, i) => `after-${i}`)]);
    expect(of(alice.events, "unsent").length).toBe(unsent.length);
    // The session lived through it; whatever else alice was told is a sentence about the full disk.
    expect(of(alice.events, "disconnected")).toEqual([]);
    for (const e of of(alice.events, "error")) expect(e.message).toMatch(/is full, so .* failed; free some space and try again/);
    // And names the file it was about: the outbox and its ACKs are state.db's, what was said history.db's.
    for (const e of of(alice.events, "error")) {
      if (/saving the message|forgetting an acknowledged message/.test(e.message)) expect(e.message).toContain(`${join(home, "state.db")} is full`);
      if (/keeping the conversation history/.test(e.message)) expect(e.message).toContain(`${join(home, "history.db")} is full`);
    }
    await alice.n.close();
    released(alice.n);
  });
});
