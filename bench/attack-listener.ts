/**
 * The listener that the attack floods hit (bench/attack.ts, test/hostile/budgets.test.ts):
 * a real `Peer` in a process of its own, so that its RSS (/proc/<pid>/status) is the
 * listener's alone. It echoes every TEXT and ACKs it, as the hostile suite's listener does.
 *
 *   bun bench/attack-listener.ts '{"limits": {...}, "accept": [1, 2, 3], "warm": [2, 3]}'
 * prints one line `{"port": n}` once listening, and runs until stdin closes. With LAG=1
 * it prints its event loop's lag (a 5 ms timer's delay: p50, p99, max) each second on
 * stderr, to see how long one burst of work holds every session up.
 */
import { randomBytes } from "node:crypto";
import { ed25519Generate } from "../src/crypto/ed25519.ts";
import { Peer } from "../src/net/peer.ts";
import type { Limits } from "../src/net/limits.ts";
import { Group } from "../src/protocol/constants.ts";
import { warmFfdhe } from "../src/net/kex.ts";
import { ProtocolError } from "../src/protocol/errors.ts";

const o = JSON.parse(process.argv[2] ?? "{}") as { limits?: Partial<Limits>; accept?: Group[]; warm?: Group[] };
const peer = new Peer({
  identity: ed25519Generate(),
  profile: { instance: randomBytes(8), name: "listener" },
  accept: o.accept,
  limits: o.limits,
  events: {
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
  const lags: number[] = [];
  setInterval(() => {
    const now = performance.now();
    lags.push(now - last - 5);
    last = now;
  }, 5);
  setInterval(() => {
    lags.sort((a, b) => a - b);
    const at = (q: number) => (lags[Math.min(lags.length - 1, Math.floor(lags.length * q))] ?? 0).toFixed(1);
    console.error(`event loop lag p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`);
    lags.length = 0;
  }, 1000);
}
// Runs until its parent closes stdin (or dies).
for await (const _ of Bun.stdin.stream()) void _;
await peer.close("bye", 100);
process.exit(0);
