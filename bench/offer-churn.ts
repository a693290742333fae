/**
 * FILE_OFFER churn against a listening chat: does it push a good peer's round trip up?
 * bob (a ChatNode that asks before each file, its events serialised as --json would be)
 * listens; alice, a contact, sends lines one at a time and times each until its ACK;
 * mallory, a raw peer, offers and cancels files as fast as its session takes them.
 * The same round trips are measured first without mallory (the baseline of this run),
 * then during the churn; the ratio is what counts. Bounded: 300 lines per phase.
 *   bun bench/offer-churn.ts      prints one JSON object
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChatEvent } from "../src/chat/events.ts";
import { ChatNode } from "../src/chat/node.ts";
import { ed25519Generate } from "../src/crypto/ed25519.ts";
import { Peer } from "../src/net/peer.ts";
import { FileCode, Group } from "../src/protocol/constants.ts";
import { encodeFileItem } from "../src/protocol/files.ts";

const LINES = 300;
const OFFERS_PER_TURN = 200;

const homes: string[] = [];
const home = () => {
  const d = mkdtempSync(join(tmpdir(), "sotto-churn-"));
  homes.push(d);
  return d;
};
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function main(): Promise<void> {
  let eventBytes = 0;
  let offersSeen = 0;
  let port = 0;
  const bobHome = home();
  const bob = await ChatNode.start({ home: bobHome, name: "bob", group: Group.X25519, strict: false, listen: { host: "127.0.0.1", port: 0 }, connect: [], files: { downloads: join(bobHome, "downloads"), autoAccept: false } }, (e) => {
    eventBytes += JSON.stringify(e, (_k, v) => (typeof v === "bigint" ? v.toString() : v)).length;
    if (e.type === "transfer" && e.phase === "offered") offersSeen++;
    if (e.type === "listening") port = e.port;
  });
  const acks: (() => void)[] = [];
  const aliceEvents = (e: ChatEvent) => e.type === "ack" && acks.shift()?.();
  const alice = await ChatNode.start({ home: home(), name: "alice", group: Group.X25519, strict: false, listen: null, connect: [`127.0.0.1:${port}`], files: false }, aliceEvents);
  while (alice.peers().length === 0) await Bun.sleep(5);

  const rtts = async (): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < LINES; i++) {
      const t0 = performance.now();
      await new Promise<void>((resolve) => {
        acks.push(resolve);
        alice.sendTo("bob", `line ${i}`);
      });
      out.push(performance.now() - t0);
    }
    return out;
  };
  const base = await rtts();

  const mallory = new Peer({ identity: ed25519Generate(), profile: { instance: new Uint8Array(8), name: "mallory" } });
  const s = await mallory.connect("127.0.0.1", port);
  let id = 1n;
  let offers = 0;
  let churning = true;
  const hash = new Uint8Array(32).fill(1);
  const churn = () => {
    if (!churning || s.state !== "open") return;
    if (s.bufferedAmount < 256 * 1024) {
      for (let i = 0; i < OFFERS_PER_TURN; i++, id++, offers++) {
        s.send(encodeFileItem({ kind: "file_offer", id, size: 1, sha256: hash, name: `f${id}` }));
        s.send(encodeFileItem({ kind: "file_cancel", id, code: FileCode.declined, reason: "" }));
      }
    }
    setImmediate(churn);
  };
  churn();
  const during = await rtts();
  churning = false;
  const ms = (x: number) => Math.round(x * 100) / 100;
  console.log(JSON.stringify({ lines: LINES, baseline: { p50: ms(pct(base, 50)), p99: ms(pct(base, 99)) }, churn: { p50: ms(pct(during, 50)), p99: ms(pct(during, 99)), offersSent: offers, offerEventsShown: offersSeen, eventBytes }, p99Ratio: ms(pct(during, 99) / pct(base, 99)) }));
  await mallory.close("bye", 100);
  await alice.close();
  await bob.close();
  for (const d of homes) rmSync(d, { recursive: true, force: true });
  process.exit(0);
}

await main();
