/**
 * The sender's state.db work for a piped file, without sockets or output:
 *   bun bench/links-store.ts [lines] [--runs n] [--typed]
 * `lines` lines of 1 KiB in ticks of 500, as line mode hands them over and in the order
 * the chat's tick has them (chat/node/delivery.ts): the ACK of the tick before arrives,
 * then the outbox's commit (outbox_run), the ACK deletes that are due (flushDueAcks: a
 * MiB acknowledged, or all of it), then the history's flush (its runs and trims,
 * history.ts); the last ACK's delete at the end (flushAcks). The homes are in the
 * system's temporary folder, the checkpoint thread on, as `sotto chat` has it, the
 * history's writer thread started before the clock does. Prints
 * the CPU per run (min, median), the process's (every thread: the checkpoint's, the
 * history's writer) and the chat's thread's alone, and the chat's thread's per phase. It
 * checks that the outbox ended empty and the history kept the last line last, or prints
 * nothing. `--typed`: lines as typed instead, one a tick, each acknowledged (its delete
 * written, as the chat's ACK timer does) before the next.
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
const typed = args.includes("--typed");
const TICK = typed ? 1 : 500;
const PID = asPid("0b".repeat(32));
const cpu = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};
/** This thread's CPU (ms). */
const own = () => {
  const c = (process as unknown as { threadCpuUsage(): NodeJS.CpuUsage }).threadCpuUsage();
  return (c.user + c.system) / 1000;
};

const totals: number[] = [];
const mains: number[] = [];
/** The process's CPU less the chat's thread's: the history's writer thread and the checkpoint thread, and the runtime's own (JIT, GC). */
const others: number[] = [];
const phase = { commit: 0, history: 0, ack: 0 };
for (let r = 0; r < runs; r++) {
  const home = mkdtempSync(join(tmpdir(), "sotto-links-store-"));
  const store = new ChatStore(home, "aa".repeat(32), { backgroundCheckpoint: true });
  const o = new Outbox(store, () => "bob");
  const h = new History(home, MAX_PER_CONTACT, store); // as the chat has it: the store's lock, checkpointer and ACK deletes
  // Waits for the writer thread to have started (a trim of nothing): the chat's starts long
  // before a file is piped, so its start-up (≈ 10 ms of loading and compiling) is no part of the run.
  h.trim(PID);
  const start = cpu();
  const startOwn = own();
  let last = 0n;
  for (let i = 0; i < lines; ) {
    const before = last;
    for (const end = Math.min(lines, i + TICK); i < end; i++) {
      const text = bulkLine(i, 1024);
      const bytes = o.check([PID], text);
      last = o.queue(PID, text, bytes, Date.now());
      h.add({ pid: PID, peer: "bob", dir: "out", text, time: Date.now(), private: false, id: last, bytes });
    }
    if (before > 0n) o.acked(PID, before);
    let t = own();
    if (o.commit() !== null) throw new Error("a commit failed");
    phase.commit += own() - t;
    t = own();
    o.flushDueAcks();
    phase.ack += own() - t;
    t = own();
    h.flush();
    phase.history += own() - t;
    if (typed) {
      t = own();
      o.acked(PID, last);
      o.flushAcks();
      phase.ack += own() - t;
    }
  }
  o.acked(PID, last);
  o.flushAcks();
  (h as { written?: () => void }).written?.(); // what the history's thread was handed is written: its CPU is in the total
  totals.push(cpu() - start);
  mains.push(own() - startOwn);
  others.push(totals[totals.length - 1]! - mains[mains.length - 1]!);
  const kept = h.last(1, PID);
  if (o.total() !== 0 || kept[0]?.text !== bulkLine(lines - 1, 1024)) throw new Error(`not a clean run: ${o.total()} lines left, last kept ${kept[0]?.text.slice(0, 8)}`);
  h.close();
  await store.close();
  rmSync(home, { recursive: true, force: true });
}
totals.sort((a, b) => a - b);
mains.sort((a, b) => a - b);
others.sort((a, b) => a - b);
const per = (ms: number) => (ms / runs).toFixed(0);
const mid = Math.floor(runs / 2);
console.log(`state.db work for ${lines} lines of 1 KiB (${typed ? "typed: one a tick, each acknowledged before the next" : `ticks of ${TICK}`}), ${runs} runs: CPU of the process min ${totals[0]!.toFixed(0)} / median ${totals[mid]!.toFixed(0)} ms, of the chat's thread min ${mains[0]!.toFixed(0)} / median ${mains[mid]!.toFixed(0)} ms, of the other threads min ${others[0]!.toFixed(0)} / median ${others[mid]!.toFixed(0)} ms; the chat's thread per run: outbox commits ${per(phase.commit)} ms, history flushes ${per(phase.history)} ms, ACKs ${per(phase.ack)} ms`);
