/**
 * ItemHold (src/chat/node/hold.ts) while the front end is backed up: what held sessions
 * may keep is bounded per session and for all sessions together; past the total, the
 * session holding the most is cut with busy, not a contact holding one line, and that
 * contact's line is handled once the output drains.
 */
import { expect, test } from "bun:test";
import type { PeerSession } from "../../../src/net/types.ts";
import { holdWhileBackedUp, ItemHold, MAX_HELD_BYTES, MAX_HELD_TOTAL } from "../../../src/chat/node/hold.ts";
import type { Session } from "../../../src/net/session.ts";
import type { Item } from "../../../src/protocol/items.ts";
import type { ProtocolError } from "../../../src/protocol/errors.ts";

class FakeSession {
  state = "open";
  error: ProtocolError | null = null;
  paused = false;
  constructor(readonly name: string) {}
  abort(e: ProtocolError): void {
    this.error = e;
    this.state = "closed";
  }
  pauseReading(on: boolean): void {
    this.paused = on;
  }
}

test("40 sessions each sending just under MAX_HELD_BYTES while the output is full: the total held stays within MAX_HELD_TOTAL, the largest holders are cut with busy, a contact's one line is kept and handled on drain", async () => {
  let wake: (() => void) | null = null;
  const gate = { full: true, whenDrained: (w: () => void) => void (wake = w) };
  const handled: string[] = [];
  const hold = new ItemHold<PeerSession>(gate, (s, item) => void handled.push(`${(s as unknown as FakeSession).name}:${item.kind === "text" ? item.text.length : item.kind}`));
  const contact = new FakeSession("contact");
  hold.onItem(contact as unknown as PeerSession, { kind: "text", id: 1n, text: "hi" });
  // One shared string: each item charges 160 + 2 × 4096 bytes, no real heap is used.
  const line: Item = { kind: "text", id: 2n, text: "x".repeat(4096) };
  const perItem = 160 + 2 * 4096;
  const each = Math.floor((MAX_HELD_BYTES - 1) / perItem);
  const evils = Array.from({ length: 40 }, (_, i) => new FakeSession(`evil${i}`));
  let maxHeld = 0;
  for (const [n, e] of evils.entries()) {
    for (let i = 0; i < each && e.state === "open"; i++) hold.onItem(e as unknown as PeerSession, line);
    const held = evils.slice(0, n + 1).filter((x) => x.state === "open").length * each * perItem;
    maxHeld = Math.max(maxHeld, held);
  }
  // Without a process-wide bound all 40 would hold ≈ 16 MiB each (640 MiB).
  expect(maxHeld).toBeLessThanOrEqual(MAX_HELD_TOTAL);
  expect(hold.heldBytes).toBeLessThanOrEqual(MAX_HELD_TOTAL);
  const cut = evils.filter((e) => e.state === "closed");
  expect(cut.length).toBeGreaterThanOrEqual(40 - Math.floor(MAX_HELD_TOTAL / (each * perItem)));
  for (const e of cut) expect(e.error!.code).toBe("busy");
  expect(contact.state).toBe("open");
  expect(contact.paused).toBe(true);
  expect(handled).toEqual([]);
  // The output drains: the contact's line is handled, once, and its reading resumes.
  gate.full = false;
  wake!();
  // Released items are handled TURN_ITEMS a session per turn of the event loop.
  for (let turns = 0; hold.size > 0 && turns < 100; turns++) await new Promise((r) => setImmediate(r));
  expect(handled.filter((h) => h.startsWith("contact"))).toEqual(["contact:2"]);
  expect(handled.length).toBe(1 + (40 - cut.length) * each);
  expect(contact.paused).toBe(false);
  expect(hold.heldBytes).toBe(0);
});

test("a session whose lines fill the output again on every drain does not keep a contact's held line behind it: the contact's line is handled at the next drain", () => {
  let wake: (() => void) | null = null;
  const gate = { full: true, whenDrained: (w: () => void) => void (wake = w) };
  const evil = new FakeSession("evil");
  const contact = new FakeSession("contact");
  const handled: string[] = [];
  // Each of evil's lines fills the front end's output again (a large TEXT).
  const hold = new ItemHold<PeerSession>(gate, (s, item) => {
    const f = s as unknown as FakeSession;
    handled.push(`${f.name}:${item.kind === "text" ? item.text : item.kind}`);
    if (f === evil) gate.full = true;
  });
  for (let i = 0; i < 5; i++) hold.onItem(evil as unknown as PeerSession, { kind: "text", id: BigInt(i), text: `e${i}` });
  hold.onItem(contact as unknown as PeerSession, { kind: "text", id: 9n, text: "hi" });
  const drains: string[][] = [];
  for (let d = 0; d < 6 && wake !== null; d++) {
    const w: () => void = wake;
    wake = null;
    gate.full = false;
    const before = handled.length;
    w();
    drains.push(handled.slice(before));
  }
  // Evil's first line at the first drain, the contact's at the next; evil's in order throughout.
  expect(drains[0]).toEqual(["evil:e0"]);
  expect(drains[1]![0]).toBe("contact:hi");
  expect(handled.filter((h) => h.startsWith("evil"))).toEqual(["evil:e0", "evil:e1", "evil:e2", "evil:e3", "evil:e4"]);
  expect(contact.paused).toBe(false);
});

test("the chat takes TEXT as (id, text) from the Peer (onText) and handles it as an Item with the exact bigint id, in order with other items, held while the output is full", () => {
  let wake: (() => void) | null = null;
  const gate = { full: false, whenDrained: (w: () => void) => void (wake = w) };
  const got: Item[] = [];
  const ev = holdWhileBackedUp(gate, { onItem: (_s, item) => void got.push(item) });
  const s = new FakeSession("peer") as unknown as Session;
  expect(ev.onText).toBeDefined();
  ev.onText!(s, 1, "one");
  ev.onItem!(s, { kind: "ack", id: 4n });
  ev.onText!(s, 2n ** 64n - 1n, "last");
  gate.full = true;
  ev.onText!(s, 2 ** 53 - 1, "held");
  expect(got).toEqual([{ kind: "text", id: 1n, text: "one" }, { kind: "ack", id: 4n }, { kind: "text", id: 2n ** 64n - 1n, text: "last" }]);
  gate.full = false;
  wake!();
  expect(got.at(-1)).toEqual({ kind: "text", id: 2n ** 53n - 1n, text: "held" });
});
