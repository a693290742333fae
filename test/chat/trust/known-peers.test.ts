import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toHex } from "../../../src/crypto/bytes.ts";
import { INBOUND, KnownPeers, KnownPeersError, isValidAddress, isValidPeerName } from "../../../src/chat/trust/known-peers.ts";
import { Trust } from "../../../src/chat/trust/policy.ts";
import { asPublicKey, pidOf, type Pid, type PublicKey } from "../../../src/chat/peer-id.ts";
import { thrown } from "../../support/thrown.ts";

const K1 = asPublicKey(new Uint8Array(32).fill(0x11));
const K2 = asPublicKey(new Uint8Array(32).fill(0x22));
const K3 = asPublicKey(new Uint8Array(32).fill(0x33));
const H1 = toHex(K1);
const H2 = toHex(K2);

let dir: string;
let path: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "sotto-known-"));
  path = join(dir, "home", "known_peers");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function writePeers(text: string | Uint8Array, mode = 0o600): void {
  rmSync(join(dir, "home"), { recursive: true, force: true });
  mkdirSync(join(dir, "home"));
  writeFileSync(path, text, { mode });
  chmodSync(path, mode);
}

const failure = (fn: () => unknown): KnownPeersError => thrown(KnownPeersError, fn);

describe("TOFU", () => {
  test("a missing file is empty: first contact is new", () => {
    const kp = KnownPeers.load(path);
    expect(kp.entries()).toEqual([]);
    expect(kp.check("10.0.0.7:7000", K1)).toEqual({ status: "new" });
    expect(kp.check(INBOUND, K1)).toEqual({ status: "new" });
  });

  test("pin then match, in memory and after save + load", () => {
    const kp = KnownPeers.load(path);
    kp.pin("10.0.0.7:7000", "alice", K1);
    expect(kp.check("10.0.0.7:7000", K1)).toMatchObject({ status: "match", entry: { name: "alice", verified: false } });
    kp.save();
    expect(readFileSync(path, "utf8")).toBe(`10.0.0.7:7000 alice ${H1} unverified\n`);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(dir, "home"))).toEqual(["known_peers"]); // no temp file left
    const again = KnownPeers.load(path);
    const r = again.check("10.0.0.7:7000", K1);
    expect(r.status).toBe("match");
    expect(r.status === "match" && toHex(r.entry.publicKey)).toBe(H1);
  });

  test("a changed key at a pinned address is detected, and never silently re-pinned", () => {
    const kp = KnownPeers.load(path);
    kp.pin("10.0.0.7:7000", "alice", K1);
    kp.save();
    const r = kp.check("10.0.0.7:7000", K2);
    expect(r).toMatchObject({ status: "changed", entry: { name: "alice", address: "10.0.0.7:7000" } });
    expect(r.status === "changed" && toHex(r.entry.publicKey)).toBe(H1);
    expect(failure(() => kp.pin("10.0.0.7:7000", "alice", K2)).code).toBe("conflict");
    expect(failure(() => kp.pin("10.0.0.7:7000", "mallory", K2)).code).toBe("conflict");
    expect(KnownPeers.load(path).check("10.0.0.7:7000", K2).status).toBe("changed");
    // Only an explicit remove lets the new key in.
    expect(kp.remove("10.0.0.7:7000")).toBe(1);
    kp.pin("10.0.0.7:7000", "alice", K2);
    expect(kp.check("10.0.0.7:7000", K2).status).toBe("match");
  });

  test("inbound pins are found by key; a known key at a new address matches", () => {
    const kp = KnownPeers.load(path);
    kp.pin(INBOUND, "bob", K2);
    expect(kp.check(INBOUND, K2)).toMatchObject({ status: "match", entry: { name: "bob", address: "*" } });
    expect(kp.check(INBOUND, K3)).toEqual({ status: "new" });
    expect(kp.check("192.168.1.9:7000", K2)).toMatchObject({ status: "match", entry: { name: "bob" } });
    // `*` for an already known key adds no line; a dialled address does.
    kp.pin(INBOUND, "bob", K2);
    kp.pin("[fe80::1]:7000", "bob", K2);
    expect(kp.entries().map((e) => e.address)).toEqual(["*", "[fe80::1]:7000"]);
    expect(kp.byKey(K2)?.name).toBe("bob");
    expect(kp.byName("BOB")?.address).toBe("*");
    expect(kp.byKey(K3)).toBeUndefined();
  });

  test("trust persists, by name or by key, and carries to new lines of the key", () => {
    const kp = KnownPeers.load(path);
    kp.pin("10.0.0.7:7000", "alice", K1);
    kp.pin(INBOUND, "bob", K2);
    expect(kp.trust("Alice").verified).toBe(true);
    kp.trust(K2);
    kp.save();
    const again = KnownPeers.load(path);
    expect(again.entries().map((e) => e.verified)).toEqual([true, true]);
    expect(again.pin("10.0.0.8:7000", "alice", K1).verified).toBe(true);
    expect(failure(() => again.trust("carol")).code).toBe("not_found");
    expect(failure(() => again.trust(K3)).code).toBe("not_found");
    expect(() => again.trust(new Uint8Array(31) as PublicKey)).toThrow(TypeError);
  });

  test("names and keys are one-to-one", () => {
    const kp = KnownPeers.load(path);
    kp.pin("a.example:1", "alice", K1);
    expect(failure(() => kp.pin("b.example:1", "ALICE", K2)).code).toBe("conflict");
    expect(failure(() => kp.pin("b.example:1", "ａlice", K2)).code).toBe("conflict"); // fullwidth a, NFKC
    expect(failure(() => kp.pin("b.example:1", "alicia", K1)).code).toBe("conflict");
    expect(kp.pin("a.example:1", "alice", K1).name).toBe("alice"); // the same pin again: no-op
    expect(kp.entries()).toHaveLength(1);
  });

  test("remove by address or by key; `*` is refused", () => {
    const kp = KnownPeers.load(path);
    kp.pin("a.example:1", "alice", K1);
    kp.pin("b.example:1", "alice", K1);
    kp.pin(INBOUND, "bob", K2);
    expect(() => kp.remove(INBOUND)).toThrow(TypeError);
    expect(kp.remove("A.EXAMPLE:1")).toBe(1);
    expect(kp.remove(K2)).toBe(1);
    expect(kp.remove(K3)).toBe(0);
    expect(kp.entries().map((e) => e.address)).toEqual(["b.example:1"]);
  });
});

describe("file handling", () => {
  test("comments, blank lines and CRLF are read; comments kept on save", () => {
    writePeers(`# my peers\r\n\r\n  A.Example:7000\talice   ${H1.toUpperCase()} verified\r\n# end\n`);
    const kp = KnownPeers.load(path);
    expect(kp.check("a.example:7000", K1)).toMatchObject({ status: "match", entry: { verified: true } });
    kp.pin(INBOUND, "bob", K2);
    kp.save();
    expect(readFileSync(path, "utf8")).toBe(`# my peers\n\na.example:7000 alice ${H1} verified\n# end\n* bob ${H2} unverified\n`);
  });

  const CORRUPT: Record<string, [string | Uint8Array, number]> = {
    known_peers_field_count: [`# c\na:1 alice ${H1}\n`, 2],
    known_peers_bad_address: [`nohost alice ${H1} verified\n`, 1],
    known_peers_port_zero: [`a:0 alice ${H1} verified\n`, 1],
    known_peers_port_too_big: [`a:65536 alice ${H1} verified\n`, 1],
    known_peers_bad_name: [`a:1 al\x1b[2Jice ${H1} verified\n`, 1],
    known_peers_short_key: [`a:1 alice ${H1.slice(2)} verified\n`, 1],
    known_peers_key_not_hex: [`a:1 alice ${H1.slice(2)}zz verified\n`, 1],
    known_peers_bad_flag: [`a:1 alice ${H1} trusted\n`, 1],
    known_peers_invalid_utf8: [new Uint8Array([0x23, 0x0a, 0x61, 0x3a, 0x31, 0x20, 0xc0, 0x80, 0x0a]), 2],
    known_peers_duplicate_address: [`a:1 alice ${H1} verified\n\na:1 alice ${H1} verified\n`, 3],
    known_peers_name_two_keys: [`a:1 alice ${H1} verified\nb:1 Alice ${H2} verified\n`, 2],
    known_peers_key_two_names: [`a:1 alice ${H1} verified\nb:1 bob ${H1} verified\n`, 2],
    known_peers_key_flag_disagrees: [`a:1 alice ${H1} verified\n* alice ${H1} unverified\n`, 2],
  };
  for (const [name, [text, line]] of Object.entries(CORRUPT)) {
    test(name, () => {
      writePeers(text);
      const before = readFileSync(path);
      const e = failure(() => KnownPeers.load(path));
      expect(e.code).toBe("corrupt");
      expect(e.line).toBe(line);
      expect(e.path).toBe(path);
      expect(e.message.startsWith(`${path}:${line}: `)).toBe(true);
      expect(e.message).not.toContain("\x1b"); // peer-ish text in the message is escaped
      // Never overwritten: the bytes are the same, and a second load fails the same way.
      expect(readFileSync(path).equals(before)).toBe(true);
      expect(failure(() => KnownPeers.load(path)).line).toBe(line);
    });
  }

  test("a group- or world-writable file is refused", () => {
    writePeers(`a:1 alice ${H1} verified\n`, 0o620);
    expect(failure(() => KnownPeers.load(path)).code).toBe("insecure_mode");
  });

  test("save refuses to replace a file changed on disk since load", () => {
    const kp = KnownPeers.load(path);
    kp.pin("a:1", "alice", K1);
    writePeers(`b:1 bob ${H2} verified\n`); // another sotto wrote meanwhile
    expect(failure(() => kp.save()).code).toBe("changed_on_disk");
    expect(readFileSync(path, "utf8")).toBe(`b:1 bob ${H2} verified\n`);
  });

  test("save after save works (the object tracks its own writes)", () => {
    const kp = KnownPeers.load(path);
    kp.pin("a:1", "alice", K1);
    kp.save();
    kp.trust("alice");
    kp.save();
    expect(readFileSync(path, "utf8")).toBe(`a:1 alice ${H1} verified\n`);
  });
});

describe("validation", () => {
  test("names", () => {
    for (const ok of ["alice", "bob_2", "José", "Zoë.k-1", "名前", "x".repeat(32)]) expect(isValidPeerName(ok)).toBe(true);
    for (const bad of ["", "bob smith", "a\x1b", "*", "-x", "#x", "x".repeat(33), "a\u202Eb", "a:b"]) expect(isValidPeerName(bad)).toBe(false);
  });

  test("addresses", () => {
    for (const ok of ["*", "10.0.0.7:7000", "Example.COM:1", "[::1]:65535", "[fe80::1%eth0]:7000"]) expect(isValidAddress(ok)).toBe(true);
    for (const bad of ["", "host", "host:0", "host:07000", "host:65536", "ho st:1", "::1:7000", "a:1 b"]) expect(isValidAddress(bad)).toBe(false);
  });

  test("pin and check reject bad arguments with TypeError", () => {
    const kp = KnownPeers.load(path);
    expect(() => kp.pin("a:1", "bob smith", K1)).toThrow(TypeError);
    expect(() => kp.pin("nohost", "bob", K1)).toThrow(TypeError);
    expect(() => kp.check("a:1", new Uint8Array(33) as PublicKey)).toThrow(TypeError);
  });
});

describe("re-read, block, replace (the chat's trust commands)", () => {
  test("an outside edit is re-read, and a later pin is written to the edited file, never refused", () => {
    const kp = KnownPeers.load(path);
    kp.update((k) => k.pin("a:1", "alice", K1));
    writePeers(`# edited by hand\nb:1 bob ${H2} verified\n`);
    expect(kp.refresh()).toBe(true);
    expect(kp.byName("alice")).toBeUndefined();
    expect(kp.byName("bob")?.verified).toBe(true);
    kp.update((k) => k.pin("c:1", "carol", K3));
    expect(readFileSync(path, "utf8")).toBe(`# edited by hand\nb:1 bob ${H2} verified\nc:1 carol ${toHex(K3)} unverified\n`);
    expect(kp.refresh()).toBe(false);
  });

  test("a broken outside edit is reported and the pins read before are kept", () => {
    const kp = KnownPeers.load(path);
    kp.update((k) => k.pin("a:1", "alice", K1));
    writePeers("this is not a pin\n");
    expect(failure(() => kp.refresh()).code).toBe("corrupt");
    expect(kp.byName("alice")).toBeDefined();
    writePeers(`a:1 alice ${H1} unverified\n`);
    expect(kp.refresh()).toBe(true);
    kp.update((k) => k.trust("alice"));
    expect(KnownPeers.load(path).byName("alice")?.verified).toBe(true);
  });

  test("a blocked key is kept as one @blocked line, never pinned again", () => {
    const kp = KnownPeers.load(path);
    kp.update((k) => k.pin(INBOUND, "eve", K2));
    kp.update((k) => k.block(K2));
    expect(readFileSync(path, "utf8")).toBe(`@blocked ${H2}\n`);
    const again = KnownPeers.load(path);
    expect(again.isBlocked(K2)).toBe(true);
    expect(again.byKey(K2)).toBeUndefined();
    expect(failure(() => again.pin(INBOUND, "eve", K2)).code).toBe("conflict");
  });

  test("replaceKey gives every line of the name the new key, unverified", () => {
    const kp = KnownPeers.load(path);
    kp.update((k) => k.pin("a:1", "alice", K1));
    kp.update((k) => k.trust("alice"));
    kp.update((k) => k.replaceKey("alice", K2, "a:1"));
    expect(readFileSync(path, "utf8")).toBe(`a:1 alice ${H2} unverified\n`);
    expect(kp.check("a:1", K2).status).toBe("match");
    expect(kp.check("a:1", K1).status).toBe("changed");
    expect(kp.byKey(K1)).toBeUndefined();
  });

  test("appends a new pin without rewriting the file (written form only)", () => {
    const kp = KnownPeers.load(path);
    kp.update((k) => k.pin("a:1", "alice", K1));
    const ino = statSync(path).ino;
    kp.update((k) => k.pin("b:1", "bob", K2));
    expect(statSync(path).ino).toBe(ino); // the same file, appended to (a rewrite renames a new one in)
    expect(readFileSync(path, "utf8")).toBe(`a:1 alice ${H1} unverified\nb:1 bob ${H2} unverified\n`);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });
});

describe("a contact that moved (moveAddress, Trust.moved)", () => {
  test("the key's pin at the stale address names the new one, on disk, name and verified mark kept", () => {
    const kp = KnownPeers.load(path);
    kp.pin("10.0.0.7:7000", "alice", K1);
    kp.trust(K1);
    kp.pin("10.0.0.8:7000", "bob", K2);
    kp.save();
    expect(kp.moveAddress("10.0.0.7:7000", "10.0.0.9:7000", K1)).toBe(true);
    kp.save();
    expect(readFileSync(path, "utf8")).toBe(`10.0.0.9:7000 alice ${H1} verified\n10.0.0.8:7000 bob ${H2} unverified\n`);
    expect(KnownPeers.load(path).check("10.0.0.9:7000", K1).status).toBe("match");
    expect(KnownPeers.load(path).check("10.0.0.7:7000", K3).status).toBe("new");
  });

  test("never another key's pin, never onto an address another key holds, never a key with no pin", () => {
    const kp = KnownPeers.load(path);
    kp.pin("10.0.0.7:7000", "alice", K1);
    kp.pin("10.0.0.8:7000", "bob", K2);
    expect(kp.moveAddress("10.0.0.8:7000", "10.0.0.9:7000", K1)).toBe(false); // bob's pin, alice's key
    expect(kp.moveAddress("10.0.0.7:7000", "10.0.0.8:7000", K1)).toBe(false); // bob holds the target
    expect(kp.moveAddress("10.0.0.5:7000", "10.0.0.9:7000", K3)).toBe(false); // no pin: a stranger
    expect(kp.moveAddress(INBOUND, "10.0.0.9:7000", K1)).toBe(false);
    expect(kp.entries().map((e) => e.address)).toEqual(["10.0.0.7:7000", "10.0.0.8:7000"]);
  });

  test("Trust.moved: a contact's pin follows; a request's key (no pin) changes nothing on disk", () => {
    const kp = KnownPeers.load(path);
    kp.pin("10.0.0.7:7000", "alice", K1);
    kp.save();
    const before = readFileSync(path, "utf8");
    const t = new Trust(kp, { strict: false, allowNew: false }, () => {}, K3);
    expect(t.moved(K2, "10.0.0.7:7000", "10.0.0.9:7000")).toBe(false);
    expect(readFileSync(path, "utf8")).toBe(before);
    expect(t.moved(K1, "10.0.0.7:7000", "10.0.0.9:7000")).toBe(true);
    expect(readFileSync(path, "utf8")).toBe(`10.0.0.9:7000 alice ${H1} unverified\n`);
  });
});

describe("the pin store speaks in typed peer ids (src/chat/peer-id.ts)", () => {
  test("keys go in as PublicKey and a lookup by id takes a Pid; a key written in capitals on disk is the same Pid", () => {
    mkdirSync(join(dir, "home"), { mode: 0o700 });
    writeFileSync(path, `a:1 alice ${H1.toUpperCase()} verified\n`, { mode: 0o600 });
    const kp = KnownPeers.load(path);
    const pid: Pid = pidOf(K1);
    expect(kp.pinOf(pid)).toEqual({ name: "alice", verified: true });
    const [e] = kp.entries();
    const key: PublicKey = e!.publicKey;
    expect(pidOf(key)).toBe(pid);
    kp.pin("*", "bob", K2);
    expect(kp.byName("bob")?.publicKey).toEqual(K2);
    // A bare hex string or raw bytes are type errors (checked by `bun run typecheck`); at run time they are still checked.
    // @ts-expect-error a hex string is not a Pid
    expect(kp.pinOf(H2)).toEqual({ name: "bob", verified: false });
    // @ts-expect-error raw bytes are not a PublicKey
    expect(() => kp.byKey(new Uint8Array(31))).toThrow(TypeError);
  });
});
