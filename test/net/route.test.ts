/** routeTo (src/net/route.ts): telling "no route" from "refused", which Bun reports alike. */
import { describe, expect, test } from "bun:test";
import { dialErrorCode, neighbourFailed, readArp, readRoutes, routeTo } from "../../src/net/route.ts";

// 10.77.0.0/24 on a link, no default route (as in a fresh network namespace).
const routes = [{ dest: 0x0a4d0000, mask: 0xffffff00 }];

describe("routeTo", () => {
  test("an address on a routed subnet has a route; one outside it has none", () => {
    expect(routeTo("10.77.0.9", routes, [])).toBe("yes");
    expect(routeTo("10.78.0.9", routes, [])).toBe("no");
  });
  test("a default route covers every address; loopback and our own addresses need no table entry", () => {
    expect(routeTo("192.0.2.1", [...routes, { dest: 0, mask: 0 }], [])).toBe("yes");
    expect(routeTo("127.0.0.1", [], [])).toBe("yes");
    expect(routeTo("10.99.0.1", [], ["10.99.0.1"])).toBe("yes");
  });
  test("host names, IPv6 and a missing table are unknown (the error stays as the OS gave it)", () => {
    expect(routeTo("example.invalid", routes, [])).toBe("unknown");
    expect(routeTo("::1", routes, [])).toBe("unknown");
    expect(routeTo("10.78.0.9", null, [])).toBe("unknown");
  });
  test("this machine's table parses into masked destinations", () => {
    const r = readRoutes();
    if (r === null) return; // no /proc/net/route on this system: nothing to parse
    for (const x of r) expect((x.dest & x.mask) >>> 0).toBe(x.dest);
  });
});

describe("neighbourFailed and dialErrorCode (EHOSTUNREACH, which Bun reports as ECONNREFUSED)", () => {
  // /proc/net/arp flags: 0x2 complete; 0x0 an ARP request nobody answered.
  const arp = new Map([
    ["10.77.0.2", 0x2],
    ["10.77.0.50", 0x0],
  ]);
  test("a failed neighbour entry is a host that did not answer; a complete one, or none, is not", () => {
    expect(neighbourFailed("10.77.0.50", arp)).toBe(true);
    expect(neighbourFailed("10.77.0.2", arp)).toBe(false);
    expect(neighbourFailed("10.77.0.9", arp)).toBe(false);
    expect(neighbourFailed("::1", arp)).toBe(false);
    expect(neighbourFailed("10.77.0.50", null)).toBe(false);
  });
  test("ECONNREFUSED becomes ENETUNREACH without a route, EHOSTUNREACH for a neighbour that did not answer, and stays a refusal otherwise", () => {
    const route = (h: string) => (h.startsWith("10.77.") ? "yes" : "no") as "yes" | "no";
    const neighbour = (h: string) => neighbourFailed(h, arp);
    expect(dialErrorCode("10.78.0.9", "ECONNREFUSED", route, neighbour)).toBe("ENETUNREACH");
    expect(dialErrorCode("10.77.0.50", "ECONNREFUSED", route, neighbour)).toBe("EHOSTUNREACH");
    expect(dialErrorCode("10.77.0.2", "ECONNREFUSED", route, neighbour)).toBe("ECONNREFUSED");
    expect(dialErrorCode("10.77.0.50", "ETIMEDOUT", route, neighbour)).toBe("ETIMEDOUT");
  });
  test("this machine's neighbour table parses", () => {
    const t = readArp();
    if (t === null) return; // no /proc/net/arp on this system: nothing to parse
    for (const f of t.values()) expect(Number.isInteger(f)).toBe(true);
  });
});
