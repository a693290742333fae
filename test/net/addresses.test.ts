import { describe, expect, test } from "bun:test";
import { listenAddresses } from "../../src/net/addresses.ts";
import { formatEvent } from "../../src/ui/format.ts";

const IFACES = {
  lo: [
    { address: "127.0.0.1", family: "IPv4", internal: true, netmask: "255.0.0.0", mac: "", cidr: null },
    { address: "::1", family: "IPv6", internal: true, netmask: "", mac: "", cidr: null, scopeid: 0 },
  ],
  eth0: [
    { address: "192.168.1.20", family: "IPv4", internal: false, netmask: "255.255.255.0", mac: "", cidr: null },
    { address: "fe80::1", family: "IPv6", internal: false, netmask: "", mac: "", cidr: null, scopeid: 2 },
    { address: "2001:db8::5", family: "IPv6", internal: false, netmask: "", mac: "", cidr: null, scopeid: 0 },
  ],
} as unknown as Parameters<typeof listenAddresses>[2];

describe("listenAddresses", () => {
  test("0.0.0.0: every IPv4 interface address, reachable ones first, never the wildcard", () => {
    expect(listenAddresses("0.0.0.0", 5000, IFACES)).toEqual(["192.168.1.20:5000", "127.0.0.1:5000"]);
  });
  test(":: adds IPv6 in brackets, without link-local", () => {
    expect(listenAddresses("::", 7, IFACES)).toEqual(["192.168.1.20:7", "[2001:db8::5]:7", "127.0.0.1:7", "[::1]:7"]);
  });
  test("a specific bind is that address", () => {
    expect(listenAddresses("127.0.0.1", 5000, IFACES)).toEqual(["127.0.0.1:5000"]);
  });
  test("the real machine: no 0.0.0.0 in the list", () => {
    const a = listenAddresses("0.0.0.0", 5000);
    expect(a.length).toBeGreaterThan(0);
    expect(a.some((x) => x.startsWith("0.0.0.0"))).toBe(false);
  });
  test("the listening line names them and the --connect to give a friend", () => {
    const text = formatEvent({ type: "listening", host: "0.0.0.0", port: 5000, fingerprint: "f", addresses: listenAddresses("0.0.0.0", 5000, IFACES) }, { color: false })!;
    expect(text).toContain("listening on 192.168.1.20:5000, 127.0.0.1:5000");
    expect(text).toContain("--connect sotto://192.168.1.20:5000#"); // the invite to the first address
    expect(text).not.toContain("<your address>");
  });
});
