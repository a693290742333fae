/**
 * bench/files-hash.ts: the offer's hash against its floor. Not a timing test: every variant
 * hashes a small file to the file's digest (the script throws otherwise) and prints its line.
 */
import { expect, test } from "bun:test";
import { run } from "./run.ts";

test("a 2 MB file, one round: every variant's digest is the file's, one line each", async () => {
  const r = await run(["bench/files-hash.ts", "2", "1"]);
  if (r.code !== 0) console.error(r.err);
  expect(r.code).toBe(0);
  const lines = r.out.trim().split("\n");
  expect(lines).toHaveLength(6);
  expect(lines[0]).toStartWith("hashFile (the offer's");
  for (const l of lines) expect(l).toMatch(/wall min +\d+ +median +\d+ +CPU min +\d+ +median +\d+ ms per 256 MB$/);
}, 60_000);
