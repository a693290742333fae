import { describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatInvite, INVITE_TOKEN_TTL_MS, INVITE_TOKEN_TYPE, InviteTokens, localInvites, parseInvite } from "../../../src/chat/trust/invite.ts";
import { encodeItems } from "../../../src/protocol/items.ts";

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

describe("invite tokens (PROTOCOL §15)", () => {
  test("a token rides in the line and parses back", () => {
    const t = Uint8Array.from({ length: 16 }, (_, i) => i);
    const line = formatInvite("10.0.0.7", 5000, FP, t);
    expect(line).toBe(`sotto://10.0.0.7:5000?t=000102030405060708090a0b0c0d0e0f#${HEX}`);
    expect(parseInvite(line)).toEqual({ address: "10.0.0.7:5000", fingerprint: HEX, token: t });
    expect(parseInvite(`sotto://10.0.0.7:5000?t=00#${HEX}`)).toBeNull();
  });
  test("§15.2 vector: the INVITE_TOKEN item's bytes", () => {
    const t = Uint8Array.from({ length: 16 }, (_, i) => i);
    expect(Buffer.from(encodeItems([{ kind: "ext", type: INVITE_TOKEN_TYPE, content: t }])).toString("hex")).toBe("b00010000102030405060708090a0b0c0d0e0f");
  });
  test("each token is used once; an unknown or short one never; at most 16 kept", () => {
    const tokens = new InviteTokens(mkdtempSync(join(tmpdir(), "sotto-invites-")));
    const a = tokens.make();
    expect(tokens.use(new Uint8Array(16))).toBe(false);
    expect(tokens.use(a.subarray(0, 8))).toBe(false);
    expect(tokens.use(a)).toBe(true);
    expect(tokens.use(a)).toBe(false);
    const first = tokens.make();
    for (let i = 0; i < 16; i++) tokens.make();
    expect(tokens.use(first)).toBe(false); // dropped: the 17th pushed it out
  });
  test("tokens live in the home: another process's InviteTokens on the same folder honours them, once; the file holds no token; they expire", () => {
    const dir = join(mkdtempSync(join(tmpdir(), "sotto-invites-")), "invites");
    let now = 1_000;
    const cli = new InviteTokens(dir, () => now);
    const t = cli.make();
    const [file] = readdirSync(dir);
    expect(file).toMatch(/^[0-9a-f]{64}$/);
    expect(file).not.toContain(Buffer.from(t).toString("hex"));
    expect(statSync(join(dir, file!)).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const listener = new InviteTokens(dir, () => now);
    expect(listener.use(t)).toBe(true);
    expect(cli.use(t)).toBe(false);
    const late = cli.make();
    now += INVITE_TOKEN_TTL_MS;
    expect(listener.use(late)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("InviteTokens: what else is in HOME/invites", () => {
  const hashOf = (t: Uint8Array) => new Bun.CryptoHasher("sha256").update(t).digest("hex");

  test("a FIFO, or a link to a device, named like a token is not read (the listener does not block) and the real token still works", () => {
    const dir = mkdtempSync(join(tmpdir(), "sotto-invites-"));
    const real = new InviteTokens(dir).make();
    Bun.spawnSync(["mkfifo", join(dir, "a".repeat(64))]);
    symlinkSync("/dev/zero", join(dir, "b".repeat(64)));
    // In a child process: reading the FIFO would block it (and the whole event loop) forever.
    const code = `import { InviteTokens } from ${JSON.stringify(join(import.meta.dir, "../../../src/chat/trust/invite.ts"))};
      const t = new InviteTokens(${JSON.stringify(dir)});
      console.log(t.use(new Uint8Array(16)), t.use(Buffer.from(${JSON.stringify(Buffer.from(real).toString("hex"))}, "hex")));`;
    const r = Bun.spawnSync([process.execPath, "-e", code], { timeout: 10_000 });
    expect(r.stdout.toString().trim()).toBe("false true");
    expect(r.exitCode).toBe(0);
  });

  test("a file not made by make (too big, or writable by others) honours no token", () => {
    const dir = mkdtempSync(join(tmpdir(), "sotto-invites-"));
    const tokens = new InviteTokens(dir);
    const big = new Uint8Array(16).fill(7);
    writeFileSync(join(dir, hashOf(big)), `${Date.now() + 60_000} 1${" ".repeat(1 << 20)}\n`, { mode: 0o600 });
    expect(tokens.use(big)).toBe(false);
    const open = tokens.make();
    chmodSync(join(dir, hashOf(open)), 0o666);
    expect(tokens.use(open)).toBe(false);
  });

  test("10,000 token files (not made by this sotto): one use leaves the newest 16, so the next look reads 16", () => {
    const dir = mkdtempSync(join(tmpdir(), "sotto-invites-"));
    for (let i = 0; i < 10_000; i++) writeFileSync(join(dir, hashOf(new Uint32Array([i]) as unknown as Uint8Array)), `${Date.now() + 60_000 + i} 1\n`, { mode: 0o600 });
    const tokens = new InviteTokens(dir);
    expect(tokens.use(new Uint8Array(16))).toBe(false);
    expect(readdirSync(dir).length).toBe(16);
  }, 30_000); // writing 10,000 files on a shared machine
});
