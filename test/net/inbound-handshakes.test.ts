import { describe, expect, test } from "bun:test";
import { shareOf } from "../../src/net/admission.ts";
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

describe("the fair share's unit: an IPv4 /24, an IPv6 /48 (admission.ts shareOf, what Peer counts by)", () => {
  test("the /64s of one IPv6 /48 are one share: a site's 16 /64s with one young handshake each give way to a newcomer from another /48", () => {
    const h = new InboundHandshakes<string>();
    // Counted by /64, each held 1 (under the floor): the newcomer was refused and a /48
    // holding 1,024 /64s kept a 4,096-seat listener full of young handshakes.
    for (let i = 0; i < 16; i++) h.add(`s${i}`, false, i, shareOf(`2001:db8:7:${(i * 4099).toString(16)}::${i + 1}`));
    expect(h.strangersFrom(shareOf("2001:db8:7::1"))).toBe(16);
    expect(h.evictable(false, 20, GRACE, never, shareOf("2001:db8:8::1"))).toEqual(["s0", 0]);
    // A newcomer from the same /48 takes nothing at once.
    expect(h.evictable(false, 20, GRACE, never, shareOf("2001:db8:7:ffff::9"))).toBeNull();
  });

  test("IPv4 keeps its /24; an IPv4-mapped address is its IPv4's share; written forms of one /48 are one", () => {
    expect(shareOf("10.1.2.3")).toBe(shareOf("10.1.2.200"));
    expect(shareOf("10.1.2.3")).not.toBe(shareOf("10.1.3.3"));
    expect(shareOf("::ffff:10.1.2.3")).toBe(shareOf("10.1.2.9"));
    expect(shareOf("::FFFF:10.1.2.3")).toBe(shareOf("10.1.2.9"));
    expect(shareOf("2001:0db8:0007:0001::1")).toBe(shareOf("2001:db8:7:ffff:1:2:3:4"));
    expect(shareOf("2001:db8:7::1")).not.toBe(shareOf("2001:db8:6::1"));
    // An IPv4-mapped address is no IPv6 /48 of its own: all of IPv4 is not one share.
    expect(shareOf("::ffff:10.1.2.3")).not.toBe(shareOf("::ffff:192.168.0.1"));
  });
});
