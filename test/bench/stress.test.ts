/**
 * The stress tester still runs: not timing assertions, only that it finishes, exits 0,
 * prints its figures and loses nothing. (A file of its own so that the parallel test
 * workers run it beside the bench's smoke run.)
 */
import { expect, test } from "bun:test";
import { DEFAULT_LIMITS, sessionsFor } from "../../src/net/limits.ts";
import { root, run } from "./run.ts";

test("stress --hold keeps every session open at once and prints RSS per held session", async () => {
  const r = await run(["bench/stress.ts", "--peers", "40", "--messages", "1", "--hold", "--json"]);
  if (r.code !== 0) console.error(r.err, r.out);
  expect(r.code).toBe(0);
  const j = JSON.parse(r.out) as { ok: boolean; completed: number; held?: { sessions: number; rssPerSessionKiB: number } };
  expect(j.ok).toBe(true);
  expect(j.held?.sessions).toBe(40);
  expect(Number.isFinite(j.held?.rssPerSessionKiB)).toBe(true);
}, 60_000);

test("stress --hold under a low descriptor limit asks for no more sessions than the listener's cap (sessionsFor), so none is refused with busy", async () => {
  // ulimit -n 700 in a shell of its own: the listener's maxSessions is min(700 - 256, 630) = 444.
  const cmd = `ulimit -n 700 && exec '${process.execPath}' bench/stress.ts --peers 700 --messages 1 --hold --json`;
  const p = Bun.spawn(["bash", "-c", cmd], { cwd: root, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) console.error(err, out);
  expect(code).toBe(0);
  const j = JSON.parse(out) as { ok: boolean; failures: Record<string, number>; held?: { sessions: number } };
  expect(j.failures).toEqual({});
  expect(j.held?.sessions).toBe(sessionsFor(700, DEFAULT_LIMITS.maxSessions));
  expect(err).toContain("the listener takes at most 444 sessions");
}, 60_000);

test("stress --peers 50 --messages 5 exits 0 with zero failures", async () => {
  const r = await run(["bench/stress.ts", "--peers", "50", "--messages", "5", "--json"]);
  if (r.code !== 0) console.error(r.err, r.out);
  expect(r.code).toBe(0);
  const j = JSON.parse(r.out) as { ok: boolean; completed: number; messages: number; failures: Record<string, number> };
  expect(j.failures).toEqual({});
  expect(j.completed).toBe(50);
  expect(j.messages).toBe(250);
}, 60_000);
