import { afterEach, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { ChatEvent } from "../../../src/chat/events.ts";
import { KnownPeers, INBOUND } from "../../../src/chat/trust/known-peers.ts";
import { Trust, type TrustOptions } from "../../../src/chat/trust/policy.ts";
import { asPublicKey } from "../../../src/chat/peer-id.ts";
import { ProtocolError } from "../../../src/protocol/errors.ts";
import { removeHomes, tempHome } from "../../support/home.ts";
import { thrown } from "../../support/thrown.ts";

afterEach(removeHomes);

const key = () => asPublicKey(new Uint8Array(randomBytes(32)));

function trust(opts: Partial<TrustOptions> = {}) {
  const path = join(tempHome(), "known_peers");
  const events: ChatEvent[] = [];
  const t = new Trust(KnownPeers.load(path), { strict: false, allowNew: false, ...opts }, (e) => void events.push(e), key());
  return { t, events, path };
}

describe("Trust: contact, request or refused", () => {
  test("a new key we dialled becomes a contact, pinned on disk under its claimed name", () => {
    const { t, path } = trust();
    const bob = key();
    t.verify(bob, "10.0.0.2:7000");
    expect(t.admit(bob, "10.0.0.2:7000", "bob")).toEqual({ kind: "contact", name: "bob", verified: false, firstContact: true });
    expect(t.admit(bob, "10.0.0.2:7000", "bob")).toEqual({ kind: "contact", name: "bob", verified: false, firstContact: false });
    const reread = KnownPeers.load(path);
    expect(reread.byKey(bob)?.name).toBe("bob");
    expect(reread.addressesOf(bob)).toEqual(["10.0.0.2:7000"]);
  });

  test("a new key that dialled us is a request, not a contact, until allowed", () => {
    const { t } = trust();
    const carol = key();
    t.verify(carol, INBOUND);
    const s = t.admit(carol, INBOUND, "carol");
    expect(s.kind).toBe("request");
    if (s.kind !== "request") return;
    expect([s.request.id, s.request.claimed]).toEqual(["r1", "carol"]);
    expect(t.isContact(s.request.pid)).toBe(false);
    const allowed = t.allow("r1");
    expect(allowed.name).toBe("carol");
    expect(t.isContact(allowed.pid)).toBe(true);
    expect(t.admit(carol, INBOUND, "carol")).toMatchObject({ kind: "contact", name: "carol", firstContact: false });
  });

  test("--allow-new makes an inbound key a contact at once; --strict refuses an unpinned one", () => {
    const open = trust({ allowNew: true });
    expect(open.t.admit(key(), INBOUND, "bot")).toMatchObject({ kind: "contact", name: "bot", firstContact: true });
    const strict = trust({ strict: true });
    const e = thrown(ProtocolError, () => strict.t.verify(key(), "10.0.0.3:7000"));
    expect([e.code, e.message]).toEqual(["identity_rejected", "--strict accepts only pinned peers"]);
    expect(strict.events.map((x) => x.type)).toEqual(["rejected"]);
  });

  test("a blocked key is refused in the handshake, whichever way it comes", () => {
    const { t } = trust();
    const mallory = key();
    t.admit(mallory, INBOUND, "mallory");
    expect(t.block("r1").label).toContain("mallory");
    for (const address of [INBOUND, "10.0.0.4:7000"]) {
      const e = thrown(ProtocolError, () => t.verify(mallory, address));
      expect([e.code, e.message]).toEqual(["identity_rejected", "this key is blocked"]);
    }
  });

  test("another key at a contact's address is refused as a key change, and a stranger claiming its name is a marked request", () => {
    const { t, events } = trust();
    const bob = key();
    t.admit(bob, "10.0.0.2:7000", "bob");
    const imposter = key();
    const e = thrown(ProtocolError, () => t.verify(imposter, "10.0.0.2:7000"));
    expect(e.code).toBe("identity_rejected");
    expect(events.at(-1)).toMatchObject({ type: "key_changed", pinnedName: "bob", direction: "outbound" });
    const s = t.admit(imposter, INBOUND, "bob");
    expect(s).toMatchObject({ kind: "request", request: { claimed: "bob", lookalike: "bob" } });
    expect(t.nameOf(bob)).toBe("bob");
    expect(t.nameOf(imposter)).toBeUndefined();
  });
});
