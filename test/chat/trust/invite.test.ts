import { describe, expect, test } from "bun:test";
import { formatInvite, localInvites, parseInvite } from "../../../src/chat/trust/invite.ts";

const FP = "3d40 17c3 e843 895a 92b7 0aa7 4d1b 7ebc 9c98 2ccf 2ec4 968c c0cd 55f1 2af4 660c";
const HEX = FP.replace(/ /g, "");

describe("invite lines", () => {
  test("format and parse round trip, IPv4 and IPv6", () => {
    expect(formatInvite("10.0.0.7", 5000, FP)).toBe(`sotto://10.0.0.7:5000#${HEX}`);
    expect(parseInvite(`sotto://10.0.0.7:5000#${HEX}`)).toEqual({ address: "10.0.0.7:5000", fingerprint: HEX });
    expect(parseInvite(formatInvite("::1", 7, FP))).toEqual({ address: "[::1]:7", fingerprint: HEX });
    expect(parseInvite(`  SOTTO://Host.Example:1#${HEX.toUpperCase()} `)).toEqual({ address: "host.example:1", fingerprint: HEX });
  });
  const BAD = ["10.0.0.7:5000", `sotto://10.0.0.7#${HEX}`, `sotto://10.0.0.7:0#${HEX}`, `sotto://*#${HEX}`, `sotto://a:1#${HEX.slice(1)}`, `sotto://a:1#${FP}`, `sotto://a:1`];
  test.each(BAD)("not an invite: %s", (s) => expect(parseInvite(s)).toBeNull());
  test("a listener on one address invites to it; on 0.0.0.0, to every IPv4 interface, loopback last", () => {
    expect(localInvites("127.0.0.1", 9, FP)).toEqual([`sotto://127.0.0.1:9#${HEX}`]);
    const all = localInvites("0.0.0.0", 9, FP);
    expect(all.length).toBeGreaterThan(0);
    expect(all.at(-1)).toBe(`sotto://127.0.0.1:9#${HEX}`);
    for (const l of all) expect(parseInvite(l)?.fingerprint).toBe(HEX);
  });
});
