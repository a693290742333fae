/** What the line mode tests share: a fake ChatApi, and a LineMode with its output and an input to run it on. */
import { PassThrough } from "node:stream";
import type { ChatApi } from "../../src/chat/events.ts";
import { LineMode } from "../../src/ui/lines.ts";

/** A fake ChatApi: `peers` connected peers; its messages count as acknowledged when `drain` runs (unless `acks: false`). */
export function fakeApi(peers: number, opts: { acks?: boolean } = {}) {
  const log: string[] = [];
  let unacked = 0;
  const api: ChatApi = {
    fingerprint: "ffff",
    name: "me",
    sendAll: (text) => {
      log.push(`sendAll ${text}`);
      unacked += peers;
      return peers;
    },
    sendTo: () => {},
    connect: () => {},
    peers: () => [],
    verify: () => [],
    trust: () => {},
    nick: () => {},
    rekey: () => 0,
    queued: () => unacked,
    drain: async (ms) => {
      log.push(`drain ${ms}`);
      if (opts.acks !== false) unacked = 0;
      return unacked === 0;
    },
    close: async () => void log.push("close"),
  };
  return { api, log };
}

/** A LineMode writing each output string to `output`, and the input stream to run it on. */
export function setup(o: { json?: boolean; dials?: number; settleMs?: number; drainTimeoutMs?: number } = {}) {
  const output: string[] = [];
  const ui = new LineMode({ output: { write: (s: string) => output.push(s) }, json: o.json ?? false, drainTimeoutMs: o.drainTimeoutMs ?? 1000, dials: o.dials, settleMs: o.settleMs });
  const input = new PassThrough();
  return { ui, output, input };
}
