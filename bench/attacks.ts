/**
 * The floods of the budgets work (docs/SECURITY.md §10), shared by the bounded tests in
 * test/hostile/budgets.test.ts and budgets-admission.test.ts and by `bun run stress --attack …` (bench/attack.ts), at
 * the scale each asks for. Every flood runs against a listener in its own process
 * (attack-listener.ts), so that the RSS read from /proc is the listener's alone.
 */
import net from "node:net";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDiffieHellman, randomBytes } from "node:crypto";
import { sottoEnv } from "../src/cli/runtime.ts";
import { concat } from "../src/crypto/bytes.ts";
import { bigIntToBytes, FFDHE } from "../src/crypto/ffdhe.ts";
import { FrameType, Group, MAX_PLAINTEXT } from "../src/protocol/constants.ts";
import { encodeHello } from "../src/protocol/handshake.ts";
import { encodeItems, type Item } from "../src/protocol/items.ts";
import type { Limits } from "../src/net/limits.ts";
import { Evil } from "../test/hostile/evil.ts";

/** A listener process: its port, its RSS and peak RSS (bytes), and a way to stop it. */
export interface ListenerProcess {
  port: number;
  maxSessions: number;
  pid: number;
  /** VmRSS now. */
  rss(): number;
  /** VmHWM: the highest RSS so far. */
  peak(): number;
  /** Hold the listener's event loop for `ms` (a bare Peer listener only). */
  block?(ms: number): void;
  stop(): Promise<void>;
}

function status(pid: number, field: string): number {
  const t = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(t);
  if (m === null) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/**
 * Start attack-listener.ts with `limits` (defaults otherwise); `fdLimit` runs it under
 * `ulimit -n`. `warm`: the FFDHE groups whose context it builds before listening (default
 * both; each costs seconds of CPU, so a case whose floods and good peers use X25519 only
 * can pass []).
 */
export async function startListener(o: { limits?: Partial<Limits>; accept?: Group[]; fdLimit?: number; warm?: Group[] } = {}): Promise<ListenerProcess> {
  const script = new URL("./attack-listener.ts", import.meta.url).pathname;
  const arg = JSON.stringify({ limits: o.limits, accept: o.accept, warm: o.warm });
  // ATTACK_PROF=<dir>: the listener writes a CPU profile (markdown) there when it exits.
  const prof = process.env.ATTACK_PROF ? ["--cpu-prof-md", `--cpu-prof-dir=${process.env.ATTACK_PROF}`] : [];
  const cmd = o.fdLimit ? ["sh", "-c", `ulimit -n ${o.fdLimit} && exec "$0" "$1" "$2"`, process.execPath, script, arg] : [process.execPath, ...prof, script, arg];
  const proc = Bun.spawn(cmd, { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const reader = proc.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the listener exited before listening");
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const first = JSON.parse(text.slice(0, text.indexOf("\n"))) as { port: number; maxSessions: number };
  return {
    port: first.port,
    maxSessions: first.maxSessions,
    pid: proc.pid,
    rss: () => status(proc.pid, "VmRSS"),
    peak: () => status(proc.pid, "VmHWM"),
    block: (ms) => {
      proc.stdin.write(`block ${ms}\n`);
      proc.stdin.flush();
    },
    stop: async () => {
      proc.stdin.end();
      const t = setTimeout(() => proc.kill(), 2000);
      await proc.exited;
      clearTimeout(t);
    },
  };
}

/**
 * A real `sotto chat --json --allow-new` process as the listener (for the `text` attack:
 * the chat's own TEXT path, events, store and history), stdout to /dev/null (a front end
 * that keeps up), every key a contact.
 */
export async function startChatListener(): Promise<ListenerProcess> {
  const home = mkdtempSync(join(tmpdir(), "sotto-attack-"));
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  const main = new URL("../src/cli/main.ts", import.meta.url).pathname;
  const prof = process.env.ATTACK_PROF ? ["--cpu-prof-md", `--cpu-prof-dir=${process.env.ATTACK_PROF}`] : [];
  const proc = Bun.spawn([process.execPath, ...prof, main, "chat", "--json", "--home", home, "--host", "127.0.0.1", "--port", String(port), "--name", "listener", "--allow-new"], { stdin: "pipe", stdout: "ignore", stderr: "inherit", env: sottoEnv() });
  for (const end = performance.now() + 15_000; ; ) {
    const s = await rawConnect(port, "127.0.0.1");
    if (s !== null) {
      s.destroy();
      break;
    }
    if (performance.now() > end) throw new Error("the chat listener did not listen");
    await Bun.sleep(50);
  }
  return {
    port,
    maxSessions: 0,
    pid: proc.pid,
    rss: () => status(proc.pid, "VmRSS"),
    peak: () => status(proc.pid, "VmHWM"),
    stop: async () => {
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill(9), 3000);
      await proc.exited;
      clearTimeout(t);
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/**
 * The `text` attack: one contact sends short TEXTs at `perSecond` (under the chat's
 * textPerSecond, 100,000), in one record every 10 ms, for `ms`. Resolves with how many.
 */
export async function textFlood(port: number, perSecond: number, ms: number): Promise<number> {
  const e = await Evil.open(port);
  const per = Math.max(1, Math.round(perSecond / 100));
  let id = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms && !e.a.closed) {
    // Paced by the clock, not by the listener: the sender is ahead when the listener lags.
    const due = Math.floor(((performance.now() - t0) / 1000) * perSecond);
    while (id < due && !e.a.closed) {
      const items: Item[] = [];
      for (let i = 0; i < per && id < due; i++) items.push({ kind: "text", id: BigInt(++id), text: `flood ${id}` });
      e.send(items);
    }
    await Bun.sleep(10);
  }
  e.a.destroy();
  return id;
}

/** A raw connection from `localAddress` (loopback), resolved once connected; never rejects. */
export function rawConnect(port: number, localAddress: string): Promise<net.Socket | null> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port, localAddress });
    s.on("error", () => resolve(null));
    s.on("data", () => {});
    s.once("connect", () => resolve(s));
  });
}

/** One real share per group, g^x mod p for a random x: what an honest initiator sends (made once). */
const realShares = new Map<Group, Uint8Array>();
function realShare(group: Group): Uint8Array {
  let s = realShares.get(group);
  if (s === undefined) {
    const g = group === Group.FFDHE2048 ? FFDHE.ffdhe2048 : FFDHE.ffdhe3072;
    const dh = createDiffieHellman(bigIntToBytes(g.p, g.len), new Uint8Array([2]));
    dh.generateKeys();
    s = bigIntToBytes(BigInt("0x" + dh.getPublicKey("hex")), g.len);
    realShares.set(group, s);
  }
  return s;
}

/**
 * An FFDHE HELLO. By default its share is a real one (a random quadratic residue, as an
 * attacker replaying an honest HELLO sends: the subgroup check of it costs a Jacobi symbol
 * over the whole modulus); `cheap`: 4 = 2^2, which passes the same checks in a few steps.
 */
export function ffdheHello(group: Group, cheap = false): Uint8Array {
  const share = cheap ? bigIntToBytes(4n, group === Group.FFDHE2048 ? 256 : 384) : realShare(group);
  return encodeHello(FrameType.HELLO, group, randomBytes(32), share);
}

/** The largest RECORD frame (random bytes: it fails its tag, once judged). */
export function largestRecord(): Uint8Array {
  const body = randomBytes(65_344);
  return concat(new Uint8Array([(body.length + 1) >> 8, (body.length + 1) & 0xff, FrameType.RECORD]), body);
}

/**
 * Attack 1: `n` connections from `sources` loopback addresses each send an ffdhe3072
 * HELLO and four of the largest RECORDs, then wait. Resolves with the sockets.
 */
export async function preAuthFlood(port: number, n: number, sources = 16): Promise<net.Socket[]> {
  const payload = concat(ffdheHello(Group.FFDHE3072), largestRecord(), largestRecord(), largestRecord(), largestRecord());
  const socks = await Promise.all(Array.from({ length: n }, (_, i) => rawConnect(port, `127.0.0.${2 + (i % sources)}`)));
  const open = socks.filter((s): s is net.Socket => s !== null);
  for (const s of open) s.write(payload);
  return open;
}

/**
 * Attack 3: ffdhe3072 HELLOs (or `hello`) from one address, each connection closed at once, at `perSecond`
 * for `ms` (and on until `atLeast` were sent, up to 3 × ms). Resolves with how many were sent.
 */
export async function kexFlood(port: number, perSecond: number, ms: number, localAddress = "127.0.0.2", atLeast = 0, hello = ffdheHello(Group.FFDHE3072)): Promise<number> {
  const t0 = performance.now();
  let sent = 0;
  // `atLeast`: past `ms`, go on (up to 3 × ms) until that many were sent, so that a loaded
  // machine, on which this loop falls behind its rate, still delivers the flood's size.
  while (performance.now() < t0 + ms || (sent < atLeast && performance.now() < t0 + 3 * ms)) {
    const batch = Math.max(1, Math.round(perSecond / 100));
    for (let i = 0; i < batch; i++) {
      const s = net.connect({ host: "127.0.0.1", port, localAddress });
      s.on("error", () => {});
      s.once("connect", () => {
        s.end(hello);
        sent++;
      });
    }
    await Bun.sleep(10);
  }
  return sent;
}

/**
 * Attack 5: `addresses` sources in one /24 (127.0.1.x) hold `perAddress` silent connections
 * each, re-opening each as soon as the listener drops it, until `stop()`.
 */
export function halfOpenFlood(port: number, addresses: number, perAddress: number): { stop(): void; open(): number } {
  let running = true;
  const live = new Set<net.Socket>();
  const one = (addr: string) => {
    if (!running) return;
    const s = net.connect({ host: "127.0.0.1", port, localAddress: addr });
    s.on("data", () => {});
    s.on("error", () => {});
    s.on("close", () => {
      live.delete(s);
      setTimeout(() => one(addr), 5);
    });
    live.add(s);
  };
  for (let a = 1; a <= addresses; a++) for (let i = 0; i < perAddress; i++) one(`127.0.1.${a}`);
  return {
    stop: () => {
      running = false;
      for (const s of live) s.destroy();
    },
    open: () => live.size,
  };
}

/** One record's plaintext of `n` PINGs (5,934 fill a record: each PING is 11 bytes). */
export function pingRecord(n = Math.floor(MAX_PLAINTEXT / 11)): Uint8Array {
  return encodeItems(Array.from({ length: n }, (): Item => ({ kind: "ping", data: randomBytes(8) })));
}
