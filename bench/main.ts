/**
 * `bun run bench [--quick | --smoke] [--json FILE] [--out DIR]`
 *   1. micro-benchmarks (micro.ts), including the AES-256-CBC + HMAC-SHA256 ceiling;
 *   2. end-to-end cases against plain TCP and TLS 1.3 in the same run (e2e.ts);
 *   3. a table of each sotto figure as a ratio to TLS 1.3 and to plain TCP (and, for
 *      streaming, to the cipher ceiling), with the machine and Bun version;
 *   4. writes DIR/latest.md (BENCHMARKS.md-ready), DIR/ratios.svg, and JSON when asked.
 * DIR defaults to bench/results (a temporary directory under --smoke).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fmtRate, runE2E, type E2EResult, type HsKind } from "./e2e.ts";
import { fileRatios, runFiles, type FilesResult } from "./files.ts";
import { fmtNs, label, MAX_RECORD, runMicro, type MicroResult, type Mode } from "./micro.ts";
import { runStall, type StallRow } from "./stall.ts";
import { barChart } from "./svg.ts";

export interface RatioRow {
  case: string;
  unit: string;
  sotto: number;
  tls: number;
  tcp: number | null;
  /** sotto relative to the baseline, oriented so that > 1 means sotto is better. */
  vsTls: number;
  vsTcp: number | null;
  /** Streaming only: sotto payload MB/s ÷ the CBC+HMAC ceiling MB/s of a full record. */
  vsCeiling?: number;
}

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
        vsTls: s.msgsPerSec / t.msgsPerSec,
        vsTcp: s.msgsPerSec / p.msgsPerSec,
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
  L.push("Ratios are oriented so that **> 1.00× means sotto is better** (for throughput: sotto ÷ baseline; for times and memory: baseline ÷ sotto).");
  L.push("");
  L.push("| case | unit | sotto | TLS 1.3 | plain TCP | sotto vs TLS 1.3 | sotto vs TCP | sotto vs cipher ceiling |");
  L.push("|---|---|---:|---:|---:|---:|---:|---:|");
  for (const row of r.ratios) {
    L.push(`| ${row.case} | ${row.unit} | ${fig(row.sotto, row.unit)} | ${fig(row.tls, row.unit)} | ${row.tcp === null ? "–" : fig(row.tcp, row.unit)} | ${x(row.vsTls)} | ${x(row.vsTcp)} | ${x(row.vsCeiling)} |`);
  }
  L.push("");
  if (r.files) {
    L.push(
      "File rows: sotto is `/send` between two `sotto chat` processes (hash the file, offer, 60 KiB chunks under backpressure, receiver writes, hashes and verifies); " +
        "TCP and TLS 1.3 copy the same file, the receiver writing and hashing it too. `/send → verified` includes the sender's hash of the file before the offer; `accepted → verified` is the receiver's own measure.",
    );
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
  L.push("Micro-benchmarks (mean time per operation; MB/s of payload where it applies):");
  L.push("");
  L.push("| layer | case | time/op | MB/s |");
  L.push("|---|---|---:|---:|");
  for (const mi of r.micro) L.push(`| ${mi.group} | ${mi.name} | ${fmtNs(mi.nsPerOp)} | ${mi.mbps === null ? "–" : mi.mbps.toFixed(0)} |`);
  L.push("");
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
  const mode: Mode = process.argv.includes("--smoke") ? "smoke" : process.argv.includes("--quick") ? "quick" : "full";
  const outDir = arg("--out") ?? (mode === "smoke" ? mkdtempSync(join(os.tmpdir(), "sotto-bench-out-")) : new URL("./results", import.meta.url).pathname);
  const log = (s: string) => process.stderr.write(s + "\n");
  const t0 = performance.now();
  log(`sotto bench (${mode}) — micro-benchmarks`);
  const micro = await runMicro(mode, log);
  log("end-to-end (loopback, receiver in a child process)");
  const e2e = await runE2E(mode, log);
  log("event-loop stalls during handshakes (fresh process)");
  const stall = await runStall();
  log("file transfer (loopback, two sotto chat processes; TCP and TLS 1.3 copy the same file)");
  const files = await runFiles(mode, log);
  const report: Report = { date: new Date().toISOString(), mode, machine: machine(e2e.tlsVersion), micro, e2e, stall, files, ratios: [...ratios(micro, e2e), ...fileRatios(files)] };
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
