/**
 * "An address that authenticated lately" (admission.ts known hosts: exempt from the FFDHE
 * rate and from the flood resets, preferred at eviction) is one address whatever form it
 * comes back in: dialled by name or by an IPv4 literal, seen again inbound as the
 * IPv4-mapped form a dual-stack listener reports, or written in capitals.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { ed25519Generate } from "../../src/crypto/ed25519.ts";
import { Admission } from "../../src/net/admission.ts";
import { DEFAULT_LIMITS } from "../../src/net/limits.ts";
import { Peer } from "../../src/net/peer.ts";
import { AlertCode, Group } from "../../src/protocol/constants.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";

const peers: Peer[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close("bye", 100)));
});
const peer = (name: string, limits: ConstructorParameters<typeof Peer>[0]["limits"] = {}) => {
  const p = new Peer({ identity: ed25519Generate(), profile: { instance: new Uint8Array(randomBytes(8)), name }, limits });
  peers.push(p);
  return p;
};

describe("known hosts", () => {
  test("IPv4 and its IPv4-mapped form, and IPv6 in any case, are one known address", () => {
    const a = new Admission({ ...DEFAULT_LIMITS });
    a.remember("192.0.2.7");
    a.remember("::FFFF:198.51.100.9");
    a.remember("2001:DB8::1");
    expect(["::ffff:192.0.2.7", "198.51.100.9", "::ffff:198.51.100.9", "2001:db8::1"].map((h) => a.known(h))).toEqual([true, true, true, true]);
    expect(["192.0.2.8", "::ffff:192.0.2.8", "2001:db8::2"].map((h) => a.known(h))).toEqual([false, false, false]);
    // The FFDHE rate's exemption reads the same set (a rate of 0 refuses every stranger).
    const r = new Admission({ ...DEFAULT_LIMITS, ffdhePerPrefixPerSecond: 0.01 });
    r.remember("192.0.2.7");
    expect([r.admitKex("::ffff:192.0.2.7", 0), r.admitKex("::ffff:192.0.2.8", 0)].map((x) => x === null)).toEqual([true, false]);
  });

  test("one network cannot push the others out: at most 16 addresses of one /24 or /64 are remembered (its oldest forgotten first), so 5,000 of one /64 leave the contacts elsewhere known", () => {
    const a = new Admission({ ...DEFAULT_LIMITS });
    a.remember("192.0.2.7");
    a.remember("2001:db8:1::5");
    for (let i = 0; i < 5000; i++) a.remember(`2001:db8:2::${i.toString(16)}`);
    for (let i = 0; i < 250; i++) a.remember(`198.51.100.${i}`);
    expect([a.known("192.0.2.7"), a.known("2001:db8:1::5")]).toEqual([true, true]);
    const ofSix = Array.from({ length: 5000 }, (_, i) => a.known(`2001:db8:2::${i.toString(16)}`));
    expect([ofSix.filter(Boolean).length, ofSix.slice(-16).every(Boolean)]).toEqual([16, true]);
    const ofFour = Array.from({ length: 250 }, (_, i) => a.known(`198.51.100.${i}`));
    expect([ofFour.filter(Boolean).length, ofFour.slice(-16).every(Boolean)]).toEqual([16, true]);
    // Remembered again, an address goes to the back of its prefix's line.
    a.remember("2001:db8:2::1378"); // the oldest of the 16 (4984)
    a.remember("2001:db8:2::ffff");
    expect([a.known("2001:db8:2::1378"), a.known("2001:db8:2::1379"), a.known("2001:db8:2::ffff")]).toEqual([true, false, true]);
  });

  test("a peer we dialled by name, which then dials our dual-stack listener from the same address, is known (its ffdhe2048 HELLO is not refused by ffdhePerPrefixPerSecond)", async () => {
    const a = peer("a", { ffdhePerPrefixPerSecond: 0.01 }); // every stranger's FFDHE HELLO is refused
    const aPort = a.listen("::", 0);
    const b = peer("b");
    const bPort = b.listen("127.0.0.1", 0);
    // Control: b is a stranger to a.
    const refused = await b.connect("127.0.0.1", aPort, Group.FFDHE2048).then(() => null, (e: Error) => e);
    expect((refused?.cause as ProtocolError | undefined)?.alert).toBe(AlertCode.busy);
    // a dials b by name: b's address (127.0.0.1) authenticated.
    const out = await a.connect("localhost", bPort);
    expect(out.state).toBe("open");
    // b dials back; a's dual-stack listener sees ::ffff:127.0.0.1.
    const back = await b.connect("127.0.0.1", aPort, Group.FFDHE2048);
    expect([back.state, back.group]).toEqual(["open", Group.FFDHE2048]);
  }, 20_000);
});
