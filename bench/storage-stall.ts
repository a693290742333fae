/**
 * How long the event loop stalls while state.db is locked by another program (the
 * target: no event-loop stall over 50 ms):
 *   bun bench/storage-stall.ts [lines]
 * Two in-process chats; a second SQLite connection holds an exclusive lock on alice's
 * state.db while alice types `lines` lines, one per 10 ms. Prints the longest gap a 1 ms
 * timer saw during that time, next to the same run with no lock (the baseline), and
 * checks first that every locked line came back as "unsent".
 */
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { ChatNode } from "../src/chat/node.ts";
import type { ChatEvent } from "../src/chat/events.ts";
import { Group } from "../src/protocol/constants.ts";
import { removeHomes, tempHome } from "../test/support/home.ts";
import { until } from "../test/support/wait.ts";

const lines = Number(process.argv[2] ?? 20);

async function run(locked: boolean): Promise<number> {
  const be: ChatEvent[] = [];
  const ae: ChatEvent[] = [];
  const bob = await ChatNode.start({ home: tempHome(), name: "bob", group: Group.X25519, strict: false, listen: { host: "127.0.0.1", port: 0 }, connect: [] }, (e) => be.push(e));
  const port = (be.find((e) => e.type === "listening") as { port: number }).port;
  const aliceHome = tempHome();
  const alice = await ChatNode.start({ home: aliceHome, name: "alice", group: Group.X25519, strict: false, listen: null, connect: [`127.0.0.1:${port}`] }, (e) => ae.push(e));
  await until("connected", () => ae.some((e) => e.type === "connected"));
  const other = new Database(join(aliceHome, "state.db"));
  if (locked) other.exec("BEGIN EXCLUSIVE");
  let worst = 0;
  let last = performance.now();
  const tick = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 1);
  for (let i = 0; i < lines; i++) {
    alice.sendAll(`line ${i}`);
    await Bun.sleep(10);
  }
  clearInterval(tick);
  const unsent = ae.filter((e) => e.type === "unsent").length;
  if (locked) other.exec("ROLLBACK");
  other.close();
  await alice.close();
  await bob.close();
  if (locked && unsent !== lines) throw new Error(`expected ${lines} unsent lines with the lock held, got ${unsent}`);
  return worst;
}

const base = await run(false);
const locked = await run(true);
console.log(`longest event-loop gap while typing ${lines} lines: no lock ${base.toFixed(1)} ms, state.db locked ${locked.toFixed(1)} ms (target ≤ 50 ms)`);
removeHomes();
