/**
 * bench/common.ts is the one home of what `bun run bench`'s cases share: the Mode is parsed
 * there only, RatioRow lives there (no case imports main.ts, so no import cycle), and child
 * processes are started there only. Checked on the bench's own source: every file the
 * report reaches from bench/main.ts.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { parseMode, runCommand } from "../../bench/common.ts";
import { findCycles } from "../support/cycles.ts";

const BENCH = resolve(import.meta.dir, "../../bench");
const SPEC = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|new URL\(\s*)["'](\.{1,2}\/[^"']+\.ts)["']/g;

/** bench file → the bench files it imports (or starts by URL), from main.ts outwards. */
function reach(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  const todo = ["main.ts"];
  while (todo.length > 0) {
    const f = todo.pop()!;
    if (g.has(f)) continue;
    const text = readFileSync(resolve(BENCH, f), "utf8");
    const deps = [...text.matchAll(SPEC)].map((m) => relative(BENCH, resolve(dirname(resolve(BENCH, f)), m[1]!))).filter((d) => !d.startsWith(".."));
    g.set(f, [...new Set(deps)]);
    todo.push(...deps);
  }
  return g;
}

describe("bench/common.ts", () => {
  test("parseMode: --smoke wins over --quick, neither is full", () => {
    expect(parseMode(["bun", "main.ts"])).toBe("full");
    expect(parseMode(["bun", "main.ts", "--quick"])).toBe("quick");
    expect(parseMode(["bun", "main.ts", "--smoke"])).toBe("smoke");
    expect(parseMode(["bun", "main.ts", "--quick", "--smoke"])).toBe("smoke");
    expect(parseMode(["bun", "main.ts", "--only", "files"])).toBe("full");
  });

  const g = reach();

  test("the report's files were read", () => {
    for (const f of ["e2e.ts", "files.ts", "ssh.ts", "stall.ts", "child.ts", "common.ts"]) expect(g.has(f)).toBe(true);
  });

  test("no bench file imports main.ts and the bench has no import cycle", () => {
    const intoMain = [...g].filter(([f, deps]) => f !== "main.ts" && deps.includes("main.ts")).map(([f]) => f);
    expect(intoMain).toEqual([]);
    expect(findCycles(g)).toEqual([]);
  });

  test("runCommand gives the command's output and the CPU it used", () => {
    // A child busy until it has used 100 ms of CPU by its own count, whatever the machine's load.
    const r = runCommand([process.execPath, "-e", "const u = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; }; const t = u(); let x = 0; while (u() - t < 100) x += Math.sqrt(x + 1); console.log('done');"]);
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe("done");
    expect(r.cpuMs).toBeGreaterThanOrEqual(100);
  });

  test("the mode is parsed, RatioRow declared and child processes started only in common.ts", () => {
    const bad: string[] = [];
    for (const f of g.keys()) {
      if (f === "common.ts") continue;
      const text = readFileSync(resolve(BENCH, f), "utf8");
      if (text.includes('"--smoke"') || text.includes('"--quick"')) bad.push(`${f}: parses the mode`);
      if (/\b(type Mode\s*=|interface RatioRow\b)/.test(text)) bad.push(`${f}: declares Mode or RatioRow`);
      if (/\bBun\.spawn(Sync)?\(|node:child_process/.test(text)) bad.push(`${f}: starts a process itself`);
    }
    expect(bad).toEqual([]);
  });
});
