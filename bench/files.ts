/**
 * The file-transfer case of `bun run bench`: one 256 MB file (8 MB under --smoke) over
 * loopback, sotto against plain TCP and TLS 1.3 in the same run.
 *
 *   1. sotto: two real `sotto chat --json` processes; `/send FILE` on one, the other
 *      runs with --accept-files. Timed from the /send line to the receiver's "done"
 *      event: the sender hashes the file, offers it, streams 60 KiB chunks under
 *      backpressure, and the receiver writes, hashes and verifies. "wire" is the
 *      receiver's own accepted → verified time (no pre-hash).
 *   2. plain TCP and TLS 1.3: the same file read 1 MiB at a time and written to a socket
 *      with backpressure; the receiver (this file, `recv`, in a child process) writes each
 *      chunk to disk and hashes it, as sotto's receiver does. Timed from the connect to
 *      the receiver's report.
 *   3. before anything is timed, a small file goes through each path and its hash is
 *      checked; every timed run checks the received hash too (STYLE: a benchmark proves
 *      what it times is correct);
 *   4. when sshd and ssh are installed, each sotto run is followed by one OpenSSH `cat`
 *      of the same file (ssh.ts SshCat, byte count checked): the ratio of each pair was
 *      measured in the same minute, so a shared machine's changing load moves both.
 *
 *   bun bench/files.ts [--smoke | --quick]     prints the rows as JSON
 */
import { closeSync, linkSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Socket } from "bun";
import { RUNTIME_ENV } from "../src/cli/runtime.ts";
import { bunChild, median, parseMode, type Mode, type RatioRow } from "./common.ts";
import { cpuMs } from "./proc.ts";
import { SshCat } from "./ssh.ts";
import { Lines, makeCert, reap, type Cert, type Kind } from "./wire.ts";

export interface FileRow {
  kind: Kind;
  bytes: number;
  /** Median wall time of the runs (ms). */
  ms: number;
  mbps: number;
  /** sotto only: accepted → verified, as the receiver measured it. */
  wireMbps?: number;
  runs: number[];
  /**
   * sotto only, step 4: OpenSSH's `cat` MB/s run right after each sotto run, and the median of
   * the pairs' ratios; with /proc, the CPU of each run too (sotto: both processes, /send →
   * verified; OpenSSH: both ends, its set-up taken off), which a shared machine's load moves less.
   */
  paired?: { sshCatMbps: number[]; ratios: number[]; ratio: number; cpu?: { sotto: number[]; ssh: number[]; ratio: number } };
}

/** Step 4: the median of each pair's ratio (a ÷ b, MB/s measured in turns). @throws RangeError unless both lists are as long, and not empty. */
export function pairedRatio(a: readonly number[], b: readonly number[]): { ratios: number[]; ratio: number } {
  if (a.length !== b.length || a.length === 0) throw new RangeError(`expected two lists of one length, got ${a.length} and ${b.length}`);
  const ratios = a.map((v, i) => v / b[i]!);
  return { ratios, ratio: median(ratios) };
}
export interface FilesResult {
  size: number;
  rows: FileRow[];
}

const PLAN: Record<Mode, { size: number; repeats: number }> = {
  full: { size: 256_000_000, repeats: 3 },
  quick: { size: 256_000_000, repeats: 1 },
  smoke: { size: 8_000_000, repeats: 1 },
};
const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;
const SELF = new URL(import.meta.url).pathname;
const PIECE = 1 << 20;

/** Write `size` bytes (1 MiB at a time) and return their SHA-256 hex. */
export function makeFile(path: string, size: number): string {
  const buf = new Uint8Array(PIECE);
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 167 + 13) & 0xff;
  const h = new Bun.CryptoHasher("sha256");
  const fd = openSync(path, "w");
  for (let off = 0; off < size; off += PIECE) {
    const n = Math.min(PIECE, size - off);
    new DataView(buf.buffer).setFloat64(0, off);
    h.update(buf.subarray(0, n));
    writeSync(fd, buf, 0, n);
  }
  closeSync(fd);
  return h.digest("hex");
}

export type Ev = { type: string; phase?: string; sha256?: string; elapsedMs?: number; port?: number };

/** A `sotto chat --json` child, its events read one JSON line at a time. */
export class Chat {
  readonly lines: Lines;
  constructor(readonly proc: Bun.Subprocess<"pipe", "pipe", "ignore">) {
    this.lines = new Lines(proc.stdout);
  }
  static spawn(args: string[]): Chat {
    return new Chat(bunChild(MAIN, ["chat", "--json", "--host", "127.0.0.1", ...args], { stdin: "pipe", stdout: "pipe", stderr: "ignore", env: { NO_COLOR: "1", ...RUNTIME_ENV } }));
  }
  say(line: string): void {
    this.proc.stdin.write(`${line}\n`);
    this.proc.stdin.flush();
  }
  async until(pred: (e: Ev) => boolean): Promise<Ev> {
    for (;;) {
      const e = await this.lines.next<Ev>();
      if (pred(e)) return e;
    }
  }
}

async function sotto(file: string, sha: string, smallFile: string, smallSha: string, repeats: number, size: number, log: (s: string) => void, cat: SshCat | null): Promise<FileRow> {
  const dir = mkdtempSync(join(tmpdir(), "sotto-bench-files-"));
  const inbox = join(dir, "inbox");
  // --allow-new: the sender that dials in is a contact, so its offers are taken (a request's would not be).
  const recv = Chat.spawn(["--home", join(dir, "r"), "--name", "recv", "--port", "0", "--allow-new", "--accept-files", inbox]);
  let send: Chat | null = null;
  try {
    const port = (await recv.until((e) => e.type === "listening")).port!;
    send = Chat.spawn(["--home", join(dir, "s"), "--name", "send", "--no-listen", "--connect", `127.0.0.1:${port}`]);
    await send.until((e) => e.type === "connected");
    const done = (e: Ev) => e.type === "transfer" && (e.phase === "done" || e.phase === "failed");
    // Step 3: prove the path first.
    send.say(`/send ${smallFile}`);
    const check = await recv.until(done);
    if (check.phase !== "done" || check.sha256 !== smallSha) throw new Error(`sotto check transfer failed: ${JSON.stringify(check)}`);
    const runs: number[] = [];
    const wire: number[] = [];
    const sshCat: number[] = [];
    const cpu: { sotto: number[]; ssh: number[] } = { sotto: [], ssh: [] };
    const both = () => [cpuMs(send!.proc.pid), cpuMs(recv.proc.pid)];
    for (let r = 0; r < repeats; r++) {
      // A new name each run: the same (sender, name, size, hash) would be answered "already received".
      const name = join(dir, `run-${r}.bin`);
      linkSync(file, name);
      const c0 = both();
      const t0 = performance.now();
      send.say(`/send ${name}`);
      const e = await recv.until(done);
      runs.push(performance.now() - t0);
      const c1 = both();
      if (e.phase !== "done" || e.sha256 !== sha) throw new Error(`sotto transfer failed: ${JSON.stringify(e)}`);
      wire.push(e.elapsedMs!);
      rmSync(join(inbox, `run-${r}.bin`), { force: true });
      // Step 4: OpenSSH's cat of the same file, in the same minute.
      if (cat !== null) {
        const o = await cat.cpu(file, size);
        sshCat.push(o.mbps);
        if (o.cpuMs !== null && c0.every((c) => c !== null) && c1.every((c) => c !== null)) {
          cpu.sotto.push(c1[0]! - c0[0]! + c1[1]! - c0[1]!);
          cpu.ssh.push(o.cpuMs);
        }
      }
    }
    const ms = median(runs);
    const row: FileRow = { kind: "sotto", bytes: size, ms, mbps: size / 1e3 / ms, wireMbps: size / 1e3 / median(wire), runs };
    if (cat !== null) row.paired = { sshCatMbps: sshCat, ...pairedRatio(runs.map((t) => size / 1e3 / t), sshCat) };
    // CPU as a ratio like the rest (> 1 better): OpenSSH's CPU over sotto's, pair by pair.
    if (row.paired && cpu.sotto.length === repeats) row.paired.cpu = { ...cpu, ratio: pairedRatio(cpu.ssh, cpu.sotto).ratio };
    log(`  file ${(size / 1e6).toFixed(0)} MB sotto: ${row.mbps.toFixed(0)} MB/s from /send (${row.wireMbps!.toFixed(0)} MB/s accepted → verified)`);
    if (row.paired) log(`  in turns with OpenSSH's cat (${row.paired.sshCatMbps.map((v) => v.toFixed(0)).join(", ")} MB/s): ${row.paired.ratios.map((v) => `${v.toFixed(2)}×`).join(", ")}`);
    if (row.paired?.cpu) log(`  CPU: sotto ${row.paired.cpu.sotto.join(", ")} ms, OpenSSH's cat ${row.paired.cpu.ssh.join(", ")} ms`);
    return row;
  } finally {
    send?.proc.stdin.end();
    recv.proc.stdin.end();
    await Promise.all([send ? reap(send.proc, 3000) : null, reap(recv.proc, 3000)]);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Step 2, sending side: the file to 127.0.0.1:port, 1 MiB at a time, waiting for drain. */
async function sendRaw(kind: Kind, port: number, cert: Cert, path: string, size: number): Promise<void> {
  let wake: (() => void) | null = null;
  const sock = await new Promise<Socket<null>>((resolve, reject) => {
    void Bun.connect<null>({
      hostname: "127.0.0.1",
      port,
      data: null,
      tls: kind === "tls" ? { ca: cert.cert, serverName: "localhost" } : undefined,
      socket: {
        open: (s) => void (kind !== "tls" && resolve(s)),
        handshake: (s, ok, err) => (ok || err === null ? resolve(s) : reject(err)),
        data: () => {},
        drain: () => wake?.(),
        error: (_s, e) => reject(e),
        connectError: (_s, e) => reject(e),
      },
    }).catch(reject);
  });
  const buf = new Uint8Array(PIECE);
  const fd = openSync(path, "r");
  try {
    for (let pos = 0; pos < size; ) {
      const n = readSync(fd, buf, 0, Math.min(PIECE, size - pos), pos);
      for (let off = 0; off < n; ) {
        off += Math.max(0, sock.write(buf.subarray(off, n)));
        if (off < n) await new Promise<void>((r) => (wake = r));
      }
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
  sock.end();
}

async function raw(kind: Kind, cert: Cert, file: string, sha: string, small: string, smallSha: string, size: number, repeats: number, log: (s: string) => void): Promise<FileRow> {
  const dir = mkdtempSync(join(tmpdir(), "sotto-bench-raw-"));
  const once = async (path: string, n: number, want: string): Promise<number> => {
    const child = bunChild(SELF, ["recv", kind, cert.dir, join(dir, "out.bin")], { stdin: "ignore", stdout: "pipe", stderr: "inherit" });
    try {
      const lines = new Lines(child.stdout);
      const { port } = await lines.next<{ port: number }>();
      const t0 = performance.now();
      await sendRaw(kind, port, cert, path, n);
      const r = await lines.next<{ bytes: number; sha256: string }>();
      const ms = performance.now() - t0;
      if (r.bytes !== n || r.sha256 !== want) throw new Error(`${kind} transfer failed: got ${r.bytes} bytes, hash ${r.sha256}`);
      return ms;
    } finally {
      await reap(child, 2000);
      rmSync(join(dir, "out.bin"), { force: true });
    }
  };
  try {
    await once(small, statSync(small).size, smallSha); // step 3: prove the path first
    const runs: number[] = [];
    for (let r = 0; r < repeats; r++) runs.push(await once(file, size, sha));
    const ms = median(runs);
    const row: FileRow = { kind, bytes: size, ms, mbps: size / 1e3 / ms, runs };
    log(`  file ${(size / 1e6).toFixed(0)} MB ${kind}: ${row.mbps.toFixed(0)} MB/s`);
    return row;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Run the file case for every kind. @throws Error when a hash does not match. */
export async function runFiles(mode: Mode, log: (s: string) => void = () => {}): Promise<FilesResult> {
  const { size, repeats } = PLAN[mode];
  const dir = mkdtempSync(join(tmpdir(), "sotto-bench-src-"));
  const cert = makeCert();
  try {
    const file = join(dir, "file.bin");
    const sha = makeFile(file, size);
    const small = join(dir, "small.bin");
    const smallSha = makeFile(small, 1_000_003);
    const rows = [await raw("tcp", cert, file, sha, small, smallSha, size, repeats, log), await raw("tls", cert, file, sha, small, smallSha, size, repeats, log)];
    const cat = await SshCat.start(repeats, { file: small, sha: smallSha });
    if (typeof cat === "string") log(`  sotto runs not paired with OpenSSH's cat: ${cat}`);
    try {
      rows.push(await sotto(file, sha, small, smallSha, repeats, size, log, typeof cat === "string" ? null : cat));
    } finally {
      if (typeof cat !== "string") cat.stop();
    }
    return { size, rows };
  } finally {
    rmSync(cert.dir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The ratio rows for main.ts: sotto MB/s over TLS 1.3 and plain TCP MB/s. */
export function fileRatios(f: FilesResult): RatioRow[] {
  const get = (k: Kind) => f.rows.find((r) => r.kind === k);
  const s = get("sotto"), t = get("tls"), p = get("tcp");
  if (!s || !t || !p) return [];
  const mb = (f.size / 1e6).toFixed(0);
  const rows: RatioRow[] = [{ case: `file ${mb} MB, /send → verified`, unit: "MB/s", sotto: s.mbps, tls: t.mbps, tcp: p.mbps, vsTls: s.mbps / t.mbps, vsTcp: s.mbps / p.mbps }];
  if (s.wireMbps !== undefined) rows.push({ case: `file ${mb} MB, accepted → verified`, unit: "MB/s", sotto: s.wireMbps, tls: t.mbps, tcp: p.mbps, vsTls: s.wireMbps / t.mbps, vsTcp: s.wireMbps / p.mbps });
  return rows;
}

/** The report's sentence on step 4 ("" when the runs were not paired). */
export function pairedNote(f: FilesResult): string {
  const p = f.rows.find((r) => r.kind === "sotto")?.paired;
  if (p === undefined) return "";
  const list = (xs: number[], fmt: (v: number) => string) => xs.map(fmt).join(", ");
  const cpu = p.cpu === undefined ? "" : ` CPU of each pair (sotto's two processes from /send to verified; OpenSSH's client, server and \`wc\`, set-up taken off): ${p.cpu.sotto.map((v, i) => `${v.toFixed(0)} / ${p.cpu!.ssh[i]!.toFixed(0)} ms`).join(", ")}, OpenSSH's over sotto's median ${p.cpu.ratio.toFixed(2)}×.`;
  return ` Each sotto run was followed by one OpenSSH \`cat\` of the same file (${list(p.sshCatMbps, (v) => v.toFixed(0))} MB/s): sotto \`/send → verified\` against it, pair by pair, ${list(p.ratios, (v) => `${v.toFixed(2)}×`)}, median **${p.ratio.toFixed(2)}×**.${cpu}`;
}

/** Step 2, receiving side: `bun bench/files.ts recv <tcp|tls> <certDir> <out>`. */
function receive(kind: Kind, certDir: string, out: string): void {
  const tls = kind === "tls" ? { key: readFileSync(join(certDir, "key.pem"), "utf8"), cert: readFileSync(join(certDir, "cert.pem"), "utf8") } : undefined;
  const fd = openSync(out, "w");
  const h = new Bun.CryptoHasher("sha256");
  let bytes = 0;
  let reported = false;
  const report = () => {
    if (reported) return;
    reported = true;
    closeSync(fd);
    console.log(JSON.stringify({ bytes, sha256: h.digest("hex") }));
    setTimeout(() => process.exit(0), 50);
  };
  const l = Bun.listen<null>({
    hostname: "127.0.0.1",
    port: 0,
    tls,
    data: null,
    socket: {
      data: (_s, chunk) => {
        for (let w = 0; w < chunk.length; ) w += writeSync(fd, chunk, w, chunk.length - w, bytes + w);
        h.update(chunk);
        bytes += chunk.length;
      },
      end: report,
      close: report,
      error: report,
    },
  });
  console.log(JSON.stringify({ port: l.port }));
}

if (import.meta.main) {
  if (process.argv[2] === "recv") receive(process.argv[3] as Kind, process.argv[4]!, process.argv[5]!);
  else {
    const mode = parseMode();
    console.log(JSON.stringify(await runFiles(mode, (s) => console.error(s)), null, 2));
  }
}
