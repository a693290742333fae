import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromHex, toHex } from "../../../src/crypto/bytes.ts";
import { ed25519FromSeed, ed25519Sign, ed25519Verify } from "../../../src/crypto/ed25519.ts";
import { IDENTITY_HEADER, IdentityFileError, defaultHome, fingerprint, loadOrCreateIdentity } from "../../../src/chat/trust/identity.ts";
import { thrown } from "../../support/thrown.ts";

// RFC 8032 §7.1 TEST 1: secret key (seed) and its public key.
const RFC8032_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const RFC8032_PUB = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

let dir: string;
let home: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "sotto-identity-"));
  home = join(dir, "nested", "sotto");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const refused = (fn: () => unknown): IdentityFileError => thrown(IdentityFileError, fn);

function writeIdentity(text: string, mode = 0o600): string {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const path = join(home, "identity");
  rmSync(path, { force: true });
  writeFileSync(path, text, { mode });
  chmodSync(path, mode);
  return path;
}

describe("loadOrCreateIdentity", () => {
  test("first run creates folder 0700 and file 0600 in the documented format", () => {
    const id = loadOrCreateIdentity(home, () => fromHex(RFC8032_SEED));
    expect(id.created).toBe(true);
    expect(id.path).toBe(join(home, "identity"));
    expect(toHex(id.publicKey)).toBe(RFC8032_PUB);
    expect(statSync(home).mode & 0o777).toBe(0o700);
    expect(statSync(id.path).mode & 0o777).toBe(0o600);
    expect(readFileSync(id.path, "utf8")).toBe(`${IDENTITY_HEADER}\n${RFC8032_SEED}\n`);
    expect(readdirSync(home)).toEqual(["identity"]); // no temp file left behind
  });

  test("second run loads the same key, and the private key signs for it", () => {
    const a = loadOrCreateIdentity(home);
    const b = loadOrCreateIdentity(home, () => {
      throw new Error("must not generate a new key");
    });
    expect(b.created).toBe(false);
    expect(toHex(b.publicKey)).toBe(toHex(a.publicKey));
    expect(toHex(b.seed)).toBe(toHex(a.seed));
    expect(toHex(ed25519FromSeed(b.seed).publicKey)).toBe(toHex(b.publicKey));
    const msg = new TextEncoder().encode("hello");
    expect(ed25519Verify(b.publicKey, msg, ed25519Sign(b.privateKey, msg))).toBe(true);
  });

  test("the seed buffer from newSeed is wiped after writing", () => {
    const seed = fromHex(RFC8032_SEED);
    const id = loadOrCreateIdentity(home, () => seed);
    expect(seed.every((b) => b === 0)).toBe(true);
    expect(toHex(id.seed)).toBe(RFC8032_SEED);
  });

  test("never overwrites a file another process created first (race)", () => {
    const path = join(home, "identity");
    const theirs = `${IDENTITY_HEADER}\n${"11".repeat(32)}\n`;
    const id = loadOrCreateIdentity(home, () => {
      mkdirSync(home, { recursive: true, mode: 0o700 });
      writeFileSync(path, theirs, { mode: 0o600 }); // the other sotto wins the race
      return fromHex(RFC8032_SEED);
    });
    expect(id.created).toBe(false);
    expect(toHex(id.seed)).toBe("11".repeat(32));
    expect(readFileSync(path, "utf8")).toBe(theirs);
    expect(readdirSync(home)).toEqual(["identity"]);
  });

  test("refuses a file readable by group or others, and leaves it alone", () => {
    for (const mode of [0o640, 0o604, 0o660, 0o610]) {
      const path = writeIdentity(`${IDENTITY_HEADER}\n${RFC8032_SEED}\n`, mode);
      const e = refused(() => loadOrCreateIdentity(home));
      expect(e.code).toBe("insecure_mode");
      expect(e.path).toBe(path);
      expect(e.message).toContain(path);
      expect(e.message).toContain("chmod 600");
      expect(readFileSync(path, "utf8")).toBe(`${IDENTITY_HEADER}\n${RFC8032_SEED}\n`);
    }
  });

  const CORRUPT: Record<string, [string, number]> = {
    identity_empty: ["", 1],
    identity_bad_header: [`sotto-identity-v2\n${RFC8032_SEED}\n`, 1],
    identity_truncated_no_seed: [`${IDENTITY_HEADER}\n`, 2],
    identity_truncated_seed: [`${IDENTITY_HEADER}\n${RFC8032_SEED.slice(0, 40)}`, 2],
    identity_seed_too_long: [`${IDENTITY_HEADER}\n${RFC8032_SEED}00\n`, 2],
    identity_seed_not_hex: [`${IDENTITY_HEADER}\n${RFC8032_SEED.slice(0, 62)}zz\n`, 2],
    identity_crlf: [`${IDENTITY_HEADER}\r\n${RFC8032_SEED}\r\n`, 1],
    identity_trailing_text: [`${IDENTITY_HEADER}\n${RFC8032_SEED}\nextra\n`, 3],
  };
  for (const [name, [text, line]] of Object.entries(CORRUPT)) {
    test(name, () => {
      const path = writeIdentity(text);
      const e = refused(() => loadOrCreateIdentity(home));
      expect(e.code).toBe("corrupt");
      expect(e.line).toBe(line);
      expect(e.message.startsWith(`${path}:${line}: `)).toBe(true);
      expect(readFileSync(path, "utf8")).toBe(text); // never overwritten
    });
  }

  test("a directory in place of the file is refused", () => {
    writeIdentity("");
    rmSync(join(home, "identity"));
    mkdirSync(join(home, "identity"));
    expect(refused(() => loadOrCreateIdentity(home)).code).toBe("not_a_file");
  });

  test("a home that is a file gives an io error naming the path", () => {
    writeFileSync(join(dir, "file"), "x");
    const e = refused(() => loadOrCreateIdentity(join(dir, "file")));
    expect(e.code).toBe("io");
    expect(e.path).toBe(join(dir, "file", "identity"));
  });
});

describe("defaultHome", () => {
  test("honours SOTTO_HOME, else ~/.config/sotto", () => {
    expect(defaultHome({ SOTTO_HOME: "/srv/sotto" })).toBe("/srv/sotto");
    expect(defaultHome({ SOTTO_HOME: "rel/dir" })).toBe(join(process.cwd(), "rel/dir"));
    expect(defaultHome({ SOTTO_HOME: "" }).endsWith(join(".config", "sotto"))).toBe(true);
    expect(defaultHome({}).endsWith(join(".config", "sotto"))).toBe(true);
  });
});

describe("fingerprint", () => {
  test("SHA-256 of the key as 16 groups of 4 hex digits", () => {
    const pub = fromHex(RFC8032_PUB);
    const fp = fingerprint(pub);
    expect(fp).toMatch(/^([0-9a-f]{4} ){15}[0-9a-f]{4}$/);
    // Independent computation with node:crypto.
    const want = createHash("sha256").update(pub).digest("hex");
    expect(fp.replaceAll(" ", "")).toBe(want);
  });

  test("rejects a key that is not 32 bytes", () => {
    expect(() => fingerprint(new Uint8Array(31))).toThrow(TypeError);
  });
});
