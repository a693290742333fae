/**
 * docs/SECURITY.md §3.E (resource exhaustion): connection floods beyond the caps on
 * sessions and half-open handshakes get ALERT busy, and at a full cap a newcomer takes
 * the place of the oldest handshake past its grace, while established sessions are unaffected.
 */
import { describe, expect, test } from "bun:test";
import { concat } from "../../src/crypto/bytes.ts";
import { AlertCode, FrameType } from "../../src/protocol/constants.ts";
import { DEFAULT_LIMITS } from "../../src/net/limits.ts";
import { det } from "../protocol/helpers.ts";
import { Attacker, Evil, header, Scene } from "./harness.ts";
import { until } from "../support/wait.ts";
import { HS } from "../support/exhaustion.ts";

describe("E. connection floods beyond the caps → ALERT busy; established sessions unaffected", () => {
  test("maxHalfOpen: the 9th silent connection gets ALERT busy and is closed at once", async () => {
    const cap = await Scene.start({ limits: { maxHalfOpen: 8, maxHalfOpenPerAddress: 8 } });
    try {
      const flood = await Promise.all(Array.from({ length: 8 }, () => Attacker.connect(cap.port)));
      await until("8 half-open handshakes", () => cap.listener.halfOpen === 8, 2000);
      const extra = await Attacker.connect(cap.port);
      expect(await extra.waitClosed(1000)).toBe(true);
      expect(extra.alerts()).toEqual([AlertCode.busy]);
      expect(extra.received()).toEqual(new Uint8Array([0x00, 0x02, 0x04, 0x08]));
      // Refused at accept: no session was created for it.
      expect(cap.closed(extra)).toBeUndefined();
      await cap.good.roundTrip();
      // The flood is reaped by the handshake deadline; then newcomers are welcome again.
      for (const a of flood) expect((await cap.closeOf(a, HS + 2000)).code).toBe("timeout");
      await cap.settled();
      const e = await Evil.open(cap.port);
      e.send([{ kind: "close", reason: "" }]);
      expect((await cap.closeOf(e)).code).toBeNull();
      await cap.good.roundTrip();
    } finally {
      await cap.stop();
    }
  });

  test("maxHalfOpenPerAddress: 127.0.0.1 is capped while 127.0.0.2 still completes a handshake", async () => {
    const cap = await Scene.start({ limits: { maxHalfOpen: 64, maxHalfOpenPerAddress: 4 } });
    try {
      const flood = await Promise.all(Array.from({ length: 4 }, () => Attacker.connect(cap.port)));
      await until("4 half-open handshakes", () => cap.listener.halfOpen === 4, 2000);
      const extra = await Attacker.connect(cap.port);
      expect(await extra.waitClosed(1000)).toBe(true);
      expect(extra.alerts()).toEqual([AlertCode.busy]);
      const other = await Evil.open(cap.port, { node: true, localAddress: "127.0.0.2" });
      other.send([{ kind: "text", id: 1n, text: "from elsewhere" }]);
      await until("the echo to 127.0.0.2", () => other.items.some((i) => i.kind === "text"), 2000);
      other.send([{ kind: "close", reason: "" }]);
      await cap.good.roundTrip();
      for (const a of flood) await cap.closeOf(a, HS + 2000);
      await cap.settled();
    } finally {
      await cap.stop();
    }
  });

  // docs/SECURITY.md §3.E: cap unauthenticated handshakes globally *and per source*.
  test("with the default caps, one source address cannot take every half-open slot", async () => {
    const { maxHalfOpen, maxHalfOpenPerAddress } = DEFAULT_LIMITS;
    const cap = await Scene.start({ limits: { maxHalfOpen, maxHalfOpenPerAddress, maxSessions: 10_000 } });
    const flood: Attacker[] = [];
    try {
      while (flood.length < maxHalfOpenPerAddress) flood.push(...(await Promise.all(Array.from({ length: 256 }, () => Attacker.connect(cap.port)))));
      await until("the flood to be half-open", () => cap.listener.halfOpen >= maxHalfOpenPerAddress, 5000);
      const other = await Evil.open(cap.port, { node: true, localAddress: "127.0.0.2" });
      other.send([{ kind: "close", reason: "" }]);
    } finally {
      for (const a of flood) a.destroy();
      await cap.stop();
    }
  }, 30_000);

  // docs/SECURITY.md §10 (halfOpenEvictAfterMs): at a global cap, a newcomer from an
  // address under its own caps takes the slot of the oldest handshake past the grace,
  // which is refused busy; silent connections cannot keep a good peer out.
  test("maxHalfOpen full of silent connections older than halfOpenEvictAfterMs: a newcomer from another address completes; the oldest is cut with busy", async () => {
    const cap = await Scene.start({ limits: { maxHalfOpen: 8, maxHalfOpenPerAddress: 8, handshakeTimeoutMs: 20_000, halfOpenEvictAfterMs: 200 } });
    try {
      const flood: Attacker[] = [];
      for (let i = 0; i < 8; i++) {
        flood.push(await Attacker.connect(cap.port));
        await until(`${i + 1} half-open`, () => cap.listener.halfOpen === i + 1, 2000);
      }
      await Bun.sleep(300);
      // The flooding address is at its own cap: it cannot evict to churn.
      const same = await Attacker.connect(cap.port);
      expect(await same.waitClosed(1000)).toBe(true);
      expect(same.alerts()).toEqual([AlertCode.busy]);
      expect(flood.filter((a) => a.closed)).toEqual([]);
      // Another address is under its caps: the oldest handshake gives way.
      const other = await Evil.open(cap.port, { node: true, localAddress: "127.0.0.2" });
      other.send([{ kind: "text", id: 1n, text: "from elsewhere" }]);
      await until("the echo to 127.0.0.2", () => other.items.some((i) => i.kind === "text"), 2000);
      await until("the oldest to be cut", () => flood[0]!.closed, 2000);
      expect(flood[0]!.alerts()).toEqual([AlertCode.busy]);
      expect((await cap.closeOf(flood[0]!)).code).toBe("busy");
      expect(flood.slice(1).filter((a) => a.closed)).toEqual([]);
      // A newcomer while every handshake is younger than the grace is refused, as before.
      const young = await Scene.start({ limits: { maxHalfOpen: 4, maxHalfOpenPerAddress: 4, handshakeTimeoutMs: 20_000, halfOpenEvictAfterMs: 60_000 } });
      try {
        const f = await Promise.all(Array.from({ length: 4 }, () => Attacker.connect(young.port)));
        await until("4 half-open", () => young.listener.halfOpen === 4, 2000);
        const o2 = await Attacker.connectNode(young.port, "127.0.0.2");
        expect(await o2.waitClosed(1000)).toBe(true);
        expect(o2.alerts()).toEqual([AlertCode.busy]);
        expect(f.filter((a) => a.closed)).toEqual([]);
        for (const a of f) a.destroy();
      } finally {
        await young.stop();
      }
      other.send([{ kind: "close", reason: "" }]);
      for (const a of flood) a.destroy();
      await cap.good.roundTrip();
    } finally {
      await cap.stop();
    }
  });

  // A contact (an address that authenticated lately) need not wait out the grace: in the
  // first second of a flood of silent strangers, it was refused like one of them.
  test("at maxHalfOpen with every stranger's handshake younger than halfOpenEvictAfterMs: a stranger newcomer is refused busy, one from an address that authenticated before takes the oldest stranger's place at once", async () => {
    const cap = await Scene.start({ limits: { maxHalfOpen: 4, maxHalfOpenPerAddress: 4, handshakeTimeoutMs: 20_000, halfOpenEvictAfterMs: 60_000 } });
    try {
      const before = await Evil.open(cap.port, { node: true, localAddress: "127.0.0.2" });
      before.send([{ kind: "close", reason: "" }]);
      await until("the contact's first session gone", () => cap.listener.sessions.size === 1, 2000);
      const flood: Attacker[] = [];
      for (let i = 0; i < 4; i++) {
        flood.push(await Attacker.connectNode(cap.port, "127.0.0.5"));
        await until(`${i + 1} half-open`, () => cap.listener.halfOpen === i + 1, 2000);
      }
      const stranger = await Attacker.connectNode(cap.port, "127.0.0.6");
      expect(await stranger.waitClosed(1000)).toBe(true);
      expect(stranger.alerts()).toEqual([AlertCode.busy]);
      expect(flood.filter((a) => a.closed)).toEqual([]);
      const contact = await Evil.open(cap.port, { node: true, localAddress: "127.0.0.2" });
      contact.send([{ kind: "text", id: 1n, text: "through the flood" }]);
      await until("the echo to the contact", () => contact.items.some((i) => i.kind === "text"), 2000);
      await until("the oldest stranger to be cut", () => flood[0]!.closed, 2000);
      expect(flood[0]!.alerts()).toEqual([AlertCode.busy]);
      expect(flood.slice(1).filter((a) => a.closed)).toEqual([]);
      contact.send([{ kind: "close", reason: "" }]);
      for (const a of flood) a.destroy();
    } finally {
      await cap.stop();
    }
  });

  // The exemption above must not let addresses that authenticated once (one handshake each,
  // with any key the listener takes) cut every honest stranger the moment it begins: a
  // stranger alone in its prefix keeps its grace against them.
  test("at maxHalfOpen filled by an address that authenticated before: a lone stranger's young handshake is not cut for that address's next connection (its own oldest is)", async () => {
    const cap = await Scene.start({ limits: { maxHalfOpen: 4, maxHalfOpenPerAddress: 4, handshakeTimeoutMs: 20_000, halfOpenEvictAfterMs: 300 } });
    try {
      const once = await Evil.open(cap.port, { node: true, localAddress: "127.0.0.7" });
      once.send([{ kind: "close", reason: "" }]);
      await until("its first session gone", () => cap.listener.sessions.size === 1, 2000);
      const hold: Attacker[] = [];
      for (let i = 0; i < 4; i++) {
        hold.push(await Attacker.connectNode(cap.port, "127.0.0.7"));
        await until(`${i + 1} half-open`, () => cap.listener.halfOpen === i + 1, 2000);
      }
      await Bun.sleep(400);
      // An honest stranger (another network) takes the place of the oldest, past its grace.
      const stranger = await Attacker.connectNode(cap.port, "127.0.9.6");
      await until("the oldest held handshake cut", () => hold[0]!.closed, 2000);
      // The known address at once connects again: before, the stranger was cut for it.
      const again = await Attacker.connectNode(cap.port, "127.0.0.7");
      await until("one more cut", () => hold.slice(1).some((a) => a.closed) || stranger.closed || again.closed, 2000);
      expect(stranger.closed).toBe(false);
      expect(hold.map((a) => a.closed)).toEqual([true, true, false, false]);
      expect(hold[1]!.alerts()).toEqual([AlertCode.busy]);
      for (const a of [stranger, again, ...hold]) a.destroy();
      await until("all gone", () => cap.listener.halfOpen === 0, 2000);
    } finally {
      await cap.stop();
    }
  });

  // Many strangers under their own caps, churning at the global cap, cut whatever
  // handshake is oldest: a contact's that waits (an ffdhe3072 exchange in the queue, a
  // long path between AUTH and PROFILE) is the strangers' last choice, not their first.
  test("at maxHalfOpen an address that authenticated before is evicted after every older stranger: the newcomer takes a stranger's place", async () => {
    const cap = await Scene.start({ limits: { maxHalfOpen: 8, maxHalfOpenPerAddress: 8, handshakeTimeoutMs: 20_000, halfOpenEvictAfterMs: 200 } });
    try {
      const before = await Evil.open(cap.port, { node: true, localAddress: "127.0.0.2" });
      before.send([{ kind: "close", reason: "" }]);
      await until("the contact's first session gone", () => cap.listener.sessions.size === 1, 2000);
      // The contact's handshake, stalled, is the oldest (127.0.0.1 is the scene's good
      // peer, known too: the strangers come from 127.0.0.5).
      const contact = await Attacker.connectNode(cap.port, "127.0.0.2");
      await until("1 half-open", () => cap.listener.halfOpen === 1, 2000);
      const flood: Attacker[] = [];
      for (let i = 0; i < 7; i++) {
        flood.push(await Attacker.connectNode(cap.port, "127.0.0.5"));
        await until(`${i + 2} half-open`, () => cap.listener.halfOpen === i + 2, 2000);
      }
      await Bun.sleep(300);
      const other = await Evil.open(cap.port, { node: true, localAddress: "127.0.0.3" });
      other.send([{ kind: "text", id: 1n, text: "from elsewhere" }]);
      await until("the echo to 127.0.0.3", () => other.items.some((i) => i.kind === "text"), 2000);
      await until("a stranger to be cut", () => flood.some((a) => a.closed) || contact.closed, 2000);
      expect(contact.closed).toBe(false);
      expect(flood.map((a) => a.closed)).toEqual([true, false, false, false, false, false, false]);
      expect(flood[0]!.alerts()).toEqual([AlertCode.busy]);
      // With no stranger left, the contact's handshake gives way like any other.
      for (const a of flood.slice(1)) a.destroy();
      await until("the strangers gone", () => cap.listener.halfOpen === 1, 2000);
      const fill = [];
      for (let i = 0; i < 7; i++) fill.push(await Attacker.connectNode(cap.port, "127.0.0.5"));
      await until("8 half-open", () => cap.listener.halfOpen === 8, 2000);
      const next = await Attacker.connectNode(cap.port, "127.0.0.4");
      await until("the contact's handshake to be cut", () => contact.closed, 2000);
      expect(contact.alerts()).toEqual([AlertCode.busy]);
      expect(fill.filter((a) => a.closed)).toEqual([]);
      for (const a of [next, ...fill]) a.destroy();
      other.send([{ kind: "close", reason: "" }]);
    } finally {
      await cap.stop();
    }
  });

  test("an evicted handshake lets go of exactly what it held: its pre-auth bytes, its half-open count, its session", async () => {
    const cap = await Scene.start({ limits: { maxHalfOpen: 4, maxHalfOpenPerAddress: 4, handshakeTimeoutMs: 20_000, halfOpenEvictAfterMs: 200 } });
    try {
      const held = await Attacker.connectNode(cap.port, "127.0.0.5");
      held.write(concat(header(FrameType.HELLO, 418), det("part", 200)));
      await until("its bytes held", () => cap.listener.preAuthBudget.total > 0, 2000);
      const heldBytes = cap.listener.preAuthBudget.total;
      const rest: Attacker[] = [];
      for (let i = 0; i < 3; i++) rest.push(await Attacker.connectNode(cap.port, "127.0.0.5"));
      await until("4 half-open", () => cap.listener.halfOpen === 4, 2000);
      expect(cap.listener.preAuthBudget.total).toBe(heldBytes);
      await Bun.sleep(300);
      const other = await Evil.open(cap.port, { node: true, localAddress: "127.0.0.3" });
      await until("the oldest to be cut", () => held.closed, 2000);
      expect(held.alerts()).toEqual([AlertCode.busy]);
      expect([cap.listener.halfOpen, cap.listener.preAuthBudget.total, cap.listener.sessions.size]).toEqual([3, 0, 5]);
      for (const a of rest) a.destroy();
      other.send([{ kind: "close", reason: "" }]);
      await until("all gone", () => cap.listener.sessions.size === 1, 2000);
      expect([cap.listener.halfOpen, cap.listener.preAuthBudget.total]).toEqual([0, 0]);
    } finally {
      await cap.stop();
    }
  });

  test("maxSessions reached with silent connections older than halfOpenEvictAfterMs: a good handshake takes the oldest one's place; established sessions are never cut for it", async () => {
    const cap = await Scene.start({ limits: { maxSessions: 6, maxHalfOpen: 64, handshakeTimeoutMs: 20_000, halfOpenEvictAfterMs: 200 } });
    try {
      const est = await Evil.open(cap.port, { node: true, localAddress: "127.0.0.3" });
      const flood: Attacker[] = [];
      for (let i = 0; i < 4; i++) {
        flood.push(await Attacker.connect(cap.port));
        await until(`${i + 1} half-open`, () => cap.listener.halfOpen === i + 1, 2000);
      }
      expect(cap.listener.sessions.size).toBe(6);
      await Bun.sleep(300);
      const other = await Evil.open(cap.port, { node: true, localAddress: "127.0.0.2" });
      other.send([{ kind: "text", id: 1n, text: "in" }]);
      await until("the echo to 127.0.0.2", () => other.items.some((i) => i.kind === "text"), 2000);
      await until("the oldest to be cut", () => flood[0]!.closed, 2000);
      expect(flood.slice(1).filter((a) => a.closed)).toEqual([]);
      expect(est.a.closed).toBe(false);
      // Now only one half-open is left to give way... and then none: established ones stay.
      for (const a of flood.slice(1)) a.destroy();
      await until("the flood gone", () => cap.listener.halfOpen === 0, 2000);
      const more = [await Evil.open(cap.port, { node: true, localAddress: "127.0.0.4" }), await Evil.open(cap.port, { node: true, localAddress: "127.0.0.5" }), await Evil.open(cap.port, { node: true, localAddress: "127.0.0.6" })];
      expect(cap.listener.sessions.size).toBe(6);
      await Bun.sleep(300);
      const late = await Attacker.connectNode(cap.port, "127.0.0.7");
      expect(await late.waitClosed(1000)).toBe(true);
      expect(late.alerts()).toEqual([AlertCode.busy]);
      expect([est, other, ...more].filter((e) => e.a.closed)).toEqual([]);
      for (const e of [est, other, ...more]) e.send([{ kind: "close", reason: "" }]);
      await cap.good.roundTrip();
    } finally {
      await cap.stop();
    }
  });

  test("maxSessions: with 4 sessions open the next connection gets ALERT busy; the open ones keep chatting", async () => {
    const cap = await Scene.start({ limits: { maxSessions: 4 } });
    try {
      const open = [await Evil.open(cap.port), await Evil.open(cap.port), await Evil.open(cap.port)];
      expect(cap.listener.sessions.size).toBe(4);
      for (let i = 0; i < 3; i++) {
        const extra = await Attacker.connect(cap.port);
        expect(await extra.waitClosed(1000)).toBe(true);
        expect(extra.alerts()).toEqual([AlertCode.busy]);
      }
      for (const [k, e] of open.entries()) {
        e.send([{ kind: "text", id: 1n, text: `open ${k}` }]);
        await until(`the echo to session ${k}`, () => e.items.some((i) => i.kind === "text" && i.text === `open ${k}`), 2000);
        e.send([{ kind: "close", reason: "" }]);
      }
      await cap.good.roundTrip();
      await cap.settled();
    } finally {
      await cap.stop();
    }
  });
});
