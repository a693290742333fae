/**
 * The cost of one fair-share eviction at a full listener (src/net/inbound-handshakes.ts):
 * every prefix holds FAIR_SHARE_FLOOR + 1 strangers' handshakes, a newcomer from a fresh
 * prefix takes the oldest seat of a most crowded one, and that prefix re-opens at once
 * (an attacker's churn), with 8 and with 13,107 prefixes (65,536 seats, a raised
 * maxHalfOpen; the default 4,096 holds 819). Finding a most crowded prefix by reading a
 * Set's head while its head is deleted walks the deleted slots in Bun, O(n) per eviction.
 * Asserts, as a ratio within this run, that 13,107 prefixes cost at most 6× 8 (cache
 * misses alone, not a walk). `bun bench/fair-share.ts`
 */
import { FAIR_SHARE_FLOOR, InboundHandshakes } from "../src/net/inbound-handshakes.ts";

const OPS = 200_000;
function churn(prefixes: number): number {
  const h = new InboundHandshakes<object>();
  const names = Array.from({ length: prefixes }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`);
  const prefixOf = new Map<object, string>();
  let now = 0;
  const open = (p: string) => {
    const s = {};
    prefixOf.set(s, p);
    h.add(s, false, now++, p);
  };
  for (const p of names) for (let k = 0; k <= FAIR_SHARE_FLOOR; k++) open(p);
  const never = () => false;
  const t = performance.now();
  for (let i = 0; i < OPS; i++) {
    const [s] = h.evictable(false, now, 1_000, never, "fresh")!;
    const p = prefixOf.get(s)!;
    prefixOf.delete(s);
    h.delete(s);
    open(p);
  }
  return ((performance.now() - t) / OPS) * 1e6;
}
churn(8); // warm up
const small = Math.min(churn(8), churn(8));
const large = Math.min(churn(13_107), churn(13_107));
console.log(`fair share: ${small.toFixed(0)} ns among 8 prefixes vs ${large.toFixed(0)} ns among 13,107 per eviction and re-open (×${(large / small).toFixed(1)})`);
if (large / small > 6) {
  console.error("InboundHandshakes: an eviction among 13,107 crowded prefixes costs more than 6× one among 8");
  process.exit(1);
}
