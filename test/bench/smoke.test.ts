/**
 * The bench still runs: not timing assertions, only that it finishes, exits 0 and prints
 * its tables (the stress tester: stress.test.ts).
 */
import { expect, test } from "bun:test";
import { run } from "./run.ts";

test("bench --quick --smoke exits 0 and prints the ratio table", async () => {
  const r = await run(["bench/main.ts", "--quick", "--smoke"]);
  if (r.code !== 0) console.error(r.err);
  expect(r.code).toBe(0);
  expect(r.out).toContain("| case | unit | sotto | TLS 1.3 | plain TCP |");
  expect(r.out).toContain("streaming 64 B");
  expect(r.out).toContain("handshake→echo x25519 p50");
  // The per-message path around the cipher (bench/micro.ts), each case checked to round-trip first.
  for (const row of ["| send: queue + flush, one TEXT per record |", "| receive: read (open + decode + hand over), one TEXT per record |"]) expect(r.out).toContain(row);
  // Sealing scaling: this thread and 1, 2, 4 workers, each checked by opening what it sealed.
  expect(r.out).toContain("server RSS per idle connection");
  expect(r.out).toContain("Sealing scaling");
  for (const row of ["| this thread (RecordWriter) |", "| 1 worker |", "| 2 workers |", "| 4 workers |"]) expect(r.out).toContain(row);
  // OpenSSH: a column when sshd and ssh are installed, a sentence saying why not otherwise.
  const hasSsh = Bun.which("ssh") !== null && (Bun.which("sshd") !== null || (await Bun.file("/usr/sbin/sshd").exists()));
  expect(r.out).toContain(hasSsh ? "| sotto vs OpenSSH |" : "OpenSSH rows skipped:");
  // With OpenSSH, each sotto file run is followed by its cat run (bench/files.ts step 4).
  if (hasSsh) expect(r.out).toContain("Each sotto run was followed by one OpenSSH `cat` of the same file");
  // First message after a redial, through the delay proxy, at both delays, each line checked shown once.
  expect(r.out).toMatch(/\| first message, 10 ms one-way delay \| ms \| [\d.]+ \| [\d.]+ \| – \| (– \| )?[\d.]+× \|/);
  expect(r.out).toMatch(/\| first message, 50 ms one-way delay \| ms \| [\d.]+ \| [\d.]+ \| – \| (– \| )?[\d.]+× \|/);
  // Line mode: two sotto chat processes, loopback and through the fault proxy against plain TCP, each run checked.
  expect(r.out).toMatch(/Line mode \(bench\/links-processes\.ts: .* loopback [\d,]+ lines\/s.*plain TCP's time \/ sotto's \d+ \/ \d+ ms = [\d.]+×/);
  // About 20 s on an idle 2-core machine; past 90 s when the machine is shared (the limit only
  // bounds how long a broken build may hang).
}, 180_000);
