/**
 * The hostile-peer harness: a real listening sotto Peer (src/net/peer.ts) with small
 * limits, a well-behaved peer chatting with it, and scripted attackers on raw TCP.
 *
 * Every case checks the four properties of docs/SECURITY.md §1:
 *   (E) the listener's onClose carries the specific ProtocolError code (one short line),
 *       and the attacker received at most one alert, with the code PROTOCOL §7 names;
 *   (C) the attacker's socket is closed by the listener;
 *   (I) the good peer, connected all along, still gets a TEXT echoed and ACKed;
 *   (M) the listener's sessions / halfOpen counters return to their baseline, and the
 *       heap settles over repetitions of the attack.
 *
 * Attackers: `Attacker` writes bytes on a raw socket (Bun.connect, or node:net when it
 * must stop reading or bind another source address); `Evil` runs a real handshake by hand
 * on top of one (the core's key schedule, record layer and items, with its own Ed25519
 * identity), so it can misbehave at any step and after the handshake.
 */
import { expect } from "bun:test";
import { Attacker } from "./attacker.ts";
import { Evil } from "./evil.ts";
import type { Closed, Scene } from "./scene.ts";
import type { ErrorCode } from "../../src/protocol/errors.ts";

export * from "./attacker.ts";
export * from "./evil.ts";
export * from "./scene.ts";

export interface Expect {
  /** The ProtocolError code on the listener's onClose. */
  code: ErrorCode;
  /** Alert codes the attacker must have received (default: no check beyond "at most one"). */
  alerts?: number[];
}

/**
 * (E)(C)(I)(M-counters) for one attacker: the listener closed exactly its session with
 * `code`, its socket is closed, at most one alert came back, the good peer still chats
 * and the listener's counters are back to the baseline.
 */
export async function verdict(sc: Scene, a: Attacker | Evil, want: Expect): Promise<Closed> {
  const raw = a instanceof Evil ? a.a : a;
  const c = await sc.closeOf(raw);
  expect(c.code).toBe(want.code);
  // (E) one short line for the operator, no control characters (so no raw peer bytes).
  const msg = c.error?.message ?? "";
  expect(msg.length).toBeLessThan(200);
  expect(/[\u0000-\u001f\u007f-\u009f]/.test(msg)).toBe(false);
  // (C)
  expect(await raw.waitClosed()).toBe(true);
  // (E) toward the attacker: at most one alert.
  await Bun.sleep(5);
  const alerts = a instanceof Evil ? a.alerts() : a.alerts();
  expect(alerts.length).toBeLessThanOrEqual(1);
  if (want.alerts !== undefined) expect(alerts).toEqual(want.alerts);
  // (I)
  if (sc.good) await sc.good.roundTrip();
  // (M)
  await sc.settled();
  return c;
}

/**
 * (M) Run `attack` once to warm up (unless `warm` is false), then `reps` more times (at
 * once when `parallel`): the heap after a full GC grows by less than `boundMiB`. Measured
 * growth is a few KiB; the bound only has to catch a session, a buffer or a socket kept
 * per attack.
 */
export async function heapSettles(attack: () => Promise<void>, reps = 6, boundMiB = 2, parallel = false, warm = true): Promise<void> {
  if (warm) await attack();
  Bun.gc(true);
  const base = process.memoryUsage().heapUsed;
  if (parallel) await Promise.all(Array.from({ length: reps }, attack));
  else for (let i = 0; i < reps; i++) await attack();
  Bun.gc(true);
  const grown = process.memoryUsage().heapUsed - base;
  if (process.env.HOSTILE_DEBUG) console.log(`heap grew ${(grown / 1024).toFixed(0)} KiB over ${reps} reps`);
  expect(grown).toBeLessThan(boundMiB * 1024 * 1024);
}

/**
 * The whole check: `verdict` on a first attack, then the heap check over `reps` more
 * (run at once when `parallel`: for attacks that wait out a deadline).
 */
export async function hostile(sc: Scene, attack: () => Promise<Attacker | Evil>, want: Expect, reps = 4, parallel = false): Promise<Closed> {
  const first = await verdict(sc, await attack(), want);
  await heapSettles(async () => {
    const a = await attack();
    const c = await sc.closeOf(a);
    expect(c.code).toBe(want.code);
    await (a instanceof Evil ? a.a : a).waitClosed();
  }, reps, 2, parallel, false); // the verdict's attack was the warm-up
  await sc.settled();
  if (sc.good) await sc.good.roundTrip();
  return first;
}
