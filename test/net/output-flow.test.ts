import { describe, expect, test } from "bun:test";
import { ProtocolError } from "../../src/protocol/errors.ts";
import { ByteBudget } from "../../src/net/limits.ts";
import type { Outbound } from "../../src/net/outbound.ts";
import { chargeOutput, chargePreAuth, ReadPause } from "../../src/net/output-flow.ts";
import { FakeTransport } from "./fake-transport.ts";

class Holder {
  cut: ProtocolError | null = null;
  constructor(readonly name: string) {}
  abort(e: ProtocolError): void {
    this.cut = e;
  }
}

/** What ReadPause reads of an Outbound. */
function out(memoryBytes: number, backedUp: boolean): Outbound {
  return { memoryBytes, backedUp } as Outbound;
}

describe("output budget", () => {
  test("over the limit, the holder with the most is cut with busy and its charge forgotten", () => {
    const b = new ByteBudget<Holder>(100);
    const [x, y] = [new Holder("x"), new Holder("y")];
    chargeOutput(b, x, 70);
    chargeOutput(b, y, 20);
    expect([x.cut, y.cut]).toEqual([null, null]);
    chargeOutput(b, y, 40); // 110 > 100: x holds the most
    expect(x.cut?.code).toBe("busy");
    expect(x.cut?.message).toContain("maxOutputBytes");
    expect(y.cut).toBeNull();
    expect(b.total).toBe(40);
  });

  test("pre-authentication: the session that grew past the limit is cut, others kept", () => {
    const b = new ByteBudget<Holder>(100);
    const [x, y] = [new Holder("x"), new Holder("y")];
    expect(chargePreAuth(b, x, 90)).toBe(true);
    expect(chargePreAuth(b, y, 20)).toBe(false);
    expect(y.cut?.code).toBe("busy");
    expect(x.cut).toBeNull();
    expect(b.total).toBe(90);
    expect(chargePreAuth(undefined, y, 1e9)).toBe(true);
  });
});

describe("ReadPause", () => {
  test("pauses past half the bound behind a backed-up socket, resumes at half, stall clock", () => {
    const t = new FakeTransport();
    let now = 1000;
    const rp = new ReadPause(t, 100, () => now);
    rp.afterOutput(out(60, false)); // not backed up: keeps reading
    rp.afterOutput(out(50, true)); // exactly half: keeps reading
    expect([rp.paused, t.pauses]).toEqual([false, 0]);
    rp.afterOutput(out(51, true));
    expect([rp.paused, t.pauses, rp.drainedAt]).toEqual([true, 1, 1000]);
    now = 1500;
    expect(rp.stalled(now, 499)).toBe(true);
    expect(rp.stalled(now, 500)).toBe(false);
    rp.afterDrain(out(51, true), 51, false); // nothing drained: clock unchanged, still paused
    expect([rp.paused, rp.drainedAt]).toEqual([true, 1000]);
    rp.afterDrain(out(50, false), 51, false);
    expect([rp.paused, rp.drainedAt, t.resumes]).toEqual([false, 1500, 1]);
  });

  test("the owner's pause holds reading after output drains, and is not undone by it", () => {
    const t = new FakeTransport();
    const rp = new ReadPause(t, 100, () => 0);
    rp.owner(true, false);
    rp.afterOutput(out(80, true));
    rp.afterDrain(out(0, false), 80, false);
    expect([rp.paused, t.pauses, t.resumes]).toEqual([false, 2, 0]);
    rp.owner(false, false);
    expect(t.resumes).toBe(1);
    rp.owner(true, true); // closed: the socket is left alone
    expect(t.pauses).toBe(2);
  });
});
