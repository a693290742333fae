/**
 * The listener's flood resets (PROTOCOL §7.3, docs/SECURITY.md §10
 * preAuthAlertsPerPrefixPerSecond): while a prefix's pre-authentication alerts are spent, a
 * stranger's new connection from it is reset at accept, and one accepted before is reset
 * when its next bytes come. Every count such a reset touches goes back to where it was.
 */
import { describe, expect, test } from "bun:test";
import { concat } from "../../src/crypto/bytes.ts";
import { AlertCode, FrameType } from "../../src/protocol/constants.ts";
import { det } from "../protocol/helpers.ts";
import { Attacker, header, Scene } from "./harness.ts";
import { until } from "../support/wait.ts";

describe("flood resets let go of what they held", () => {
  test("30 strangers holding part of a HELLO, reset when their next bytes come, and 60 reset at accept: half-open, pre-auth bytes and sessions back to zero", async () => {
    // A burst of one alert, refilled in 2 s (and half a reset): one refusal with its alert
    // and one reset past it make the prefix a flood for 2 s.
    const sc = await Scene.start({ limits: { preAuthAlertsPerPrefixPerSecond: 0.5, maxHalfOpenPerAddress: 1, handshakeTimeoutMs: 20_000 } });
    try {
      const early: Attacker[] = [];
      for (let i = 0; i < 30; i++) {
        const a = await Attacker.connectNode(sc.port, `127.0.6.${10 + i}`);
        a.write(concat(header(FrameType.HELLO, 418), det(`part ${i}`, 100)));
        early.push(a);
      }
      await until("30 half-open, their bytes held", () => sc.listener.halfOpen === 30 && sc.listener.preAuthBudget.total >= 30 * 103, 5000);
      // The flood: one address at its one half-open slot; its next connection is refused
      // busy (the one alert), and the prefix is past its rate.
      const holder = await Attacker.connectNode(sc.port, "127.0.6.1");
      await until("31 half-open", () => sc.listener.halfOpen === 31, 2000);
      const refused = await Attacker.connectNode(sc.port, "127.0.6.1");
      expect(await refused.waitClosed(2000)).toBe(true);
      expect(refused.alerts()).toEqual([AlertCode.busy]);
      const reset = await Attacker.connectNode(sc.port, "127.0.6.1");
      expect(await reset.waitClosed(2000)).toBe(true);
      expect(reset.alerts()).toEqual([]);
      const late = await Promise.all(Array.from({ length: 60 }, (_, i) => Attacker.connectNode(sc.port, `127.0.6.${100 + i}`).catch(() => null)));
      for (const a of late) if (a !== null) expect(await a.waitClosed(2000)).toBe(true);
      expect(late.flatMap((a) => a?.alerts() ?? [])).toEqual([]);
      expect(sc.listener.halfOpen).toBe(31);
      // The early strangers' next bytes: each is reset, nothing read, no alert.
      for (const a of early) a.write(det("rest", 318));
      for (const a of early) expect(await a.waitClosed(2000)).toBe(true);
      expect(early.flatMap((a) => a.alerts())).toEqual([]);
      // Each says what happened to it: reset when its bytes came, not "at accept".
      const said = sc.closes.filter((c) => early.some((a) => a.localPort === c.port)).map((c) => [c.code, c.error?.message]);
      expect(said).toHaveLength(30);
      expect(new Set(said.map(([code, m]) => `${code}: ${/reset when its next bytes came/.test(m ?? "")}`))).toEqual(new Set(["busy: true"]));
      expect([sc.listener.halfOpen, sc.listener.preAuthBudget.total, sc.listener.sessions.size]).toEqual([1, 0, 2]);
      holder.destroy();
      await until("the holder gone", () => sc.listener.sessions.size === 1, 2000);
      expect([sc.listener.halfOpen, sc.listener.preAuthBudget.total]).toEqual([0, 0]);
      // The prefix's strangers get handshakes again once its budget refilled.
      await Bun.sleep(2100);
      const after = await Attacker.connectNode(sc.port, "127.0.6.200");
      await until("a stranger half-open again", () => sc.listener.halfOpen === 1, 2000);
      after.destroy();
      await until("none half-open", () => sc.listener.halfOpen === 0, 2000);
      await sc.good.roundTrip();
    } finally {
      await sc.stop();
    }
  }, 30_000);
});
