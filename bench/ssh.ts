/**
 * OpenSSH as a bench contender: the same record cipher as sotto (AES-256-CBC, then
 * HMAC-SHA256 over the ciphertext: `-c aes256-cbc -m hmac-sha2-256-etm@openssh.com`).
 *
 *   1. find `sshd` and `ssh`; without them the OpenSSH rows are skipped, with the reason;
 *   2. start a private sshd on a free loopback port: throw-away host and user keys, its
 *      own config, pid file and authorized keys in a temporary folder (the system's sshd
 *      config and ~/.ssh are never read or written; `ssh -F /dev/null`);
 *   3. prove the path: a small file through `sha256sum` on the far side, its hash checked;
 *   4. time a bulk copy through `ssh host 'wc -c'` (the `cat > /dev/null` figure, with the
 *      byte count checked) and through `ssh host sha256sum` (the receiver hashing, the
 *      hash checked). The set-up (`ssh host true`, median) is measured apart and taken
 *      off, so the figures are OpenSSH's steady bulk rate.
 *
 *   bun bench/ssh.ts [--smoke | --quick]     prints the result as JSON
 */
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseMode, runCommand as run, spawnChild, type Mode } from "./common.ts";
import { reapedCpuMs } from "./proc.ts";

/** The cipher OpenSSH is held to: sotto's AES-256-CBC. */
export const SSH_CIPHER = "aes256-cbc";
/** The MAC OpenSSH is held to: HMAC-SHA256 over the ciphertext, as sotto's records. */
export const SSH_MAC = "hmac-sha2-256-etm@openssh.com";

/** OpenSSH's figures in one run, or why there are none. */
export interface SshResult {
  available: boolean;
  /** Why the OpenSSH rows are missing, when they are. */
  reason?: string;
  version?: string;
  /** Median `ssh host true` wall time (ms): key exchange, authentication, channel. */
  setupMs?: number;
  bytes?: number;
  /** Bulk MB/s into `wc -c` (set-up taken off). */
  catMbps?: number;
  /** Bulk MB/s into `sha256sum` (set-up taken off). */
  hashMbps?: number;
  runs?: { cat: number[]; hash: number[] };
}

/** What is missing for the OpenSSH contender, or null when sshd and ssh are both there. */
export function sshMissing(): string | null {
  const sshd = sshdPath();
  const ssh = Bun.which("ssh");
  if (sshd === null && ssh === null) return "sshd and ssh are not installed (apt-get install openssh-server openssh-client)";
  if (sshd === null) return "sshd is not installed (apt-get install openssh-server)";
  if (ssh === null) return "ssh is not installed (apt-get install openssh-client)";
  return null;
}

function sshdPath(): string | null {
  return Bun.which("sshd") ?? (existsSync("/usr/sbin/sshd") ? "/usr/sbin/sshd" : null);
}

/** A free loopback TCP port (bound, read, released). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (a !== null && typeof a === "object" ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}

/** A private sshd on 127.0.0.1 and the ssh command line that reaches it. */
export class PrivateSshd {
  private constructor(
    readonly dir: string,
    readonly proc: Bun.Subprocess,
    readonly port: number,
    readonly version: string,
  ) {}

  /** Step 2. @throws Error when sshd does not start or does not accept the key. */
  static async start(): Promise<PrivateSshd> {
    const sshd = sshdPath()!;
    const dir = mkdtempSync(join(tmpdir(), "sotto-bench-sshd-"));
    for (const k of ["host", "id"]) {
      const r = run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sotto-bench", "-f", join(dir, k)]);
      if (r.code !== 0) throw new Error(`ssh-keygen failed: ${r.err.trim()}`);
    }
    writeFileSync(join(dir, "authorized_keys"), await Bun.file(join(dir, "id.pub")).text());
    // sshd started by root needs its privilege-separation directory (the Debian service
    // makes it at boot; a container may not have it). It is an empty runtime folder.
    if (process.getuid?.() === 0 && !existsSync("/run/sshd")) mkdirSync("/run/sshd", { mode: 0o755 });
    const port = await freePort();
    const cfg = [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${join(dir, "host")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "StrictModes no",
      // aes256-cbc is off by default in OpenSSH; allow exactly sotto's suite.
      `Ciphers ${SSH_CIPHER}`,
      `MACs ${SSH_MAC}`,
      "Compression no",
    ].join("\n");
    writeFileSync(join(dir, "sshd_config"), cfg + "\n");
    writeFileSync(join(dir, "known_hosts"), `[127.0.0.1]:${port} ${await Bun.file(join(dir, "host.pub")).text()}`);
    const proc = spawnChild([sshd, "-D", "-e", "-f", join(dir, "sshd_config")], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    const v = run(["ssh", "-V"]);
    const s = new PrivateSshd(dir, proc, port, (v.err || v.out).trim());
    for (let i = 0; ; i++) {
      const r = s.exec("true");
      if (r.code === 0) break;
      if (i >= 50 || proc.exitCode !== null) {
        s.stop();
        throw new Error(`private sshd did not accept the bench key: ${r.err.trim()}`);
      }
      await Bun.sleep(100);
    }
    return s;
  }

  /** The ssh command line for `remote` on this sshd, with sotto's suite forced. */
  argv(remote: string): string[] {
    return [
      "ssh", "-F", "/dev/null", "-p", String(this.port), "-i", join(this.dir, "id"),
      "-o", `UserKnownHostsFile=${join(this.dir, "known_hosts")}`, "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
      "-c", SSH_CIPHER, "-m", SSH_MAC, "-o", "Compression=no",
      `${loginName()}@127.0.0.1`, remote,
    ];
  }

  /** Run `remote` with `stdin` (a path) as its input. */
  exec(remote: string, stdin?: string): { code: number; out: string; err: string } {
    return run(this.argv(remote), stdin);
  }

  stop(): void {
    this.proc.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The login name of this process's user (os.userInfo() can say "unknown" in a container). */
function loginName(): string {
  return run(["id", "-un"]).out.trim();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[(s.length - 1) >> 1]!;
}

/** Write `size` deterministic bytes to `path`; returns their SHA-256 hex. */
function makeFile(path: string, size: number): string {
  const piece = new Uint8Array(1 << 20);
  for (let i = 0; i < piece.length; i++) piece[i] = (i * 131 + 7) & 0xff;
  const h = new Bun.CryptoHasher("sha256");
  const fd = openSync(path, "w");
  for (let off = 0; off < size; off += piece.length) {
    const n = Math.min(piece.length, size - off);
    piece[0] = off & 0xff;
    h.update(piece.subarray(0, n));
    writeSync(fd, piece, 0, n);
  }
  closeSync(fd);
  return h.digest("hex");
}

/**
 * OpenSSH's `cat` of one file, a run at a time, for another case to run in turns with its
 * own runs (bench/files.ts): both then see the same minutes of a shared machine's load.
 */
export class SshCat {
  private constructor(
    readonly sshd: PrivateSshd,
    /** Median `ssh host true` (ms), taken off every run. */
    readonly setupMs: number,
  ) {}

  /**
   * A private sshd and its set-up time, the path proved first by `proof` (a small file
   * through `sha256sum`, its hash checked); the reason instead when sshd or ssh is missing.
   * @throws Error when sshd does not start or the proof's hash does not come back.
   */
  static async start(setups: number, proof: { file: string; sha: string }): Promise<SshCat | string> {
    const missing = sshMissing();
    if (missing !== null) return missing;
    const sshd = await PrivateSshd.start();
    try {
      const check = sshd.exec("sha256sum", proof.file);
      if (check.code !== 0 || check.out.split(/\s/)[0] !== proof.sha) throw new Error(`OpenSSH check copy failed: ${check.err.trim() || check.out.trim()}`);
      return new SshCat(sshd, setupTime(sshd, setups));
    } catch (e) {
      sshd.stop();
      throw e;
    }
  }

  /**
   * One run of `file` (`size` bytes) into `wc -c`, with the CPU both ends used: the ssh
   * client's (its rusage) and the server side's (sshd's session and `wc`, counted into the
   * private sshd's children time when it reaps them, Linux /proc), less one `ssh host true`
   * measured the same way; null CPU where /proc does not say.
   * @throws Error when the byte count that came back is not `size`.
   */
  async cpu(file: string, size: number): Promise<{ mbps: number; cpuMs: number | null }> {
    const setup = await this.#cpuOf("true", undefined, () => true);
    const run = await this.#cpuOf("wc -c", file, (o) => Number(o) === size);
    return { mbps: size / 1e3 / Math.max(1, run.ms - this.setupMs), cpuMs: run.cpuMs === null || setup.cpuMs === null ? null : Math.max(0, run.cpuMs - setup.cpuMs) };
  }

  async #cpuOf(remote: string, stdin: string | undefined, ok: (out: string) => boolean): Promise<{ ms: number; cpuMs: number | null }> {
    const pid = this.sshd.proc.pid;
    const before = reapedCpuMs(pid);
    const t0 = performance.now();
    const r = run(this.sshd.argv(remote), stdin);
    const ms = performance.now() - t0;
    if (r.code !== 0 || !ok(r.out.trim())) throw new Error(`OpenSSH ${remote} run failed: ${r.err.trim() || r.out.trim()}`);
    const client = r.cpuMs;
    if (before === null) return { ms, cpuMs: null };
    // The session ends just after the client: wait (a little) until sshd has reaped it.
    let after = reapedCpuMs(pid)!;
    for (let i = 0; i < 50 && after === before; i++) {
      await Bun.sleep(10);
      after = reapedCpuMs(pid) ?? after;
    }
    return { ms, cpuMs: Math.round(client + (after - before)) };
  }

  /** One run of `file` (`size` bytes) into `wc -c`: MB/s with the set-up taken off. @throws Error when the byte count that came back is not `size`. */
  mbps(file: string, size: number): number {
    return size / 1e3 / timedRun(this.sshd, "wc -c", file, this.setupMs, (o) => Number(o) === size);
  }

  stop(): void {
    this.sshd.stop();
  }
}

/** The median of `n` runs of `ssh host true` (ms). @throws Error when one fails. */
function setupTime(sshd: PrivateSshd, n: number): number {
  const setups: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = sshd.exec("true");
    setups.push(performance.now() - t0);
    if (r.code !== 0) throw new Error(`ssh set-up failed: ${r.err.trim()}`);
  }
  return median(setups);
}

/** `file` through `ssh host remote`, checked by `ok` on its output: ms with the set-up taken off. */
function timedRun(sshd: PrivateSshd, remote: string, file: string, setupMs: number, ok: (out: string) => boolean): number {
  const t0 = performance.now();
  const r = sshd.exec(remote, file);
  const ms = performance.now() - t0;
  if (r.code !== 0 || !ok(r.out.trim())) throw new Error(`OpenSSH ${remote} run failed: ${r.err.trim() || r.out.trim()}`);
  return Math.max(1, ms - setupMs);
}

const PLAN: Record<Mode, { size: number; repeats: number; setups: number }> = {
  full: { size: 256_000_000, repeats: 3, setups: 5 },
  quick: { size: 256_000_000, repeats: 1, setups: 3 },
  smoke: { size: 8_000_000, repeats: 1, setups: 1 },
};

/**
 * Steps 1–4. `file`/`sha` may name the file the other contenders move (same bytes for
 * all); otherwise one of the plan's size is made here.
 * @throws Error when a byte count or hash that came back does not match.
 */
export async function runSsh(mode: Mode, log: (s: string) => void = () => {}, given?: { file: string; sha: string; size: number }): Promise<SshResult> {
  const missing = sshMissing();
  if (missing !== null) {
    log(`  OpenSSH rows skipped: ${missing}`);
    return { available: false, reason: missing };
  }
  const plan = PLAN[mode];
  const dir = mkdtempSync(join(tmpdir(), "sotto-bench-sshsrc-"));
  let sshd: PrivateSshd | null = null;
  try {
    const file = given?.file ?? join(dir, "file.bin");
    const size = given?.size ?? plan.size;
    const sha = given?.sha ?? makeFile(file, size);
    sshd = await PrivateSshd.start();
    // Step 3: prove the path first.
    const small = join(dir, "small.bin");
    const smallSha = makeFile(small, 1_000_003);
    const check = sshd.exec("sha256sum", small);
    if (check.code !== 0 || check.out.split(/\s/)[0] !== smallSha) throw new Error(`OpenSSH check copy failed: ${check.err.trim() || check.out.trim()}`);
    const setupMs = setupTime(sshd, plan.setups);
    const timed = (remote: string, ok: (out: string) => boolean): number => timedRun(sshd!, remote, file, setupMs, ok);
    const cat: number[] = [], hash: number[] = [];
    for (let i = 0; i < plan.repeats; i++) {
      cat.push(timed("wc -c", (o) => Number(o) === size));
      hash.push(timed("sha256sum", (o) => o.split(/\s/)[0] === sha));
    }
    const res: SshResult = { available: true, version: sshd.version, setupMs, bytes: size, catMbps: size / 1e3 / median(cat), hashMbps: size / 1e3 / median(hash), runs: { cat, hash } };
    log(`  OpenSSH ${SSH_CIPHER} + ${SSH_MAC}: ${res.catMbps!.toFixed(0)} MB/s into wc -c, ${res.hashMbps!.toFixed(0)} MB/s into sha256sum (set-up ${setupMs.toFixed(0)} ms, taken off)`);
    return res;
  } finally {
    sshd?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const mode = parseMode();
  console.log(JSON.stringify(await runSsh(mode, (s) => console.error(s)), null, 2));
}
