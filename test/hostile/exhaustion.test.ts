/**
 * docs/SECURITY.md §3.E (resource exhaustion) against a live listener with small limits:
 * slowloris in and after the handshake, frames sent during the key exchange, and floods
 * of valid work (TEXT, FFDHE handshakes).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { concat } from "../../src/crypto/bytes.ts";
import { bigIntToBytes } from "../../src/crypto/ffdhe.ts";
import { AlertCode, FrameType, Group } from "../../src/protocol/constants.ts";
import { encodeHello } from "../../src/protocol/handshake.ts";
import type { Item } from "../../src/protocol/items.ts";
import { warmFfdhe } from "../../src/net/kex.ts";
import { det } from "../protocol/helpers.ts";
import { Attacker, Evil, header, hostile, Scene, verdict } from "./harness.ts";
import { until } from "../support/wait.ts";
import { HS, T } from "../support/exhaustion.ts";

let sc: Scene;
beforeAll(async () => {
  sc = await Scene.start();
});
afterAll(() => sc.stop());

const x25519Hello = () => encodeHello(FrameType.HELLO, Group.X25519, det("nonce"), det("share"));

describe("E. slowloris in the handshake → timeout within the handshake deadline", () => {
  test("one byte, then nothing → timeout, plaintext ALERT timeout", async () => {
    const t0 = performance.now();
    const c = await hostile(sc, async () => {
      const a = await Attacker.connect(sc.port);
      a.write(new Uint8Array([0]));
      return a;
    }, { code: "timeout", alerts: [T] }, 4, true);
    expect(c.code).toBe("timeout");
    // The first of the three attacks ended within deadline + sweep period + slack.
    expect(performance.now() - t0).toBeGreaterThan(HS);
  });

  test("the deadline counts from the connection, not the last byte: a HELLO trickled one byte per 40 ms", async () => {
    const a = await Attacker.connect(sc.port);
    const t0 = performance.now();
    const hello = x25519Hello();
    const trickle = (async () => {
      for (let i = 0; i < hello.length - 1 && !a.closed; i++) {
        a.write(hello.subarray(i, i + 1));
        await Bun.sleep(40);
      }
    })();
    const c = await verdict(sc, a, { code: "timeout", alerts: [T] });
    expect(c.code).toBe("timeout");
    expect(performance.now() - t0).toBeLessThan(HS + 1500);
    await trickle;
  });

  test("a HELLO, then nothing (the responder waits for AUTH: silent) → timeout", async () => {
    await hostile(sc, async () => {
      const a = await Attacker.connect(sc.port);
      a.write(x25519Hello());
      return a;
    }, { code: "timeout", alerts: [] }, 4, true);
  });

  test("a finished handshake but no PROFILE → timeout, encrypted ALERT timeout", async () => {
    await hostile(sc, () => Evil.handshake(sc.port, { profile: null }), { code: "timeout", alerts: [T] }, 4, true);
  });
});

describe("E. a partial frame after the handshake", () => {
  const IDLE = 600;
  let idle: Scene;
  beforeAll(async () => {
    idle = await Scene.start({ limits: { idleTimeoutMs: IDLE, keepaliveMs: 150, partialFrameTimeoutMs: IDLE * 2 } });
  });
  afterAll(() => idle.stop());

  test("10 bytes of a record, then nothing → reaped by the idle timeout (the keepalive PINGs go unanswered)", async () => {
    await hostile(idle, async () => {
      const e = await Evil.open(idle.port);
      e.a.write(e.seal([{ kind: "text", id: 1n, text: "held open" }]).subarray(0, 10));
      return e;
    }, { code: "timeout", alerts: [T] }, 4, true);
  });

  test("the good peer answers the keepalive PINGs and stays connected through several idle periods", async () => {
    await Bun.sleep(IDLE * 2);
    expect(idle.good.closed).toBeNull();
    await idle.good.roundTrip();
  });

  // docs/SECURITY.md §3.E asks for a partial-frame deadline besides the idle timeout.
  test("a record trickled one byte per idleTimeoutMs/2 is cut off by a partial-frame deadline", async () => {
    const e = await Evil.open(idle.port);
    const r = e.seal([{ kind: "text", id: 1n, text: "x".repeat(60_000) }]);
    const trickle = (async () => {
      for (let i = 0; i < r.length && !e.a.closed; i++) {
        e.a.write(r.subarray(i, i + 1));
        await Bun.sleep(IDLE / 2);
      }
    })();
    try {
      expect(await e.a.waitClosed(IDLE * 4)).toBe(true);
    } finally {
      e.a.destroy();
      await trickle;
    }
  });
});

describe("E. frames sent while the key exchange runs", () => {
  // Build the worker's ffdhe2048 context first (≈ 0.5 s, more under load): the cases
  // below are about held frames, not about the one-off cost racing a 500 ms deadline.
  beforeAll(() => warmFfdhe(Group.FFDHE2048), 20_000);
  const ffdheHello = () => encodeHello(FrameType.HELLO, Group.FFDHE2048, det("nonce"), bigIntToBytes(4n, 256)); // 4 = 2^2 passes the range and subgroup checks
  const junk = concat(header(FrameType.RECORD, 64), det("junk", 64));

  test("HELLO (ffdhe2048) and 5 more frames in one write → unexpected_message (at most 4 are held)", async () => {
    await hostile(sc, async () => {
      const a = await Attacker.connect(sc.port);
      a.write(concat(ffdheHello(), junk, junk, junk, junk, junk));
      return a;
    }, { code: "unexpected_message", alerts: [AlertCode.protocol_error] }, 2); // no keys yet on either side: a plaintext alert
  });

  test("HELLO (ffdhe2048) and 1 frame: held until the exchange is done, then judged → bad_record", async () => {
    await hostile(sc, async () => {
      const a = await Attacker.connect(sc.port);
      a.write(concat(ffdheHello(), junk));
      return a;
    }, { code: "bad_record", alerts: [] }, 2);
  });
});

describe("E. floods of valid work", () => {
  test("20,000 TEXTs in 4 records: all echoed (40,000 items back), and the good peer's round trip stays fast", async () => {
    const wide = await Scene.start({ limits: { maxSendQueueBytes: 8 * 1024 * 1024 } });
    try {
      const e = await Evil.open(wide.port);
      let id = 1n;
      for (let r = 0; r < 4; r++) e.a.write(e.seal(Array.from({ length: 5000 }, (): Item => ({ kind: "text", id: id++, text: "x" }))));
      expect(await wide.good.roundTrip()).toBeLessThan(1000);
      await until("20,000 echoes", () => e.items.filter((i) => i.kind === "text").length === 20_000, 4000);
      e.send([{ kind: "close", reason: "" }]);
      expect((await wide.closeOf(e)).code).toBeNull();
      await wide.settled();
    } finally {
      await wide.stop();
    }
  });

  test("a burst whose replies pass maxSendQueueBytes within one read → busy (dropped, not buffered)", async () => {
    // One record of 5,000 TEXTs echoes ~70 KB of items, over this listener's 32 KiB queue.
    const tight = await Scene.start({ limits: { maxSendQueueBytes: 32 * 1024 } });
    try {
      await hostile(tight, async () => {
        const e = await Evil.open(tight.port);
        let id = 1n;
        e.a.write(e.seal(Array.from({ length: 5000 }, (): Item => ({ kind: "text", id: id++, text: "x" }))));
        return e;
      }, { code: "busy" }, 2);
    } finally {
      await tight.stop();
    }
  });

  test("100 ffdhe3072 HELLOs at once (each costs the listener a modexp) are answered or reaped; the good peer keeps chatting", async () => {
    const hello = encodeHello(FrameType.HELLO, Group.FFDHE3072, det("nonce"), bigIntToBytes(4n, 384));
    const as = await Promise.all(Array.from({ length: 100 }, () => Attacker.connect(sc.port)));
    for (const a of as) a.write(hello);
    const rt = await sc.good.roundTrip(5000);
    expect(rt).toBeLessThan(3000);
    for (const a of as) expect((await sc.closeOf(a, HS + 5000)).code).toBe("timeout");
    await sc.settled();
    await sc.good.roundTrip();
  }, 15_000);
});
