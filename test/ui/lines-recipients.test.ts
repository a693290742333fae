/** Line mode's recipients and delivered events under --json, byte for byte as jsonLine writes them, which key's lines an ACK marks, and /disconnect in line mode. */
import { describe, expect, test } from "bun:test";
import { PassThrough } from "node:stream";
import type { ChatEvent } from "../../src/chat/events.ts";
import { jsonLine } from "../../src/ui/format.ts";
import { LineMode } from "../../src/ui/lines.ts";
import { fakeApi, setup } from "../support/lines.ts";

describe("line mode: a line's recipients (--json)", () => {
  test("piped lines of 1 KiB in one batch: per line a sent per recipient then its recipients, in order, each exactly as jsonLine writes it, in few writes", async () => {
    const writes: string[] = [];
    const ui = new LineMode({ output: { write: (s: string) => writes.push(s) }, json: true, drainTimeoutMs: 1000, batchOutput: true });
    const { api } = fakeApi(2);
    const input = new PassThrough();
    const lines = Array.from({ length: 3000 }, (_, i) => `${String(i).padStart(8, "0")} ${i % 7 === 0 ? 'a "quote" \\ \u2028 ' : ""}${"x".repeat(1000)}`);
    let n = 0;
    api.sendAllMany = (texts, each) => {
      for (const text of texts) {
        n++;
        ui.listener({ type: "sent", peer: "bob", id: String(n), text, private: false, time: n });
        ui.listener({ type: "sent", peer: "carol", id: String(n), text, private: false, time: n, queued: true });
        each(2);
      }
    };
    input.end(`${lines.join("\n")}\n`);
    expect(await ui.run(api, input)).toBe(0);
    const out = writes.join("").split("\n").slice(0, -1);
    const want: string[] = [];
    lines.forEach((text, i) => {
      const id = String(i + 1);
      want.push(jsonLine({ type: "sent", peer: "bob", id, text, private: false, time: i + 1 }));
      want.push(jsonLine({ type: "sent", peer: "carol", id, text, private: false, time: i + 1, queued: true }));
      want.push(jsonLine({ type: "recipients", line: id, text, private: false, time: i + 1, recipients: [{ peer: "bob", id, state: "sent" }, { peer: "carol", id, state: "queued" }] }));
    });
    expect(out).toEqual(want);
    // One write per tick, not per event: 9,000 lines in far fewer writes.
    expect(writes.length).toBeLessThan(200);
  });
  test("a whole piped run, byte for byte: to three recipients (one queued, one with ids past 2^53), a rename, ACKs covering hundreds of lines, texts that need escaping; each line jsonLine's, the same bytes as one event per write", async () => {
    const B = 2n ** 60n;
    async function run(batchOutput: boolean): Promise<{ out: string; events: number }> {
      const writes: string[] = [];
      const ui = new LineMode({ output: { write: (s: string) => writes.push(s) }, json: true, drainTimeoutMs: 1000, batchOutput });
      const { api } = fakeApi(3);
      let n = 0;
      let events = 0;
      const emit = (e: ChatEvent) => (events++, ui.listener(e));
      let carol = "carol";
      api.sendAllMany = (texts, each) => {
        for (const text of texts) {
          n++;
          emit({ type: "sent", peer: "bob", id: String(n), text, private: false, time: 1000 + n });
          emit({ type: "sent", peer: carol, id: String(n + 7), text, private: false, time: 1000 + n, queued: true });
          emit({ type: "sent", peer: 'd"a\u0085ve', id: String(B + BigInt(n)), text, private: false, time: 1000 + n });
          each(3);
          if (n % 300 === 0) emit({ type: "ack", peer: "bob", id: String(n) });
          if (n % 700 === 0) emit({ type: "ack", peer: 'd"a\u0085ve', id: String(B + BigInt(n - 1)) });
          if (n === 1000) {
            carol = "caroline";
            emit({ type: "nick", peer: "caroline", previous: "carol" });
          }
          if (n === 1500) emit({ type: "ack", peer: "caroline", id: String(n + 7) });
        }
      };
      const input = new PassThrough();
      const lines = Array.from({ length: 2000 }, (_, i) => `${String(i).padStart(8, "0")} ${i % 5 === 0 ? 'a "quote" \\ \u2028 \u0085 \ud800 é🎉 ' : ""}${"x".repeat(i % 3 === 0 ? 20 : 1000)}`);
      input.end(`${lines.join("\n")}\n`);
      expect(await ui.run(api, input)).toBe(0);
      return { out: writes.join(""), events };
    }
    const batched = await run(true);
    const each = await run(false);
    expect(batched.out).toBe(each.out);
    const out = batched.out.split("\n").slice(0, -1);
    for (const l of out) expect(l).toBe(jsonLine(JSON.parse(l)));
    const parsed = out.map((l) => JSON.parse(l) as { type: string; peer?: string; lines?: string[] });
    // Per line its three sent and its recipients event, each event the chat emitted, and a delivered per ACK that marked lines.
    const delivered = parsed.filter((e) => e.type === "delivered");
    expect(out).toHaveLength(batched.events + 2000 + delivered.length);
    expect(delivered.map((e) => `${e.peer} ${e.lines![0]}-${e.lines!.at(-1)} ${e.lines!.length}`)).toEqual([
      "bob 1-300 300",
      "bob 301-600 300",
      'd"a\u0085ve 1-699 699',
      "bob 601-900 300",
      "bob 901-1200 300",
      'd"a\u0085ve 700-1399 700',
      "bob 1201-1500 300",
      "caroline 1-1500 1500",
      "bob 1501-1800 300",
    ]);
    for (const e of delivered) expect(e.lines).toEqual(Array.from({ length: e.lines!.length }, (_, i) => String(Number(e.lines![0]) + i)));
  });

  test("a recipients event after each line; one delivered event per ACK, naming the lines it covers", async () => {
    const { ui, output, input } = setup({ json: true });
    const { api } = fakeApi(2);
    let id = 0;
    api.sendAll = (text) => {
      id++;
      ui.listener({ type: "sent", peer: "bob", id: String(id), text, private: false, time: 5 });
      ui.listener({ type: "sent", peer: "carol", id: String(id), text, private: false, time: 5, queued: true });
      return 2;
    };
    input.write("one\ntwo\n");
    const done = ui.run(api, input);
    await Bun.sleep(30);
    ui.listener({ type: "ack", peer: "bob", id: "2" });
    ui.listener({ type: "ack", peer: "carol", id: "1" });
    input.end();
    await done;
    const events = output.map((l) => JSON.parse(l));
    expect(events.filter((e) => e.type === "recipients")).toEqual([
      { type: "recipients", line: "1", text: "one", private: false, time: 5, recipients: [{ peer: "bob", id: "1", state: "sent" }, { peer: "carol", id: "1", state: "queued" }] },
      { type: "recipients", line: "2", text: "two", private: false, time: 5, recipients: [{ peer: "bob", id: "2", state: "sent" }, { peer: "carol", id: "2", state: "queued" }] },
    ]);
    expect(events.filter((e) => e.type === "delivered")).toEqual([
      { type: "delivered", peer: "bob", lines: ["1", "2"] },
      { type: "delivered", peer: "carol", lines: ["1"] },
    ]);
  });
  test("a request that claimed a contact's name and renames itself does not rename that contact's recipients", async () => {
    const { ui, output, input } = setup({ json: true });
    const { api } = fakeApi(1);
    api.sendAll = (text) => (ui.listener({ type: "sent", peer: "bob", id: "1", text, private: false, time: 5 }), 1);
    input.write("hi bob\n");
    const done = ui.run(api, input);
    await Bun.sleep(30);
    // A stranger connected claiming "bob" (a request, SECURITY.md §12), then calls itself mallory.
    ui.listener({ type: "nick", peer: "mallory", previous: "bob", request: "r2" });
    ui.listener({ type: "ack", peer: "bob", id: "1" });
    input.end();
    await done;
    const events = output.map((l) => JSON.parse(l));
    expect(events.filter((e) => e.type === "delivered")).toEqual([{ type: "delivered", peer: "bob", lines: ["1"] }]);
  });
  test("a contact given a new key (or forgotten, or blocked) and then the same name: the new key's ACKs mark its own lines, not the old key's", async () => {
    for (const change of ["replaced", "forgotten", "blocked"] as const) {
      const { ui, output, input } = setup({ json: true });
      const { api } = fakeApi(1);
      // carol's old key never acknowledges "one" and "two" (ids 1 and 2); her new key counts its ids from 1 again.
      const ids = new Map([["one", "1"], ["two", "2"], ["three", "1"]]);
      api.sendAll = (text) => {
        if (text === "three") ui.listener({ type: "contact", change, peer: "carol", message: "" });
        ui.listener({ type: "sent", peer: "carol", id: ids.get(text)!, text, private: false, time: 5 });
        return 1;
      };
      input.write("one\ntwo\nthree\n");
      const done = ui.run(api, input);
      await Bun.sleep(30);
      ui.listener({ type: "ack", peer: "carol", id: "1" });
      ui.listener({ type: "ack", peer: "carol", id: "2" });
      input.end();
      await done;
      const events = output.flatMap((l) => l.split("\n").filter((x) => x !== "")).map((l) => JSON.parse(l));
      expect(events.filter((e) => e.type === "delivered")).toEqual([{ type: "delivered", peer: "carol", lines: ["3"] }]);
    }
  });
  test("/disconnect reaches the chat in line mode", async () => {
    const { ui, output, input } = setup({ json: true });
    const { api } = fakeApi(1);
    const asked: string[] = [];
    api.disconnect = (who) => (asked.push(who), 1);
    input.end("/disconnect bob\n");
    await ui.run(api, input);
    expect(asked).toEqual(["bob"]);
    expect(output.map((l) => JSON.parse(l)).filter((e) => e.type === "disconnecting")).toEqual([{ type: "disconnecting", peer: "bob", ended: 1 }]);
  });
});
