/**
 * A front end whose stdout nobody reads (docs/SECURITY.md §10, R5): a real `sotto chat
 * --json` process writes into a pipe whose reader waits for a file to appear, while a
 * contact and a request (both hand-driven sessions, test/hostile/evil.ts) send 60 KB
 * TEXTs as fast as alice takes them in.
 *
 *   1. while stdout is not read, alice's RSS grows by far less than the flood (the
 *      TEXTs wait in the kernel and in the senders, not in alice's heap);
 *   2. once the reader reads again, every line of the contact arrives, once, in order,
 *      and the request's too.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toHex } from "../../src/crypto/bytes.ts";
import { ed25519Generate } from "../../src/crypto/ed25519.ts";
import type { ChatEvent } from "../../src/chat/events.ts";
import { Evil } from "../hostile/evil.ts";
import { ChatProcess, tempHome } from "./harness.ts";
import { until } from "../support/wait.ts";

const MAIN = join(import.meta.dir, "../../src/cli/main.ts");
/** TEXTs each flooder sends: 1,500 × 60 KB = 90 MB each, 180 MB in all. */
const COUNT = 1500;
const SIZE = 60_000;
/** How long the flood runs against the stopped reader before it reads again (ms). */
const FLOOD_MS = 4000;
const MiB = 1024 * 1024;
/** The keepalive of both chats in the honest-contact case (--test-keepalive-ms; the default is 7.5 s). */
const KEEPALIVE_MS = 1500;

const dirs: string[] = [];
const procs: { kill(sig?: number): void }[] = [];
afterAll(() => {
  for (const p of procs) p.kill(9);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "sotto-backlog-"));
  dirs.push(d);
  return d;
}

function rss(pid: number, field: "VmRSS" | "VmHWM"): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m![1]) * 1024;
}

function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
}

/**
 * A real `sotto chat --json` listening on `port`, its stdout a pipe to a reader that reads
 * nothing until the file `go` exists (`exec` keeps the chat's pid); its events once read.
 */
function gatedChat(home: string, go: string, port: number, ...args: string[]): { events: ChatEvent[]; pid: number } {
  const script = `exec > >(while [ ! -e "$GO" ]; do sleep 0.05; done; exec cat); exec "$BUN" "$MAIN" chat --json --home "$H" --host 127.0.0.1 --port ${port} --name alice ${args.join(" ")}`;
  const p = Bun.spawn(["bash", "-c", script], { stdin: "pipe", stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1", GO: go, BUN: process.execPath, MAIN, H: home } });
  procs.push(p);
  const events: ChatEvent[] = [];
  void (async () => {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of p.stdout as ReadableStream<Uint8Array>) {
      buf += dec.decode(chunk, { stream: true });
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        events.push(JSON.parse(buf.slice(0, i)) as ChatEvent);
        buf = buf.slice(i + 1);
      }
    }
  })();
  return { events, pid: p.pid };
}

/** Send TEXT 1..COUNT from `e`, never more than 256 KiB ahead of its socket. */
async function flood(e: Evil, tag: string): Promise<number> {
  let id = 0;
  while (id < COUNT && !e.a.closed) {
    if (e.a.queued > 256 * 1024) {
      await Bun.sleep(2);
      continue;
    }
    id++;
    e.send([{ kind: "text", id: BigInt(id), text: `${tag} ${id} ${"x".repeat(SIZE)}` }]);
    if (id % 8 === 0) await new Promise((r) => setImmediate(r));
  }
  return id;
}

test("a stdout nobody reads: a contact's and a request's 60 KB TEXT floods cost alice little memory, and every line arrives once, in order, when it reads again", async () => {
  if (process.platform !== "linux") return; // reads /proc/<pid>/status
  const home = tempDir();
  const gateDir = tempDir();
  const go = join(gateDir, "go");
  const carol = ed25519Generate();
  writeFileSync(join(home, "known_peers"), `* carol ${toHex(carol.publicKey)} unverified\n`, { mode: 0o600 });
  const port = freePort();
  const { events, pid } = gatedChat(home, go, port);
  let contact: Evil | null = null;
  for (const end = performance.now() + 15_000; contact === null; ) {
    try {
      contact = await Evil.open(port, { identity: carol, profile: { kind: "profile", instance: new Uint8Array(8).fill(7), name: "carol" } });
    } catch (e) {
      if (performance.now() > end) throw new Error("alice did not listen", { cause: e });
      await Bun.sleep(50);
    }
  }
  const request = await Evil.open(port, { profile: { kind: "profile", instance: new Uint8Array(8).fill(9), name: "stranger" } });
  await Bun.sleep(300);
  const before = rss(pid, "VmRSS");

  // 1. The flood, against a reader that stopped.
  const floods = Promise.all([flood(contact, "c"), flood(request, "r")]);
  let peak = before;
  const end = performance.now() + FLOOD_MS;
  while (performance.now() < end) {
    peak = Math.max(peak, rss(pid, "VmHWM"));
    await Bun.sleep(50);
  }
  const growth = peak - before;
  console.log(`alice's RSS ${(before / MiB).toFixed(0)} → peak ${(peak / MiB).toFixed(0)} MiB while stdout was not read`);
  expect(growth).toBeLessThan(96 * MiB);
  expect(events.filter((e) => e.type === "message")).toHaveLength(0);

  // 2. The reader reads again: every line arrives, once, in order.
  writeFileSync(go, "");
  const sent = await floods;
  expect(sent).toEqual([COUNT, COUNT]);
  const lines = (peer: string) => events.filter((e): e is Extract<ChatEvent, { type: "message" }> => e.type === "message" && e.peer === peer);
  await until("every line shown", () => lines("carol").length >= COUNT && lines("stranger").length >= COUNT, 60_000, 20);
  await Bun.sleep(200);
  for (const who of [["carol", "c"], ["stranger", "r"]] as const) {
    const got = lines(who[0]);
    expect(got).toHaveLength(COUNT);
    expect(got.map((m) => m.text.slice(0, m.text.indexOf(" x")))).toEqual(Array.from({ length: COUNT }, (_, i) => `${who[1]} ${i + 1}`));
  }
  expect(events.filter((e) => e.type === "disconnected")).toEqual([]);
}, 120_000);

test("an honest contact (a real sotto chat) while alice's stdout is not read for longer than the keepalive deadline: its session may end, its outbox sends again, and each of its 400 lines is shown once, in order", async () => {
  const home = tempDir();
  const go = join(tempDir(), "go");
  const port = freePort();
  const alice = gatedChat(home, go, port, "--allow-new", "--test-keepalive-ms", String(KEEPALIVE_MS));
  const homes: string[] = [];
  const bob = new ChatProcess(tempHome(homes), ["--host", "127.0.0.1", "--no-listen", "--name", "bob", "--connect", `127.0.0.1:${port}`, "--test-keepalive-ms", String(KEEPALIVE_MS)]);
  procs.push({ kill: () => bob.proc.kill(9) });
  dirs.push(...homes);
  await bob.waitFor("connected", () => true, 15_000);
  const N = 400;
  // 400 lines of 30 KB: 12 MB, past alice's 8 MiB front-end budget.
  for (let i = 1; i <= N; i++) bob.say(`b ${i} ${"y".repeat(30_000)}`);
  // Longer than the keepalive deadline with nothing read from stdout: bob's PING goes out
  // after one keepalive of silence, is left unanswered for another, and bob's sweep (every
  // quarter keepalive) ends the session by 2.5 × the keepalive at the latest.
  await Bun.sleep(4 * KEEPALIVE_MS);
  const acked = bob.of("ack").length;
  expect(acked).toBeLessThan(N);
  console.log(`while alice's stdout was not read: ${acked} of ${N} acknowledged, bob's session ended ${bob.of("disconnected").length} time(s)`);
  // The wait did cross the deadline (with the default 7.5 s keepalive it would not have).
  expect(bob.of("disconnected").length).toBeGreaterThan(0);
  writeFileSync(go, "");
  const lines = () => alice.events.filter((e): e is Extract<ChatEvent, { type: "message" }> => e.type === "message" && e.peer === "bob");
  await until("all of bob's lines shown", () => lines().length >= N, 40_000, 20);
  await bob.waitFor("ack", (e) => e.id === String(N), 20_000);
  await Bun.sleep(300);
  expect(lines().map((m) => m.text.slice(0, m.text.indexOf(" y")))).toEqual(Array.from({ length: N }, (_, i) => `b ${i + 1}`));
}, 120_000);
