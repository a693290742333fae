/**
 * The sender's state.db work for a piped file, without sockets or output:
 *   bun bench/links-store.ts [lines] [--runs n]
 * `lines` lines of 1 KiB in ticks of 500, as line mode hands them over: per tick the
 * outbox's commit (outbox_run), the history's flush (its runs and trims, history.ts),
 * then the ACK of the tick before (flushAcks); the homes are in the system's temporary
 * folder, the checkpoint thread on, as `sotto chat` has it. Prints the CPU per run (min,
 * median; the checkpoint thread's included) and per phase. Before timing anything it
 * checks that the outbox ended empty and the history kept the last line last.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { History, MAX_PER_CONTACT } from "../src/chat/delivery/history.ts";
import { Outbox } from "../src/chat/delivery/outbox.ts";
import { ChatStore } from "../src/chat/delivery/store.ts";
import { asPid } from "../src/chat/peer-id.ts";
import { bulkLine } from "../test/faults/bulk.ts";

const args = process.argv.slice(2);
const lines = Number(args.find((a) => /^\d+$/.test(a)) ?? 20_000);
const runs = Number(args[args.indexOf("--runs") + 1] ?? 5) || 5;
const TICK = 500;
const PID = asPid("0b".repeat(32));
const cpu = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

const totals: number[] = [];
const phase = { commit: 0, history: 0, ack: 0 };
for (let r = 0; r < runs; r++) {
  const home = mkdtempSync(join(tmpdir(), "sotto-links-store-"));
  const store = new ChatStore(home, "aa".repeat(32), { backgroundCheckpoint: true });
  const o = new Outbox(store, () => "bob");
  const h = new History(home, MAX_PER_CONTACT, store.checkpointer);
  const start = cpu();
  let last = 0n;
  for (let i = 0; i < lines; ) {
    const before = last;
    for (const end = Math.min(lines, i + TICK); i < end; i++) {
      const text = bulkLine(i, 1024);
      const bytes = o.check([PID], text);
      last = o.queue(PID, text, bytes, Date.now());
      h.add({ pid: PID, peer: "bob", dir: "out", text, time: Date.now(), private: false, id: last, bytes });
    }
    let t = cpu();
    if (o.commit() !== null) throw new Error("a commit failed");
    phase.commit += cpu() - t;
    t = cpu();
    h.flush();
    phase.history += cpu() - t;
    t = cpu();
    if (before > 0n) o.acked(PID, before);
    o.flushAcks();
    phase.ack += cpu() - t;
  }
  o.acked(PID, last);
  o.flushAcks();
  totals.push(cpu() - start);
  const kept = h.last(1, PID);
  if (o.total() !== 0 || kept[0]?.text !== bulkLine(lines - 1, 1024)) throw new Error(`not a clean run: ${o.total()} lines left, last kept ${kept[0]?.text.slice(0, 8)}`);
  h.close();
  await store.close();
  rmSync(home, { recursive: true, force: true });
}
totals.sort((a, b) => a - b);
const per = (ms: number) => (ms / runs).toFixed(0);
console.log(`state.db work for ${lines} lines of 1 KiB (ticks of ${TICK}): CPU min ${totals[0]!.toFixed(0)} ms, median ${totals[Math.floor(runs / 2)]!.toFixed(0)} ms over ${runs} runs; per run: outbox commits ${per(phase.commit)} ms, history flushes ${per(phase.history)} ms, ACKs ${per(phase.ack)} ms`);
