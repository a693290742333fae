/** Requests are bounded: the oldest idle one makes room; when all are connected, none is added. */
import { describe, expect, test } from "bun:test";
import { Requests } from "../../../src/chat/trust/requests.ts";

const key = (n: number) => new Uint8Array(32).fill(n);

describe("Requests", () => {
  test("ids are never reused; the same key keeps its request", () => {
    const r = new Requests(4);
    const a = r.open(key(1), "a")!;
    const b = r.open(key(2), "b")!;
    expect([a.id, b.id]).toEqual(["r1", "r2"]);
    expect(r.open(key(1), "a again")!.id).toBe("r1");
    expect(r.get(a.pid)!.sessions).toBe(2);
    r.delete(a.pid);
    expect(r.open(key(1), "a")!.id).toBe("r3");
  });

  test("full: the oldest request without a session is pushed out; with all connected, a new key gets null", () => {
    const r = new Requests(3);
    for (const n of [1, 2, 3]) r.open(key(n), `s${n}`);
    r.closed(r.list()[1]!.pid); // s2 left
    expect(r.hasRoom("ff".repeat(32))).toBe(true);
    r.open(key(4), "s4");
    expect(r.list().map((x) => x.claimed)).toEqual(["s1", "s3", "s4"]);
    expect(r.hasRoom("ee".repeat(32))).toBe(false);
    expect(r.open(key(5), "s5")).toBeNull();
    expect(r.size).toBe(3);
  });
});
