/**
 * The listener that the attack floods hit (bench/attack.ts, test/hostile/budgets.test.ts, budgets-admission.test.ts):
 * a real `Peer` in a process of its own, so that its RSS (/proc/<pid>/status) is the
 * listener's alone. It echoes every TEXT and ACKs it, as the hostile suite's listener does.
 *
 *   bun bench/attack-listener.ts '{"limits": {...}, "accept": [1, 2, 3], "warm": [2, 3]}'
 * prints one line `{"port": n}` once listening, and runs until stdin closes (a line
 * `block <ms>` on stdin holds its event loop that long). With LAG=1
 * it prints its event loop's lag (a 5 ms timer's delay: p50, p99, max) each second on
 * stderr, to see how long one burst of work holds every session up, and how many
 * connections were refused at accept in that second.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { ed25519Generate } from "../src/crypto/ed25519.ts";
import { Peer } from "../src/net/peer.ts";
import type { Limits } from "../src/net/limits.ts";
import { Group } from "../src/protocol/constants.ts";
import { warmFfdhe } from "../src/net/kex.ts";
import { ProtocolError } from "../src/protocol/errors.ts";

/** Connections turned away at accept (LAG=1 prints them each second). */
let refused = 0;
const o = JSON.parse(process.argv[2] ?? "{}") as { limits?: Partial<Limits>; accept?: Group[]; warm?: Group[] };
const peer = new Peer({
  identity: ed25519Generate(),
  profile: { instance: randomBytes(8), name: "listener" },
  accept: o.accept,
  limits: o.limits,
  events: {
    onRefused: () => void refused++,
    // ATTACK_DEBUG=1: one line per close on stderr.
    onClose: process.env.ATTACK_DEBUG ? (s, info) => console.error(`close ${s.address}: ${info.error instanceof ProtocolError ? info.error.code : "-"} ${info.error?.message ?? ""}`) : undefined,
    onItem: (s, item) => {
      if (item.kind !== "text" || s.state !== "open") return;
      s.send({ kind: "text", id: item.id, text: item.text });
      s.send({ kind: "ack", id: item.id });
    },
  },
});
// Build the FFDHE contexts first (seconds of CPU each, once): floods measure steady state.
await Promise.all((o.warm ?? [Group.FFDHE2048, Group.FFDHE3072]).map((g) => warmFfdhe(g)));
const port = peer.listen("127.0.0.1", 0);
console.log(JSON.stringify({ port, maxSessions: peer.limits.maxSessions }));
if (process.env.LAG) {
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  const lags: number[] = [];
  // The longest gap of the second, and the process's CPU time within it: a gap mostly on
  // CPU is our own work; one mostly off it is the machine's scheduler (2 shared cores).
  // /proc/self/schedstat: ns on CPU, ns runnable but waiting for a CPU, timeslices (the main thread).
  const waited = () => Number(readFileSync("/proc/self/schedstat", "utf8").split(" ")[1]) / 1e6;
  let lastWait = waited();
  let worst = { gap: 0, cpu: 0, wait: 0 };
  setInterval(() => {
    const now = performance.now();
    const cpu = process.cpuUsage();
    const w = waited();
    lags.push(now - last - 5);
    if (now - last > worst.gap) worst = { gap: now - last, cpu: (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000, wait: w - lastWait };
    last = now;
    lastCpu = cpu;
    lastWait = w;
  }, 5);
  setInterval(() => {
    lags.sort((a, b) => a - b);
    const at = (q: number) => (lags[Math.min(lags.length - 1, Math.floor(lags.length * q))] ?? 0).toFixed(1);
    console.error(`event loop lag p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms (longest gap ${worst.gap.toFixed(0)} ms: ${worst.cpu.toFixed(0)} ms on CPU, ${worst.wait.toFixed(0)} ms waiting for one); ${refused} refused at accept`);
    lags.length = 0;
    worst = { gap: 0, cpu: 0, wait: 0 };
    refused = 0;
  }, 1000);
}
// Runs until its parent closes stdin (or dies). A line `block <ms>` holds the event loop
// that long (a test of the accept queue: what the kernel takes while nothing is accepted).
let pending = "";
for await (const chunk of Bun.stdin.stream()) {
  pending += new TextDecoder().decode(chunk);
  for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
    const m = /^block (\d+)$/.exec(pending.slice(0, nl).trim());
    pending = pending.slice(nl + 1);
    if (m) Bun.sleepSync(Number(m[1]));
  }
}
await peer.close("bye", 100);
process.exit(0);
