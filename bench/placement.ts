/**
 * Where the two processes of a throughput case run, and what each message costs them:
 *   bun bench/placement.ts [interactive|streaming] [size] [n] [rounds] [--one-core] [--smoke]
 *   1. one bench server per contender (bench/child.ts: TLS 1.3 and sotto), as the bench's
 *      throughput case starts them, and one connection to each, warmed up with the case
 *      itself (n messages) so that the JIT's tier-ups are not in the figures;
 *   2. per round and contender, the case runs under three placements (Linux `taskset`):
 *      `free` (the scheduler decides, as in `bun run bench`), `one core` (this process and
 *      the server on CPU 0: they take turns, so the rate follows the sum of their CPU) and
 *      `two cores` (this process on CPU 0, the server on CPU 1: every write may wake the
 *      other side);
 *   3. each run must end with FINISH reporting all n in order (as in the bench); printed:
 *      msg/s, and CPU per message of each side's JavaScript thread (user + system, from
 *      /proc/PID/task/TID/stat, so JIT and GC threads are left out).
 * `--one-core`: that placement only (the steadiest on a shared machine: an A/B of two trees).
 * Without taskset (or off Linux) only `free` runs. Contenders alternate within a round.
 */
import { readFileSync } from "node:fs";
import { closeSottoClient, RawConn, SottoConn, type Conn } from "./clients.ts";
import { Server } from "./e2e.ts";
import { makeCert, type Kind } from "./wire.ts";
import { Group } from "../src/protocol/constants.ts";

/** CPU ms (user + system) of thread `tid` of process `pid`, or NaN off Linux. */
function threadCpuMs(pid: number, tid = pid): number {
  try {
    const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * 10; // USER_HZ = 100
  } catch {
    return NaN;
  }
}

/** Pin every thread of `pid` to `cpus` (a taskset list); false when taskset is missing or fails. */
function pin(pid: number, cpus: string): boolean {
  if (Bun.which("taskset") === null) return false;
  return Bun.spawnSync(["taskset", "-a", "-p", "-c", cpus, String(pid)], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
}

type Placement = "free" | "one core" | "two cores";

async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
  const smoke = process.argv.includes("--smoke");
  const mode = args[0] === "streaming" ? "streaming" : "interactive";
  const size = Number(args[1] ?? 64);
  const n = Number(args[2] ?? (smoke ? 500 : mode === "streaming" ? 1_500_000 : 100_000));
  const rounds = Number(args[3] ?? (smoke ? 1 : 3));
  const cpus = navigator.hardwareConcurrency ?? 1;
  const canPin = process.platform === "linux" && cpus >= 2 && pin(process.pid, `0-${cpus - 1}`);
  const placements: Placement[] = !canPin ? ["free"] : process.argv.includes("--one-core") ? ["one core"] : ["free", "one core", "two cores"];
  if (!canPin) console.log("taskset is not available (or one CPU): only the free placement runs");
  const cert = makeCert();
  const kinds: Kind[] = ["tls", "sotto"];
  const servers = new Map<Kind, Server>();
  const conns = new Map<Kind, Conn>();
  for (const k of kinds) {
    const s = await Server.start(k, cert);
    servers.set(k, s);
    const c = k === "sotto" ? await SottoConn.open(s.port, Group.X25519) : await RawConn.open(s.port, k === "tls" ? { ca: cert.cert } : undefined);
    conns.set(k, c);
    await runOnce(c, size, n, mode === "interactive"); // warm-up: the case itself
  }
  const all = `0-${cpus - 1}`;
  console.log(`${mode} ${size} B × ${n}, ${rounds} round(s); load average ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
  console.log("| round | placement | contender | msg/s | sender µs/msg | server µs/msg |");
  console.log("|---:|---|---|---:|---:|---:|");
  for (let r = 1; r <= rounds; r++) {
    for (const p of placements) {
      for (const k of kinds) {
        const server = servers.get(k)!;
        const spid = server.proc.pid;
        if (canPin) {
          pin(process.pid, p === "free" ? all : "0");
          pin(spid, p === "free" ? all : p === "one core" ? "0" : "1");
        }
        const s0 = threadCpuMs(process.pid), c0 = threadCpuMs(spid);
        const ms = await runOnce(conns.get(k)!, size, n, mode === "interactive");
        const s1 = threadCpuMs(process.pid), c1 = threadCpuMs(spid);
        const per = (a: number, b: number) => (Number.isNaN(a) ? "–" : (((b - a) * 1000) / n).toFixed(2));
        console.log(`| ${r} | ${p} | ${k === "tls" ? "TLS 1.3" : "sotto"} | ${Math.round(n / (ms / 1000))} | ${per(s0, s1)} | ${per(c0, c1)} |`);
      }
    }
  }
  if (canPin) pin(process.pid, all);
  for (const k of kinds) {
    conns.get(k)!.close();
    await servers.get(k)!.stop();
  }
  await closeSottoClient();
}

/** One timed run of the case; throws unless FINISH reports all n in order. Returns ms. */
async function runOnce(c: Conn, size: number, n: number, perWrite: boolean): Promise<number> {
  const t0 = performance.now();
  await c.stream(size, n, perWrite);
  const rep = await c.finish();
  const ms = performance.now() - t0;
  if (rep.counter !== n || !rep.ok) throw new Error(`receiver got ${rep.counter} of ${n} messages${rep.ok ? "" : ", some out of order"}`);
  return ms;
}

if (import.meta.main) {
  await main();
  process.exit(0);
}
