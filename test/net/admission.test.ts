/** Admission (src/net/admission.ts) without sockets: the caps on handshakes, the FFDHE rate per prefix, known hosts. */
import { describe, expect, test } from "bun:test";
import { Admission } from "../../src/net/admission.ts";
import { DEFAULT_LIMITS, type Limits } from "../../src/net/limits.ts";

const limits = (o: Partial<Limits>): Limits => ({ ...DEFAULT_LIMITS, ...o });

describe("caps on sessions and handshakes in progress", () => {
  test("each cap refuses with its own sentence, checked in order: shutting down, sessions, half-open, per address, per prefix", () => {
    const a = new Admission(limits({ maxSessions: 10, maxHalfOpen: 5, maxHalfOpenPerAddress: 2, maxHalfOpenPerPrefix: 3 }));
    expect(a.refusal("10.0.0.1", false, 0, true)).toBe("shutting down");
    expect(a.refusal("10.0.0.1", false, 10, false)).toBe("10 sessions open (maxSessions)");
    a.opened("10.0.0.1");
    a.opened("10.0.0.1");
    expect(a.refusal("10.0.0.1", false, 2, false)).toBe("2 handshakes in progress from that address (maxHalfOpenPerAddress)");
    a.opened("10.0.0.2");
    // Three from 10.0.0.0/24: a fourth inbound one is refused; one we dial is not.
    expect(a.refusal("10.0.0.3", false, 3, false)).toBe("3 handshakes in progress from 10.0.0.0/24 (maxHalfOpenPerPrefix)");
    expect(a.refusal("10.0.0.3", true, 3, false)).toBeNull();
    a.opened("10.0.1.1");
    a.opened("10.0.2.1");
    expect(a.halfOpen).toBe(5);
    expect(a.refusal("192.168.0.1", false, 5, false)).toBe("5 handshakes in progress (maxHalfOpen)");
  });

  test("a handshake that ends frees its place: counts go back to zero, per address and per prefix", () => {
    const a = new Admission(limits({ maxHalfOpenPerAddress: 1, maxHalfOpenPerPrefix: 1 }));
    a.opened("2001:db8::1");
    expect(a.refusal("2001:db8::1", false, 1, false)).toContain("maxHalfOpenPerAddress");
    expect(a.refusal("2001:db8::2", false, 1, false)).toBe("1 handshakes in progress from 2001:db8:0:0::/64 (maxHalfOpenPerPrefix)");
    a.over("2001:db8::1");
    expect(a.halfOpen).toBe(0);
    expect(a.refusal("2001:db8::1", false, 1, false)).toBeNull();
    expect(a.refusal("2001:db8::2", false, 1, false)).toBeNull();
  });
});

describe("the FFDHE rate per prefix", () => {
  test("a burst of 4 s worth per /24, then one refusal sentence; another prefix has its own bucket", () => {
    const a = new Admission(limits({ ffdhePerPrefixPerSecond: 5 }));
    const now = 1000;
    const answers = Array.from({ length: 21 }, (_, i) => a.admitKex(`10.0.0.${i + 1}`, now));
    expect(answers.slice(0, 20)).toEqual(Array(20).fill(null));
    expect(answers[20]).toBe("more than 5 FFDHE handshakes a second from 10.0.0.0/24 (ffdhePerPrefixPerSecond)");
    expect(a.admitKex("10.0.1.1", now)).toBeNull();
    // One second later, five more.
    expect(Array.from({ length: 6 }, () => a.admitKex("10.0.0.9", now + 1000)).filter((r) => r === null).length).toBe(5);
  });

  test("a host that authenticated skips the rate and goes first; the sweep forgets full buckets only", () => {
    const a = new Admission(limits({ ffdhePerPrefixPerSecond: 1 }));
    for (let i = 0; i < 4; i++) expect(a.admitKex("10.0.0.7", 0)).toBeNull();
    expect(a.admitKex("10.0.0.8", 0)).not.toBeNull();
    expect(a.known("10.0.0.8")).toBe(false);
    a.remember("10.0.0.8");
    expect(a.known("10.0.0.8")).toBe(true);
    expect(a.admitKex("10.0.0.8", 0)).toBeNull();
    // Still empty at t=0: kept by the sweep (a new bucket would start full).
    a.sweep(0);
    expect(a.admitKex("10.0.0.9", 0)).not.toBeNull();
    // Full again after 4 s: forgotten, and a new bucket starts full.
    a.sweep(4000);
    expect(a.admitKex("10.0.0.9", 4000)).toBeNull();
  });
});
