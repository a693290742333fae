/** The terminal bell on a mention of our name (TerminalUi over in-memory streams), and --no-bell. */
import { describe, expect, test } from "bun:test";
import { PassThrough } from "node:stream";
import type { ChatApi, ChatEvent } from "../../src/chat/events.ts";
import { TerminalUi } from "../../src/ui/terminal.ts";
import { until } from "../support/wait.ts";

const api = { fingerprint: "ff", name: "alice", peers: () => [], queued: () => 0, drain: async () => true, close: async () => {} } as unknown as ChatApi;
const msg = (text: string): ChatEvent => ({ type: "message", peer: "bob", fingerprint: "bb", id: "1", text, time: Date.now(), private: false });

async function screenAfter(texts: string[], bell?: boolean): Promise<string> {
  const input = new PassThrough();
  const output = new PassThrough();
  let out = "";
  output.on("data", (d) => (out += String(d)));
  const ui = new TerminalUi({ input, output, color: false, ...(bell === undefined ? {} : { bell }) });
  const done = ui.run(api);
  for (const t of texts) ui.listener(msg(t));
  await until("printed", () => texts.every((t) => out.includes(t)));
  ui.stop();
  await done;
  return out;
}

describe("bell on mention", () => {
  test("a message naming us rings once; others do not; --no-bell rings never", async () => {
    const rung = (s: string) => s.split("\x07").length - 1;
    expect(rung(await screenAfter(["hi alice!", "nothing here", "malice"]))).toBe(1);
    expect(rung(await screenAfter(["hi alice!"], false))).toBe(0);
  });
});
