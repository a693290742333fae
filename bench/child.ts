/**
 * The receiving side of the end-to-end bench and of the stress test, in its own process:
 *   bun bench/child.ts <tcp|tls|sotto> [certDir]
 * Listens on 127.0.0.1 (free port), prints {"port"} on stdout, then serves bench messages
 * (wire.ts): DATA is counted and checked in order, ECHO is sent back, FINISH is answered
 * with the count and an in-order flag. Stdin commands, one per line: `rss` prints
 * {"rss","peakRss","conns","peakConns"}; `heap` prints the JavaScript heap's object counts by
 * type (after a GC), to see what each open session holds; `quit` exits.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Socket } from "bun";
import { heapStats } from "bun:jsc";
import { ed25519Generate } from "../src/crypto/ed25519.ts";
import { Peer } from "../src/net/peer.ts";
import type { Session } from "../src/net/session.ts";
import { Group } from "../src/protocol/constants.ts";
import { Op, RawFramer, readCounter, rawMessage, type Kind } from "./wire.ts";

const kind = (process.argv[2] ?? "tcp") as Kind;
const certDir = process.argv[3];

let conns = 0;
let peakConns = 0;
let peakRss = process.memoryUsage().rss;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 50);
sampler.unref();

/** Per-connection DATA bookkeeping. */
interface Count {
  next: number;
  bad: number;
}

function count(c: Count, counter: number): void {
  if (counter !== c.next) c.bad++;
  c.next++;
}

type RawData = { framer: RawFramer; c: Count };

function serveRaw(): number {
  const tls = kind === "tls" ? { key: readFileSync(join(certDir!, "key.pem"), "utf8"), cert: readFileSync(join(certDir!, "cert.pem"), "utf8") } : undefined;
  const out = new Map<Socket<RawData>, Uint8Array[]>();
  const write = (s: Socket<RawData>, b: Uint8Array) => {
    const q = out.get(s);
    if (q) return void q.push(b);
    const n = s.write(b);
    if (n < b.length) out.set(s, [b.subarray(Math.max(0, n))]);
  };
  const listener = Bun.listen<RawData>({
    hostname: "127.0.0.1",
    port: 0,
    tls,
    socket: {
      open(s) {
        peakConns = Math.max(peakConns, ++conns);
        const c: Count = { next: 0, bad: 0 };
        s.data = {
          c,
          framer: new RawFramer((m) => {
            const op = m[0];
            if (op === Op.DATA) count(c, readCounter(m));
            else if (op === Op.ECHO) {
              const b = new Uint8Array(2 + m.length);
              b[0] = m.length >>> 8;
              b[1] = m.length & 0xff;
              b.set(m, 2);
              write(s, b);
            } else if (op === Op.FINISH) {
              const r = rawMessage(Op.FINISH, c.next, 6);
              r[7] = c.bad === 0 ? 1 : 0;
              write(s, r);
              c.next = 0;
              c.bad = 0;
            }
          }),
        };
      },
      data(s, chunk) {
        s.data.framer.push(chunk);
      },
      drain(s) {
        const q = out.get(s);
        if (!q) return;
        while (q.length > 0) {
          const b = q[0]!;
          const n = s.write(b);
          if (n < b.length) {
            q[0] = b.subarray(Math.max(0, n));
            return;
          }
          q.shift();
        }
        out.delete(s);
      },
      close(s) {
        conns--;
        out.delete(s);
      },
      error() {},
    },
  });
  return listener.port;
}

function serveSotto(): number {
  const state = new Map<Session, Count>();
  let lastS: Session | null = null;
  let lastC: Count | null = null;
  const peer = new Peer({
    identity: ed25519Generate(),
    profile: { instance: randomBytes(8), name: "bench-server" },
    accept: [Group.X25519, Group.FFDHE2048, Group.FFDHE3072],
    limits: { maxSessions: 1_000_000, maxHalfOpen: 100_000, maxHalfOpenPerAddress: 100_000, maxHalfOpenPerPrefix: 100_000, maxSendQueueBytes: 64 * 1024 * 1024, keepaliveMs: 0, idleTimeoutMs: 0, handshakeTimeoutMs: 120_000 },
    events: {
      onReady(s) {
        peakConns = Math.max(peakConns, ++conns);
        state.set(s, { next: 0, bad: 0 });
      },
      // TEXT as (id, text), as the chat takes it (PeerEvents.onText); sent back with sendText.
      onText(s, id, text) {
        // The session's count, looked up once per run of TEXTs from one session (the raw
        // servers hold theirs in the socket's closure: no map lookup per message either).
        if (s !== lastS) [lastS, lastC] = [s, state.get(s)!];
        const c = lastC!;
        const op = text.charCodeAt(0);
        if (op === Op.DATA) count(c, Number(id));
        else if (op === Op.ECHO) s.sendText(id, text);
        else if (op === Op.FINISH) {
          s.sendText(c.next, c.bad === 0 ? "fok" : "fbad");
          c.next = 0;
          c.bad = 0;
        }
      },
      onClose(s) {
        if (s === lastS) [lastS, lastC] = [null, null];
        if (state.delete(s)) conns--;
      },
    },
  });
  return peer.listen("127.0.0.1", 0);
}

const port = kind === "sotto" ? serveSotto() : serveRaw();
console.log(JSON.stringify({ port, pid: process.pid, rss: process.memoryUsage().rss }));

for await (const line of console) {
  const cmd = line.trim();
  if (cmd === "rss") {
    Bun.gc(true);
    const rss = process.memoryUsage().rss;
    peakRss = Math.max(peakRss, rss);
    console.log(JSON.stringify({ rss, peakRss, conns, peakConns }));
  } else if (cmd === "heap") {
    Bun.gc(true);
    const h = heapStats();
    console.log(JSON.stringify({ heapSize: h.heapSize, objectCount: h.objectCount, types: h.objectTypeCounts, conns }));
  } else if (cmd === "quit") process.exit(0);
}
process.exit(0);
