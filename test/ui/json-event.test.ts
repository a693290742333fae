/** JsonEvents (src/ui/json-event.ts): each line's text encoded once, the JSON byte for byte jsonLine's. */
import { describe, expect, test } from "bun:test";
import { jsonLine } from "../../src/ui/format.ts";
import { JsonEvents } from "../../src/ui/json-event.ts";

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
});
