/**
 * The handshake state machines (PROTOCOL §3, §4, §8): honest runs in every group, version
 * and group negotiation, key-share checks, reflection and out-of-state messages
 * (docs/SECURITY.md §3.A, §B). Every fault is a ProtocolError with its code, and the machine
 * stays failed afterwards. Tampered messages and AUTH records: handshake-auth.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { concat } from "../../src/crypto/bytes.ts";
import { bigIntToBytes, FFDHE } from "../../src/crypto/ffdhe.ts";
import { sha256 } from "../../src/crypto/hash.ts";
import { AlertCode, FrameType, Group, Label, VERSION } from "../../src/protocol/constants.ts";
import { encodeFrame } from "../../src/protocol/frame.ts";
import { encodeAlertFrame, encodeHello } from "../../src/protocol/handshake.ts";
import type { Done, KexRequest } from "../../src/protocol/machine.ts";
import { parseHello } from "../../src/protocol/hello.ts";
import { decodeItems, encodeItems, type Item } from "../../src/protocol/items.ts";
import wycheproof from "../vectors/shared/wycheproof/x25519_test.json";
import {
  ALL_GROUPS as ALL, authItem, codeOf, det, driveInitiator, exchange, flip, frame, handRecord, handshake, handshakeBetween, identity,
  initiatorWaitingAuth, initiatorWaitingReply, parties, protocolError, rawFrame, reference, responderWaitingAuth, shared,
} from "./helpers.ts";

const alice = identity("alice"), bob = identity("bob");
const { wire, th2 } = reference();

describe("full handshakes", () => {
  const cases: [string, Group][] = [["x25519", Group.X25519], ["ffdhe2048", Group.FFDHE2048], ["ffdhe3072", Group.FFDHE3072]];
  for (const [name, group] of cases) {
    test(`${name}: equal th3, the right peer identities, records flow both ways`, () => {
      const { i, r, wire: w } = handshake(group);
      expect([...i.th3]).toEqual([...r.th3]);
      expect([...i.th3]).toEqual([...sha256(w.hello, w.reply, w.authR, w.authI)]);
      expect([...i.peerIdentity]).toEqual([...bob.publicKey]);
      expect([...r.peerIdentity]).toEqual([...alice.publicKey]);
      expect(frame(w.hello).body[1]).toBe(group);
      expect(frame(w.reply).body[1]).toBe(group);
      for (let n = 0; n < 3; n++) {
        const toBob: Item[] = [{ kind: "text", id: BigInt(n), text: `hi bob ${n}` }];
        const toAlice: Item[] = [{ kind: "text", id: BigInt(n), text: `hi alice ${n}` }, { kind: "ack", id: BigInt(n) }];
        expect(decodeItems(r.reader.open(i.writer.seal(encodeItems(toBob))))).toEqual(toBob);
        expect(decodeItems(i.reader.open(r.writer.seal(encodeItems(toAlice))))).toEqual(toAlice);
      }
    }, 20_000);
  }

  test("the states a handshake walks through", () => {
    const p = parties();
    expect([p.ini.phase, p.res.phase]).toEqual(["start", "start"]);
    const hello = p.ini.hello();
    expect(p.ini.phase).toBe("wait_reply");
    const req = p.res.recv(frame(hello)) as KexRequest;
    expect(req).toMatchObject({ kind: "kex", group: Group.X25519 });
    expect([p.res.phase, p.res.group]).toEqual(["wait_secret", Group.X25519]);
    const [reply, authR] = p.res.completeKex(p.er.share, shared(p.group, p.er.priv, req.peerShare));
    expect(p.res.phase).toBe("wait_auth");
    p.ini.recv(frame(reply!));
    expect(p.ini.phase).toBe("wait_secret");
    p.ini.completeKex(shared(p.group, p.ei.priv, p.er.share));
    expect(p.ini.phase).toBe("wait_auth");
    const done = p.ini.recv(frame(authR!)) as Done;
    expect([done.kind, p.ini.phase]).toEqual(["done", "done"]);
    expect((p.res.recv(frame(done.send[0]!)) as Done).send).toEqual([]);
    expect(p.res.phase).toBe("done");
  });

  test("two different sessions have different th3", () => {
    expect([...handshakeBetween("alice", "bob").i.th3]).not.toEqual([...handshakeBetween("carol", "bob").i.th3]);
  });
});

describe("version and group negotiation", () => {
  const helloWith = (version: number, group: number, share: Uint8Array, type: number = FrameType.HELLO) => encodeFrame(type, concat(new Uint8Array([version, group]), det("nonce x"), share));

  test("HELLO with version 2 (or 0) → unsupported_version", () => {
    for (const v of [2, 0, 0xff]) {
      const e = protocolError(() => parties().res.recv(frame(helloWith(v, Group.X25519, det("share")))));
      expect(e.code).toBe("unsupported_version");
      expect(e.alertCode).toBe(AlertCode.unsupported_version);
    }
  });

  test("HELLO_REPLY with version 2 → unsupported_version", () => {
    const p = initiatorWaitingReply();
    expect(codeOf(() => p.ini.recv(frame(helloWith(2, Group.X25519, det("share"), FrameType.HELLO_REPLY))))).toBe("unsupported_version");
  });

  test("a group the responder does not accept → unsupported_group with the accepted list", () => {
    const only = parties(Group.X25519, { accept: [Group.X25519] }).res;
    const e = protocolError(() => only.recv(frame(helloWith(VERSION, Group.FFDHE3072, det("share", 384)))));
    expect(e.code).toBe("unsupported_group");
    expect(e.accepted).toEqual([1]);
    expect(e.alertCode).toBe(AlertCode.unsupported_group);
    const two = parties(Group.X25519, { accept: [Group.X25519, Group.FFDHE2048] }).res;
    expect(protocolError(() => two.recv(frame(helloWith(VERSION, Group.FFDHE3072, det("share", 384))))).accepted).toEqual([1, 2]);
  });

  test("group ids sotto/1 does not define (0, 4, 0xff) → unsupported_group", () => {
    for (const g of [0, 4, 0xff]) {
      const e = protocolError(() => parties().res.recv(frame(helloWith(VERSION, g, det("share")))));
      expect(e.code).toBe("unsupported_group");
      expect(e.accepted).toEqual(ALL);
    }
  });

  test("a plaintext ALERT unsupported_group to the initiator → alert 3 with the accepted groups", () => {
    const p = initiatorWaitingReply();
    const e = protocolError(() => p.ini.recv(frame(encodeAlertFrame(3, new Uint8Array([1, 2])))));
    expect(e.code).toBe("alert");
    expect(e.alert).toBe(3);
    expect(e.accepted).toEqual([1, 2]);
    expect(e.alertCode).toBeNull(); // never answer an alert with an alert
    expect(codeOf(() => p.ini.recv(frame(wire.reply)))).toBe("unexpected_message");
  });

  test("an ALERT's accepted list keeps only real group ids", () => {
    const p = initiatorWaitingReply();
    expect(protocolError(() => p.ini.recv(frame(encodeAlertFrame(3, new Uint8Array([9, 2, 0, 1]))))).accepted).toEqual([2, 1]);
  });

  test("other plaintext ALERTs → alert with their code, to either role", () => {
    const e = protocolError(() => initiatorWaitingReply().ini.recv(frame(encodeAlertFrame(AlertCode.busy))));
    expect([e.code, e.alert, e.accepted]).toEqual(["alert", AlertCode.busy, undefined]);
    const f = protocolError(() => parties().res.recv(frame(encodeAlertFrame(AlertCode.protocol_error, new Uint8Array([0x41])))));
    expect([f.code, f.alert]).toEqual(["alert", AlertCode.protocol_error]);
  });

  test("a HELLO_REPLY in another group → bad_hello", () => {
    const p = initiatorWaitingReply();
    expect(codeOf(() => p.ini.recv(frame(encodeHello(FrameType.HELLO_REPLY, Group.FFDHE2048, det("n"), det("s", 256)))))).toBe("bad_hello");
    const q = initiatorWaitingReply();
    expect(codeOf(() => q.ini.recv(frame(encodeHello(FrameType.HELLO_REPLY, Group.FFDHE3072, det("n"), det("s", 32)))))).toBe("bad_hello");
    const r = initiatorWaitingReply(Group.FFDHE2048);
    expect(codeOf(() => r.ini.recv(frame(encodeHello(FrameType.HELLO_REPLY, Group.X25519, det("n"), det("s", 32)))))).toBe("bad_hello");
  });
});

describe("key shares (docs/SECURITY.md §3.B)", () => {
  type XdhCase = { tcId: number; flags: string[]; public: string; shared: string };
  const zero = (wycheproof.testGroups as { tests: XdhCase[] }[]).flatMap((g) => g.tests).filter((t) => t.flags.includes("ZeroSharedSecret"));

  test("Wycheproof has 31 ZeroSharedSecret cases", () => expect(zero).toHaveLength(31));

  test("X25519 low-order points make Z zero → completeKex throws bad_share (responder)", () => {
    for (const t of zero) {
      const p = parties();
      const share = Buffer.from(t.public, "hex");
      const req = p.res.recv(frame(encodeHello(FrameType.HELLO, Group.X25519, det("nonce alice"), share))) as KexRequest;
      const z = shared(Group.X25519, p.er.priv, req.peerShare);
      expect(z.every((b) => b === 0)).toBe(true);
      const code = codeOf(() => p.res.completeKex(p.er.share, z));
      if (code !== "bad_share") throw new Error(`tcId ${t.tcId}: ${code}`);
      expect(p.res.phase).toBe("failed");
    }
  });

  test("X25519 low-order points make Z zero → completeKex throws bad_share (initiator)", () => {
    for (const t of zero) {
      const p = initiatorWaitingReply();
      const req = p.ini.recv(frame(encodeHello(FrameType.HELLO_REPLY, Group.X25519, det("nonce bob"), Buffer.from(t.public, "hex")))) as KexRequest;
      const code = codeOf(() => p.ini.completeKex(shared(Group.X25519, p.ei.priv, req.peerShare)));
      if (code !== "bad_share") throw new Error(`tcId ${t.tcId}: ${code}`);
      expect(codeOf(() => p.ini.recv(frame(wire.authR)))).toBe("unexpected_message");
    }
  });

  test("an X25519 share that is not 32 bytes → bad_hello", () => {
    for (const n of [0, 31, 33, 64]) {
      expect(codeOf(() => parties().res.recv(frame(encodeHello(FrameType.HELLO, Group.X25519, det("n"), det("s", n)))))).toBe("bad_hello");
      expect(codeOf(() => initiatorWaitingReply().ini.recv(frame(encodeHello(FrameType.HELLO_REPLY, Group.X25519, det("n"), det("s", n)))))).toBe("bad_hello");
    }
  });

  for (const name of ["ffdhe2048", "ffdhe3072"] as const) {
    const g = FFDHE[name];
    const group = name === "ffdhe2048" ? Group.FFDHE2048 : Group.FFDHE3072;
    const bad: [string, bigint][] = [["0", 0n], ["1", 1n], ["p-1", g.p - 1n], ["p", g.p], ["p+1", g.p + 1n], ["p-2 (outside the subgroup)", g.p - 2n], ["2^bits-1", (1n << BigInt(8 * g.len)) - 1n]];

    test(`${name}: Y = 0, 1, p-1, p, p+1, p-2, 2^bits-1 → bad_share at recv(HELLO)`, () => {
      for (const [label, y] of bad) {
        const code = codeOf(() => parties().res.recv(frame(encodeHello(FrameType.HELLO, group, det("n"), bigIntToBytes(y, g.len)))));
        if (code !== "bad_share") throw new Error(`Y = ${label}: ${code}`);
      }
      // Control: the generator 2 and 4 = 2^2 are valid shares.
      for (const y of [2n, 4n]) expect(codeOf(() => parties().res.recv(frame(encodeHello(FrameType.HELLO, group, det("n"), bigIntToBytes(y, g.len)))))).toBe("ok");
    });

    test(`${name}: a share that is not exactly len(p) bytes → bad_hello`, () => {
      for (const n of [0, 32, g.len - 1, g.len + 1]) {
        if (n > 384) continue; // longer hellos are refused by the frame layer
        expect(codeOf(() => parties().res.recv(frame(encodeHello(FrameType.HELLO, group, det("n"), det("s", n)))))).toBe("bad_hello");
      }
      expect(codeOf(() => frame(encodeHello(FrameType.HELLO, group, det("n"), det("s", 385))))).toBe("frame_length");
    });
  }

  describe("a responder that leaves the subgroup check to whoever computes Z (offloadSubgroupCheck)", () => {
    const g = FFDHE.ffdhe3072;
    const hello = (y: bigint) => frame(encodeHello(FrameType.HELLO, Group.FFDHE3072, det("n"), bigIntToBytes(y, g.len)));
    const offloaded = () => parties(Group.FFDHE3072, { offloadSubgroupCheck: true });

    test("a non-residue passes recv(HELLO) and is asked to be checked; the range checks stay at recv", () => {
      const req = offloaded().res.recv(hello(g.p - 2n)) as KexRequest;
      expect(req).toMatchObject({ kind: "kex", group: Group.FFDHE3072, checkSubgroup: true });
      for (const y of [0n, 1n, g.p - 1n, g.p]) expect(codeOf(() => offloaded().res.recv(hello(y)))).toBe("bad_share");
      // X25519 has no subgroup check to leave: its request asks for none.
      expect(offloaded().res.recv(frame(encodeHello(FrameType.HELLO, Group.X25519, det("n"), det("s", 32))))).not.toHaveProperty("checkSubgroup");
    });

    test("subgroupOk false → bad_share, and the machine is failed for good", () => {
      const p = offloaded();
      p.res.recv(hello(13n));
      expect(codeOf(() => p.res.finishKex({ z: new Uint8Array(g.len), share: new Uint8Array(g.len), subgroupOk: false }))).toBe("bad_share");
      expect(p.res.phase).toBe("failed");
    });

    test("a result that does not report the check is refused (fail closed): Z is not used", () => {
      const p = offloaded();
      const req = p.res.recv(hello(4n)) as KexRequest;
      const z = shared(p.group, p.er.priv, req.peerShare);
      expect(() => p.res.finishKex({ z, share: p.er.share })).toThrow("did not report the subgroup check");
      expect(p.res.phase).toBe("wait_secret");
    });

    test("while the check is pending, completeKex (Z handed in directly) is refused too, as is a result without our share: Z is not used", () => {
      const p = offloaded();
      const req = p.res.recv(hello(g.p - 2n)) as KexRequest; // a non-residue: the check would fail
      const z = () => shared(p.group, p.er.priv, req.peerShare);
      expect(() => p.res.completeKex(p.er.share, z())).toThrow("did not report the subgroup check");
      // A report without the share leaves the check pending, not done.
      expect(() => p.res.finishKex({ z: z(), subgroupOk: true })).toThrow('"share"');
      expect(() => p.res.completeKex(p.er.share, z())).toThrow("did not report the subgroup check");
      expect(p.res.phase).toBe("wait_secret");
    });

    test("subgroupOk true → HELLO_REPLY and AUTH, and the handshake completes", () => {
      const p = offloaded();
      const hs = p.ini.hello();
      const req = p.res.recv(frame(hs)) as KexRequest;
      const [reply, authR] = p.res.finishKex({ z: shared(p.group, p.er.priv, req.peerShare), share: p.er.share, subgroupOk: true });
      const done = driveInitiator(p, reply!, authR!) as Done;
      expect(done.kind).toBe("done");
      expect((p.res.recv(frame(done.send[0]!)) as Done).kind).toBe("done");
    }, 20_000);
  });

  test("ffdhe2048: the same bad values in HELLO_REPLY → bad_share at the initiator", () => {
    const g = FFDHE.ffdhe2048;
    for (const y of [0n, 1n, g.p - 1n, g.p, g.p + 1n, g.p - 2n]) {
      const p = initiatorWaitingReply(Group.FFDHE2048);
      expect(codeOf(() => p.ini.recv(frame(encodeHello(FrameType.HELLO_REPLY, Group.FFDHE2048, det("n"), bigIntToBytes(y, g.len)))))).toBe("bad_share");
    }
  });
});

describe("reflection", () => {
  test("the responder is sent its own share: completeKex → reflection", () => {
    const p = parties();
    p.res.recv(frame(encodeHello(FrameType.HELLO, Group.X25519, det("nonce alice"), p.er.share)));
    expect(codeOf(() => p.res.completeKex(p.er.share, shared(Group.X25519, p.er.priv, p.er.share)))).toBe("reflection");
  });

  test("the initiator is sent its own share back in HELLO_REPLY → reflection", () => {
    const p = initiatorWaitingReply();
    expect(codeOf(() => p.ini.recv(frame(encodeHello(FrameType.HELLO_REPLY, Group.X25519, det("nonce bob"), p.ei.share))))).toBe("reflection");
  });

  test("the initiator sees its own identity in the responder's AUTH → reflection", () => {
    const p = parties(Group.X25519, { initiator: alice, responder: alice });
    const hello = p.ini.hello();
    const req = p.res.recv(frame(hello)) as KexRequest;
    const [reply, authR] = p.res.completeKex(p.er.share, shared(p.group, p.er.priv, req.peerShare));
    expect(codeOf(() => driveInitiator(p, reply!, authR!))).toBe("reflection");
  });

  test("the responder sees its own identity in the initiator's AUTH → reflection", () => {
    const res = responderWaitingAuth();
    expect(codeOf(() => res.recv(frame(handRecord("i2r", [authItem(bob, Label.initiator_auth, th2)]))))).toBe("reflection");
  });
});

describe("out-of-state messages → unexpected_message", () => {
  test("a RECORD before HELLO", () => {
    expect(codeOf(() => parties().res.recv(frame(wire.authI)))).toBe("unexpected_message");
  });

  test("HELLO_REPLY or a RECORD sent to a responder, HELLO sent to an initiator", () => {
    expect(codeOf(() => parties().res.recv(frame(wire.reply)))).toBe("unexpected_message");
    expect(codeOf(() => initiatorWaitingReply().ini.recv(frame(wire.hello)))).toBe("unexpected_message");
    expect(codeOf(() => initiatorWaitingReply().ini.recv(frame(wire.authR)))).toBe("unexpected_message");
  });

  test("HELLO twice: before and after completeKex", () => {
    const p = parties();
    p.res.recv(frame(wire.hello));
    expect(codeOf(() => p.res.recv(frame(wire.hello)))).toBe("unexpected_message");
    const q = parties();
    const req = q.res.recv(frame(wire.hello)) as KexRequest;
    q.res.completeKex(q.er.share, shared(q.group, q.er.priv, req.peerShare));
    expect(codeOf(() => q.res.recv(frame(wire.hello)))).toBe("unexpected_message");
  });

  test("HELLO_REPLY twice, and a reply to an initiator that has not said hello", () => {
    const p = initiatorWaitingReply();
    p.ini.recv(frame(wire.reply));
    expect(codeOf(() => p.ini.recv(frame(wire.reply)))).toBe("unexpected_message");
    expect(codeOf(() => initiatorWaitingAuth().recv(frame(wire.reply)))).toBe("unexpected_message");
    expect(codeOf(() => parties().ini.recv(frame(wire.reply)))).toBe("unexpected_message");
  });

  test("hello() twice, completeKex before the peer's hello or twice", () => {
    const p = parties();
    p.ini.hello();
    expect(codeOf(() => p.ini.hello())).toBe("unexpected_message");
    expect(codeOf(() => parties().ini.completeKex(new Uint8Array(32).fill(1)))).toBe("unexpected_message");
    const q = parties();
    expect(codeOf(() => q.res.completeKex(q.er.share, new Uint8Array(32).fill(1)))).toBe("unexpected_message");
    const r = initiatorWaitingReply();
    r.ini.recv(frame(wire.reply));
    r.ini.completeKex(shared(r.group, r.ei.priv, r.er.share));
    expect(codeOf(() => r.ini.completeKex(shared(r.group, r.ei.priv, r.er.share)))).toBe("unexpected_message");
  });

  test("anything after the handshake is done", () => {
    const p = parties();
    exchange(p);
    expect(codeOf(() => p.ini.recv(frame(wire.authR)))).toBe("unexpected_message");
    expect(codeOf(() => p.res.recv(frame(wire.authI)))).toBe("unexpected_message");
    expect(codeOf(() => p.res.recv(frame(wire.hello)))).toBe("unexpected_message");
  });

  test("every call after a failure, even with the right frame", () => {
    const p = initiatorWaitingReply();
    expect(codeOf(() => p.ini.recv(frame(encodeHello(FrameType.HELLO_REPLY, Group.FFDHE2048, det("n"), det("s", 256)))))).toBe("bad_hello");
    expect(p.ini.phase).toBe("failed");
    expect(codeOf(() => p.ini.recv(frame(wire.reply)))).toBe("unexpected_message");
    expect(codeOf(() => p.ini.completeKex(new Uint8Array(32).fill(1)))).toBe("unexpected_message");
    expect(codeOf(() => p.ini.recv(frame(wire.authR)))).toBe("unexpected_message");
    expect(p.ini.phase).toBe("failed");

    const ini = initiatorWaitingAuth();
    expect(codeOf(() => ini.recv(rawFrame(flip(wire.authR, 50))))).toBe("bad_record");
    expect(codeOf(() => ini.recv(frame(wire.authR)))).toBe("unexpected_message");

    const res = responderWaitingAuth();
    expect(codeOf(() => res.recv(rawFrame(flip(wire.authI, 50))))).toBe("bad_record");
    expect(codeOf(() => res.recv(frame(wire.authI)))).toBe("unexpected_message");
  });
});

describe("finishKex: the answer to a kex request in one shape for both roles", () => {
  test("a handshake driven by finishKex alone gives the same frames and th3 as completeKex", () => {
    const want = exchange(parties());
    const p = parties();
    const hello = p.ini.hello();
    const req = p.res.recv(frame(hello)) as KexRequest;
    const [reply, authR] = p.res.finishKex({ share: p.er.share, z: shared(p.group, p.er.priv, req.peerShare) });
    const req2 = p.ini.recv(frame(reply!)) as KexRequest;
    expect(p.ini.finishKex({ z: shared(p.group, p.ei.priv, req2.peerShare) })).toEqual([]);
    const doneI = p.ini.recv(frame(authR!)) as Done;
    const doneR = p.res.recv(frame(doneI.send[0]!)) as Done;
    expect(Buffer.from(reply!)).toEqual(Buffer.from(want.reply));
    expect(Buffer.from(authR!)).toEqual(Buffer.from(want.authR));
    expect(Buffer.from(doneI.result.th3)).toEqual(Buffer.from(doneR.result.th3));
    expect(Buffer.from(doneI.result.th3)).toEqual(Buffer.from(want.doneI.result.th3));
  });

  test("a responder answered without its share is a local bug (TypeError), not a peer fault", () => {
    const p = parties();
    const req = p.res.recv(frame(p.ini.hello())) as KexRequest;
    expect(() => p.res.finishKex({ z: shared(p.group, p.er.priv, req.peerShare) })).toThrow(TypeError);
  });
});

describe("hello encoding and parsing", () => {
  test("a hello is encoded in one frame: header, version, group, nonce, share; a nonce of another size is refused", () => {
    const nonce = det("hello nonce"), share = det("hello share", 32);
    const f = encodeHello(FrameType.HELLO, Group.X25519, nonce, share);
    expect([...f.subarray(0, 5)]).toEqual([0, 1 + 2 + 32 + 32, FrameType.HELLO, VERSION, Group.X25519]);
    expect([...f.subarray(5, 37)]).toEqual([...nonce]);
    expect([...f.subarray(37)]).toEqual([...share]);
    expect(() => encodeHello(FrameType.HELLO, Group.X25519, nonce.subarray(1), share)).toThrow(TypeError);
  });

  test("the share a hello carries is a copy: the chunk it came in may change afterwards", () => {
    const bytes = encodeHello(FrameType.HELLO, Group.X25519, det("n"), det("s", 32));
    const h = parseHello({ type: bytes[2]!, bytes, body: bytes.subarray(3) });
    expect([h.version, h.group]).toEqual([VERSION, Group.X25519]);
    const before = [...h.share];
    bytes.fill(0xee);
    expect([...h.share]).toEqual(before);
    expect(before).toEqual([...det("s", 32)]);
  });
});
