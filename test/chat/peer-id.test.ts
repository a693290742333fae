import { describe, expect, test } from "bun:test";
import { asFingerprint, asPid, asPublicKey, isPid, pidOf, type Pid } from "../../src/chat/peer-id.ts";
import { fingerprint } from "../../src/chat/trust/identity.ts";
import { Outbox } from "../../src/chat/delivery/outbox.ts";
import { thrown } from "../support/thrown.ts";

const KEY = new Uint8Array(32).map((_, i) => i);
const HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

describe("peer identity types", () => {
  test("pidOf is the key's lowercase hex, and asPid takes it back", () => {
    expect(pidOf(KEY)).toBe(HEX as Pid);
    expect(asPid(HEX)).toBe(pidOf(KEY));
    expect(isPid(HEX)).toBe(true);
    expect(asPublicKey(KEY)).toBe(KEY as ReturnType<typeof asPublicKey>);
  });

  test("constructors reject wrong shapes with a TypeError", () => {
    for (const bad of [new Uint8Array(31), new Uint8Array(33), new Uint8Array(0)]) {
      expect(thrown(TypeError, () => pidOf(bad)).message).toMatch(/peer id|public key|fingerprint/);
      expect(thrown(TypeError, () => asPublicKey(bad)).message).toMatch(/peer id|public key|fingerprint/);
    }
    expect(thrown(TypeError, () => asPublicKey("ab".repeat(32) as unknown as Uint8Array)).message).toMatch(/peer id|public key|fingerprint/);
    const fp = fingerprint(KEY);
    for (const bad of ["", HEX.toUpperCase(), HEX.slice(2), HEX + "00", ` ${HEX}`, "g" + HEX.slice(1), fp, "bob"]) {
      expect(thrown(TypeError, () => asPid(bad)).message).toMatch(/peer id|public key|fingerprint/);
      expect(isPid(bad)).toBe(false);
    }
    expect(asFingerprint(fp)).toBe(fp);
    for (const bad of ["", HEX, fp.replaceAll(" ", ""), fp.toUpperCase(), fp.slice(5), `${fp} 0000`, fp.replace(" ", "  ")]) {
      expect(thrown(TypeError, () => asFingerprint(bad)).message).toMatch(/peer id|public key|fingerprint/);
    }
  });

  test("a fingerprint or a name where a Pid is wanted does not typecheck", () => {
    const fp = fingerprint(KEY);
    const takesPid = (p: Pid): string => p;
    // @ts-expect-error a Fingerprint is not a Pid
    expect(() => asPid(takesPid(fp))).toThrow(TypeError);
    // @ts-expect-error a pin name is not a Pid
    expect(() => asPid(takesPid("bob"))).toThrow(TypeError);
    // @ts-expect-error the outbox is keyed by Pid, not by name
    const highest = (o: Outbox) => o.highestId("bob");
    expect(typeof highest).toBe("function");
    expect(takesPid(pidOf(KEY))).toBe(HEX);
  });
});
