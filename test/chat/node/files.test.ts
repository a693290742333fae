/** The session extensions of the chat (src/chat/node/files.ts): an optional item goes to the one handler registered for its type, with its session's state. */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Extensions, type SessionExtension } from "../../../src/chat/node/files.ts";
import { FileTransfers } from "../../../src/chat/files/transfers.ts";
import { FileType } from "../../../src/protocol/constants.ts";
import type { PeerSession } from "../../../src/net/types.ts";
import type { Pid } from "../../../src/chat/peer-id.ts";

const session = (address: string) => ({ state: "open", address }) as unknown as PeerSession;
const S = session("s");

/** An extension whose state for a session is "<name>@<address>"; it writes down what it hears. */
function ext(name: string, types: number[], heard: string[]): SessionExtension<string> {
  return {
    handlers: new Map(types.map((t) => [t, (state: string, content: Uint8Array) => void heard.push(`${state} ${t.toString(16)} ${content.length}`)])),
    open: (s) => {
      heard.push(`${name} ready`);
      return `${name}@${s.address}`;
    },
    pong: (state, data) => void heard.push(`${state} pong ${data.length}`),
    drain: (state) => void heard.push(`${state} drain`),
    closed: (state) => void heard.push(`${state} close`),
    close: (open) => void heard.push(`${name} stop [${open.join(" ")}]`),
  };
}

const none = new Uint8Array(0);

describe("Extensions", () => {
  test("an optional item reaches only the handler its owner registered for its type, with the session's state; an unknown type reaches none; a PONG reaches each", () => {
    const heard: string[] = [];
    const x = new Extensions();
    x.add(ext("files", [0xa0, 0xa2], heard));
    x.add(ext("other", [0xf0], heard));
    x.ready(S, "00" as Pid);
    heard.length = 0;
    const taken = [x.item(S, 0xa2, new Uint8Array(3)), x.item(S, 0xf0, none), x.item(S, 0xf1, none), x.item(S, 0xa0, none)];
    x.pong(S, new Uint8Array(8));
    // 0xf1: no extension reads it, so the node reads it itself (or ignores it, PROTOCOL §6).
    expect(taken).toEqual([true, true, false, true]);
    expect(heard).toEqual(["files@s a2 3", "other@s f0 0", "files@s a0 0", "files@s pong 8", "other@s pong 8"]);
  });

  test("each session has its one record: its items, drains and end reach the state each extension made for it, and nothing after its end", () => {
    const heard: string[] = [];
    const x = new Extensions();
    x.add(ext("a", [1], heard));
    x.add(ext("b", [2], heard));
    const [s1, s2] = [session("one"), session("two")];
    x.ready(s1, "01" as Pid);
    x.ready(s2, "02" as Pid);
    x.item(s2, 1, none);
    x.drain(s1);
    x.closed(s1);
    // After its end the type is still owned (the node does not read it), but no handler runs.
    expect([x.item(s1, 2, none), x.item(session("never"), 1, none)]).toEqual([true, true]);
    x.pong(s1, none);
    x.drain(s1);
    x.closed(s1);
    x.item(s2, 2, none);
    x.close();
    expect(heard).toEqual(["a ready", "b ready", "a ready", "b ready", "a@two 1 0", "a@one drain", "b@one drain", "a@one close", "b@one close", "b@two 2 0", "a stop [a@two]", "b stop [b@two]"]);
    // After close, a session's end is not told again.
    x.closed(s2);
    expect(heard).toHaveLength(12);
  });

  test("two extensions cannot own the same type", () => {
    const x = new Extensions();
    x.add(ext("a", [0xa2], []));
    expect(() => x.add(ext("b", [0xa3, 0xa2], []))).toThrow("item type 0xa2 is read by two extensions");
  });

  test("file transfer has a handler for every file item type (PROTOCOL §11.3), so none is dropped at the node", () => {
    const dir = mkdtempSync(join(tmpdir(), "sotto-ext-"));
    try {
      const ft = new FileTransfers({ emit: () => {}, nameOf: (p) => p, pidByName: (n) => n, connectedPids: () => [], isContact: () => true }, { downloads: join(dir, "dl"), partials: join(dir, "partials"), autoAccept: false });
      expect([...ft.handlers.keys()].sort()).toEqual(Object.values(FileType).sort());
      ft.close([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
