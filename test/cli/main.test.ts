/** package.json's `bin` is runnable as a command (what `bun link` / `bun add -g` install). */
import { expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json";

const root = join(import.meta.dir, "../..");

test("the bin file is executable, starts with a bun shebang, and runs by itself", () => {
  const bin = join(root, pkg.bin.sotto);
  expect(statSync(bin).mode & 0o111).not.toBe(0);
  expect(readFileSync(bin, "utf8").split("\n")[0]).toBe("#!/usr/bin/env bun");
  const r = Bun.spawnSync([bin, "--version"], { stdout: "pipe", stderr: "pipe" });
  expect(r.exitCode).toBe(0);
  expect(r.stdout.toString().trim()).toBe(pkg.version);
});
