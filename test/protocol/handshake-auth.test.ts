/**
 * Tampered handshake messages and hostile AUTH records (PROTOCOL §4, docs/SECURITY.md §3.C):
 * no flipped bit, spliced record, misbound signature or stray item ever completes a
 * handshake, and every failure is a ProtocolError.
 */
import { describe, expect, test } from "bun:test";
import { concat } from "../../src/crypto/bytes.ts";
import { ed25519Sign } from "../../src/crypto/ed25519.ts";
import { sha256 } from "../../src/crypto/hash.ts";
import { AlertCode, Group, Label } from "../../src/protocol/constants.ts";
import { type Done, type KexRequest } from "../../src/protocol/machine.ts";
import { type Item } from "../../src/protocol/items.ts";
import {
  authItem, codeOf, driveInitiator, ephemeral, exchange, flip, frame, handRecord, handshakeBetween, identity,
  initiatorWaitingAuth, initiatorWaitingReply, parties, PROTOCOL_CODES, protocolError, rawFrame, reference, responderWaitingAuth, shared,
} from "./helpers.ts";

const alice = identity("alice"), bob = identity("bob"), carol = identity("carol");
const { wire, th1, th2 } = reference();

describe("tampered handshake messages never complete a handshake", () => {
  test("a bit flip at every bit of HELLO_REPLY after the header (x25519)", () => {
    const tally: Record<string, number> = {};
    for (let at = 3; at < wire.reply.length; at++) {
      for (let bit = 0; bit < 8; bit++) {
        const code = codeOf(() => driveInitiator(initiatorWaitingReply(), flip(wire.reply, at, bit), wire.authR));
        if (!PROTOCOL_CODES.has(code)) throw new Error(`flip of byte ${at} bit ${bit}: ${code}`);
        tally[code] = (tally[code] ?? 0) + 1;
      }
    }
    expect(tally.unsupported_version).toBe(8); // version byte
    expect(tally.bad_hello).toBe(8); // group byte
    expect(tally.bad_record).toBeGreaterThan(400); // nonce and share change th1 or Z
  });

  test("a bit flip in every byte of HELLO_REPLY after the header (ffdhe2048)", () => {
    const p0 = parties(Group.FFDHE2048);
    const w = exchange(p0);
    for (let at = 3; at < w.reply.length; at++) {
      const code = codeOf(() => driveInitiator(initiatorWaitingReply(Group.FFDHE2048), flip(w.reply, at, at % 8), w.authR));
      if (!PROTOCOL_CODES.has(code)) throw new Error(`flip of byte ${at}: ${code}`);
    }
    // Control: the untouched frames complete.
    expect(driveInitiator(initiatorWaitingReply(Group.FFDHE2048), w.reply, w.authR).kind).toBe("done");
  });

  test("a bit flip at every bit of the responder's AUTH record", () => {
    expect(initiatorWaitingAuth().recv(frame(wire.authR)).kind).toBe("done"); // control
    for (let at = 0; at < wire.authR.length; at++) {
      for (let bit = 0; bit < 8; bit++) {
        const ini = initiatorWaitingAuth();
        const code = codeOf(() => ini.recv(rawFrame(flip(wire.authR, at, bit))));
        if (!PROTOCOL_CODES.has(code)) throw new Error(`flip of byte ${at} bit ${bit}: ${code}`);
        expect(ini.phase).toBe("failed");
      }
    }
  });

  test("a bit flip at every bit of the initiator's AUTH record", () => {
    expect(responderWaitingAuth().recv(frame(wire.authI)).kind).toBe("done"); // control
    for (let at = 0; at < wire.authI.length; at++) {
      for (let bit = 0; bit < 8; bit++) {
        const code = codeOf(() => responderWaitingAuth().recv(rawFrame(flip(wire.authI, at, bit))));
        if (!PROTOCOL_CODES.has(code)) throw new Error(`flip of byte ${at} bit ${bit}: ${code}`);
      }
    }
  });

  test("a bit flip in every byte of HELLO after the header → the responder's AUTH never verifies", () => {
    for (let at = 3; at < wire.hello.length; at++) {
      const code = codeOf(() => {
        const p = parties();
        const req = p.res.recv(rawFrame(flip(wire.hello, at, at % 8))) as KexRequest;
        p.res.completeKex(p.er.share, shared(p.group, p.er.priv, req.peerShare));
        return p.res.recv(frame(wire.authI));
      });
      if (!PROTOCOL_CODES.has(code)) throw new Error(`flip of byte ${at}: ${code}`);
    }
  });
});

describe("AUTH records (docs/SECURITY.md §3.C)", () => {
  test("control: a hand-sealed, correctly signed AUTH completes the handshake", () => {
    const done = initiatorWaitingAuth().recv(frame(handRecord("r2i", [authItem(bob, Label.responder_auth, th1)]))) as Done;
    expect([...done.result.peerIdentity]).toEqual([...bob.publicKey]);
    const doneR = responderWaitingAuth().recv(frame(handRecord("i2r", [authItem(alice, Label.initiator_auth, th2)]))) as Done;
    expect([...doneR.result.peerIdentity]).toEqual([...alice.publicKey]);
  });

  test("padding items around AUTH are allowed", () => {
    const rec = handRecord("r2i", [{ kind: "padding", length: 20 }, authItem(bob, Label.responder_auth, th1), { kind: "padding", length: 0 }]);
    expect(initiatorWaitingAuth().recv(frame(rec)).kind).toBe("done");
  });

  test("session A's AUTH spliced into session B → bad_record or auth_failed", () => {
    // Session A is the reference exchange (alice → bob). Each session B has fresh
    // ephemerals and nonces on at least one side, so a different th1.
    for (const o of [{ b: "carol" }, { a: "carol" }, { a: "carol", b: "dave" }]) {
      const b = parties(Group.X25519, o);
      const w = exchange(parties(Group.X25519, o)); // B's own honest frames (deterministic)
      b.ini.hello();
      b.ini.recv(frame(w.reply));
      b.ini.completeKex(shared(b.group, b.ei.priv, b.er.share));
      const code = codeOf(() => b.ini.recv(frame(wire.authR)));
      if (code !== "bad_record" && code !== "auth_failed") throw new Error(`${JSON.stringify(o)}: ${code}`);
      // And A's initiator AUTH into B's responder.
      const res = parties(Group.X25519, o).res;
      const req = res.recv(frame(w.hello)) as KexRequest;
      const er = ephemeral(Group.X25519, o.b ?? "bob");
      res.completeKex(er.share, shared(Group.X25519, er.priv, req.peerShare));
      expect(["bad_record", "auth_failed"]).toContain(codeOf(() => res.recv(frame(wire.authI))));
    }
  });

  test("a valid record whose signature is over the wrong label or transcript → auth_failed", () => {
    const wrong: [string, Item][] = [
      ["initiator label", authItem(bob, Label.initiator_auth, th1)],
      ["th2 instead of th1", authItem(bob, Label.responder_auth, th2)],
      ["th1 of another session", authItem(bob, Label.responder_auth, sha256(handshakeBetween("carol", "dave").wire.hello))],
      ["carol's identity, bob's signature", { kind: "auth", identity: carol.publicKey, sig: ed25519Sign(bob.privateKey, concat(Label.responder_auth, th1, carol.publicKey)) }],
      ["an all-zero signature", { kind: "auth", identity: bob.publicKey, sig: new Uint8Array(64) }],
      ["an all-zero identity", { kind: "auth", identity: new Uint8Array(32), sig: new Uint8Array(64) }],
    ];
    for (const [name, item] of wrong) {
      const code = codeOf(() => initiatorWaitingAuth().recv(frame(handRecord("r2i", [item]))));
      if (code !== "auth_failed") throw new Error(`${name}: ${code}`);
    }
    expect(codeOf(() => responderWaitingAuth().recv(frame(handRecord("i2r", [authItem(alice, Label.responder_auth, th2)]))))).toBe("auth_failed");
    expect(codeOf(() => responderWaitingAuth().recv(frame(handRecord("i2r", [authItem(alice, Label.initiator_auth, th1)]))))).toBe("auth_failed");
  });

  test("the responder's AUTH record sealed under hk_i2r (wrong direction) → bad_record", () => {
    expect(codeOf(() => initiatorWaitingAuth().recv(frame(handRecord("i2r", [authItem(bob, Label.responder_auth, th1)]))))).toBe("bad_record");
  });

  test("AUTH replaced by a TEXT item, or joined by one → unexpected_message", () => {
    const text: Item = { kind: "text", id: 1n, text: "hello before auth" };
    for (const items of [[text], [authItem(bob, Label.responder_auth, th1), text], [text, authItem(bob, Label.responder_auth, th1)], [{ kind: "padding", length: 4 }] as Item[]]) {
      expect(codeOf(() => initiatorWaitingAuth().recv(frame(handRecord("r2i", items))))).toBe("unexpected_message");
    }
    expect(codeOf(() => responderWaitingAuth().recv(frame(handRecord("i2r", [text]))))).toBe("unexpected_message");
    expect(codeOf(() => responderWaitingAuth().recv(frame(handRecord("i2r", [authItem(alice, Label.initiator_auth, th2), authItem(alice, Label.initiator_auth, th2)]))))).toBe("unexpected_message");
  });

  test("an ALERT item in the AUTH record → alert with its code", () => {
    const e = protocolError(() => initiatorWaitingAuth().recv(frame(handRecord("r2i", [{ kind: "alert", code: AlertCode.identity_rejected, reason: "who?" }]))));
    expect([e.code, e.alert]).toEqual(["alert", AlertCode.identity_rejected]);
  });

  test("a malformed item in the AUTH record → bad_item", () => {
    const rec = handRecord("r2i", new Uint8Array([0x01, 0, 95, ...new Uint8Array(95)])); // AUTH of 95 bytes
    expect(codeOf(() => initiatorWaitingAuth().recv(frame(rec)))).toBe("bad_item");
  });
});

