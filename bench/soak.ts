/**
 * `bun bench/soak.ts --minutes N [--cuts C] [--messages M] [--faults plain|split|mix]
 *                   [--seed S] [--json]`
 * The cut test of test/faults/cuts.test.ts in a loop, for longer manual runs:
 *   1. round k runs one two-way conversation (two in-process ChatNodes, bob dialling alice
 *      through the fault proxy) with C cuts and M messages each way, seed S+k; with
 *      `--faults mix` every third round also splits every write into single bytes and
 *      delays each chunk by 5 ms (with M/4 messages, C/10 cuts: 1-byte writes are slow);
 *   2. after each round: one line (ok, seconds, cuts, sessions, redial p50/max, peak
 *      unacknowledged, bytes) and the heap after a full GC, so a leak shows as a trend;
 *   3. rounds start until N minutes have passed (a round in progress is finished);
 *   4. a summary: rounds, failures with their seeds (replay one with
 *      SOTTO_CUT_SEED=<seed> bun test test/faults/cuts.test.ts), totals and rates.
 * Exit 1 when a round lost, duplicated, reordered or altered a message, or timed out.
 */
import { runCuts, type CutRunResult } from "../test/faults/conversation.ts";

/** The flags of bench/soak.ts, checked. */
export interface SoakOptions {
  minutes: number;
  cuts: number;
  messages: number;
  faults: "plain" | "split" | "mix";
  seed: number;
  json: boolean;
}

interface Round extends CutRunResult {
  round: number;
  seed: number;
  kind: "plain" | "split";
  heapMiB: number;
}

function parse(argv: string[]): SoakOptions {
  const get = (name: string, def: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : def;
  };
  const num = (name: string, def: number, min: number) => {
    const v = Number(get(name, String(def)));
    if (!Number.isFinite(v) || v < min) throw new Error(`--${name} expects a number ≥ ${min}`);
    return v;
  };
  const faults = get("faults", "mix");
  if (faults !== "plain" && faults !== "split" && faults !== "mix") throw new Error("--faults expects plain, split or mix");
  return { minutes: num("minutes", 5, 0), cuts: Math.floor(num("cuts", 100, 1)), messages: Math.floor(num("messages", 2000, 1)), faults, seed: Math.floor(num("seed", Date.now() % 1_000_000, 0)), json: argv.includes("--json") };
}

const heapMiB = () => {
  Bun.gc(true);
  return process.memoryUsage().heapUsed / 2 ** 20;
};

/** Run rounds until the time is up; never exits the process. */
export async function runSoak(o: SoakOptions, log: (s: string) => void): Promise<{ ok: boolean; rounds: Round[] }> {
  const end = performance.now() + o.minutes * 60_000;
  const rounds: Round[] = [];
  const heap0 = heapMiB();
  log(`soak: ${o.minutes} min, ${o.cuts} cuts and ${o.messages} messages each way per round, faults ${o.faults}, seeds from ${o.seed}; heap ${heap0.toFixed(1)} MiB`);
  for (let k = 0; k === 0 || performance.now() < end; k++) {
    const kind = o.faults === "split" || (o.faults === "mix" && k % 3 === 2) ? "split" : "plain";
    const seed = o.seed + k;
    const r =
      kind === "plain"
        ? await runCuts({ messages: o.messages, cuts: o.cuts, seed, timeoutMs: 300_000 })
        : await runCuts({ messages: Math.max(1, Math.floor(o.messages / 4)), cuts: Math.max(1, Math.floor(o.cuts / 10)), seed, faults: { splitBytes: 1, delayMs: 5 }, timeoutMs: 300_000 });
    const round: Round = { ...r, round: k + 1, seed, kind, heapMiB: heapMiB() };
    rounds.push(round);
    const bad = (s: CutRunResult["alice"]) => `got ${s.got}, missing ${s.missing}, dup ${s.duplicated}, reordered ${s.outOfOrder}, altered ${s.altered}`;
    log(
      `round ${round.round} ${kind} seed ${seed}: ${r.ok ? "ok" : "FAILED"} in ${r.seconds.toFixed(1)} s; ${r.cuts} cuts, ${r.sessions} sessions of ${r.connections} connections; ` +
        `redial p50 ${r.redialMs.p50} ms, max ${r.redialMs.max} ms; peak unacked ${r.peakUnacked}; ${((r.bytes.up + r.bytes.down) / 2 ** 20).toFixed(1)} MiB through the proxy; heap ${round.heapMiB.toFixed(1)} MiB` +
        (r.ok ? "" : `; alice ${bad(r.alice)}; bob ${bad(r.bob)}${r.timedOut ? "; timed out" : ""}`),
    );
  }
  const failed = rounds.filter((r) => !r.ok);
  const secs = rounds.reduce((n, r) => n + r.seconds, 0);
  const cuts = rounds.reduce((n, r) => n + r.cuts, 0);
  const msgs = rounds.reduce((n, r) => n + r.alice.got + r.bob.got, 0);
  log(
    `soak: ${rounds.length} rounds in ${secs.toFixed(0)} s, ${failed.length} failed${failed.length ? ` (seeds ${failed.map((r) => r.seed).join(", ")})` : ""}; ` +
      `${cuts} cuts (${(cuts / secs).toFixed(1)}/s), ${msgs} messages delivered (${(msgs / secs).toFixed(0)}/s); heap ${heap0.toFixed(1)} → ${heapMiB().toFixed(1)} MiB`,
  );
  return { ok: failed.length === 0, rounds };
}

if (import.meta.main) {
  let o: SoakOptions;
  try {
    o = parse(process.argv.slice(2));
  } catch (e) {
    console.error(`soak: ${(e as Error).message}`);
    process.exit(2);
  }
  const r = await runSoak(o, o.json ? () => {} : (s) => console.log(s));
  if (o.json) console.log(JSON.stringify(r));
  process.exit(r.ok ? 0 : 1);
}
