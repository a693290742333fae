import { describe, expect, test } from "bun:test";
import { FAIR_SHARE_FLOOR, InboundHandshakes } from "../../src/net/inbound-handshakes.ts";

const GRACE = 1_000;
const never = () => false;

/** `n` strangers' handshakes from `prefix`, named prefix#i, begun at `at`, `at`+1, … */
function fill(h: InboundHandshakes<string>, prefix: string, n: number, at = 0): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const s = `${prefix}#${i}`;
    h.add(s, false, at + i, prefix);
    out.push(s);
  }
  return out;
}

describe("InboundHandshakes: a fair share of seats by prefix", () => {
  test("a newcomer from a prefix with none takes the oldest seat of a prefix holding more than the floor, however young", () => {
    const h = new InboundHandshakes<string>();
    fill(h, "A", FAIR_SHARE_FLOOR + 1, 100);
    expect(h.evictable(false, 101, GRACE, never, "B")).toEqual(["A#0", 100]);
  });

  test("at the floor or under, young handshakes keep their grace (two honest strangers of one /24 are not a flood)", () => {
    const h = new InboundHandshakes<string>();
    fill(h, "A", FAIR_SHARE_FLOOR, 100);
    expect(h.evictable(false, 101, GRACE, never, "B")).toBeNull();
    expect(h.evictable(true, 101, GRACE, never, "B")).toBeNull();
    // Past the grace, the oldest stranger's gives way as before.
    expect(h.evictable(false, 100 + GRACE, GRACE, never, "B")).toEqual(["A#0", 100]);
  });

  test("only a prefix two or more above the newcomer's gives way: no swap that leaves the two less even", () => {
    const h = new InboundHandshakes<string>();
    fill(h, "A", 8, 0);
    fill(h, "B", 7, 100);
    expect(h.evictable(false, 200, GRACE, never, "A")).toBeNull();
    expect(h.evictable(false, 200, GRACE, never, "B")).toBeNull();
    expect(h.evictable(false, 200, GRACE, never, "C")).toEqual(["A#0", 0]);
    h.add("B#7", false, 150, "B");
    h.add("B#8", false, 151, "B");
    // B now holds 9, A 8: a newcomer from A is one under B; one from C takes B's oldest.
    expect(h.evictable(false, 200, GRACE, never, "A")).toBeNull();
    expect(h.evictable(false, 200, GRACE, never, "C")).toEqual(["B#0", 100]);
  });

  test("counts follow handshakes that end: the most crowded drops back, and an emptied prefix holds nothing", () => {
    const h = new InboundHandshakes<string>();
    const a = fill(h, "A", 7, 0);
    fill(h, "B", 6, 50);
    for (const s of a.slice(0, 3)) h.delete(s);
    // A 4, B 6: B is the most crowded now, and its oldest goes.
    expect(h.strangersFrom("A")).toBe(4);
    expect(h.evictable(false, 60, GRACE, never, "C")).toEqual(["B#0", 50]);
    for (let i = 0; i < 6; i++) h.delete(`B#${i}`);
    expect(h.strangersFrom("B")).toBe(0);
    expect(h.evictable(false, 60, GRACE, never, "C")).toBeNull();
    for (const s of a) h.delete(s);
    h.delete("A#0"); // twice: no effect
    expect(h.strangersFrom("A")).toBe(0);
    expect(h.evictable(false, 10_000, GRACE, never, "C")).toBeNull();
  });

  test("handshakes of addresses that authenticated before are not counted in a prefix's share and never cut by it", () => {
    const h = new InboundHandshakes<string>();
    for (let i = 0; i < 20; i++) h.add(`K#${i}`, true, i, "A");
    expect(h.strangersFrom("A")).toBe(0);
    expect(h.evictable(false, 30, GRACE, never, "B")).toBeNull();
    // Past the grace, a known address's handshake gives way last, as before.
    expect(h.evictable(false, 2_000, GRACE, never, "B")).toEqual(["K#0", 0]);
  });

  test("a newcomer from an address that authenticated before still takes a flood's stranger at once, first", () => {
    const h = new InboundHandshakes<string>();
    fill(h, "A", 2, 0);
    fill(h, "B", 6, 10);
    expect(h.evictable(true, 11, GRACE, (s) => s === "A#0", "C")).toEqual(["A#0", 0]);
    expect(h.evictable(true, 11, GRACE, never, "C")).toEqual(["B#0", 10]);
  });
});
