/**
 * What every bench case shares, so that no case imports the report (main.ts):
 *   - the run's Mode, parsed from the command line in one place (`--smoke`, `--quick`, else full);
 *   - RatioRow, one row of the report's ratio table, which each case contributes to;
 *   - one way to start a child process: `spawnChild` (running alongside the bench, its
 *     stdio as asked), `bunChild` (a bench script or the sotto CLI under this same Bun),
 *     and `runCommand` (a short external command run to completion, output captured).
 */

export type Mode = "full" | "quick" | "smoke";

/** The run's mode: `--smoke` wins over `--quick`; neither means a full run. */
export function parseMode(argv: readonly string[] = process.argv): Mode {
  return argv.includes("--smoke") ? "smoke" : argv.includes("--quick") ? "quick" : "full";
}

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
  /** OpenSSH with sotto's cipher suite (ssh.ts), in the row's unit, when it ran. */
  ssh?: number;
  vsSsh?: number;
}

/** The median of a non-empty list (the lower one of the middle two). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[(s.length - 1) >> 1]!;
}

type Io = "pipe" | "ignore" | "inherit";
export interface ChildIo<I extends Io, O extends Io, E extends Io> {
  /** Or a file the child reads as its standard input. */
  stdin: I | Bun.BunFile;
  stdout: O;
  stderr: E;
  /** Added to this process's environment. */
  env?: Record<string, string>;
}

/** Start `cmd` alongside the bench. The caller waits for it (`reap` in wire.ts). */
export function spawnChild<I extends Io, O extends Io, E extends Io>(cmd: string[], io: ChildIo<I, O, E>): Bun.Subprocess<I, O, E> {
  const env = io.env === undefined ? undefined : { ...process.env, ...io.env };
  return Bun.spawn(cmd, { stdin: io.stdin, stdout: io.stdout, stderr: io.stderr, env }) as Bun.Subprocess<I, O, E>;
}

/**
 * Start a bench script (or the sotto CLI) in a child process under this same Bun. With
 * SOTTO_PROF=DIR set, each child writes a CPU profile (markdown) into DIR when it exits.
 */
export function bunChild<I extends Io, O extends Io, E extends Io>(script: string, args: string[], io: ChildIo<I, O, E>): Bun.Subprocess<I, O, E> {
  const prof = process.env.SOTTO_PROF ? ["--cpu-prof-md", "--cpu-prof-interval=250", `--cpu-prof-dir=${process.env.SOTTO_PROF}`] : [];
  return spawnChild([process.execPath, ...prof, script, ...args], io);
}

/** Run a short external command to completion, stdin from a file when given, output captured; `cpuMs`: the CPU it used (its rusage, user + system). */
export function runCommand(cmd: string[], stdinFile?: string): { code: number; out: string; err: string; cpuMs: number } {
  const r = Bun.spawnSync(cmd, { stdin: stdinFile === undefined ? "ignore" : Bun.file(stdinFile), stdout: "pipe", stderr: "pipe" });
  const cpu = r.resourceUsage.cpuTime;
  return { code: r.exitCode ?? -1, out: r.stdout.toString(), err: r.stderr.toString(), cpuMs: Number(cpu.user + cpu.system) / 1000 };
}
