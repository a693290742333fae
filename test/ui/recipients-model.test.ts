/** Recipients against a plain model of it: random runs of lines, ACKs, renames and contacts gone give the same lines and marks (property). */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { MAX_TRACKED, Recipients, type TrackedLine } from "../../src/ui/recipients.ts";
import { sent } from "../support/recipients.ts";

/**
 * A plain model of Recipients: every line in one list, each peer's recipients not yet
 * acknowledged in a list each ACK reads to its end (no order of ids assumed), a line done
 * when every recipient is. Ids grow per peer (as the chat's do), some are not numbers;
 * renames go to a free name (the chat refuses a taken one); a contact gone leaves its
 * name to a new key whose ids count from 1 again.
 */
type ModelLine = { line: number; dropped: boolean; rs: { peer: string; id: bigint | null; state: string }[] };
class Model {
  lines: ModelLine[] = [];
  #open: { peer: string; id: string; queued: boolean }[] | null = null;
  #waiting = new Map<string, { l: ModelLine; r: ModelLine["rs"][number] }[]>();
  #tracked = 0;
  #oldest = 0;
  #live(l: ModelLine) {
    return !l.dropped && l.rs.some((r) => r.state !== "delivered");
  }
  begin() {
    this.#open = [];
  }
  sent(peer: string, id: string, queued: boolean) {
    this.#open?.push({ peer, id, queued });
  }
  end(): number | null {
    const open = this.#open ?? [];
    this.#open = null;
    if (open.length === 0) return null;
    const l: ModelLine = { line: this.lines.length + 1, dropped: false, rs: open.map((s) => ({ peer: s.peer, id: readId(s.id), state: s.queued ? "queued" : "sent" })) };
    this.lines.push(l);
    for (const r of l.rs) {
      const w = this.#waiting.get(r.peer);
      if (r.id === null) continue;
      if (w === undefined) this.#waiting.set(r.peer, [{ l, r }]);
      else w.push({ l, r });
    }
    if (++this.#tracked > MAX_TRACKED) {
      while (!this.#live(this.lines[this.#oldest]!)) this.#oldest++;
      this.lines[this.#oldest]!.dropped = true;
      this.#tracked--;
    }
    return l.line;
  }
  ack(peer: string, id: string): number[] {
    const upTo = readId(id);
    const hit: number[] = [];
    const w = this.#waiting.get(peer);
    if (upTo === null || w === undefined) return hit;
    this.#waiting.set(
      peer,
      w.filter(({ l, r }) => {
        if (l.dropped) return false;
        if (r.id! > upTo) return true;
        r.state = "delivered";
        hit.push(l.line);
        if (!this.#live(l)) this.#tracked--;
        return false;
      }),
    );
    return hit;
  }
  renamed(previous: string, peer: string) {
    for (const l of this.lines) if (this.#live(l)) for (const r of l.rs) if (r.peer === previous) r.peer = peer;
    const w = this.#waiting.get(previous);
    this.#waiting.delete(previous);
    if (w !== undefined) this.#waiting.set(peer, w);
  }
  gone(peer: string) {
    this.#waiting.delete(peer);
  }
}
function readId(s: string): bigint | null {
  try {
    return BigInt(s);
  } catch {
    return null;
  }
}

/** One random run through both: the same lines, ACKs (repeated, late, of unknown peers, not numbers), renames and contacts gone. */
function againstModel(seed: number, steps: number, o: { peers: number; most: number; silent: boolean; start: bigint }): void {
  let s = seed >>> 0;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const pick = <T>(a: readonly T[]) => a[Math.floor(rnd() * a.length)]!;
  const r = new Recipients();
  const m = new Model();
  const names = Array.from({ length: o.peers }, (_, i) => `p${i}`);
  const next = new Map<string, bigint>();
  const made: TrackedLine[] = [];
  let fresh = 0;
  for (let step = 0; step < steps; step++) {
    const x = rnd();
    if (x < 0.6) {
      r.begin();
      m.begin();
      const to = [...names].sort(() => rnd() - 0.5).slice(0, Math.floor(rnd() * (o.most + 1)));
      if (o.silent && !to.includes(names[0]!) && rnd() < 0.8) to.push(names[0]!);
      for (const peer of to) {
        const c = (next.get(peer) ?? o.start) + BigInt(1 + Math.floor(rnd() * 2));
        next.set(peer, c);
        const id = rnd() < 0.02 ? pick(["abc", "1e3", "1.5", "-"]) : String(c);
        const queued = rnd() < 0.2;
        r.sent(sent(peer, id, queued));
        m.sent(peer, id, queued);
      }
      const l = r.end();
      expect(l?.line ?? null).toBe(m.end());
      if (l !== null) made.push(l);
    } else if (x < 0.97) {
      // The first peer, when silent, acknowledges almost never: its lines pile up past MAX_TRACKED.
      const peer = rnd() < 0.05 ? "nobody" : pick(o.silent && rnd() > 0.002 ? names.slice(1) : names);
      const id = rnd() < 0.05 ? pick(["x", "-1", "0x10", "99999999999999999999"]) : String((next.get(peer) ?? o.start) - BigInt(Math.floor(rnd() * 5)));
      expect(r.ack({ type: "ack", peer, id }).map((l) => l.line)).toEqual(m.ack(peer, id));
    } else if (x < 0.985) {
      const i = Math.floor(rnd() * names.length);
      const to = `n${fresh++}`;
      r.renamed(names[i]!, to);
      m.renamed(names[i]!, to);
      next.set(to, next.get(names[i]!) ?? o.start);
      names[i] = to;
    } else {
      const peer = pick(names);
      r.gone(peer);
      m.gone(peer);
      next.delete(peer);
    }
  }
  const marks = (rs: { peer: string; state: string }[]) => rs.map((x) => `${x.peer} ${x.state}`).join(", ");
  expect(made.map((l) => marks(l.recipients))).toEqual(m.lines.map((l) => marks(l.rs)));
  if (o.silent) expect(m.lines.filter((l) => l.dropped).length).toBeGreaterThan(1000);
}

describe("Recipients against a plain model (property)", () => {
  test("random runs of lines to one or several recipients, some queued, ACKs in any order, renames, contacts gone; ids small, past 2^53 and of 16+ digits", () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.constantFrom(0n, 2n ** 53n - 20n, 10n ** 15n - 20n), (seed, peers, most, start) =>
        againstModel(seed, 600, { peers, most: Math.min(most, peers), silent: false, start }),
      ),
      { numRuns: 60 },
    );
  });

  test(`past MAX_TRACKED: the line dropped is the oldest still tracked, next to lines acknowledged`, () => {
    againstModel(7, 2.5 * MAX_TRACKED, { peers: 3, most: 3, silent: true, start: 0n });
  });
});
