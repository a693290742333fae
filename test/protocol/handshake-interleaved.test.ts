/**
 * Handshakes in progress at once (red-team pass over the scratch buffers of hs2/hs3): the
 * AUTH message and plaintext, the HKDF digest, the DER of imported keys and the one-record
 * key sets are shared by every machine of the process. Six X25519 handshakes are stepped
 * in lockstep, each step of every pair before the next step of any, and one of them fails
 * at its AUTH in the middle (a thrown ProtocolError mid-step): the others must still
 * derive equal th3 and traffic keys that carry records both ways, and nothing of the
 * failed one may leak into theirs.
 */
import { describe, expect, test } from "bun:test";
import { Group } from "../../src/protocol/constants.ts";
import type { Done, KexRequest } from "../../src/protocol/machine.ts";
import { decodeItems, encodeItems, type Item } from "../../src/protocol/items.ts";
import { codeOf, flip, frame, parties, shared } from "./helpers.ts";

describe("handshakes interleaved step by step", () => {
  test("six in lockstep, one failing at its AUTH mid-way: the other five agree and their records flow", () => {
    const ps = Array.from({ length: 6 }, (_, k) => parties(Group.X25519, { a: `ini ${k}`, b: `res ${k}` }));
    const hellos = ps.map((p) => p.ini.hello());
    const reqs = ps.map((p, k) => p.res.recv(frame(hellos[k]!)) as KexRequest);
    const flights = ps.map((p, k) => p.res.completeKex(p.er.share, shared(p.group, p.er.priv, reqs[k]!.peerShare)));
    ps.forEach((p, k) => p.ini.recv(frame(flights[k]![0]!)));
    ps.forEach((p) => p.ini.completeKex(shared(p.group, p.ei.priv, p.er.share)));
    const BAD = 2;
    const dones: (Done | null)[] = [];
    const authIs: Uint8Array[] = [];
    for (let k = 0; k < ps.length; k++) {
      const authR = flights[k]![1]!;
      if (k === BAD) {
        // A flipped tag byte: the record fails to open, the step throws, the machine is failed.
        expect(codeOf(() => ps[k]!.ini.recv(frame(flip(authR, authR.length - 1))))).toBe("bad_record");
        dones.push(null);
        continue;
      }
      const d = ps[k]!.ini.recv(frame(authR)) as Done;
      expect(d.kind).toBe("done");
      dones.push(d);
      authIs.push(d.send[0]!);
    }
    let n = 0;
    for (let k = 0; k < ps.length; k++) {
      if (k === BAD) continue;
      const r = (ps[k]!.res.recv(frame(authIs[n++]!)) as Done).result;
      const i = dones[k]!.result;
      expect([...i.th3]).toEqual([...r.th3]);
      const msg: Item[] = [{ kind: "text", id: BigInt(k), text: `pair ${k}` }];
      expect(decodeItems(r.reader.open(i.writer.seal(encodeItems(msg))))).toEqual(msg);
      expect(decodeItems(i.reader.open(r.writer.seal(encodeItems(msg))))).toEqual(msg);
    }
    const th3s = new Set(dones.filter((d) => d !== null).map((d) => Buffer.from(d!.result.th3).toString("hex")));
    expect(th3s.size).toBe(5);
  });
});

describe("a handshake left half done", () => {
  test("discard() wipes the responder's handshake secret while it waits for AUTH, and the machine takes no further step", () => {
    const p = parties(Group.X25519);
    const req = p.res.recv(frame(p.ini.hello())) as KexRequest;
    const flight = p.res.completeKex(p.er.share, shared(p.group, p.er.priv, req.peerShare));
    // The secret the responder holds until the initiator's AUTH (protected: read here only to check its bytes).
    const hs = (p.res as unknown as { hs: Uint8Array | null }).hs!;
    expect(hs.some((b) => b !== 0)).toBe(true);
    p.ini.recv(frame(flight[0]!));
    p.ini.completeKex(shared(p.group, p.ei.priv, p.er.share));
    const authI = (p.ini.recv(frame(flight[1]!)) as Done).send[0]!;
    p.res.discard();
    expect(hs.every((b) => b === 0)).toBe(true);
    expect((p.res as unknown as { hs: Uint8Array | null }).hs).toBeNull();
    expect(codeOf(() => p.res.recv(frame(authI)))).toBe("unexpected_message");
  });

  test("discard() after the handshake is done changes nothing", () => {
    const p = parties(Group.X25519);
    const req = p.res.recv(frame(p.ini.hello())) as KexRequest;
    const flight = p.res.completeKex(p.er.share, shared(p.group, p.er.priv, req.peerShare));
    p.ini.recv(frame(flight[0]!));
    p.ini.completeKex(shared(p.group, p.ei.priv, p.er.share));
    const done = p.ini.recv(frame(flight[1]!)) as Done;
    p.ini.discard();
    expect(p.ini.phase).toBe("done");
    expect((p.res.recv(frame(done.send[0]!)) as Done).kind).toBe("done");
  });
});
