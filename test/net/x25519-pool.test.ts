/** X25519Pool: ephemeral pairs made ahead in spare turns, each handed out once (counts, fake turns). */
import { describe, expect, test } from "bun:test";
import { x25519Generate, x25519Public } from "../../src/crypto/x25519.ts";
import { x25519 } from "../../src/crypto/x25519.ts";
import { REFILL_BATCH, X25519Pool, type X25519Pair } from "../../src/net/x25519-pool.ts";
import { x25519KeyPair } from "../../src/net/kex.ts";

/** A pool whose turns run only when the test says, and whose pairs are counted. */
function fakePool(target: number) {
  const turns: (() => void)[] = [];
  let made = 0;
  const pool = new X25519Pool({ generate: () => (made++, x25519Generate()), later: (f) => turns.push(f) }, target);
  const runTurns = () => {
    let n = 0;
    while (turns.length > 0) (turns.shift()!(), n++);
    return n;
  };
  return { pool, turns, runTurns, made: () => made };
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("X25519Pool", () => {
  test("warm fills the pool in batches of REFILL_BATCH, one batch a turn, up to the target", () => {
    const f = fakePool(40);
    f.pool.warm();
    f.pool.warm(); // a second call schedules nothing more
    expect(f.turns.length).toBe(1);
    expect(f.made()).toBe(0); // nothing is made inline by warm
    expect(f.runTurns()).toBe(Math.ceil(40 / REFILL_BATCH));
    expect(f.pool.size).toBe(40);
    expect(f.made()).toBe(40);
    expect(f.turns.length).toBe(0); // full: no further turn
  });

  test("600 pairs from a pool of 40 (refilled between takes or not): all distinct, none handed out twice, empty pool makes inline", () => {
    const f = fakePool(40);
    f.pool.warm();
    f.runTurns();
    const seen = new Set<string>();
    const keys = new Set<unknown>();
    for (let i = 0; i < 600; i++) {
      const kp = f.pool.take();
      seen.add(hex(kp.publicKey));
      keys.add(kp.privateKey);
      if (i % 100 === 99) f.runTurns(); // spare turns now and then (the first only notes the takes)
    }
    expect(seen.size).toBe(600);
    expect(keys.size).toBe(600);
    expect(f.pool.taken).toBe(600);
    // 40 from the first fill, 5 refills of 40 while taking; the rest made inline.
    expect(f.pool.inline).toBe(600 - 40 - 5 * 40);
    expect(f.made()).toBe(f.pool.inline + 40 + 5 * 40 + f.pool.size);
  });

  test("a pooled pair is a real pair: its public share matches its private key, and both sides agree on Z", () => {
    const f = fakePool(4);
    f.pool.warm();
    f.runTurns();
    const a: X25519Pair = f.pool.take();
    const b: X25519Pair = x25519KeyPair();
    expect(hex(x25519(a.privateKey, b.publicKey))).toBe(hex(x25519(b.privateKey, a.publicKey)));
    const exported = a.privateKey.export({ format: "der", type: "pkcs8" });
    expect(hex(x25519Public(new Uint8Array(exported.subarray(exported.length - 32))))).toBe(hex(a.publicKey));
  });
});

describe("X25519Pool never warmed (a process that only dials)", () => {
  test("makes each pair inline when taken and schedules no refill turn", () => {
    const f = fakePool(40);
    const seen = new Set<string>();
    for (let i = 0; i < 3; i++) seen.add(hex(f.pool.take().publicKey));
    expect(seen.size).toBe(3);
    expect(f.turns.length).toBe(0);
    expect(f.made()).toBe(3);
    expect(f.pool.inline).toBe(3);
    // Warmed later (it listens): filled from then on.
    f.pool.warm();
    f.runTurns();
    expect(f.pool.size).toBe(40);
  });
});

describe("X25519Pool refills in quiet turns only", () => {
  test("a turn after a take makes nothing; the next quiet turn makes a batch", () => {
    const f = fakePool(40);
    f.pool.warm();
    f.runTurns();
    const made = f.made();
    for (let i = 0; i < 22; i++) f.pool.take(); // 18 left: below half, refilling
    expect(f.turns.length).toBe(1);
    f.turns.shift()!(); // busy turn: only reschedules
    expect(f.made()).toBe(made);
    expect(f.turns.length).toBe(1);
    f.pool.take(); // still busy
    f.turns.shift()!();
    expect(f.made()).toBe(made);
    f.turns.shift()!(); // quiet: one batch
    expect(f.made()).toBe(made + REFILL_BATCH);
    expect(f.runTurns()).toBe(Math.ceil((40 - 17 - REFILL_BATCH) / REFILL_BATCH));
    expect(f.pool.size).toBe(40);
  });
});

describe("X25519Pool topped up only below half", () => {
  test("takes from a full pool set no turn and make nothing until fewer than half are left; then it is filled all the way", () => {
    const f = fakePool(40);
    f.pool.warm();
    f.runTurns();
    const made = f.made();
    for (let i = 0; i < 20; i++) f.pool.take(); // 20 left: half, not below
    expect(f.turns.length).toBe(0);
    expect(f.runTurns()).toBe(0);
    expect(f.made()).toBe(made);
    expect(f.pool.inline).toBe(0);
    f.pool.take(); // 19: below half
    expect(f.turns.length).toBe(1);
    f.runTurns(); // the first turn notes the take, the rest fill
    expect(f.pool.size).toBe(40);
    expect(f.made()).toBe(made + 21);
    // Full again: the next take sets no turn.
    f.pool.take();
    expect(f.turns.length).toBe(0);
  });

  test("a pool still filling after warm keeps filling across takes, whatever its size", () => {
    const f = fakePool(40);
    f.pool.warm();
    f.turns.shift()!(); // one batch: REFILL_BATCH pairs, the next turn asked for
    expect(f.pool.size).toBe(REFILL_BATCH);
    f.pool.take();
    f.runTurns();
    expect(f.pool.size).toBe(40);
  });

  test("with the default target, no turn is set until fewer than REFILL_BELOW (half of POOL_TARGET) are left", async () => {
    const { POOL_TARGET, REFILL_BELOW } = await import("../../src/net/x25519-pool.ts");
    expect(REFILL_BELOW).toBe(POOL_TARGET / 2);
    const turns: (() => void)[] = [];
    const pool = new X25519Pool({ generate: () => ({ privateKey: null as never, publicKey: new Uint8Array(32) }), later: (f) => turns.push(f) });
    pool.warm();
    while (turns.length > 0) turns.shift()!();
    expect(pool.size).toBe(POOL_TARGET);
    while (pool.size > REFILL_BELOW) pool.take();
    expect(turns.length).toBe(0);
    pool.take();
    expect(pool.size).toBe(REFILL_BELOW - 1);
    expect(turns.length).toBe(1);
  });
});

describe("X25519Pool in a burst", () => {
  test("filled with the default target, it serves a burst of 1,200 handshakes (the bench's 200 + 1000) with none made inline", () => {
    const turns: (() => void)[] = [];
    const pool = new X25519Pool({ generate: () => ({ privateKey: null as never, publicKey: new Uint8Array(32) }), later: (f) => turns.push(f) });
    pool.warm();
    while (turns.length > 0) turns.shift()!();
    for (let i = 0; i < 1200; i++) pool.take();
    expect(pool.inline).toBe(0);
  });

  test("a refill turn that found the loop idle asks for the next turn at once (soon); after a pair was taken, a later one", () => {
    const later: (() => void)[] = [], soon: (() => void)[] = [];
    const pool = new X25519Pool({ generate: () => ({ privateKey: null as never, publicKey: new Uint8Array(32) }), later: (f) => later.push(f), soon: (f) => soon.push(f) }, 4 * REFILL_BATCH);
    pool.warm();
    expect([later.length, soon.length]).toEqual([1, 0]);
    later.shift()!(); // idle: one batch, the next on the next turn
    expect(pool.size).toBe(REFILL_BATCH);
    expect([later.length, soon.length]).toEqual([0, 1]);
    pool.take(); // a handshake took a pair meanwhile: that turn makes none, and waits
    soon.shift()!();
    expect(pool.size).toBe(REFILL_BATCH - 1);
    expect([later.length, soon.length]).toEqual([1, 0]);
    later.shift()!();
    while (soon.length > 0) soon.shift()!();
    expect(pool.size).toBe(4 * REFILL_BATCH);
    expect([later.length, soon.length]).toEqual([0, 0]);
  });
});

describe("the process's pool", () => {
  test("a Peer that listens fills it in spare turns, before any handshake", async () => {
    const { Peer } = await import("../../src/net/peer.ts");
    const { x25519Pool, POOL_TARGET } = await import("../../src/net/x25519-pool.ts");
    const { ed25519Generate } = await import("../../src/crypto/ed25519.ts");
    const { until } = await import("../support/wait.ts");
    const before = x25519Pool.taken;
    const p = new Peer({ identity: ed25519Generate(), profile: { instance: new Uint8Array(8), name: "pool" } });
    p.listen("127.0.0.1", 0);
    try {
      await until("the pool to fill", () => x25519Pool.size === POOL_TARGET);
      expect(x25519Pool.taken).toBe(before);
    } finally {
      await p.close();
    }
  });
});
