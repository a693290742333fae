/**
 * A simulated link for the pacer (src/net/pacer.ts), on a simulated clock: the sender seals
 * bulk records of the pacer's quantum while the stream offset is below its `until`, with a
 * probe (PING) after them as established.ts does; the link holds each record `delayMs`,
 * then sends it at `rateBytesPerMs` in order (as test/faults/proxy.ts does); the receiver
 * answers a PING once every byte before it arrived; the PONG takes `delayMs` back.
 * With `stall`, the link sends nothing between those two times (a busy router, a thread
 * that gets no CPU). A line is sent every 100 ms; the report counts the bulk bytes ahead of each line on the
 * link and the bytes delivered.
 */
import { BulkPacer } from "../../src/net/pacer.ts";

export interface SimReport {
  /** Bulk bytes delivered. */
  delivered: number;
  /** Bulk bytes the link could have carried from the first PONG to the end. */
  capacity: number;
  /** For each line: link bytes ahead of it when it was sent (queued, not yet on the wire). */
  ahead: number[];
  /** For each line: ms it waited for the link behind bulk (its time past the delay). */
  waits: number[];
}

type Seg = { end: number; due: number; ping?: Uint8Array; line?: number };

export function simulate(o: { rateBytesPerMs: number; delayMs: number; ms: number; stepMs?: number; ackJitterMs?: (i: number) => number; stall?: [number, number] }): SimReport {
  const dt = o.stepMs ?? 0.25;
  const p = new BulkPacer();
  const q: Seg[] = [];
  let written = 0;
  let onWire = 0; // link bytes sent so far
  let linkFreeAt = 0;
  const pongs: { at: number; data: Uint8Array }[] = [];
  const ahead: number[] = [];
  const waits: number[] = [];
  let firstPongAt = -1;
  let deliveredAtFirst = 0;
  let pongCount = 0;
  // The first probe, on an empty path (session.ts does this when the session opens).
  const first = p.probe(0, 0)!;
  q.push({ end: 0, due: o.delayMs, ping: first });
  for (let now = 0; now < o.ms; now += dt) {
    // PONGs back at the sender.
    while (pongs.length > 0 && pongs[0]!.at <= now) {
      if (firstPongAt < 0) {
        firstPongAt = now;
        deliveredAtFirst = onWire;
      }
      p.onPong(pongs.shift()!.data, now);
    }
    // The sender: bulk while the pacer allows, then a probe behind it.
    const until = p.until(now, written);
    let sent = false;
    while (written < until) {
      written += p.quantum;
      q.push({ end: written, due: now + o.delayMs });
      sent = true;
    }
    if (sent || written > p.acked) {
      const data = p.probe(now, written);
      if (data !== null) q.push({ end: written, due: now + o.delayMs, ping: data });
    }
    // A line every 100 ms: what is queued ahead of it on the link.
    if (Math.floor(now / 100) !== Math.floor((now - dt) / 100) && now > 0) {
      ahead.push(written - onWire);
      q.push({ end: written, due: now + o.delayMs, line: now });
    }
    // The link: due segments in order, at the rate.
    let budget = 0;
    const stalled = o.stall !== undefined && now >= o.stall[0] && now < o.stall[1];
    if (linkFreeAt <= now && !stalled) budget = o.rateBytesPerMs * dt;
    while (q.length > 0 && q[0]!.due <= now) {
      const s = q[0]!;
      if (onWire >= s.end) {
        q.shift();
        if (s.line !== undefined) waits.push(now - s.line - o.delayMs);
        if (s.ping) pongs.push({ at: now + o.delayMs + (o.ackJitterMs?.(pongCount++) ?? 0), data: s.ping });
        continue;
      }
      if (budget <= 0) break;
      const n = Math.min(budget, s.end - onWire);
      onWire += n;
      budget -= n;
    }
    pongs.sort((a, b) => a.at - b.at);
  }
  return { delivered: onWire, capacity: deliveredAtFirst + o.rateBytesPerMs * (o.ms - Math.max(0, firstPongAt)), ahead, waits };
}
