/**
 * The sotto file case alone, with each process's CPU time: where bench/files.ts times the
 * wall clock, this says what the sender and the receiver spent (Linux /proc), which a
 * shared machine's load moves far less.
 *
 *   1. the same two `sotto chat --json` processes as bench/files.ts, the same file bytes;
 *   2. per run: the offer's hash (from /send to the sender's "offered"), /send to the
 *      receiver's "accepted", accepted → verified (the receiver's measure), /send →
 *      verified, and the CPU each process used from /send to verified, its hash checked
 *      (the run proves what it times); each main (JS) thread's time on a CPU, runnable
 *      but waiting for one, and blocked, which says which side the transfer waited for;
 *   3. with --perf DIR, `perf record -g` on both processes during each run (cycles, or the
 *      event given by --perf-event, e.g. `minor-faults`: where each fault is taken);
 *   4. with --ssh, each run is followed by OpenSSH's `cat` of the same file (bench/ssh.ts),
 *      its MB/s and the CPU of both its ends: sotto's CPU against OpenSSH's in one minute.
 *
 *   bun bench/files-cpu.ts [MB] [repeats] [--perf DIR [--perf-event EV]] [--ssh]     prints one JSON line per run
 */
import { linkSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnChild } from "./common.ts";
import { Chat, makeFile, type Ev } from "./files.ts";
import { cpuMs, mainThread, minorFaults } from "./proc.ts";
import { SshCat } from "./ssh.ts";
import { reap } from "./wire.ts";

export interface CpuRun {
  mbps: number;
  wireMbps: number;
  hashMs: number;
  /** From /send to the receiver's "accepted" (the offer's hash, the offer, the answer). */
  acceptedMs: number;
  cpuMs: { sender: number | null; receiver: number | null };
  /** Minor page faults of each process over the same span (fresh memory touched: buffers made per record). */
  faults: { sender: number | null; receiver: number | null };
  /** Each main thread over the same span: on a CPU, runnable but waiting for one, and blocked (wall less both). */
  main: { sender: Phases | null; receiver: Phases | null };
  /** With --ssh: OpenSSH's `cat` of the same file right after (set-up taken off), MB/s and the CPU of ssh, sshd's session and `wc`. */
  ssh?: { mbps: number; cpuMs: number | null };
}

export interface Phases {
  runMs: number;
  waitMs: number;
  blockedMs: number;
}

function phases(a: { runMs: number; waitMs: number } | null, b: { runMs: number; waitMs: number } | null, wallMs: number): Phases | null {
  if (a === null || b === null) return null;
  const runMs = Math.round(b.runMs - a.runMs), waitMs = Math.round(b.waitMs - a.waitMs);
  return { runMs, waitMs, blockedMs: Math.round(wallMs) - runMs - waitMs };
}

async function main(): Promise<void> {
  const pos = process.argv.slice(2).filter((a, i, all) => !a.startsWith("--") && all[i - 1] !== "--perf" && all[i - 1] !== "--perf-event");
  const size = Number(pos[0] ?? 256) * 1e6;
  const repeats = Number(pos[1] ?? 3);
  const p = process.argv.indexOf("--perf");
  const perfDir = p >= 0 ? process.argv[p + 1] : undefined;
  const ev = process.argv.indexOf("--perf-event");
  const perfEvent = ev >= 0 ? ["-e", process.argv[ev + 1]!] : ["-F", "2000"];
  const withSsh = process.argv.includes("--ssh");
  const dir = mkdtempSync(join(tmpdir(), "sotto-bench-files-cpu-"));
  let cat: SshCat | null = null;
  const recv = Chat.spawn(["--home", join(dir, "r"), "--name", "recv", "--port", "0", "--allow-new", "--accept-files", join(dir, "inbox")]);
  let send: Chat | null = null;
  try {
    const file = join(dir, "file.bin");
    const sha = makeFile(file, size);
    if (withSsh) {
      const small = join(dir, "small.bin");
      const got = await SshCat.start(3, { file: small, sha: makeFile(small, 1_000_003) });
      if (typeof got === "string") throw new Error(`--ssh: ${got}`);
      cat = got;
    }
    const port = (await recv.until((e) => e.type === "listening")).port!;
    send = Chat.spawn(["--home", join(dir, "s"), "--name", "send", "--no-listen", "--connect", `127.0.0.1:${port}`]);
    await send.until((e) => e.type === "connected");
    const done = (e: Ev) => e.type === "transfer" && (e.phase === "done" || e.phase === "failed");
    for (let r = 0; r < repeats; r++) {
      const name = join(dir, `run-${r}.bin`);
      linkSync(file, name);
      const perf = perfDir === undefined ? [] : [send, recv].map((c, i) => spawnChild(["perf", "record", ...perfEvent, "-g", "-p", String(c.proc.pid), "-o", join(perfDir, `${i === 0 ? "sender" : "receiver"}-${r}.data`)], { stdin: "ignore", stdout: "ignore", stderr: "ignore" }));
      if (perf.length > 0) await Bun.sleep(300);
      const c0 = [cpuMs(send.proc.pid), cpuMs(recv.proc.pid)];
      const f0 = [minorFaults(send.proc.pid), minorFaults(recv.proc.pid)];
      const m0 = [mainThread(send.proc.pid), mainThread(recv.proc.pid)];
      const t0 = performance.now();
      send.say(`/send ${name}`);
      const offered = send.until((e) => e.type === "transfer" && e.phase === "offered").then(() => performance.now() - t0);
      let acceptedMs = NaN;
      const e = await recv.until((ev) => {
        if (ev.type === "transfer" && ev.phase === "accepted" && Number.isNaN(acceptedMs)) acceptedMs = performance.now() - t0;
        return done(ev);
      });
      const ms = performance.now() - t0;
      const c1 = [cpuMs(send.proc.pid), cpuMs(recv.proc.pid)];
      const f1 = [minorFaults(send.proc.pid), minorFaults(recv.proc.pid)];
      const m1 = [mainThread(send.proc.pid), mainThread(recv.proc.pid)];
      for (const q of perf) q.kill("SIGINT");
      await Promise.all(perf.map((q) => q.exited));
      if (e.phase !== "done" || e.sha256 !== sha) throw new Error(`sotto transfer failed: ${JSON.stringify(e)}`);
      const used = (a: (number | null)[], b: (number | null)[], i: number) => (a[i] === null || b[i] === null ? null : b[i]! - a[i]!);
      const run: CpuRun = { mbps: size / 1e3 / ms, wireMbps: size / 1e3 / e.elapsedMs!, hashMs: await offered, acceptedMs, cpuMs: { sender: used(c0, c1, 0), receiver: used(c0, c1, 1) }, faults: { sender: used(f0, f1, 0), receiver: used(f0, f1, 1) }, main: { sender: phases(m0[0]!, m1[0]!, ms), receiver: phases(m0[1]!, m1[1]!, ms) } };
      // Step 4: OpenSSH's cat of the same file, in the same minute.
      if (cat !== null) run.ssh = await cat.cpu(file, size);
      console.log(JSON.stringify(run));
      rmSync(join(dir, "inbox", `run-${r}.bin`), { force: true });
    }
  } finally {
    cat?.stop();
    send?.proc.stdin.end();
    recv.proc.stdin.end();
    await Promise.all([send ? reap(send.proc, 3000) : null, reap(recv.proc, 3000)]);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) await main();
