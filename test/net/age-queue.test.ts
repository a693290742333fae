/** src/net/age-queue.ts: the order Peer evicts inbound handshakes in, and its slots bounded by the live keys. */
import { describe, expect, test } from "bun:test";
import { AgeQueue } from "../../src/net/age-queue.ts";

describe("AgeQueue", () => {
  test("oldest first; deletes anywhere skipped; a key added again keeps its place", () => {
    const q = new AgeQueue<string>();
    expect(q.oldest()).toBeUndefined();
    for (const [i, k] of ["a", "b", "c", "d"].entries()) q.set(k, i * 10);
    q.set("a", 99);
    expect(q.oldest()).toEqual(["a", 0]);
    q.delete("b");
    q.delete("a");
    expect(q.oldest()).toEqual(["c", 20]);
    q.delete("zz");
    q.delete("c");
    q.delete("d");
    expect([q.oldest(), q.size, q.slots]).toEqual([undefined, 0, 0]);
    q.set("e", 50);
    expect([q.oldest(), q.size]).toEqual([["e", 50], 1]);
  });

  test("under churn from the head, the middle and the tail its slots stay within twice the live keys", () => {
    const q = new AgeQueue<number>();
    const live: number[] = [];
    let most = 0;
    let next = 0;
    for (let round = 0; round < 20_000; round++) {
      q.set(next, next);
      live.push(next++);
      if (live.length > 300) {
        // a head that never finishes, handshakes finishing in the middle and at the end
        const at = round % 3 === 0 ? live.length - 1 : 1 + (round % (live.length - 1));
        q.delete(live.splice(at, 1)[0]!);
        if (round % 7 === 0) q.oldest();
      }
      most = Math.max(most, q.slots - 2 * q.size);
    }
    expect(q.size).toBe(live.length);
    expect(most).toBeLessThanOrEqual(17);
    expect(q.oldest()).toEqual([0, 0]);
    // order kept across the rebuilds
    const seen: number[] = [];
    for (let e = q.oldest(); e !== undefined; e = q.oldest()) {
      seen.push(e[0]);
      q.delete(e[0]);
    }
    expect(seen).toEqual(live);
  });

  test("a deleted key is not held: a closed session is garbage at once, not when the slots are rebuilt", () => {
    const q = new AgeQueue<object>();
    const refs = fill(q);
    Bun.gc(true);
    // 40 keys, the 10 oldest deleted: below the rebuild threshold, so only a slot that
    // lets go of its key frees them.
    expect([q.size, q.slots]).toEqual([30, 40]);
    expect(refs.filter((r) => r.deref() !== undefined)).toHaveLength(0);
  });
});

/** 40 keys made in a frame of their own (nothing on the test's stack points at them); the first 10 deleted. */
function fill(q: AgeQueue<object>): WeakRef<object>[] {
  const refs: WeakRef<object>[] = [];
  for (let i = 0; i < 40; i++) {
    const k = { big: new Uint8Array(1024) };
    q.set(k, i);
    if (i < 10) refs.push(new WeakRef(k));
  }
  for (let i = 0; i < 10; i++) q.delete(refs[i]!.deref()!);
  return refs;
}
