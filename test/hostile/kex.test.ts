/**
 * docs/SECURITY.md §3.B (key exchange inputs) and §C (identity) against a live listener,
 * and against a victim that dials a hostile responder (reflection, forged alerts,
 * downgrade). Each listener case: (E) code, (C) closed, (I) good peer chats, (M) settles.
 */
import { afterAll, beforeAll, describe, expect, spyOn, test } from "bun:test";
import { concat } from "../../src/crypto/bytes.ts";
import { ed25519Generate, ed25519Sign } from "../../src/crypto/ed25519.ts";
import * as ffdhe from "../../src/crypto/ffdhe.ts";
import { bigIntToBytes, FFDHE } from "../../src/crypto/ffdhe.ts";
import { warmFfdhe } from "../../src/net/kex.ts";
import { ConnectError } from "../../src/net/route.ts";
import { AlertCode, ContentType, FrameType, Group, Label } from "../../src/protocol/constants.ts";
import { fail, ProtocolError, type ErrorCode } from "../../src/protocol/errors.ts";
import { encodeAlertFrame, encodeHello } from "../../src/protocol/handshake.ts";
import { encodeItems } from "../../src/protocol/items.ts";
import { det, flip } from "../protocol/helpers.ts";
import { Attacker, authItemFor, Evil, EvilResponder, header, hostile, rawItem, Scene, verdict, type AuthContext } from "./harness.ts";

const wycheproof = (await Bun.file(new URL("../vectors/shared/wycheproof/x25519_test.json", import.meta.url)).json()) as {
  testGroups: { tests: { tcId: number; flags: string[]; public: string }[] }[];
};
const zeroShared = wycheproof.testGroups.flatMap((g) => g.tests).filter((t) => t.flags.includes("ZeroSharedSecret"));

let sc: Scene;
beforeAll(async () => {
  sc = await Scene.start();
});
afterAll(() => sc.stop());

const helloWith = (group: number, share: Uint8Array) => encodeHello(FrameType.HELLO, group as Group, det("nonce"), share);
function raw(bytes: Uint8Array): () => Promise<Attacker> {
  return async () => {
    const a = await Attacker.connect(sc.port);
    a.write(bytes);
    return a;
  };
}

describe("B. X25519 low-order points (Wycheproof ZeroSharedSecret) → bad_share", () => {
  test("the vector file has the 31 cases", () => expect(zeroShared).toHaveLength(31));

  test("all 31 public values, one connection each; the good peer chats after each", async () => {
    for (const t of zeroShared) {
      const a = await raw(helloWith(Group.X25519, Buffer.from(t.public, "hex")))();
      const c = await verdict(sc, a, { code: "bad_share" });
      if (c.code !== "bad_share") throw new Error(`tcId ${t.tcId}: ${c.code}`);
    }
  });

  test("heap settles over repeated low-order HELLOs", async () => {
    await hostile(sc, raw(helloWith(Group.X25519, new Uint8Array(32))), { code: "bad_share" }, 8);
  });

  // PROTOCOL §8.3 wait_secret: a zero Z is bad_share with a plaintext ALERT protocol_error.
  test("… and the attacker receives the plaintext ALERT protocol_error", async () => {
    const a = await raw(helloWith(Group.X25519, new Uint8Array(32)))();
    await verdict(sc, a, { code: "bad_share", alerts: [AlertCode.protocol_error] });
  });
});

describe("B. key shares of the wrong size → bad_hello", () => {
  for (const n of [0, 31, 33, 64]) {
    test(`an X25519 share of ${n} bytes`, async () => {
      await hostile(sc, raw(helloWith(Group.X25519, det("s", n))), { code: "bad_hello", alerts: [AlertCode.protocol_error] });
    });
  }
  test("an ffdhe2048 share of 255 bytes", async () => {
    await hostile(sc, raw(helloWith(Group.FFDHE2048, det("s", 255))), { code: "bad_hello", alerts: [AlertCode.protocol_error] });
  });
  test("an ffdhe3072 share of 256 bytes (the ffdhe2048 size)", async () => {
    await hostile(sc, raw(helloWith(Group.FFDHE3072, det("s", 256))), { code: "bad_hello", alerts: [AlertCode.protocol_error] });
  });
});

describe("B. FFDHE Y outside [2, p-2] or outside the prime-order subgroup → bad_share", () => {
  for (const name of ["ffdhe2048", "ffdhe3072"] as const) {
    const g = FFDHE[name];
    const group = name === "ffdhe2048" ? Group.FFDHE2048 : Group.FFDHE3072;
    const bad: [string, bigint][] = [
      ["0", 0n],
      ["1", 1n],
      ["p-1", g.p - 1n],
      ["p", g.p],
      ["p+1", g.p + 1n],
      ["p-2 (passes the range check, a non-residue)", g.p - 2n],
      ["13 (a small non-residue in both groups)", 13n],
      ["2^bits-1", (1n << BigInt(8 * g.len)) - 1n],
    ];
    for (const [label, y] of bad) {
      test(`${name}: Y = ${label}`, async () => {
        await hostile(sc, raw(helloWith(group, bigIntToBytes(y, g.len))), { code: "bad_share", alerts: [AlertCode.protocol_error] }, 2);
      });
    }
  }
});

describe("B. the subgroup check is the key-exchange worker's, not the event loop's", () => {
  // A Jacobi symbol over the whole modulus costs ≈ 0.6 ms for ffdhe3072: made on the event
  // loop for every HELLO, a flood of real-looking shares stalled every session (SECURITY.md §10).
  test("non-residues still end in bad_share with ALERT protocol_error; every check this thread made left the subgroup out", async () => {
    const spy = spyOn(ffdhe, "checkFfdheShare");
    try {
      for (const [group, g] of [[Group.FFDHE2048, FFDHE.ffdhe2048], [Group.FFDHE3072, FFDHE.ffdhe3072]] as const) {
        for (const y of [g.p - 2n, 13n]) await verdict(sc, await raw(helloWith(group, bigIntToBytes(y, g.len)))(), { code: "bad_share", alerts: [AlertCode.protocol_error] });
      }
      expect(spy.mock.calls.length).toBeGreaterThanOrEqual(4);
      expect(spy.mock.calls.filter((c) => c[2] !== false).length).toBe(0);
    } finally {
      spy.mockRestore();
    }
  });
});

describe("B. a share equal to the responder's own (reflection)", () => {
  test.skip("infeasible against a live responder: it draws a fresh ephemeral per connection and sends it only after our HELLO (covered in memory: test/protocol/handshake.test.ts 'the responder is sent its own share: completeKex → reflection'; the initiator side is live below)", () => {});
});

describe("C. the initiator's AUTH (the listener is in wait_auth: it closes silently)", () => {
  const evil = (authRecord: (c: AuthContext) => Uint8Array) => () => Evil.handshake(sc.port, { authRecord, profile: null });
  const sealItem = (c: AuthContext, item: Parameters<typeof encodeItems>[0][number]) => c.sealHs(encodeItems([item]));
  const L = (1n << 252n) + 27742317777372353535851937790883648493n;

  test("control: the honest AUTH opens a session", async () => {
    const e = await Evil.open(sc.port);
    e.send([{ kind: "close", reason: "" }]);
    expect((await sc.closeOf(e)).code).toBeNull();
  });

  test("one flipped bit in the signature → auth_failed", async () => {
    await hostile(sc, evil((c) => {
      const a = c.honest() as { kind: "auth"; identity: Uint8Array; sig: Uint8Array };
      return sealItem(c, { ...a, sig: flip(a.sig, 17, 3) });
    }), { code: "auth_failed", alerts: [] });
  });

  test("S replaced by S + L (malleability: S >= L) → auth_failed", async () => {
    await hostile(sc, evil((c) => {
      const a = c.honest() as { kind: "auth"; identity: Uint8Array; sig: Uint8Array };
      const s = BigInt("0x" + Buffer.from(a.sig.subarray(32)).reverse().toString("hex")) + L;
      const sig = concat(a.sig.subarray(0, 32), new Uint8Array(Buffer.from(s.toString(16).padStart(64, "0"), "hex").reverse()));
      return sealItem(c, { kind: "auth", identity: a.identity, sig });
    }), { code: "auth_failed", alerts: [] });
  });

  test("a valid signature by another key than the one presented → auth_failed", async () => {
    const other = ed25519Generate();
    await hostile(sc, evil((c) => {
      const pub = c.identity.publicKey;
      return sealItem(c, { kind: "auth", identity: pub, sig: ed25519Sign(other.privateKey, concat(Label.initiator_auth, c.th2, pub)) });
    }), { code: "auth_failed", alerts: [] });
  });

  test("a signature over th1 with the responder's label (role confusion) → auth_failed", async () => {
    await hostile(sc, evil((c) => sealItem(c, authItemFor(c.identity, Label.responder_auth, c.th1))), { code: "auth_failed", alerts: [] });
  });

  test("the responder's own AUTH item sent back (identity reflection) → reflection", async () => {
    await hostile(sc, evil((c) => sealItem(c, { kind: "auth", identity: c.responderIdentity, sig: new Uint8Array(64) })), { code: "reflection", alerts: [] });
  });

  test("an AUTH item signed in another session, re-sealed under this session's key → auth_failed", async () => {
    let old: Parameters<typeof encodeItems>[0][number] | null = null;
    const e1 = await Evil.handshake(sc.port, {
      authRecord: (c) => {
        old = c.honest();
        return c.sealHs(encodeItems([old]));
      },
    });
    e1.send([{ kind: "close", reason: "" }]);
    await sc.closeOf(e1);
    await hostile(sc, () => Evil.handshake(sc.port, { identity: e1.identity, profile: null, authRecord: (c) => sealItem(c, old!) }), { code: "auth_failed", alerts: [] });
  });

  test("another session's whole AUTH record replayed → bad_record", async () => {
    const e1 = await Evil.open(sc.port);
    const oldRecord = e1.wire!.authI;
    e1.send([{ kind: "close", reason: "" }]);
    await sc.closeOf(e1);
    await hostile(sc, evil(() => oldRecord), { code: "bad_record", alerts: [] });
  });

  const flips: [string, number][] = [
    ["the IV", 3 + 5],
    ["the ciphertext", 3 + 16 + 40],
    ["the tag", -1],
  ];
  for (const [where, at] of flips) {
    test(`a bit flipped in ${where} of the AUTH record → bad_record`, async () => {
      await hostile(sc, evil((c) => {
        const r = c.sealHs(encodeItems([c.honest()]));
        return flip(r, at < 0 ? r.length - 1 : at, 6);
      }), { code: "bad_record", alerts: [] });
    });
  }

  test("an AUTH item of 95 bytes (truncated signature) → bad_item", async () => {
    await hostile(sc, evil((c) => c.sealHs(rawItem(ContentType.AUTH, det("short", 95)))), { code: "bad_item", alerts: [] });
  });

  test("an AUTH item of 97 bytes (signature with garbage) → bad_item", async () => {
    await hostile(sc, evil((c) => c.sealHs(rawItem(ContentType.AUTH, det("long", 97)))), { code: "bad_item", alerts: [] });
  });

  test("two AUTH items in the AUTH record → unexpected_message", async () => {
    await hostile(sc, evil((c) => c.sealHs(encodeItems([c.honest(), c.honest()]))), { code: "unexpected_message", alerts: [] });
  });

  test("a TEXT in place of AUTH → unexpected_message", async () => {
    await hostile(sc, evil((c) => sealItem(c, { kind: "text", id: 1n, text: "hi" })), { code: "unexpected_message", alerts: [] });
  });

  test("an ALERT item in place of AUTH → alert (never answered)", async () => {
    await hostile(sc, evil((c) => sealItem(c, { kind: "alert", code: AlertCode.identity_rejected, reason: "" })), { code: "alert", alerts: [] });
  });
});

describe("C. identity refused by the listener's trust policy", () => {
  const banned = ed25519Generate();
  let strict: Scene;
  beforeAll(async () => {
    strict = await Scene.start({
      verifyPeer: (id) => {
        if (Buffer.compare(id, banned.publicKey) === 0) throw fail("identity_rejected", "the key of this peer changed; refused");
      },
    });
  });
  afterAll(() => strict.stop());

  test("a correctly signed AUTH for a refused key → identity_rejected, and the session never opens", async () => {
    await hostile(strict, () => Evil.handshake(strict.port, { identity: banned }), { code: "identity_rejected" });
  });

  // PROTOCOL §4.5: the responder refuses with an encrypted ALERT identity_rejected, its first application record.
  test("… and the attacker receives the encrypted ALERT identity_rejected", async () => {
    const e = await Evil.handshake(strict.port, { identity: banned });
    await verdict(strict, e, { code: "identity_rejected", alerts: [AlertCode.identity_rejected] });
  });
});

describe("B/C. a victim dialling a hostile responder (the scene's listener dials out)", () => {
  // The retry in FFDHE2048 starts the key exchange worker; built here, its start-up under a
  // loaded machine is not counted against the victim's 500 ms handshake deadline.
  beforeAll(() => warmFfdhe(Group.FFDHE2048), 20_000);
  /** Dial `evil` from the scene's peer; the ProtocolError the dial failed with. */
  async function dialFails(evil: EvilResponder): Promise<ProtocolError> {
    let err: unknown = null;
    try {
      await sc.listener.connect("127.0.0.1", evil.port);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConnectError);
    const cause = (err as ConnectError).cause;
    expect(cause).toBeInstanceOf(ProtocolError);
    return cause as ProtocolError;
  }
  const shareOf = (hello: Uint8Array) => hello.subarray(3 + 34);
  const victimAlerts = (evil: EvilResponder, i = 0) => {
    const b = concat(...evil.conns[i]!.chunks);
    return b.length >= 4 && b[2] === FrameType.ALERT ? [b[3]!] : [];
  };

  async function check(script: (hello: Uint8Array) => Uint8Array, code: ErrorCode, alerts: number[]): Promise<EvilResponder> {
    const evil = new EvilResponder((h) => script(h.bytes));
    try {
      expect((await dialFails(evil)).code).toBe(code);
      const c = await sc.closeOf(evil);
      expect(c.code).toBe(code);
      await Bun.sleep(20);
      expect(victimAlerts(evil)).toEqual(alerts);
      expect(evil.conns.every((x) => x.closed)).toBe(true);
      await sc.good.roundTrip();
      await sc.settled();
    } finally {
      evil.stop();
    }
    return evil;
  }

  test("HELLO_REPLY echoing the victim's own share → reflection, plaintext ALERT auth_failed", async () => {
    await check((h) => encodeHello(FrameType.HELLO_REPLY, Group.X25519, det("n"), shareOf(h)), "reflection", [AlertCode.auth_failed]);
  });

  test("the victim's own HELLO sent back → unexpected_message", async () => {
    await check((h) => h, "unexpected_message", [AlertCode.protocol_error]);
  });

  test("HELLO_REPLY with version 2 → unsupported_version", async () => {
    await check(() => concat(header(FrameType.HELLO_REPLY, 66), new Uint8Array([2, Group.X25519]), det("n"), det("s")), "unsupported_version", [AlertCode.unsupported_version]);
  });

  test("HELLO_REPLY in another group than the HELLO's (downgrade rewrite) → bad_hello", async () => {
    await check(() => encodeHello(FrameType.HELLO_REPLY, Group.FFDHE2048, det("n"), bigIntToBytes(4n, 256)), "bad_hello", [AlertCode.protocol_error]);
  });

  test("HELLO_REPLY with a low-order X25519 point → bad_share", async () => {
    await check(() => encodeHello(FrameType.HELLO_REPLY, Group.X25519, det("n"), new Uint8Array(32)), "bad_share", [AlertCode.protocol_error]);
  });

  test("a forged unsupported_group naming only groups outside the victim's policy → gives up, one connection", async () => {
    const narrow = await Scene.start({ accept: [Group.X25519], good: false });
    const evil = new EvilResponder(() => encodeAlertFrame(AlertCode.unsupported_group, new Uint8Array([Group.FFDHE2048, Group.FFDHE3072])));
    try {
      await expect(narrow.listener.connect("127.0.0.1", evil.port)).rejects.toBeInstanceOf(ConnectError);
      await Bun.sleep(50);
      expect(evil.conns).toHaveLength(1);
    } finally {
      evil.stop();
      await narrow.stop();
    }
  });

  test("forged unsupported_group twice → one retry in a group the victim accepts, then it gives up", async () => {
    const evil = new EvilResponder(() => encodeAlertFrame(AlertCode.unsupported_group, new Uint8Array([Group.FFDHE2048])));
    try {
      const e = await dialFails(evil);
      expect(e.code).toBe("alert");
      expect(e.alert).toBe(AlertCode.unsupported_group);
      await Bun.sleep(50);
      expect(evil.conns.map((c) => c.hello.body[1])).toEqual([Group.X25519, Group.FFDHE2048]);
      await sc.good.roundTrip();
      await sc.settled();
    } finally {
      evil.stop();
    }
  });
});
