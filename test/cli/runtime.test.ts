/** src/cli/runtime.ts: every launcher of sotto sets its runtime environment, and a process spawned with sottoEnv() has it. */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { RUNTIME_ENV, runtimePrefix, sottoEnv } from "../../src/cli/runtime.ts";

const root = join(import.meta.dir, "..", "..");

test("package.json's chat and invite scripts set exactly RUNTIME_ENV before bun; the sotto command's first line is the portable one", () => {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: Record<string, string>; bin: Record<string, string> };
  expect(Object.keys(RUNTIME_ENV).length).toBeGreaterThan(0);
  for (const name of ["chat", "invite"]) expect(pkg.scripts[name]).toBe(`${runtimePrefix()} bun src/cli/main.ts ${name}`);
  const first = readFileSync(join(root, pkg.bin.sotto!), "utf8").split("\n")[0];
  // `env -S` is not everywhere (BusyBox, coreutils < 8.30): the command must start there too.
  expect(first).toBe("#!/usr/bin/env bun");
});

test("a process spawned with sottoEnv() has RUNTIME_ENV in its environment, and the extra names given", async () => {
  const names = [...Object.keys(RUNTIME_ENV), "SOTTO_RUNTIME_TEST"];
  const p = Bun.spawn([process.execPath, "-e", `console.log(JSON.stringify(${JSON.stringify(names)}.map((n) => process.env[n])))`], { env: sottoEnv({ SOTTO_RUNTIME_TEST: "yes" }), stdout: "pipe" });
  const got = JSON.parse(await new Response(p.stdout).text()) as string[];
  expect(await p.exited).toBe(0);
  expect(got).toEqual([...Object.values(RUNTIME_ENV), "yes"]);
});
