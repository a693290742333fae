import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { idOf, MAX_TRACKED, recipientMarks, Recipients, withMarks, type TrackedLine } from "../../src/ui/recipients.ts";
import { sent } from "../support/recipients.ts";

describe("Recipients", () => {
  test("the sent events between begin and end are one line; outside, none is taken", () => {
    const r = new Recipients();
    expect(r.sent(sent("bob", "1"))).toBe(false);
    r.begin();
    expect(r.sent(sent("bob", "4"))).toBe(true);
    expect(r.sent(sent("carol", "2", true))).toBe(true);
    const l = r.end()!;
    expect(l.line).toBe(1);
    expect(l.recipients).toEqual([{ peer: "bob", id: "4", state: "sent" }, { peer: "carol", id: "2", state: "queued" }]);
    expect(recipientMarks(l, (s) => s)).toBe("bob …, carol queued");
    r.begin();
    expect(r.end()).toBeNull(); // a command: no line
  });

  test("a recipient queued when its line was typed stays known as such after its ACK (the chat reports those itself)", () => {
    const r = new Recipients();
    r.begin();
    r.sent(sent("bob", "4"));
    r.sent(sent("carol", "2", true));
    const l = r.end()!;
    expect(r.ack({ type: "ack", peer: "carol", id: "2" })).toEqual([l]);
    expect(l.recipients[1]!.state).toBe("delivered");
    expect([r.queuedWhenTyped(l, "carol"), r.queuedWhenTyped(l, "bob"), r.queuedWhenTyped(l, "dave")]).toEqual([true, false, false]);
  });

  test("one cumulative ACK marks every line it covers, for that peer only, once", () => {
    const r = new Recipients();
    const lines = [1, 2, 3].map((i) => {
      r.begin();
      r.sent(sent("bob", String(i)));
      r.sent(sent("carol", String(10 + i)));
      return r.end()!;
    });
    expect(r.ack({ type: "ack", peer: "bob", id: "2" }).map((l) => l.line)).toEqual([1, 2]);
    expect(r.ack({ type: "ack", peer: "bob", id: "2" })).toEqual([]);
    expect(r.ack({ type: "ack", peer: "carol", id: "13" }).map((l) => l.line)).toEqual([1, 2, 3]);
    expect(recipientMarks(lines[0]!, (s) => s)).toBe("bob ✓, carol ✓");
    expect(recipientMarks(lines[2]!, (s) => s)).toBe("bob …, carol ✓");
    expect(r.ack({ type: "ack", peer: "bob", id: "not a number" })).toEqual([]);
  });

  test("a renamed recipient is found by its new name", () => {
    const r = new Recipients();
    r.begin();
    r.sent(sent("bob", "1"));
    const l = r.end()!;
    r.renamed("bob", "robert");
    expect(r.ack({ type: "ack", peer: "bob", id: "1" })).toEqual([]);
    expect(r.ack({ type: "ack", peer: "robert", id: "1" })).toEqual([l]);
  });

  test("a contact gone (forgotten, blocked, its key replaced) acknowledges no more: a new key given its name marks only its own lines, also past MAX_TRACKED", () => {
    const r = new Recipients();
    r.begin();
    r.sent(sent("bob", "1"));
    r.sent(sent("carol", "1"));
    const old = r.end()!;
    r.gone("carol");
    // The new key's ids count from 1 again.
    r.begin();
    r.sent(sent("carol", "1"));
    const fresh = r.end()!;
    expect(r.ack({ type: "ack", peer: "carol", id: "1" })).toEqual([fresh]);
    expect(r.ack({ type: "ack", peer: "bob", id: "1" })).toEqual([old]);
    expect(recipientMarks(old, (s) => s)).toBe("bob ✓, carol …");
    // The old line is still tracked (carol's mark never comes) and is the one dropped, not a line of the new key.
    const next = Array.from({ length: MAX_TRACKED }, (_, i) => {
      r.begin();
      r.sent(sent("carol", String(i + 2)));
      return r.end()!;
    });
    expect(r.ack({ type: "ack", peer: "carol", id: String(MAX_TRACKED + 1) })).toEqual(next);
  });

  test(`at most ${MAX_TRACKED} lines wait for ACKs; the oldest are dropped`, () => {
    const r = new Recipients();
    for (let i = 1; i <= MAX_TRACKED + 5; i++) {
      r.begin();
      r.sent(sent("bob", String(i)));
      r.end();
    }
    const hit = r.ack({ type: "ack", peer: "bob", id: String(MAX_TRACKED + 5) });
    expect(hit).toHaveLength(MAX_TRACKED);
    expect(hit[0]!.line).toBe(6);
  });
});

describe("Recipients: ids and ACKs", () => {
  test("ids past 2^53 are compared exactly (as numbers they would be equal), next to small ones in the same queue", () => {
    const r = new Recipients();
    const big = ["9007199254740992", "9007199254740993", "9007199254740994", "123456789012345678901234567890"];
    const lines = ["7", ...big].map((id) => {
      r.begin();
      r.sent(sent("bob", id));
      return r.end()!;
    });
    expect(r.ack({ type: "ack", peer: "bob", id: "9007199254740992" }).map((l) => l.line)).toEqual([1, 2]);
    // 9007199254740993 as a number is 9007199254740992: it must not mark the next line.
    expect(r.ack({ type: "ack", peer: "bob", id: "9007199254740993" }).map((l) => l.line)).toEqual([3]);
    expect(r.ack({ type: "ack", peer: "bob", id: "123456789012345678901234567889" }).map((l) => l.line)).toEqual([4]);
    expect(r.ack({ type: "ack", peer: "bob", id: "123456789012345678901234567890" })).toEqual([lines[4]!]);
    expect(lines.map((l) => l.recipients[0]!.state)).toEqual(["delivered", "delivered", "delivered", "delivered", "delivered"]);
  });

  test("an ACK of 15 digits or more is compared exactly with ids of fewer, and ids BigInt reads in another form are still covered", () => {
    const r = new Recipients();
    for (const id of ["5", "0x10", "999999999999999", " 1000000000000000 "]) {
      r.begin();
      r.sent(sent("bob", id));
      r.end();
    }
    expect(r.ack({ type: "ack", peer: "bob", id: "15" }).map((l) => l.line)).toEqual([1]);
    expect(r.ack({ type: "ack", peer: "bob", id: "0x10" }).map((l) => l.line)).toEqual([2]);
    expect(r.ack({ type: "ack", peer: "bob", id: "999999999999999" }).map((l) => l.line)).toEqual([3]);
    expect(r.ack({ type: "ack", peer: "bob", id: "1000000000000000" }).map((l) => l.line)).toEqual([4]);
  });

  test("idOf: what BigInt reads of any string, as a number when it is at most 15 digits; null when BigInt refuses it (property)", () => {
    const digits = fc.stringMatching(/^[0-9]{1,25}$/);
    fc.assert(
      fc.property(fc.oneof(digits, fc.string(), fc.constantFrom("", " 1", "0x1f", "-5", "1e3", "1.5", "00012", "9".repeat(15), "9".repeat(16))), (s) => {
        let want: bigint | null;
        try {
          want = BigInt(s);
        } catch {
          want = null;
        }
        const got = idOf(s);
        if (want === null) return expect(got).toBeNull();
        expect(BigInt(got!)).toBe(want);
        expect(typeof got).toBe(/^[0-9]{1,15}$/.test(s) ? "number" : "bigint");
      }),
      { numRuns: 3000 },
    );
  });

  test("a line to several recipients is renamed until every one acknowledged it; a line to one is done at its ACK", () => {
    const r = new Recipients();
    r.begin();
    r.sent(sent("bob", "1"));
    r.sent(sent("carol", "1"));
    const both = r.end()!;
    r.begin();
    r.sent(sent("carol", "2"));
    const one = r.end()!;
    expect(r.ack({ type: "ack", peer: "carol", id: "2" })).toEqual([both, one]);
    // Still waiting for bob: the line is tracked, its recipients renamed; the line to carol alone is done.
    r.renamed("carol", "caroline");
    r.renamed("bob", "robert");
    expect(both.recipients.map((x) => x.peer)).toEqual(["robert", "caroline"]);
    expect(one.recipients.map((x) => x.peer)).toEqual(["carol"]);
    expect(r.ack({ type: "ack", peer: "robert", id: "1" })).toEqual([both]);
    r.renamed("robert", "bob");
    expect(both.recipients.map((x) => `${x.peer} ${x.state}`)).toEqual(["robert delivered", "caroline delivered"]);
  });

  test("one ACK covering thousands of lines marks each once, in order; the rest wait for the next", () => {
    const r = new Recipients();
    const n = 5000;
    for (let i = 1; i <= n; i++) {
      r.begin();
      r.sent(sent("bob", String(i)));
      r.end();
    }
    expect(r.ack({ type: "ack", peer: "bob", id: "3000" }).map((l) => l.line)).toEqual(Array.from({ length: 3000 }, (_, i) => i + 1));
    expect(r.ack({ type: "ack", peer: "bob", id: "3000" })).toEqual([]);
    expect(r.ack({ type: "ack", peer: "bob", id: String(n + 100) }).map((l) => l.line)).toEqual(Array.from({ length: n - 3000 }, (_, i) => i + 3001));
  });
});

describe("Recipients: lines done behind a line still waiting", () => {
  test("a contact away keeps the oldest line tracked: the lines acknowledged after it are no longer renamed, and that oldest line is the one dropped at MAX_TRACKED", () => {
    const r = new Recipients();
    r.begin();
    r.sent(sent("bob", "1", true));
    const first = r.end()!;
    const acked: TrackedLine[] = [];
    for (let i = 1; i <= 3000; i++) {
      r.begin();
      r.sent(sent("carol", String(i)));
      acked.push(r.end()!);
      expect(r.ack({ type: "ack", peer: "carol", id: String(i) })).toEqual([acked.at(-1)!]);
    }
    r.renamed("carol", "caroline");
    r.renamed("bob", "robert");
    expect(acked.filter((l) => l.recipients[0]!.peer !== "carol")).toEqual([]);
    expect(first.recipients[0]!.peer).toBe("robert");
    const later: TrackedLine[] = [];
    for (let i = 1; i <= MAX_TRACKED; i++) {
      r.begin();
      r.sent(sent("dave", String(i)));
      later.push(r.end()!);
    }
    // MAX_TRACKED + 1 lines were tracked: the oldest, robert's, is dropped; dave's are all still there.
    expect(r.ack({ type: "ack", peer: "robert", id: "1" })).toEqual([]);
    expect(first.recipients[0]!.state).toBe("queued");
    r.renamed("dave", "david");
    expect(r.ack({ type: "ack", peer: "david", id: String(MAX_TRACKED) })).toEqual(later);
  });
  test("a line done right behind the oldest one is not what the next drop takes: the oldest tracked line is", () => {
    const r = new Recipients();
    r.begin();
    r.sent(sent("bob", "1", true));
    r.end();
    r.begin();
    r.sent(sent("carol", "1"));
    const done = r.end()!;
    expect(r.ack({ type: "ack", peer: "carol", id: "1" })).toEqual([done]);
    const later: TrackedLine[] = [];
    for (let i = 1; i <= MAX_TRACKED + 1; i++) {
      r.begin();
      r.sent(sent("dave", String(i)));
      later.push(r.end()!);
    }
    // Two drops: bob's line, then dave's first (carol's, done, was no longer tracked).
    expect(r.ack({ type: "ack", peer: "dave", id: String(MAX_TRACKED + 1) })).toEqual(later.slice(1));
  });
});

describe("Recipients: the work an ACK costs", () => {
  test("one contact away, another acknowledging each of n lines: the ids are read O(n) times, not O(n²)", () => {
    // Ids past 2^53 are compared as BigInt: counting the conversions counts the work.
    const n = 2000;
    // Ids past 2^53, made before BigInt is counted.
    const ids = Array.from({ length: n + 1 }, (_, i) => String(2n ** 60n + BigInt(i)));
    const real = globalThis.BigInt;
    let calls = 0;
    globalThis.BigInt = new Proxy(real, { apply: (t, self, args) => (calls++, Reflect.apply(t, self, args)) });
    try {
      const r = new Recipients();
      for (let i = 1; i <= n; i++) {
        r.begin();
        r.sent(sent("bob", ids[i]!, true)); // away: its lines stay tracked
        r.sent(sent("carol", ids[i]!));
        r.end();
      }
      let marked = 0;
      for (let i = 1; i <= n; i++) marked += r.ack({ type: "ack", peer: "carol", id: ids[i]! }).length;
      expect(marked).toBe(n);
      expect(calls).toBeGreaterThanOrEqual(3 * n); // each id read once (the ACKs' too): these ids are BigInts
      expect(calls).toBeLessThanOrEqual(4 * n);
      // bob comes back: one ACK marks all his lines at once.
      expect(r.ack({ type: "ack", peer: "bob", id: ids[n]! })).toHaveLength(n);
    } finally {
      globalThis.BigInt = real;
    }
  });
});

describe("withMarks", () => {
  test("a line to everyone lists each recipient; a /msg has its one mark; names are made safe", () => {
    const l = { line: 1, text: "hi", private: false, time: 1, recipients: [{ peer: "bob", id: "1", state: "delivered" as const }, { peer: "ca\x1b[2Jrol", id: "1", state: "queued" as const }] };
    expect(withMarks("12:04 alice › hi", l, false)).toBe("12:04 alice › hi  → bob ✓, ca\\x1b[2Jrol queued");
    expect(withMarks("12:04 alice → bob (private) › hi", { ...l, private: true, recipients: [{ peer: "bob", id: "2", state: "sent" }] }, false)).toBe("12:04 alice → bob (private) › hi  …");
    expect(withMarks("own", null, true)).toBe("own");
  });
});
