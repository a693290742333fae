/**
 * A connection that goes away mid-handshake leaves no handshake secret behind: the
 * responder holds it from HELLO until the initiator's AUTH, and the session's end wipes
 * it there and then (not only a failed step or the handshake's end).
 */
import { afterEach, expect, spyOn, test } from "bun:test";
import { Responder } from "../../src/protocol/handshake.ts";
import { Group } from "../../src/protocol/constants.ts";
import { Session } from "../../src/net/session.ts";
import { config, FakeTransport } from "./fake-transport.ts";

const alice = config("alice"), bob = config("bob");
const original = Responder.prototype.discard;
afterEach(() => {
  Responder.prototype.discard = original;
});

for (const how of ["closed by its owner", "hung up by the peer"] as const) {
  test(`a responder's session ${how} while it waits for AUTH wipes its handshake secret`, async () => {
    const held: Uint8Array[] = [];
    const spy = spyOn(Responder.prototype, "discard").mockImplementation(function (this: Responder) {
      const hs = (this as unknown as { hs: Uint8Array | null }).hs;
      if (hs !== null) held.push(hs);
      original.call(this);
    });
    const at = new FakeTransport(), bt = new FakeTransport();
    const ev = { onReady: () => {}, onItem: () => {}, onClose: () => {} };
    const a = new Session(at, alice, "initiator", "fake:1", Group.X25519, ev);
    const b = new Session(bt, bob, "responder", "fake:2", undefined, ev);
    at.self = a;
    at.other = b; // alice's HELLO reaches bob
    bt.self = b; // bob's HELLO_REPLY and AUTH reach no one: he waits for an AUTH that never comes
    await Promise.all([a.start(), b.start()]);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(bt.written.length).toBeGreaterThan(0); // bob answered the HELLO: he holds the secret now
    expect(b.state).not.toBe("open");
    if (how === "closed by its owner") b.close();
    else {
      bt.other = a;
      at.terminate();
    }
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(spy).toHaveBeenCalled();
    expect(held.length).toBe(1);
    expect(held[0]!.length).toBe(32);
    expect(held[0]!.every((x) => x === 0)).toBe(true);
  });
}
