/**
 * `bun run bench [--quick | --smoke] [--only CASES] [--json FILE] [--out DIR]`
 *   1. micro-benchmarks (micro.ts), including the AES-256-CBC + HMAC-SHA256 ceiling;
 *   2. end-to-end cases against plain TCP and TLS 1.3 in the same run (e2e.ts);
 *   3. a table of each sotto figure as a ratio to TLS 1.3 and to plain TCP (and, for
 *      streaming, to the cipher ceiling), with the machine and Bun version;
 *   4. writes DIR/latest.md (BENCHMARKS.md-ready), DIR/ratios.svg, and JSON when asked.
 * DIR defaults to bench/results (a temporary directory under --smoke). CASES is a comma list
 * of micro, throughput, handshake, concurrent, first, idle, stall, files, ssh, seal, lines (default: all), so one
 * case can be rerun alone on a shared machine; a partial run prints its table but does not
 * overwrite bench/results unless --out is given.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { median, parseMode, type Mode, type RatioRow } from "./common.ts";
import { fmtRate, runE2E, type E2EResult, type HsKind } from "./e2e.ts";
import { fileRatios, pairedNote, runFiles, type FilesResult } from "./files.ts";
import { runFirstCase, type FirstRow } from "./first-message.ts";
import { fmtNs, label, MAX_RECORD, runMicro, type MicroResult } from "./micro.ts";
import { runIdle, type IdleRow } from "./idle.ts";
import { lineModeNote, runLineMode, type LineModeResult } from "./line-mode.ts";
import { runSealScaling, type SealScaling } from "./seal-scaling.ts";
import { runSsh, SSH_CIPHER, SSH_MAC, type SshResult } from "./ssh.ts";
import { runStall, type StallRow } from "./stall.ts";
import { barChart } from "./svg.ts";

export interface Report {
  date: string;
  mode: Mode;
  machine: { cpu: string; nproc: number; os: string; bun: string; tls: string | null };
  micro: MicroResult[];
  e2e: E2EResult;
  /** Longest event-loop stall during each group's first (and later) handshakes. */
  stall: StallRow[];
  /** The file-transfer case (files.ts). */
  files?: FilesResult;
  /** The first line after a redial through the delay proxy, against TLS 1.3's first data (first-message.ts). */
  first?: FirstRow[];
  /** N idle connections held per contender (idle.ts). */
  idle?: IdleRow[];
  /** OpenSSH aes256-cbc + hmac-sha2-256-etm (ssh.ts), or why it was skipped. */
  ssh?: SshResult;
  /** Sealing throughput with 0, 1, 2 and 4 worker threads (seal-scaling.ts). */
  seal?: SealScaling;
  /** Line mode with real processes, loopback and shaped (line-mode.ts). */
  lines?: LineModeResult;
  ratios: RatioRow[];
}

export function machine(tls: string | null): Report["machine"] {
  const cpus = os.cpus();
  return { cpu: cpus[0]?.model ?? "unknown", nproc: navigator.hardwareConcurrency ?? cpus.length, os: `${os.type()} ${os.release()} ${os.arch()}`, bun: Bun.version, tls };
}

function ratios(micro: MicroResult[], e2e: E2EResult): RatioRow[] {
  const rows: RatioRow[] = [];
  const ceiling = micro.find((m) => m.name === `cbc+hmac ${label(MAX_RECORD)}`)?.mbps ?? null;
  for (const c of ["streaming", "interactive"] as const) {
    for (const size of [64, 1024, 16384]) {
      const get = (k: string) => e2e.throughput.find((t) => t.case === c && t.size === size && t.kind === k);
      const s = get("sotto"), t = get("tls"), p = get("tcp");
      if (!s || !t || !p) continue;
      rows.push({
        case: `${c} ${label(size)}`,
        unit: "msg/s",
        sotto: s.msgsPerSec,
        tls: t.msgsPerSec,
        tcp: p.msgsPerSec,
        // The median of the repeats' own ratios when the contenders ran interleaved (e2e.ts).
        vsTls: s.paired ? median(s.paired.tls) : s.msgsPerSec / t.msgsPerSec,
        vsTcp: s.paired ? median(s.paired.tcp) : s.msgsPerSec / p.msgsPerSec,
        ...(c === "streaming" && ceiling !== null ? { vsCeiling: s.mbps / ceiling } : {}),
      });
    }
  }
  const hs = (k: HsKind) => e2e.handshake.find((h) => h.kind === k);
  const tlsH = hs("tls"), tcpH = hs("tcp");
  for (const k of ["sotto-x25519", "sotto-ffdhe2048"] as HsKind[]) {
    const h = hs(k);
    if (!h || !tlsH || !tcpH) continue;
    for (const q of ["p50Ms", "p99Ms"] as const) {
      rows.push({ case: `handshake→echo ${k.slice(6)} ${q.slice(0, 3)}`, unit: "ms", sotto: h[q], tls: tlsH[q], tcp: tcpH[q], vsTls: tlsH[q] / h[q], vsTcp: tcpH[q] / h[q] });
    }
  }
  const cc = (k: string) => e2e.concurrent.find((x) => x.kind === k);
  const cs = cc("sotto"), ct = cc("tls"), cp = cc("tcp");
  if (cs && ct && cp) {
    rows.push({ case: `${cs.clients} clients at once → all echoed`, unit: "ms", sotto: cs.ms, tls: ct.ms, tcp: cp.ms, vsTls: ct.ms / cs.ms, vsTcp: cp.ms / cs.ms });
    rows.push({ case: `server RSS per connection`, unit: "KiB", sotto: cs.rssPerConnKiB, tls: ct.rssPerConnKiB, tcp: cp.rssPerConnKiB, vsTls: ct.rssPerConnKiB / cs.rssPerConnKiB, vsTcp: cp.rssPerConnKiB / cs.rssPerConnKiB });
  }
  return rows;
}

/** The idle row: server RSS per held connection, and sotto's KiB above plain TCP's in the case name's note. */
function idleRatios(idle: IdleRow[]): RatioRow[] {
  const g = (k: string) => idle.find((r) => r.kind === k);
  const s = g("sotto"), t = g("tls"), p = g("tcp");
  if (!s || !t || !p) return [];
  return [{ case: `server RSS per idle connection, ${s.conns} held`, unit: "KiB", sotto: s.kibPerConn, tls: t.kibPerConn, tcp: p.kibPerConn, vsTls: t.kibPerConn / s.kibPerConn, vsTcp: p.kibPerConn / s.kibPerConn }];
}

/** The first-message rows: time to the first line shown (sotto) or first data (TLS 1.3) through the delay proxy. */
function firstRatios(first: FirstRow[]): RatioRow[] {
  return first.map((f) => ({ case: `first message, ${f.delayMs} ms one-way delay`, unit: "ms", sotto: f.sottoMs, tls: f.tlsMs, tcp: null, vsTls: f.tlsMs / f.sottoMs, vsTcp: null }));
}

/** Add OpenSSH's figures to the streaming and file rows (a byte stream: msg/s = MB/s ÷ size). */
function addSsh(rows: RatioRow[], ssh: SshResult | undefined): void {
  if (!ssh?.available) return;
  for (const row of rows) {
    const m = /^streaming (\d+) (B|KiB)$/.exec(row.case);
    if (m) {
      const size = Number(m[1]) * (m[2] === "KiB" ? 1024 : 1);
      row.ssh = (ssh.catMbps! * 1e6) / size;
      row.vsSsh = row.sotto / row.ssh;
    } else if (row.case.startsWith("file ") && row.unit === "MB/s") {
      row.ssh = ssh.hashMbps!;
      row.vsSsh = row.sotto / row.ssh;
    }
  }
}

function fig(v: number, unit: string): string {
  if (unit === "msg/s") return fmtRate(v);
  if (unit === "ms") return v < 10 ? v.toFixed(3) : v.toFixed(0);
  return v.toFixed(1);
}
const x = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? "–" : `${v.toFixed(2)}×`);

/** The report as markdown: machine, ratio table, micro table, how to reproduce. */
export function markdown(r: Report): string {
  const m = r.machine;
  const L: string[] = [];
  L.push(`Run: ${r.date}, mode \`${r.mode}\`. Machine: ${m.cpu}, ${m.nproc} CPUs, ${m.os}, Bun ${m.bun}; TLS baseline negotiated ${m.tls ?? "?"}.`);
  L.push("");
  L.push("Ratios are oriented so that **> 1.00× means sotto is better** (for throughput: sotto ÷ baseline, the median of the repeats' own ratios, the contenders run interleaved repeat by repeat; for times and memory: baseline ÷ sotto).");
  L.push("");
  const withSsh = r.ssh?.available === true;
  L.push(`| case | unit | sotto | TLS 1.3 | plain TCP |${withSsh ? " OpenSSH |" : ""} sotto vs TLS 1.3 | sotto vs TCP |${withSsh ? " sotto vs OpenSSH |" : ""} sotto vs cipher ceiling |`);
  L.push(`|---|---|---:|---:|---:|${withSsh ? "---:|" : ""}---:|---:|${withSsh ? "---:|" : ""}---:|`);
  for (const row of r.ratios) {
    const sshFig = withSsh ? ` ${row.ssh === undefined ? "–" : fig(row.ssh, row.unit)} |` : "";
    const sshX = withSsh ? ` ${x(row.vsSsh)} |` : "";
    L.push(`| ${row.case} | ${row.unit} | ${fig(row.sotto, row.unit)} | ${fig(row.tls, row.unit)} | ${row.tcp === null ? "–" : fig(row.tcp, row.unit)} |${sshFig} ${x(row.vsTls)} | ${x(row.vsTcp)} |${sshX} ${x(row.vsCeiling)} |`);
  }
  L.push("");
  if (r.ssh?.available) {
    const s = r.ssh;
    const file = r.ratios.find((row) => row.case.endsWith("/send → verified"));
    L.push(
      `OpenSSH column: ${s.version}, \`ssh -c ${SSH_CIPHER} -m ${SSH_MAC}\` to a private sshd on loopback, ${(s.bytes! / 1e6).toFixed(0)} MB on stdin; ` +
        `streaming rows: into \`wc -c\` (the \`cat > /dev/null\` figure, byte count checked), ${s.catMbps!.toFixed(0)} MB/s; file rows: into \`sha256sum\` (hash checked), ${s.hashMbps!.toFixed(0)} MB/s. ` +
        `Its set-up (${s.setupMs!.toFixed(0)} ms, \`ssh host true\`) is taken off both.` +
        (file ? ` sotto \`/send → verified\` against OpenSSH's plain \`cat\` figure: ${x(file.sotto / s.catMbps!)}.` : ""),
    );
    L.push("");
  } else if (r.ssh) {
    L.push(`OpenSSH rows skipped: ${r.ssh.reason}.`);
    L.push("");
  }
  if (r.seal) {
    L.push(`Sealing scaling (seal-scaling.ts: ${r.seal.records} records of ${label(r.seal.size)}, sealing only, no receiver, order on the wire kept and checked; ${r.seal.cores} cores here, so \`sealWorkersFor()\` picks ${r.seal.chosen === 0 ? "inline sealing" : `${r.seal.chosen} workers`}):`);
    L.push("");
    L.push("| sealers | MB/s | vs one thread |");
    L.push("|---|---:|---:|");
    for (const row of r.seal.rows) L.push(`| ${row.workers === 0 ? "this thread (RecordWriter)" : `${row.workers} worker${row.workers > 1 ? "s" : ""}`} | ${row.mbps.toFixed(0)} | ${x(row.vsInline)} |`);
    L.push("");
  }
  if (r.files) {
    L.push(
      "File rows: sotto is `/send` between two `sotto chat` processes (hash the file, offer, 60 KiB chunks under backpressure, receiver writes, hashes and verifies); " +
        "TCP and TLS 1.3 copy the same file, the receiver writing and hashing it too. `/send → verified` includes the sender's hash of the file before the offer; `accepted → verified` is the receiver's own measure." +
        pairedNote(r.files),
    );
    L.push("");
  }
  if (r.first) {
    L.push(
      `First message (first-message.ts: alice's line queued while the link is down, timed from the proxy's accept of her redial to bob's chat showing it; TLS 1.3 from the TCP connect through the same proxy to the server's first application bytes; medians of ${r.first[0]?.sottoRuns.length ?? 0} runs, alternating; target: sotto ≤ 1.05× TLS's time, "vs TLS 1.3" ≥ 0.95×): ` +
        r.first.map((f) => `${f.delayMs} ms, sotto ${f.sottoRuns.map((v) => v.toFixed(1)).join(", ")} ms, TLS ${f.tlsRuns.map((v) => v.toFixed(1)).join(", ")} ms`).join("; ") + ".",
    );
    L.push("");
  }
  if (r.lines) {
    L.push(lineModeNote(r.lines));
    L.push("");
  }
  const hsF = r.e2e.handshake.find((h) => h.kind === "sotto-ffdhe2048");
  if (hsF) L.push(`First ffdhe2048 handshake of the run (worker start and group context build included): ${hsF.firstMs.toFixed(0)} ms.`);
  L.push("");
  if (r.stall.length > 0) {
    L.push("Longest event-loop stall while handshaking (a 1 ms ticker in the same process as a listening and a dialling peer; target: never over 50 ms):");
    L.push("");
    L.push("| group | first handshake of the process | its longest stall | longest stall over 20 more |");
    L.push("|---|---:|---:|---:|");
    for (const st of r.stall) L.push(`| ${st.group} | ${st.firstMs.toFixed(1)} ms | ${st.firstMaxStallMs.toFixed(1)} ms | ${st.laterMaxStallMs.toFixed(1)} ms |`);
    L.push("");
  }
  if (r.micro.length > 0) {
    L.push("Micro-benchmarks (mean time per operation; MB/s of payload where it applies):");
    L.push("");
    L.push("| layer | case | time/op | MB/s |");
    L.push("|---|---|---:|---:|");
    for (const mi of r.micro) L.push(`| ${mi.group} | ${mi.name} | ${fmtNs(mi.nsPerOp)} | ${mi.mbps === null ? "–" : mi.mbps.toFixed(0)} |`);
    L.push("");
  }
  return L.join("\n");
}

/** The ratio chart (SVG). */
export function chart(r: Report): string {
  const bars = r.ratios.map((row) => ({ label: row.case, values: [row.vsTls, row.vsTcp, row.vsCeiling ?? null] }));
  return barChart(`sotto relative to baselines (> 1 = sotto better) — ${r.machine.cpu}, Bun ${r.machine.bun}`, ["vs TLS 1.3", "vs plain TCP", "vs CBC+HMAC ceiling"], bars, `mode ${r.mode}, ${r.date}`);
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<number> {
  const mode = parseMode();
  const only = arg("--only")?.split(",").map((c) => c.trim());
  const want = (c: string) => only === undefined || only.includes(c);
  const partial = only !== undefined && arg("--out") === undefined;
  const outDir = arg("--out") ?? (mode === "smoke" || partial ? mkdtempSync(join(os.tmpdir(), "sotto-bench-out-")) : new URL("./results", import.meta.url).pathname);
  const log = (s: string) => process.stderr.write(s + "\n");
  const t0 = performance.now();
  log(`sotto bench (${mode}) — micro-benchmarks`);
  const micro = want("micro") || want("throughput") ? await runMicro(mode, log) : [];
  log("end-to-end (loopback, receiver in a child process)");
  const e2e = await runE2E(mode, log, only === undefined ? undefined : new Set(only));
  if (want("first")) log("first message after a redial, through the fault proxy with one-way delay (sotto chat against TLS 1.3)");
  const first = want("first") ? await runFirstCase(mode, log) : undefined;
  if (want("idle")) log("idle connections held at scale (after a warm-up, RSS after a GC)");
  const idle = want("idle") ? await runIdle(mode, log) : undefined;
  if (want("stall")) log("event-loop stalls during handshakes (fresh process)");
  const stall = want("stall") ? await runStall() : [];
  if (want("files")) log("file transfer (loopback, two sotto chat processes; TCP and TLS 1.3 copy the same file)");
  const files = want("files") ? await runFiles(mode, log) : undefined;
  if (want("ssh")) log(`OpenSSH ${SSH_CIPHER} + ${SSH_MAC} (private sshd on loopback)`);
  const ssh = want("ssh") ? await runSsh(mode, log) : undefined;
  if (want("seal")) log("sealing scaling (worker threads, sealing only)");
  const seal = want("seal") ? await runSealScaling(mode, log) : undefined;
  if (want("lines")) log("line mode (two sotto chat processes, piped lines; loopback, then through the fault proxy against plain TCP)");
  const lines = want("lines") ? await runLineMode(mode, log) : undefined;
  const rows = [...ratios(micro, e2e), ...(first ? firstRatios(first) : []), ...(idle ? idleRatios(idle) : []), ...(files ? fileRatios(files) : [])];
  addSsh(rows, ssh);
  const report: Report = { date: new Date().toISOString(), mode, machine: machine(e2e.tlsVersion), micro, e2e, stall, files, first, idle, ssh, seal, ...(lines ? { lines } : {}), ratios: rows };
  const md = markdown(report);
  console.log("\n" + md);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "latest.md"), md);
  writeFileSync(join(outDir, "ratios.svg"), chart(report));
  const json = arg("--json");
  if (json) writeFileSync(json, JSON.stringify(report, null, 2));
  log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s; wrote ${join(outDir, "latest.md")} and ${join(outDir, "ratios.svg")}${json ? ` and ${json}` : ""}`);
  return 0;
}

if (import.meta.main) {
  try {
    process.exitCode = await main();
  } catch (e) {
    process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  }
}
