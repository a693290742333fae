/**
 * The environment sotto's processes run in, declared once: JavaScriptCore reads its options
 * only when the process starts, so each launcher sets them before `bun` runs. The launchers
 * are package.json's `chat` and `invite` scripts (`bun run chat`, what the README says to
 * run) and the benches, which start sotto's processes with RUNTIME_ENV (`sottoEnv()`), so
 * they measure what people run; test/cli/runtime.test.ts holds the scripts to this list.
 * The `sotto` command's first line stays `#!/usr/bin/env bun`: `env -S`, which a first line
 * needs to set a variable, is missing from BusyBox (Alpine) and from coreutils before 8.30,
 * where the command would not start at all; installed that way sotto runs with the top
 * tier on, as before, only slower in bursts.
 *
 * `BUN_JSC_useFTLJIT=0`: no top-tier (FTL) compiles. A chat's work comes in bursts (a paste,
 * a piped file, a reconnect's backlog) that end before FTL's compiles pay for themselves,
 * and on two cores the compiler thread takes the CPU the burst needs: 20,000 piped lines of
 * 1 KiB went from 36,686–48,744 to 50,016–57,476 lines a second (`bun bench/links-processes.ts
 * 20000`, FTL on and off in the same minutes), 100,000 lines were no slower (70,810 and
 * 70,739 against 74,923 and 71,182), files and handshakes the same within the noise
 * (BENCHMARKS.md, "FTL off"). The lower tiers (baseline, DFG) still compile hot code.
 */
export const RUNTIME_ENV: Readonly<Record<string, string>> = { BUN_JSC_useFTLJIT: "0" };

/** This process's environment with sotto's runtime settings: for spawning a sotto process. */
export function sottoEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
  return { ...process.env, ...RUNTIME_ENV, ...extra };
}

/** The settings as a shell prefix (`NAME=value …`), as package.json's scripts and main.ts's first line write them. */
export function runtimePrefix(): string {
  return Object.entries(RUNTIME_ENV)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
}
