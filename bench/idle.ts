/**
 * Idle sessions at scale, the same harness for plain TCP, TLS 1.3 and sotto:
 *   1. a bench server (bench/child.ts) of each kind; 200 connections opened, echoed and
 *      closed first (code paths compiled, pools filled: what is left is per connection);
 *   2. N connections opened 500 at a time, each proving itself with one echo, and held;
 *   3. the server's RSS after a GC, minus the baseline, over the connections it counts open.
 * `bun run stress --peers 20000 --hold` does the same with N separate sotto peers.
 *
 *   bun bench/idle.ts [--smoke | --quick]     prints the rows as JSON
 */
import { rmSync } from "node:fs";
import { sessionsFor } from "../src/net/limits.ts";
import { Group } from "../src/protocol/constants.ts";
import { closeSottoClient, RawConn, SottoConn, type Conn } from "./clients.ts";
import { Server } from "./e2e.ts";
import { parseMode, type Mode } from "./common.ts";
import { fdLimit, makeCert, type Cert, type Kind } from "./wire.ts";

/** One contender's server RSS per held connection. */
export interface IdleRow {
  kind: Kind;
  conns: number;
  kibPerConn: number;
}

/** Connections held per contender; a full run asks for 20,000 (`bun run stress --hold`'s figure), bounded by the descriptor limit as a sotto peer's sessions are. */
const HELD: Record<Mode, number> = { full: 20_000, quick: 5_000, smoke: 50 };
const WARM = 200;
const STEP = 500;

async function one(kind: Kind, cert: Cert, n: number): Promise<IdleRow> {
  const s = await Server.start(kind, cert);
  const open = (): Promise<Conn> => (kind === "sotto" ? SottoConn.open(s.port, Group.X25519) : RawConn.open(s.port, kind === "tls" ? { ca: cert.cert } : undefined));
  const batch = (k: number) => Promise.all(Array.from({ length: k }, async (_, i) => {
    const c = await open();
    await c.echo(64, i);
    return c;
  }));
  const conns: Conn[] = [];
  try {
    for (const c of await batch(Math.min(WARM, n))) c.close();
    for (let i = 0; i < 100 && (await s.rss()).conns > 0; i++) await Bun.sleep(50);
    const before = await s.rss();
    for (let j = 0; j < n; j += STEP) conns.push(...(await batch(Math.min(STEP, n - j))));
    const after = await s.rss();
    if (after.conns !== n) throw new Error(`idle ${kind}: the server counts ${after.conns} of ${n} connections open`);
    return { kind, conns: n, kibPerConn: (after.rss - before.rss) / 1024 / n };
  } finally {
    for (const c of conns) c.close();
    await s.stop();
  }
}

/** Hold N idle connections per contender. @throws Error when one is lost. */
export async function runIdle(mode: Mode, log: (s: string) => void = () => {}): Promise<IdleRow[]> {
  // This process holds every client socket, the server every server socket; a sotto peer
  // takes no more sessions than its maxSessions fitted under the descriptor limit
  // (net/limits.ts sessionsFor), so every contender holds that many.
  const limit = fdLimit() ?? 1024;
  const n = sessionsFor(limit, HELD[mode]);
  if (n < HELD[mode]) log(`  the descriptor limit (${limit}) bounds the held connections: ${n} per contender instead of ${HELD[mode]}; raise \`ulimit -n\` to hold more`);
  const cert = makeCert();
  try {
    const rows: IdleRow[] = [];
    for (const kind of ["tcp", "tls", "sotto"] as Kind[]) {
      const r = await one(kind, cert, n);
      log(`  ${n} idle ${kind}: ${r.kibPerConn.toFixed(2)} KiB per connection`);
      rows.push(r);
    }
    return rows;
  } finally {
    rmSync(cert.dir, { recursive: true, force: true });
    await closeSottoClient();
  }
}

if (import.meta.main) {
  const mode = parseMode();
  console.log(JSON.stringify(await runIdle(mode, (s) => console.error(s)), null, 2));
  process.exit(0);
}
