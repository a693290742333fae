/** The Dialer over a fake PeerSession: backoff that counts short sessions, and when it stops. */
import { describe, expect, test } from "bun:test";
import { BACKOFF_BASE_MS, BACKOFF_MAX_MS, backoffMs, Dialer, STABLE_SESSION_MS, type DialerHooks } from "../../../src/chat/delivery/dialer.ts";
import type { ChatEvent } from "../../../src/chat/events.ts";
import type { PeerSession } from "../../../src/net/types.ts";
import { until } from "../../support/wait.ts";

/** A session that is open until close() (or `end()` from the test). */
function fakeSession(): PeerSession & { end(): void; ended: Promise<void> } {
  let end!: () => void;
  const ended = new Promise<void>((r) => (end = r));
  const s = {
    role: "initiator" as const,
    address: "h:1",
    state: "open" as PeerSession["state"],
    peerIdentity: new Uint8Array(32).fill(7),
    peerProfile: { instance: new Uint8Array(8), name: "bob" },
    th3: new Uint8Array(32),
    bufferedAmount: 0,
    send() {},
    sendText() {},
    close() {
      s.state = "closed";
      end();
    },
    abort() {
      s.close();
    },
    rekey() {},
    end() {
      s.close();
    },
    ended,
  };
  return s;
}

function setup(over: Partial<DialerHooks> = {}) {
  const events: ChatEvent[] = [];
  const clock = { now: 0 };
  const sessions: ReturnType<typeof fakeSession>[] = [];
  let dials = 0;
  const hooks: DialerHooks = {
    dial: async () => {
      dials++;
      const s = fakeSession();
      sessions.push(s);
      return s;
    },
    connectedElsewhere: () => false,
    emit: (e) => events.push(e),
    fatal: () => null,
    closed: (s) => (s as ReturnType<typeof fakeSession>).ended,
    nameOf: () => "bob",
    now: () => clock.now,
    wallClock: () => 1_700_000_000_000,
    random: () => 0,
    ...over,
  };
  const d = new Dialer("h", 1, hooks);
  return { d, events, clock, sessions, dials: () => dials };
}

const reconnects = (events: ChatEvent[]) => events.filter((e) => e.type === "reconnecting") as Extract<ChatEvent, { type: "reconnecting" }>[];

describe("Dialer", () => {
  test("a responder that closes every session at once: the backoff grows as for failures", async () => {
    const t = setup();
    t.d.start();
    for (let i = 0; i < 4; i++) {
      await until(`session ${i + 1}`, () => t.sessions.length > i, 10_000);
      t.sessions[i]!.end(); // closed at once: 0 ms on the fake clock
    }
    await until("four reconnects", () => reconnects(t.events).length >= 4, 10_000);
    t.d.stop();
    expect(reconnects(t.events).map((e) => e.attempt)).toEqual([1, 2, 3, 4]);
    expect(reconnects(t.events).map((e) => e.inMs)).toEqual([200, 400, 800, 1600]);
  }, 20_000);

  test("an injected backoff base (ChatOptions.backoffBaseMs) scales the same doubling", async () => {
    const t = setup({ backoffBaseMs: 20 });
    t.d.start();
    for (let i = 0; i < 4; i++) {
      await until(`session ${i + 1}`, () => t.sessions.length > i, 10_000);
      t.sessions[i]!.end();
    }
    await until("four reconnects", () => reconnects(t.events).length >= 4, 10_000);
    t.d.stop();
    expect(reconnects(t.events).map((e) => e.inMs)).toEqual([16, 32, 64, 128]);
  }, 20_000);

  test("a session that lasted resets the backoff", async () => {
    const t = setup();
    t.d.start();
    await until("session 1", () => t.sessions.length === 1);
    t.sessions[0]!.end();
    await until("session 2", () => t.sessions.length === 2, 5000);
    t.clock.now += STABLE_SESSION_MS;
    t.sessions[1]!.end();
    await until("two reconnects", () => reconnects(t.events).length === 2, 5000);
    t.d.stop();
    expect(reconnects(t.events).map((e) => e.attempt)).toEqual([1, 1]);
  });

  test("failures in a row keep one 'unreachable since' and say why; a permanent refusal stops with one sentence", async () => {
    let n = 0;
    const t = setup({
      dial: async () => {
        n++;
        throw new Error(n < 3 ? "could not connect to h:1: connection refused" : "refused our key");
      },
      fatal: (e) => (e.message === "refused our key" ? { code: "identity_rejected", message: "h:1 refused our key; not dialling it again" } : null),
    });
    t.d.start();
    await until("the dialling to stop", () => t.events.some((e) => e.type === "dial_stopped"), 10_000);
    await Bun.sleep(50);
    expect(n).toBe(3);
    const r = reconnects(t.events);
    expect(r.map((e) => e.attempt)).toEqual([1, 2]);
    expect(new Set(r.map((e) => e.since))).toEqual(new Set([1_700_000_000_000]));
    expect(r.every((e) => e.reason === "could not connect to h:1: connection refused")).toBe(true);
    // One sentence for the first failure in a row, none per retry; the refusal is the dial_stopped alone.
    expect(t.events.filter((e) => e.type === "error").map((e) => (e as { message: string }).message)).toEqual(["could not connect to h:1: connection refused"]);
    expect(t.events.at(-1)).toEqual({ type: "dial_stopped", address: "h:1", reason: "h:1 refused our key; not dialling it again", code: "identity_rejected" });
    expect(t.d.stopped).toBe(true);
  });

  test("stop() while waiting for the next attempt: no further dial, the open session is left alone", async () => {
    const t = setup();
    t.d.start();
    await until("session 1", () => t.sessions.length === 1);
    t.sessions[0]!.end();
    await until("a reconnect announced", () => reconnects(t.events).length === 1);
    t.d.stop("/disconnect bob", "disconnect");
    await Bun.sleep(400);
    expect(t.dials()).toBe(1);
    expect(t.events.filter((e) => e.type === "dial_stopped")).toHaveLength(1);
  });
});

describe("Dialer, a path cut mid-conversation", () => {
  test("a short session that carried messages resets the backoff: the next dial is as quick as the first", async () => {
    const t = setup({ useful: () => true });
    t.d.start();
    for (let i = 0; i < 3; i++) {
      await until(`session ${i + 1}`, () => t.sessions.length > i, 10_000);
      t.sessions[i]!.end();
    }
    await until("three reconnects", () => reconnects(t.events).length >= 3, 10_000);
    t.d.stop();
    expect(reconnects(t.events).map((e) => e.attempt)).toEqual([1, 1, 1]);
  });
});

describe("Dialer.status (the /peers line of an address with no session)", () => {
  test("dialling while the first try is under way; none while the session is open; reconnecting with since, why and the next try after it ends; none once stopped", async () => {
    let wall = 1_700_000_000_000;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const t = setup({
      wallClock: () => wall,
      dial: async () => {
        await gate;
        const s = fakeSession();
        t.sessions.push(s);
        return s;
      },
    });
    t.d.start();
    expect(t.d.status()).toMatchObject({ address: "h:1", state: "dialling", since: 0 });
    release();
    await until("the session", () => t.sessions.length === 1);
    await until("status cleared", () => t.d.status() === null);
    wall += 5000;
    t.sessions[0]!.end();
    await until("reconnecting", () => reconnects(t.events).length === 1);
    wall += 50;
    const st = t.d.status()!;
    expect(st).toMatchObject({ state: "reconnecting", since: 1_700_000_005_000, reason: "the session ended" });
    expect(st.inMs).toBe(reconnects(t.events)[0]!.inMs - 50);
    t.d.stop();
    expect(t.d.status()).toBeNull();
  });
});

describe("backoffMs", () => {
  test("the default base is 250 ms: 250·2^n, capped at 15 s, times a jitter in [0.8, 1.2); another base scales the same curve", () => {
    expect([BACKOFF_BASE_MS, BACKOFF_MAX_MS]).toEqual([250, 15_000]);
    expect([0, 1, 2, 5, 6, 20].map((n) => backoffMs(n, () => 0.5))).toEqual([250, 500, 1000, 8000, 15_000, 15_000]);
    expect([backoffMs(0, () => 0), backoffMs(0, () => 0.999_999)]).toEqual([200, 300]);
    expect([0, 1, 2, 10].map((n) => backoffMs(n, () => 0.5, 20))).toEqual([20, 40, 80, 15_000]);
  });

  test("a base of 0, below 0 or not a number (ChatOptions.backoffBaseMs by mistake) is 10 ms: the redials still back off to 15 s, never a loop of 0 ms", () => {
    for (const base of [0, -5, Number.NaN, 1])
      expect([0, 1, 2, 20].map((n) => backoffMs(n, () => 0.5, base))).toEqual([10, 20, 40, 15_000]);
    expect(backoffMs(3, () => 0.5, Number.POSITIVE_INFINITY)).toBe(15_000);
  });
});
