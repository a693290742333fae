/**
 * Does a handshake ever block the event loop? In a fresh process (so "first use" is
 * real: no FFDHE context built yet), a listening peer and a dialling peer share one event
 * loop while a 1 ms ticker records the longest gap between its ticks. For each group:
 * the first handshake alone, then 20 more. The target is no gap over 50 ms.
 *   bun bench/stall.ts            runs the child and prints its JSON
 */
import { ed25519Generate } from "../src/crypto/ed25519.ts";
import { stopKexWorker } from "../src/net/kex.ts";
import { Peer } from "../src/net/peer.ts";
import { Group, GROUP_NAMES } from "../src/protocol/constants.ts";
import { bunChild } from "./common.ts";

export interface StallRow {
  group: string;
  firstMs: number;
  firstMaxStallMs: number;
  laterMaxStallMs: number;
}

async function child(): Promise<void> {
  let last = performance.now();
  let maxGap = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 1);
  // The first FFDHE dial waits for the worker to start and build the group's context on both
  // sides (what is measured): the connect deadline, which covers the peer's first byte, is
  // set far above it so that a loaded machine makes the figure larger, not the bench fail.
  const mk = (name: string) => new Peer({ identity: ed25519Generate(), profile: { instance: new Uint8Array(8), name }, limits: { connectTimeoutMs: 120_000, handshakeTimeoutMs: 120_000 } });
  const server = mk("server");
  const port = server.listen("127.0.0.1", 0);
  const client = mk("client");
  await Bun.sleep(20);
  const rows: StallRow[] = [];
  for (const g of [Group.X25519, Group.FFDHE2048, Group.FFDHE3072]) {
    maxGap = 0;
    last = performance.now();
    const t = performance.now();
    (await client.connect("127.0.0.1", port, g)).close();
    const firstMs = performance.now() - t;
    const firstMaxStallMs = maxGap;
    maxGap = 0;
    last = performance.now();
    for (let i = 0; i < 20; i++) (await client.connect("127.0.0.1", port, g)).close();
    rows.push({ group: GROUP_NAMES[g], firstMs, firstMaxStallMs, laterMaxStallMs: maxGap });
  }
  clearInterval(ticker);
  await client.close();
  await server.close();
  stopKexWorker();
  console.log(JSON.stringify(rows));
}

/** Run the measurement in a fresh child process. @throws Error when the child fails. */
export async function runStall(): Promise<StallRow[]> {
  const p = bunChild(import.meta.path, ["--child"], { stdin: "ignore", stdout: "pipe", stderr: "inherit" });
  const out = await new Response(p.stdout).text();
  if ((await p.exited) !== 0) throw new Error("stall child failed");
  return JSON.parse(out.trim().split("\n").at(-1)!) as StallRow[];
}

if (import.meta.main) {
  if (process.argv.includes("--child")) await child();
  else console.log(JSON.stringify(await runStall(), null, 2));
}
