/** Sessions (src/chat/node/sessions.ts) over fake PeerSessions: one session per pair, early dials, close waiters. */
import { describe, expect, test } from "bun:test";
import { Sessions } from "../../../src/chat/node/sessions.ts";
import type { Link } from "../../../src/chat/delivery/link.ts";
import { ConnectError } from "../../../src/net/route.ts";
import type { PeerSession, SessionState } from "../../../src/net/types.ts";
import { fail } from "../../../src/protocol/errors.ts";
import { asPid, type Pid } from "../../../src/chat/peer-id.ts";

const P = asPid("01".repeat(32));
const R = asPid("02".repeat(32));
const Q = asPid("03".repeat(32));

class Fake implements PeerSession {
  readonly role = "initiator" as const;
  state: SessionState = "open";
  peerIdentity = new Uint8Array(32).fill(7);
  peerProfile = { instance: new Uint8Array(8), name: "bob" };
  bufferedAmount = 0;
  closedWith: string | null = null;
  constructor(
    readonly address: string,
    readonly th3: Uint8Array,
  ) {}
  send(): void {}
  sendText(): void {}
  close(reason = ""): void {
    this.closedWith = reason;
    this.state = "closed";
  }
  abort(): void {
    this.state = "closed";
  }
  rekey(): void {}
}

/** The part of a Link the registry uses. */
function link(pid: Pid): Link & { stopped: number } {
  const l = { pid, stopped: 0, stop: () => void l.stopped++ };
  return l as unknown as Link & { stopped: number };
}

describe("one session per pair", () => {
  test("of two sessions with one identity, the one with the lower th3 is kept, whichever came first", () => {
    for (const newerIsLower of [true, false]) {
      const r = new Sessions();
      const old = new Fake("a:1", new Uint8Array(32).fill(newerIsLower ? 9 : 1));
      const s = new Fake("a:2", new Uint8Array(32).fill(newerIsLower ? 1 : 9));
      r.links.set(old, link(P));
      expect(r.keep(s, P)).toBe(newerIsLower);
      expect(old.closedWith).toBe(newerIsLower ? "duplicate session" : null);
      expect(s.closedWith).toBe(newerIsLower ? null : "duplicate session");
    }
  });

  test("another identity's session is left alone; open() counts only open sessions of that identity", () => {
    const r = new Sessions();
    const a = new Fake("a:1", new Uint8Array(32).fill(1));
    const b = new Fake("b:1", new Uint8Array(32).fill(2));
    r.links.set(a, link(P));
    r.links.set(b, link(Q));
    expect(r.keep(new Fake("a:3", new Uint8Array(32).fill(0)), R)).toBe(true);
    expect([a.closedWith, b.closedWith]).toEqual([null, null]);
    expect(r.open(P)).toEqual([a]);
    a.state = "closed";
    expect(r.open(P)).toEqual([]);
  });
});

describe("ends", () => {
  test("a session that closes before it is ready fails its early dial, stops its early link, wakes its waiters", async () => {
    const r = new Sessions();
    const s = new Fake("a:1", new Uint8Array(32));
    const early = link(P);
    let rejected: Error | null = null;
    r.early.set(s, { link: early, resolve: () => {}, reject: (e) => (rejected = e) });
    const waited = r.whenClosed(s);
    s.state = "closed";
    expect(r.closed(s, { error: fail("timeout", "the handshake did not finish"), byPeer: false, reason: "" })).toBeUndefined();
    await waited;
    expect(rejected).toBeInstanceOf(ConnectError);
    expect(rejected!.message).toBe("handshake with a:1 failed: the handshake did not finish");
    expect(early.stopped).toBe(1);
    expect(r.early.size).toBe(0);
  });

  test("a ready session's link is stopped and returned once; an early dial settles at ready", () => {
    const r = new Sessions();
    const s = new Fake("a:1", new Uint8Array(32));
    let resolved = 0;
    r.early.set(s, { link: null, resolve: () => resolved++, reject: () => {} });
    expect(r.ready(s)?.link).toBeNull();
    expect(r.ready(s)).toBeUndefined();
    expect(resolved).toBe(1);
    const l = link(P);
    r.links.set(s, l);
    expect(r.closed(s, { error: null, byPeer: true, reason: "bye" })).toBe(l);
    expect(r.closed(s, { error: null, byPeer: true, reason: "bye" })).toBeUndefined();
    expect(l.stopped).toBe(1);
  });
});
