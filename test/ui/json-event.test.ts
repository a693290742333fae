/** JsonEvents (src/ui/json-event.ts): each line's text encoded once, the JSON byte for byte jsonLine's. */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { jsonLine } from "../../src/ui/format.ts";
import { JsonEvents, jsonString } from "../../src/ui/json-event.ts";

const long = (s: string) => s + "x".repeat(200);
// Texts that need escaping of every kind, and ones that contain what the splice looks for.
const texts = [
  long("plain"),
  long('quote " backslash \\ tab \t newline-free'),
  long('"text":0 and "text":0}'),
  long("C1 \u0085 \u009b and DEL \u007f, separators \u2028 \u2029"),
  long("emoji 🎉 and a lone surrogate \ud800 and \udfff"),
  long("controls \u0000 \u001b \u001f"),
  "short one",
];

describe("JsonEvents", () => {
  test("a line's sent, recipients, message and unsent events are exactly jsonLine's, the same text reused or not", () => {
    const j = new JsonEvents();
    for (const text of texts) {
      const events = [
        { type: "sent", peer: 'b"text":0', id: "1", text, private: false, time: 5 },
        { type: "sent", peer: "carol", id: "9", text, private: true, time: 5, queued: true },
        { type: "recipients", line: "1", text, private: false, time: 5, recipients: [{ peer: "bob", id: "1", state: "sent" }] },
        { type: "message", peer: "alice", request: "r1", lookalike: "al\u2028ice", fingerprint: "aa", id: "2", text, time: 7, private: false, written: 6 },
        { type: "message", peer: "alice", verified: true, fingerprint: "aa", id: "3", text: `${text}!`, time: 7, private: false },
        { type: "unsent", peer: "bob", id: "4", text, reason: "disk full", code: "state" },
        // Not spliced: its texts are inside lines[].
        { type: "history", lines: [{ peer: "bob", fingerprint: "aa", from: "in", text, time: 1, private: false }], start: false },
      ];
      for (const e of events) {
        expect(j.line(e)).toBe(jsonLine(e));
        expect(JSON.parse(j.line(e))).toEqual(e);
      }
    }
  });

  test("sent and recipients of any strings, numbers and flags are byte for byte jsonLine's (property)", () => {
    const j = new JsonEvents();
    const str = fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), fc.string({ unit: "binary" }), fc.constantFrom("bob", '"text":0', "\u0085\u2028", "\ud800"));
    const time = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(-0));
    fc.assert(
      fc.property(str, str, str, fc.boolean(), time, fc.boolean(), fc.array(fc.record({ peer: str, id: str, state: fc.constantFrom("sent", "queued", "delivered") }), { maxLength: 3 }), (peer, id, text, priv, t, queued, recipients) => {
        const sent = { type: "sent", peer, id, text, private: priv, time: t, ...(queued ? { queued: true } : {}) };
        const rec = { type: "recipients", line: id, text, private: priv, time: t, recipients };
        expect(j.line(sent)).toBe(jsonLine(sent));
        expect(j.line(rec)).toBe(jsonLine(rec));
      }),
      { numRuns: 2000 },
    );
  });

  test("pieces(): any event's pieces joined are jsonLine's line and a newline, the ticks' pieces one after another (property)", () => {
    const j = new JsonEvents();
    const str = fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), fc.string({ unit: "binary" }), fc.constantFrom("bob", '"text":0', "\u0085\u2028", "\ud800", "x".repeat(1500)));
    const time = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(-0));
    fc.assert(
      fc.property(fc.array(fc.tuple(str, str, str, fc.boolean(), time, fc.boolean(), fc.array(fc.record({ peer: str, id: str, state: fc.constantFrom("sent", "queued", "delivered") }), { maxLength: 3 })), { maxLength: 5 }), (rows) => {
        const out: string[] = [];
        let want = "";
        for (const [peer, id, text, priv, t, queued, recipients] of rows) {
          for (const e of [
            { type: "sent", peer, id, text, private: priv, time: t, ...(queued ? { queued: true } : {}) },
            { type: "recipients", line: id, text, private: priv, time: t, recipients },
            { type: "message", peer, fingerprint: "aa", id, text, time: t, private: priv },
            { type: "sent", id, peer, text, private: priv, time: t },
          ]) {
            j.pieces(e, out);
            want += `${jsonLine(e)}\n`;
          }
        }
        expect(out.join("")).toBe(want);
      }),
      { numRuns: 1000 },
    );
  });

  test("message events of the chat's three shapes, of any strings, numbers and flags, are byte for byte jsonLine's, as lines and as pieces (property)", () => {
    const j = new JsonEvents();
    const str = fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), fc.string({ unit: "binary" }), fc.constantFrom("bob", '"text":0', "\u0085\u2028", "\ud800", "x".repeat(1500)));
    const num = fc.oneof(fc.integer(), fc.double(), fc.constant(-0));
    const shape = fc.constantFrom("contact", "request", "lookalike");
    fc.assert(
      fc.property(shape, str, str, str, str, fc.boolean(), num, fc.option(num, { nil: undefined }), fc.boolean(), (kind, peer, fp, id, text, priv, time, written, flag) => {
        const who = kind === "contact" ? { verified: flag } : kind === "request" ? { request: id } : { request: id, lookalike: peer };
        const e: Record<string, unknown> = { type: "message", peer, ...who, fingerprint: fp, id, text, time, private: priv };
        if (written !== undefined) e.written = written;
        expect(j.line(e as { type: string })).toBe(jsonLine(e));
        const out: string[] = [];
        j.pieces(e as { type: string }, out);
        expect(out.join("")).toBe(`${jsonLine(e)}\n`);
      }),
      { numRuns: 3000 },
    );
  });

  test("recipientsPieces(): a tracked line's recipients event, written from the line, joined is jsonLine's line of the event line mode made of it (property)", () => {
    const j = new JsonEvents();
    const str = fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), fc.string({ unit: "binary" }), fc.constantFrom("bob", '"text":0', "\u0085\u2028", "\ud800", "x".repeat(1500)));
    const time = fc.oneof(fc.integer(), fc.double(), fc.constant(-0));
    const line = fc.oneof(fc.nat(), fc.constant(2 ** 53), fc.constant(1.5));
    fc.assert(
      fc.property(line, str, fc.boolean(), time, fc.array(fc.record({ peer: str, id: str, state: fc.constantFrom("sent", "queued", "delivered") }), { maxLength: 3 }), (n, text, priv, t, recipients) => {
        const out: string[] = [];
        j.recipientsPieces({ line: n, text, private: priv, time: t, recipients }, out);
        expect(out.join("")).toBe(`${jsonLine({ type: "recipients", line: String(n), text, private: priv, time: t, recipients })}\n`);
      }),
      { numRuns: 2000 },
    );
  });

  test("events of another shape (a key more, another order, a value of another type) are still jsonLine's", () => {
    const j = new JsonEvents();
    const text = long("t");
    const odd = [
      { type: "sent", peer: "bob", id: "1", text, private: false, time: 5, queued: false },
      { type: "sent", id: "1", peer: "bob", text, private: false, time: 5 },
      { type: "sent", peer: "bob", id: 1, text, private: false, time: 5 },
      { type: "sent", peer: "bob", id: "1", text, private: false, time: Number.POSITIVE_INFINITY },
      { type: "sent", peer: "bob", id: "1", text, private: false, time: 5, extra: 1 },
      { type: "recipients", line: "1", text, private: false, time: 5, recipients: [{ id: "1", peer: "bob", state: "sent" }] },
      { type: "recipients", line: "1", text, private: false, time: 5, recipients: [{ peer: "bob", id: "1", state: "sent", more: 2 }] },
      { type: "recipients", line: "1", text, private: false, time: 5, recipients: [null] },
    ];
    for (const e of odd) expect(j.line(e)).toBe(jsonLine(e));
  });

  test("pieces() of events of another shape, or with keys JSON leaves out (inherited, symbols, not enumerable), are still jsonLine's", () => {
    const j = new JsonEvents();
    const text = long("t");
    const own = { type: "sent", peer: "bob", id: "1", text, private: false, time: 5 };
    const inherited = Object.assign(Object.create({ extra: 1 }) as object, own);
    const hidden = Object.defineProperty({ ...own }, "secret", { value: 1, enumerable: false });
    const symbol = { ...own, [Symbol("s")]: 1 };
    class Sent {
      type = "sent";
      peer = "bob";
      id = "1";
      text = text;
      private = false;
      time = 5;
    }
    const odd = [
      own,
      { ...own, queued: true },
      { ...own, queued: false },
      { ...own, queued: true, extra: 1 },
      { ...own, extra: 1 },
      { type: "sent", peer: "bob", id: "1", private: false, text, time: 5 },
      { type: "sent", peer: "bob", id: "1", text, private: false },
      { 0: "first", ...own },
      { type: "sent", peer: "bob", id: "1", text, private: false, time: 5, 1: 2 },
      inherited,
      hidden,
      symbol,
      new Sent(),
    ];
    for (const e of odd) {
      const out: string[] = [];
      j.pieces(e, out);
      expect(out.join("")).toBe(`${jsonLine(e)}\n`);
    }
  });

  test("an inherited key where the chat's shape has its last key (queued, written, a recipient's state, a time) is left out, as JSON leaves it out", () => {
    const j = new JsonEvents();
    const sent = { type: "sent", peer: "bob", id: "1", text: "hi", private: false, time: 5 };
    const message = { type: "message", peer: "bob", verified: true, fingerprint: "f", id: "1", text: "hi", time: 5, private: false };
    const { time: _, ...timeless } = sent;
    const stateless = { peer: "bob", id: "1" };
    const odd = [
      Object.assign(Object.create({ queued: true }) as object, sent),
      Object.assign(Object.create({ written: 7 }) as object, message),
      Object.assign(Object.create({ time: 9 }) as object, timeless),
      { type: "recipients", line: "1", text: "hi", private: false, time: 5, recipients: [Object.assign(Object.create({ state: "sent" }) as object, stateless)] },
    ] as { type: string }[];
    for (const e of odd) {
      const out: string[] = [];
      j.pieces(e, out);
      expect(out.join("")).toBe(`${jsonLine(e)}\n`);
      expect(j.line(e)).toBe(jsonLine(e));
    }
    // Object.prototype itself polluted: the chat's own events, which have no `queued` unless queued.
    const out: string[] = [];
    const [two, three] = [{ ...sent, id: "2" }, { ...sent, id: "3" }];
    const proto = Object.prototype as { queued?: unknown };
    proto.queued = true;
    try {
      j.pieces(two, out);
      out.push(j.line(three));
    } finally {
      delete proto.queued;
    }
    expect(out.join("")).toBe(`${jsonLine(two)}\n${jsonLine(three)}`);
  });

  test("times and ids that repeat from one event to the next (a line's sent and recipients, a burst's millisecond), and that change, are each event's own", () => {
    const j = new JsonEvents();
    const times = [5, 5, -0, 0, -0, 1.5, 1.5, 1e21, 1e21, 5, 1_770_000_000_000, 1_770_000_000_000, 1_770_000_000_001];
    const ids = ["1", "1", 'x"y', 'x"y', "2", "1", "\u0085", "\u0085", "3", "3", "4", "4", "5"];
    const out: string[] = [];
    const want: string[] = [];
    times.forEach((time, i) => {
      const id = ids[i]!;
      const text = texts[i % texts.length]!;
      const sentE = { type: "sent", peer: "bob", id, text, private: false, time };
      j.pieces(sentE, out);
      want.push(`${jsonLine(sentE)}\n`);
      j.recipientsPieces({ line: i + 1, text, private: false, time, recipients: [{ peer: "bob", id, state: "sent" }] }, out);
      want.push(`${jsonLine({ type: "recipients", line: String(i + 1), text, private: false, time, recipients: [{ peer: "bob", id, state: "sent" }] })}\n`);
    });
    expect(out.join("")).toBe(want.join(""));
  });

  test("deliveredPieces(): an ACK's delivered event written from its lines is jsonLine's line of the event line mode made of them (property)", () => {
    const j = new JsonEvents();
    const peer = fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.constantFrom("bob", '"text":0', "\u0085\u2028", "\ud800"));
    const line = fc.oneof(fc.nat(), fc.constant(2 ** 53), fc.constant(1.5), fc.constant(-0));
    fc.assert(
      fc.property(peer, fc.array(line, { maxLength: 300 }), (p, ns) => {
        const out: string[] = [];
        j.deliveredPieces(p, ns.map((n) => ({ line: n })), out);
        expect(out.join("")).toBe(`${jsonLine({ type: "delivered", peer: p, lines: ns.map((n) => String(n)) })}\n`);
      }),
      { numRuns: 1000 },
    );
  });

  test("a piped line's sent and recipients events, and a shown line's message, stringify nothing when no string in them needs escaping; a text that does is stringified once for all its events", () => {
    const j = new JsonEvents();
    const real = JSON.stringify;
    let objects = 0;
    let strings = 0;
    JSON.stringify = ((v: unknown, ...rest: unknown[]) => {
      if (typeof v === "string") strings++;
      else objects++;
      return (real as (...a: unknown[]) => string)(v, ...rest);
    }) as typeof JSON.stringify;
    const count = (f: () => void) => {
      objects = strings = 0;
      f();
      return { objects, strings };
    };
    try {
      const plain = count(() => {
        for (let i = 0; i < 100; i++) {
          const text = long(`line ${i}`);
          j.line({ type: "sent", peer: "bob", id: String(i + 1), text, private: false, time: 5 } as { type: string });
          j.line({ type: "recipients", line: String(i + 1), text, private: false, time: 5, recipients: [{ peer: "bob", id: String(i + 1), state: "sent" }] } as { type: string });
        }
      });
      expect(plain).toEqual({ objects: 0, strings: 0 });
      const quoted = count(() => {
        for (let i = 0; i < 100; i++) {
          const text = long(`a "quoted" line ${i}`);
          j.line({ type: "sent", peer: "bob", id: String(i + 1), text, private: false, time: 5 } as { type: string });
          j.line({ type: "recipients", line: String(i + 1), text, private: false, time: 5, recipients: [{ peer: "bob", id: String(i + 1), state: "sent" }] } as { type: string });
        }
      });
      expect(quoted).toEqual({ objects: 0, strings: 100 });
      // A line shown: its message event, from a contact and from a request.
      const shown = count(() => {
        for (let i = 0; i < 100; i++) {
          const text = long(`line ${i}`);
          j.line({ type: "message", peer: "alice", verified: false, fingerprint: "8181 9cff", id: String(i + 1), text, time: 5, private: false } as { type: string });
          j.line({ type: "message", peer: "alice", request: "r1", fingerprint: "8181 9cff", id: String(i + 1), text, time: 5, private: false, written: 4 } as { type: string });
        }
      });
      expect(shown).toEqual({ objects: 0, strings: 0 });
    } finally {
      JSON.stringify = real;
    }
  });

  test("jsonString is jsonLine of any string, and events of any keys and values are jsonLine's (property)", () => {
    const j = new JsonEvents();
    const str = fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), fc.string({ unit: "binary" }), fc.string({ unit: fc.constantFrom("a", '"', "\\", "\u0000", "\u001f", "\u007f", "\u0085", "\u009f", "\u00a0", "\u2028", "\u2029", "\ud800", "\udfff", "é") }));
    const value = fc.oneof(str, fc.boolean(), fc.integer(), fc.double(), fc.constant(-0), fc.constant(undefined), fc.constant(null), fc.constant(Number.NaN));
    fc.assert(
      fc.property(str, fc.dictionary(str, value), (s, rest) => {
        expect(jsonString(s)).toBe(jsonLine(s));
        for (const e of [{ type: "message", ...rest }, { type: "ack", peer: s, id: s }, { type: "message", peer: s, fingerprint: "aa", id: "1", text: s, time: 7, private: false }]) expect(j.line(e)).toBe(jsonLine(e));
      }),
      { numRuns: 3000 },
    );
  });
});
