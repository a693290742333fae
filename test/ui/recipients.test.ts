import { describe, expect, test } from "bun:test";
import { MAX_TRACKED, recipientMarks, Recipients, withMarks } from "../../src/ui/recipients.ts";

const sent = (peer: string, id: string, queued = false) => ({ type: "sent" as const, peer, id, text: "hi", private: false, time: 1, ...(queued ? { queued: true } : {}) });

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

describe("Recipients: the work an ACK costs", () => {
  test("one contact away, another acknowledging each of n lines: the ids are read O(n) times, not O(n²)", () => {
    // The ids are compared as BigInt: counting the conversions counts the work.
    const real = globalThis.BigInt;
    let calls = 0;
    globalThis.BigInt = new Proxy(real, { apply: (t, self, args) => (calls++, Reflect.apply(t, self, args)) });
    try {
      const r = new Recipients();
      const n = 2000;
      for (let i = 1; i <= n; i++) {
        r.begin();
        r.sent(sent("bob", String(i), true)); // away: its lines stay tracked
        r.sent(sent("carol", String(i)));
        r.end();
      }
      let marked = 0;
      for (let i = 1; i <= n; i++) marked += r.ack({ type: "ack", peer: "carol", id: String(i) }).length;
      expect(marked).toBe(n);
      expect(calls).toBeLessThanOrEqual(4 * n);
      // bob comes back: one ACK marks all his lines at once.
      expect(r.ack({ type: "ack", peer: "bob", id: String(n) })).toHaveLength(n);
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
