/**
 * Temporary sotto homes for tests: a fresh 0700 folder per call, all removed by
 * `removeHomes()` (call it from afterAll or afterEach).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const made: string[] = [];

/** A new empty folder under the system temp folder (mode 0700), named after `prefix`. */
export function tempHome(prefix = "sotto-test-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

/** Remove every folder tempHome made. */
export function removeHomes(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}
