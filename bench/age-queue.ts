/**
 * The cost of one eviction at a global cap (Peer's inbound handshakes, src/net/age-queue.ts):
 * read the oldest, delete it, add the newcomer, with 64 and with 65,536 handshakes in
 * progress. A Map read from its head is O(n) in Bun (the deleted slots are walked each
 * time); AgeQueue must stay flat. Asserts, as a ratio within this run, that 65,536 costs
 * at most 10× 64 for AgeQueue (cache misses alone, not a walk); prints the Map's ratio for comparison.
 * `bun bench/age-queue.ts`
 */
import { AgeQueue } from "../src/net/age-queue.ts";

const OPS = 200_000;
function viaMap(n: number): number {
  const m = new Map<object, number>();
  for (let i = 0; i < n; i++) m.set({}, i);
  const t = performance.now();
  for (let i = 0; i < OPS; i++) {
    const f = m.entries().next();
    m.delete(f.value![0]);
    m.set({}, i);
  }
  return ((performance.now() - t) / OPS) * 1e6;
}
function viaQueue(n: number): number {
  const q = new AgeQueue<object>();
  for (let i = 0; i < n; i++) q.set({}, i);
  const t = performance.now();
  for (let i = 0; i < OPS; i++) {
    const f = q.oldest()!;
    q.delete(f[0]);
    q.set({}, i);
  }
  return ((performance.now() - t) / OPS) * 1e6;
}
viaMap(64);
viaQueue(64); // warm up
const m = [viaMap(64), viaMap(65_536)];
const q = [viaQueue(64), viaQueue(65_536)];
console.log(`Map: ${m[0]!.toFixed(0)} ns vs ${m[1]!.toFixed(0)} ns per eviction (×${(m[1]! / m[0]!).toFixed(1)})`);
console.log(`AgeQueue: ${q[0]!.toFixed(0)} ns vs ${q[1]!.toFixed(0)} ns per eviction (×${(q[1]! / q[0]!).toFixed(1)})`);
if (q[1]! / q[0]! > 10) {
  console.error("AgeQueue: an eviction among 65,536 handshakes costs more than 10× one among 64");
  process.exit(1);
}
