/**
 * The bench and the stress tester still run: not timing assertions, only that they
 * finish, exit 0, print their tables and lose nothing.
 */
import { expect, test } from "bun:test";
import { DEFAULT_LIMITS, sessionsFor } from "../../src/net/limits.ts";

const root = new URL("../..", import.meta.url).pathname;

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn([process.execPath, ...args], { cwd: root, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

test("bench --quick --smoke exits 0 and prints the ratio table", async () => {
  const r = await run(["bench/main.ts", "--quick", "--smoke"]);
  if (r.code !== 0) console.error(r.err);
  expect(r.code).toBe(0);
  expect(r.out).toContain("| case | unit | sotto | TLS 1.3 | plain TCP |");
  expect(r.out).toContain("streaming 64 B");
  expect(r.out).toContain("handshake→echo x25519 p50");
  // Sealing scaling: this thread and 1, 2, 4 workers, each checked by opening what it sealed.
  expect(r.out).toContain("server RSS per idle connection");
  expect(r.out).toContain("Sealing scaling");
  for (const row of ["| this thread (RecordWriter) |", "| 1 worker |", "| 2 workers |", "| 4 workers |"]) expect(r.out).toContain(row);
  // OpenSSH: a column when sshd and ssh are installed, a sentence saying why not otherwise.
  const hasSsh = Bun.which("ssh") !== null && (Bun.which("sshd") !== null || (await Bun.file("/usr/sbin/sshd").exists()));
  expect(r.out).toContain(hasSsh ? "| sotto vs OpenSSH |" : "OpenSSH rows skipped:");
  // About 20 s on an idle 2-core machine; past 90 s when the machine is shared (the limit only
  // bounds how long a broken build may hang).
}, 180_000);

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
