/**
 * One stress worker process: runs its share of client peers against the server.
 *   bun bench/stress-worker.ts '<json config>'
 * Each client is its own Peer (own identity): handshake, then M ECHO messages one at a
 * time, each checked against what was sent (intact, exactly once, in order), then CLOSE.
 * At most `concurrency` clients are in flight. Progress lines and a final summary go to
 * stdout as JSON. With `hold`, sessions stay open after their echoes; when all are held
 * the worker says {"t":"held"} and waits for "release" on stdin before closing them.
 */
import { randomBytes } from "node:crypto";
import { ed25519Generate } from "../src/crypto/ed25519.ts";
import { stopKexWorker } from "../src/net/kex.ts";
import { Peer } from "../src/net/peer.ts";
import type { Session } from "../src/net/session.ts";
import type { Group } from "../src/protocol/constants.ts";

export interface WorkerConfig {
  port: number;
  first: number;
  count: number;
  messages: number;
  size: number;
  group: Group;
  concurrency: number;
  timeoutMs: number;
  /** --hold: keep every session open after its echoes until the parent says "release". */
  hold?: boolean;
}

export interface WorkerSummary {
  t: "done";
  handshakes: number;
  completed: number;
  messages: number;
  failures: Record<string, number>;
  handshakeMs: number[];
  latencyMs: number[];
}

const cfg = JSON.parse(process.argv[2]!) as WorkerConfig;
const failures: Record<string, number> = {};
const fail = (cause: string) => (failures[cause] = (failures[cause] ?? 0) + 1);
const handshakeMs: number[] = [];
const latencyMs: number[] = [];
const MAX_SAMPLES = 200_000;
let handshakes = 0, completed = 0, messages = 0;

/** The text of message `i` of client `c`: an echo op and a pattern that names both. */
function textFor(c: number, i: number, size: number): string {
  const tag = `e${c}:${i};`;
  const len = Math.max(tag.length, size - 8);
  return (tag + "0123456789abcdef".repeat(Math.ceil(len / 16))).slice(0, len);
}

function sample(arr: number[], v: number): void {
  if (arr.length < MAX_SAMPLES) arr.push(v);
  else arr[Math.floor(Math.random() * MAX_SAMPLES)] = v;
}

const LIMITS = { maxSendQueueBytes: 64 * 1024 * 1024, keepaliveMs: 0, idleTimeoutMs: 0, handshakeTimeoutMs: 120_000 };

// Every peer has its identity before it dials: made before "go", outside the clock.
const identities = Array.from({ length: cfg.count }, () => ed25519Generate());

async function client(c: number): Promise<void> {
  let expect: { id: bigint; text: string; resolve: () => void; reject: (e: Error) => void } | null = null;
  let done = false;
  const peer = new Peer({
    identity: identities[c - cfg.first]!,
    profile: { instance: randomBytes(8), name: `stress-${c}` },
    group: cfg.group,
    limits: LIMITS,
    events: {
      onItem(_s: Session, item) {
        if (item.kind !== "text") return;
        const e = expect;
        if (e === null) return void fail(done ? "duplicate or late echo" : "unexpected message");
        expect = null;
        if (item.id !== e.id) return e.reject(new Error(item.id < e.id ? "duplicate echo" : "echo out of order or lost"));
        if (item.text !== e.text) return e.reject(new Error("echo corrupted"));
        e.resolve();
      },
      onClose(_s, info) {
        if (!done && expect) expect.reject(new Error(`session closed: ${info.error?.message ?? info.reason}`));
      },
    },
  });
  const t0 = performance.now();
  let s: Session;
  try {
    // early: the first message rides with our AUTH, as in the bench's handshake→echo.
    s = await peer.connect("127.0.0.1", cfg.port, cfg.group, { early: true });
  } catch (e) {
    fail(`handshake: ${((e as Error).message ?? "").replace(/127\.0\.0\.1:\d+/g, "server").slice(0, 90)}`);
    await peer.close("bye", 0);
    return;
  }
  handshakes++;
  sample(handshakeMs, performance.now() - t0);
  try {
    for (let i = 0; i < cfg.messages; i++) {
      const text = textFor(c, i, cfg.size);
      const sent = performance.now();
      const p = new Promise<void>((resolve, reject) => {
        expect = { id: BigInt(i), text, resolve, reject };
      });
      const timer = setTimeout(() => expect?.reject(new Error("echo timed out")), cfg.timeoutMs);
      s.send({ kind: "text", id: BigInt(i), text });
      try {
        await p;
      } finally {
        clearTimeout(timer);
      }
      messages++;
      sample(latencyMs, performance.now() - sent);
    }
    completed++;
  } catch (e) {
    fail((e as Error).message.slice(0, 90));
  }
  done = true;
  if (cfg.hold) held.push(peer);
  else await peer.close("bye", 1000);
}

const held: Peer[] = [];

const stdin = console[Symbol.asyncIterator]();
console.log(JSON.stringify({ t: "ready" }));
await stdin.next(); // wait for "go" on stdin

const progress = setInterval(() => console.log(JSON.stringify({ t: "progress", handshakes, completed, messages, failed: Object.values(failures).reduce((a, b) => a + b, 0) })), 100);

let next = 0;
async function lane(): Promise<void> {
  while (next < cfg.count) await client(cfg.first + next++);
}
await Promise.all(Array.from({ length: Math.max(1, Math.min(cfg.concurrency, cfg.count)) }, lane));
clearInterval(progress);
if (cfg.hold) {
  console.log(JSON.stringify({ t: "held", sessions: held.length }));
  await stdin.next(); // "release"
  await Promise.all(held.map((p) => p.close("bye", 1000)));
}
stopKexWorker();
const summary: WorkerSummary = { t: "done", handshakes, completed, messages, failures, handshakeMs, latencyMs };
console.log(JSON.stringify(summary));
process.exit(0);
