/** src/ui/output.ts: the front end's unread output, metered on the stream itself. */
import { describe, expect, test } from "bun:test";
import { EventEmitter } from "node:events";
import { OutputMeter } from "../../src/ui/output.ts";
import { LineMode } from "../../src/ui/lines.ts";
import { TerminalUi } from "../../src/ui/terminal.ts";
import { PassThrough } from "node:stream";

/** A stream whose reader stopped: every write after `room` bytes returns false until drain(). */
class StoppedReader extends EventEmitter {
  written: string[] = [];
  taken = 0;
  constructor(readonly room: number) {
    super();
  }
  write(s: string | Uint8Array): boolean {
    const t = typeof s === "string" ? s : new TextDecoder().decode(s);
    this.written.push(t);
    this.taken += t.length;
    return this.taken <= this.room;
  }
  /** The reader read everything. */
  drain(): void {
    this.taken = 0;
    this.emit("drain");
  }
}

describe("OutputMeter", () => {
  test("counts what is written from the first refused write until drain; full past the budget; whenDrained wakes on drain", async () => {
    const s = new StoppedReader(10);
    const m = new OutputMeter(s, () => null, 100, 1000);
    s.write("0123456789"); // fits
    expect(m.pending).toBe(0);
    s.write("a"); // refused: from here on it waits in memory
    expect(m.pending).toBe(2);
    for (let i = 0; i < 5; i++) s.write("x".repeat(10));
    expect(m.pending).toBe(102);
    expect(m.full).toBe(true);
    let woken = 0;
    m.whenDrained(() => woken++);
    await Bun.sleep(1);
    expect(woken).toBe(0);
    s.drain();
    expect(woken).toBe(1);
    expect(m.full).toBe(false);
    expect(m.pending).toBe(0);
  });

  test("past dropAt, event lines are left out and counted, and one line says how many on drain", () => {
    const s = new StoppedReader(0);
    const m = new OutputMeter(s, (n) => `left out ${n}\n`, 10, 20);
    for (let i = 0; i < 5; i++) m.line("12345\n");
    // Two bytes a character: 12 waiting (full), then 24 (past dropAt): the last three are left out.
    expect(s.written).toEqual(["12345\n", "12345\n"]);
    s.write("a message is always written\n");
    expect(s.written).toHaveLength(3);
    s.drain();
    expect(s.written.at(-1)).toBe("left out 3\n");
  });

  test("a stream without a drain event is never counted as backed up", () => {
    const written: string[] = [];
    const m = new OutputMeter({ write: (t: string) => (written.push(t), false) }, () => null, 1, 2);
    for (let i = 0; i < 10; i++) m.line("xxxx");
    expect(written).toHaveLength(10);
    expect(m.full).toBe(false);
  });
});

describe("the front ends expose their output's gate", () => {
  test("line mode: a stdout that stops reading makes the gate full; drain opens it", () => {
    const s = new StoppedReader(0);
    const ui = new LineMode({ output: s, json: true, drainTimeoutMs: 100 });
    for (let i = 0; i < 200; i++) ui.listener({ type: "message", peer: "bob", fingerprint: "f", id: String(i), text: "x".repeat(60_000), time: 0, private: false, verified: false });
    expect(ui.gate.full).toBe(true);
    s.drain();
    expect(ui.gate.full).toBe(false);
  });

  test("terminal: everything written to the terminal stream counts (readline's writes too)", () => {
    const out = new PassThrough({ highWaterMark: 16 });
    const ui = new TerminalUi({ input: new PassThrough(), output: out, color: false });
    for (let i = 0; i < 200; i++) ui.listener({ type: "message", peer: "bob", fingerprint: "f", id: String(i), text: "x".repeat(60_000), time: 0, private: false, verified: false });
    expect(ui.gate.full).toBe(true);
    out.resume(); // the terminal reads again
    return new Promise<void>((resolve) => ui.gate.whenDrained(() => (expect(ui.gate.full).toBe(false), resolve())));
  });
});
