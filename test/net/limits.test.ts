/** The session deadlines as a pure policy (src/net/limits.ts dueAt). */
import { describe, expect, test } from "bun:test";
import { DEFAULT_LIMITS, dueAt } from "../../src/net/limits.ts";

const l = { ...DEFAULT_LIMITS, handshakeTimeoutMs: 100, partialFrameTimeoutMs: 50, idleTimeoutMs: 300, keepaliveMs: 100 };
const open = { partialSince: 0, startedAt: 0, lastRecv: 1000, lastSend: 1000, handshaking: false };

describe("dueAt", () => {
  test("a handshake past its deadline times out; before it, nothing is due", () => {
    expect(dueAt(99, { ...open, handshaking: true }, l)).toBeNull();
    expect(dueAt(101, { ...open, handshaking: true }, l)).toContain("handshake did not finish within 100 ms");
  });
  test("a partial frame has its own deadline, whatever the pace of its bytes", () => {
    expect(dueAt(1040, { ...open, partialSince: 1000 }, l)).toBeNull();
    expect(dueAt(1051, { ...open, partialSince: 1000, lastRecv: 1050 }, l)).toContain("frame stayed incomplete for 50 ms");
  });
  test("idle: silence past idleTimeoutMs ends the session; a PING is due before that", () => {
    expect(dueAt(1050, open, l)).toBeNull();
    expect(dueAt(1101, open, l)).toBe("keepalive");
    expect(dueAt(1301, open, l)).toContain("nothing heard from the peer for 300 ms");
  });
  test("no PING while the peer is talking, and none when keepalive is off", () => {
    expect(dueAt(1101, { ...open, lastRecv: 1080 }, l)).toBeNull();
    expect(dueAt(1101, open, { ...l, keepaliveMs: 0 })).toBeNull();
  });
});
