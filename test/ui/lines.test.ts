import { describe, expect, test } from "bun:test";
import { ChatError, type ChatEvent } from "../../src/chat/events.ts";
import { BACKLOG, BACKLOG_RESUME, FIRST_TURN_LINES, LineMode } from "../../src/ui/lines.ts";
import { fakeApi, setup } from "../support/lines.ts";

const message = (text: string): ChatEvent => ({ type: "message", peer: "alice", fingerprint: "aa", id: "1", text, time: Date.now(), private: false });

describe("line mode", () => {
  test("each line is sent; at end of input: queued, drain, close, exit 0", async () => {
    const { ui, output, input } = setup({ json: true });
    const { api, log } = fakeApi(1);
    input.end("one\ntwo\r\n");
    expect(await ui.run(api, input)).toBe(0);
    expect(log).toEqual(["sendAll one", "sendAll two", "drain 1000", "close"]);
    expect(output.map((l) => JSON.parse(l))).toEqual([{ type: "queued", count: 2 }]);
  });
  test("unacknowledged messages at the deadline: an error event and exit 1", async () => {
    const { ui, output, input } = setup({ json: true });
    const { api, log } = fakeApi(1, { acks: false });
    input.end("one\n");
    expect(await ui.run(api, input)).toBe(1);
    expect(log.at(-1)).toBe("close");
    expect(JSON.parse(output.at(-1)!)).toMatchObject({ type: "error", code: "unacknowledged" });
  });
  test("a line that reached no peer makes the exit code 1", async () => {
    const { ui, input } = setup();
    const { api } = fakeApi(0);
    input.end("hello\n");
    expect(await ui.run(api, input)).toBe(1);
  });
  test("no input at all: exit 0 without draining", async () => {
    const { ui, input } = setup();
    const { api, log } = fakeApi(1);
    input.end();
    expect(await ui.run(api, input)).toBe(0);
    expect(log).toEqual(["close"]);
  });
  test("/quit ends the input early", async () => {
    const { ui, input } = setup();
    const { api, log } = fakeApi(1);
    input.end("a\n/quit\nb\n");
    expect(await ui.run(api, input)).toBe(0);
    expect(log).toEqual(["sendAll a", "drain 1000", "close"]);
  });
  test("text mode: one event is one line, peer text escaped", () => {
    const { ui, output } = setup();
    ui.listener(message("two\nlines \x1b[2J"));
    ui.listener({ type: "key_changed", address: "h:1", pinnedName: "alice", pinned: "aa", presented: "bb" });
    ui.listener({ type: "ack", peer: "alice", id: "1" }); // prints nothing in text mode
    expect(output).toHaveLength(2);
    for (const l of output) expect(l.slice(0, -1)).not.toMatch(/[\n\x1b]/);
    expect(output[0]).toContain("two\\nlines \\x1b[2J");
  });
  test("json mode: every event is one JSON object on one line", () => {
    const { ui, output } = setup({ json: true });
    const events: ChatEvent[] = [message("a\nb"), { type: "ack", peer: "alice", id: "1" }, { type: "sent", peer: "alice", id: "2", text: "x", private: false }];
    for (const e of events) ui.listener(e);
    expect(output.map((l) => JSON.parse(l))).toEqual(events);
    for (const l of output) expect(l.indexOf("\n")).toBe(l.length - 1);
  });
  test("input waits until the dialled peers connected or failed", async () => {
    const { ui, input } = setup({ dials: 2, settleMs: 5000 });
    const { api, log } = fakeApi(1);
    input.end("hi\n");
    const done = ui.run(api, input);
    await Bun.sleep(30);
    expect(log).toEqual([]); // held
    ui.listener({ type: "connected", peer: "a", address: "a:1", role: "initiator", fingerprint: "f", safetyNumber: "s", firstContact: false, verified: false });
    ui.listener({ type: "connected", peer: "c", address: "c:9", role: "responder", fingerprint: "f", safetyNumber: "s", firstContact: false, verified: false });
    await Bun.sleep(30);
    expect(log).toEqual([]); // an inbound session is not one of our dials
    ui.listener({ type: "reconnecting", address: "b:2", inMs: 250, attempt: 1 });
    expect(await done).toBe(0);
    expect(log[0]).toBe("sendAll hi");
  });
  test("the wait for dials is bounded", async () => {
    const { ui, input } = setup({ dials: 1, settleMs: 50 });
    const { api, log } = fakeApi(1);
    input.end("hi\n");
    const t0 = performance.now();
    expect(await ui.run(api, input)).toBe(0);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
    expect(log[0]).toBe("sendAll hi");
  });
  test("stop() ends a run waiting on input", async () => {
    const { ui, input } = setup();
    const { api, log } = fakeApi(1);
    input.write("a\n");
    const done = ui.run(api, input);
    await Bun.sleep(20);
    ui.stop();
    expect(await done).toBe(0);
    expect(log).toEqual(["sendAll a", "drain 1000", "close"]);
  });
});

describe("line mode output", () => {
  test("reading waits while BACKLOG lines are unacknowledged, and goes on in the turn of the ACK that leaves BACKLOG_RESUME (no timer in between)", async () => {
    const { ui, input } = setup({ json: true });
    const { api } = fakeApi(1);
    let unacked = 0;
    const calls: number[] = [];
    api.queued = () => unacked;
    api.sendAllMany = (texts, each) => {
      calls.push(texts.length);
      unacked += texts.length;
      for (const _ of texts) each(1);
    };
    api.drain = async () => true;
    const run = ui.run(api, input);
    input.end(`${Array.from({ length: BACKLOG + 904 }, (_, i) => `l${i}`).join("\n")}\n`);
    while (unacked < BACKLOG) await Bun.sleep(1);
    for (let i = 0; i < 20; i++) await Promise.resolve();
    // The first turns' ramp (16, 32, … 2048 lines), then what BACKLOG leaves; the rest waits for ACKs.
    const ramp = [16, 32, 64, 128, 256, 512, 1024, 2048];
    expect(calls).toEqual([...ramp, BACKLOG - 4080]);
    // An ACK of 100 lines: still more than BACKLOG_RESUME wait, so nothing is read (a turn of 100 lines would cost a turn's commit).
    unacked = BACKLOG - 100;
    ui.listener({ type: "ack", peer: "bob", id: "100" });
    for (let i = 0; i < 20; i++) await Promise.resolve();
    expect(calls).toEqual([...ramp, BACKLOG - 4080]);
    expect(BACKLOG_RESUME).toBe(BACKLOG / 2);
    unacked = BACKLOG_RESUME;
    ui.listener({ type: "ack", peer: "bob", id: String(BACKLOG - BACKLOG_RESUME) });
    for (let i = 0; i < 20; i++) await Promise.resolve();
    expect(calls).toEqual([...ramp, BACKLOG - 4080, 904]);
    await run;
  });
  test("a chunk's lines are committed and sent (the chat's setImmediate) before the next chunk, already buffered, is read", async () => {
    const { ui, input } = setup({ json: true });
    const { api } = fakeApi(1);
    const order: string[] = [];
    api.sendAllMany = (texts, each) => {
      order.push(`queued ${texts[0]}`);
      // As the chat does: the tick's commit and pump run in a setImmediate.
      setImmediate(() => order.push(`sent ${texts[0]}`));
      for (const _ of texts) each(1);
    };
    // Three chunks in the stream's buffer before reading starts (a file, a fast pipe).
    input.write("a1\na2\n");
    input.write("b1\n");
    input.end("c1\n");
    expect(await ui.run(api, input)).toBe(0);
    expect(order).toEqual(["queued a1", "sent a1", "queued b1", "sent b1", "queued c1", "sent c1"]);
  });
  test("the first turn hands the chat FIRST_TURN_LINES lines, each later turn twice as many: the first line leaves before a whole chunk is queued", async () => {
    const { ui, input } = setup({ json: true });
    const { api } = fakeApi(1);
    const order: string[] = [];
    api.sendAllMany = (texts, each) => {
      order.push(`queued ${texts.length}`);
      setImmediate(() => order.push("sent"));
      for (const _ of texts) each(1);
    };
    // One chunk of 200 lines (a file's chunk holds ≈ 500 of 1 KiB), then one of 3.
    input.write(Array.from({ length: 200 }, (_, i) => `l${i}\n`).join(""));
    input.end("m1\nm2\nm3\n");
    expect(await ui.run(api, input)).toBe(0);
    expect(FIRST_TURN_LINES).toBe(16);
    expect(order).toEqual(["queued 16", "sent", "queued 32", "sent", "queued 64", "sent", "queued 88", "sent", "queued 3", "sent"]);
  });
  test("batchOutput: the events of one tick are one write, in order, at the end of the tick", async () => {
    const writes: string[] = [];
    const ui = new LineMode({ output: { write: (s: string) => writes.push(s) }, json: true, drainTimeoutMs: 1000, batchOutput: true });
    const events = Array.from({ length: 100 }, (_, i) => message(`line ${i}`));
    for (const e of events) ui.listener(e);
    expect(writes).toEqual([]); // not yet: the tick is not over
    await Promise.resolve();
    expect(writes).toHaveLength(1);
    expect(writes[0]!.split("\n").slice(0, -1).map((l) => JSON.parse(l))).toEqual(events);
    ui.listener(message("next tick"));
    await Promise.resolve();
    expect(writes).toHaveLength(2);
  });
});

describe("line mode input: chunks, not readline", () => {
  /** 20,000 lines with every kind of end, a /command in the middle, "é€" in each (split across chunks), the last one with no end. */
  function input20k() {
    const lines: string[] = [];
    const parts: string[] = [];
    const ends = ["\n", "\r\n", "\r"];
    for (let i = 0; i < 20_000; i++) {
      const line = i === 10_000 ? "/nick carol" : i === 10_001 ? "//slash" : `line ${i} é€ ${"x".repeat(i % 7)}`;
      lines.push(line);
      parts.push(line + (i === 19_999 ? "" : ends[i % 3]!));
    }
    const bytes = Buffer.from(parts.join(""));
    // Chunks of 1, 2, 3, … 97 bytes, again and again: boundaries fall inside lines, inside "\r\n" and inside UTF-8 sequences.
    const chunks: Buffer[] = [];
    for (let at = 0, n = 1; at < bytes.length; at += n, n = (n % 97) + 1) chunks.push(bytes.subarray(at, at + n));
    return { lines, chunks };
  }

  test("20,000 lines split anywhere: every line once, in order, the /command between the lines around it", async () => {
    const { lines, chunks } = input20k();
    expect(chunks.some((c) => c[0]! >= 0x80 && c[0]! < 0xc0)).toBe(true); // a chunk starts inside a UTF-8 sequence
    expect(chunks.some((c) => c[0] === 0x0a && c !== chunks[0])).toBe(true); // and right after a "\r"
    const { ui, input } = setup({ json: true });
    const { api, log } = fakeApi(1);
    const calls: number[] = [];
    api.nick = (name) => void log.push(`nick ${name}`);
    api.queued = () => 0; // every line acknowledged at once: no backpressure wait
    api.sendAllMany = (texts, each) => {
      calls.push(texts.length);
      for (const t of texts) each(api.sendAll(t));
    };
    const run = ui.run(api, input);
    for (const c of chunks) input.write(c);
    input.end();
    expect(await run).toBe(0);
    const want = lines.map((l) => (l === "/nick carol" ? "nick carol" : `sendAll ${l === "//slash" ? "/slash" : l}`));
    expect(log.slice(0, -1)).toEqual(want);
    // The text lines of a chunk reach the chat in one call: far fewer calls than lines.
    expect(calls.reduce((a, b) => a + b, 0)).toBe(19_999);
    expect(calls.length).toBeLessThan(10_000);
  });

  test("a line refused or sent to no one in a batch: its error in order, the lines after it still sent", async () => {
    const { ui, output, input } = setup({ json: true });
    const { api, log } = fakeApi(1);
    const calls: string[][] = [];
    api.sendAllMany = (texts, each) => {
      calls.push([...texts]);
      for (const t of texts) {
        if (t === "long") each(new ChatError("too_long", "too long"));
        else if (t === "none") each(0);
        else each(api.sendAll(t));
      }
    };
    input.end("a\nlong\nnone\n\nb\n");
    expect(await ui.run(api, input)).toBe(1);
    expect(calls).toEqual([["a", "long", "none", "b"]]);
    expect(log.slice(0, 2)).toEqual(["sendAll a", "sendAll b"]);
    expect(output.map((l) => JSON.parse(l).code ?? JSON.parse(l).type)).toEqual(["too_long", "no_peer", "queued"]);
  });
});
