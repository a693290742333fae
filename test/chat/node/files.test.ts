/** The session extensions of the chat (src/chat/node/files.ts): an optional item goes to the one extension that owns its type. */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Extensions, type SessionExtension } from "../../../src/chat/node/files.ts";
import { FileTransfers } from "../../../src/chat/files/transfers.ts";
import { FileType } from "../../../src/protocol/constants.ts";
import type { Item } from "../../../src/protocol/items.ts";
import type { PeerSession } from "../../../src/net/types.ts";
import type { Pid } from "../../../src/chat/peer-id.ts";

const S = { state: "open" } as unknown as PeerSession;

function ext(name: string, types: number[], heard: string[]): SessionExtension {
  return {
    itemTypes: types,
    onReady: () => void heard.push(`${name} ready`),
    onItem: (_s, it) => void heard.push(`${name} ${it.kind === "ext" ? it.type.toString(16) : it.kind}`),
    onDrain: () => void heard.push(`${name} drain`),
    onClose: () => void heard.push(`${name} close`),
    close: () => void heard.push(`${name} stop`),
  };
}

const item = (type: number): Item => ({ kind: "ext", type, content: new Uint8Array(0) });

describe("Extensions", () => {
  test("an optional item reaches only the extension that owns its type; an unknown type reaches none; a PONG reaches each", () => {
    const heard: string[] = [];
    const x = new Extensions();
    x.add(ext("files", [0xa0, 0xa2], heard));
    x.add(ext("other", [0xf0], heard));
    const taken = [x.item(S, item(0xa2)), x.item(S, item(0xf0)), x.item(S, item(0xf1)), x.item(S, { kind: "pong", data: new Uint8Array(8) }), x.item(S, item(0xa0))];
    // 0xf1: no extension reads it, so the node reads it itself (or ignores it, PROTOCOL §6).
    expect(taken).toEqual([true, true, false, true, true]);
    expect(heard).toEqual(["files a2", "other f0", "files pong", "other pong", "files a0"]);
  });

  test("every session event reaches every extension, in the order they were added", () => {
    const heard: string[] = [];
    const x = new Extensions();
    x.add(ext("a", [1], heard));
    x.add(ext("b", [2], heard));
    x.ready(S, "00" as Pid);
    x.drain(S);
    x.closed(S);
    x.close();
    expect(heard).toEqual(["a ready", "b ready", "a drain", "b drain", "a close", "b close", "a stop", "b stop"]);
  });

  test("two extensions cannot own the same type", () => {
    const x = new Extensions();
    x.add(ext("a", [0xa2], []));
    expect(() => x.add(ext("b", [0xa3, 0xa2], []))).toThrow("item type 0xa2 is read by two extensions");
  });

  test("file transfer owns every file item type (PROTOCOL §11.3), so none is dropped at the node", () => {
    const dir = mkdtempSync(join(tmpdir(), "sotto-ext-"));
    try {
      const ft = new FileTransfers({ emit: () => {}, nameOf: (p) => p, pidByName: (n) => n, connectedPids: () => [], isContact: () => true }, { downloads: join(dir, "dl"), partials: join(dir, "partials"), autoAccept: false });
      expect([...ft.itemTypes].sort()).toEqual(Object.values(FileType).sort());
      ft.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
