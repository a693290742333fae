/**
 * The checks of a FILE_CHUNK and of FILE_DONE in receiver.ts (PROTOCOL §11.5 steps 3 and
 * 4), on a Receiver alone over a fake host (fake-hosts.ts): in order, at the next offset,
 * within the size, the offered hash; every failure a REJECT with its code and no partial left.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FileCode } from "../../../src/protocol/constants.ts";
import type { FileItem } from "../../../src/protocol/files.ts";
import { removeHomes, tempHome } from "../../support/home.ts";
import { fakeReceiver, sessionFiles, sha } from "./fake-hosts.ts";

afterEach(() => removeHomes());

describe("the Receiver alone, over a fake host (fake-hosts.ts): the checks of a chunk and of DONE", () => {
  const data = new TextEncoder().encode("0123456789");
  /** An offer of `data`, accepted: the receiver expects byte 0. */
  function accepted() {
    const f = fakeReceiver(tempHome("sotto-recv-unit-"));
    const sf = sessionFiles();
    f.receiver.onOffer(sf, { kind: "file_offer", id: 1n, size: data.length, sha256: sha(data), name: "a.txt" });
    const t = sf.in.get(1n)!;
    f.receiver.accept(t);
    expect(f.sent.at(-1)).toEqual({ kind: "file_accept", id: 1n, offset: 0, prefix: sha("") });
    return { ...f, sf };
  }
  /** The codes of the REJECTs sent. */
  const rejects = (f: { sent: FileItem[] }) => f.sent.flatMap((i) => (i.kind === "file_reject" ? [i.code] : []));

  test("chunks at the next offset, then DONE with the offered hash: the file is placed and FILE_RECEIVED sent", () => {
    const f = accepted();
    f.receiver.onChunk(f.sf, { kind: "file_chunk", id: 1n, offset: 0, data: data.subarray(0, 4) });
    f.receiver.onChunk(f.sf, { kind: "file_chunk", id: 1n, offset: 4, data: data.subarray(4) });
    f.receiver.onDone(f.sf, { kind: "file_done", id: 1n });
    expect(f.sent.at(-1)).toEqual({ kind: "file_received", id: 1n, sha256: sha(data) });
    expect(readFileSync(join(f.downloads, "a.txt"), "utf8")).toBe("0123456789");
    expect(f.calls.at(-1)).toBe("show done");
  });

  test("a chunk at another offset, bytes past the size, DONE with too few bytes: REJECT with its code, the partial deleted", () => {
    const cases: [string, (f: ReturnType<typeof accepted>) => void, number][] = [
      ["offset", (f) => f.receiver.onChunk(f.sf, { kind: "file_chunk", id: 1n, offset: 1, data: data.subarray(1) }), FileCode.protocol],
      ["past", (f) => f.receiver.onChunk(f.sf, { kind: "file_chunk", id: 1n, offset: 0, data: new Uint8Array(11) }), FileCode.size_mismatch],
      ["short", (f) => (f.receiver.onChunk(f.sf, { kind: "file_chunk", id: 1n, offset: 0, data: data.subarray(0, 3) }), f.receiver.onDone(f.sf, { kind: "file_done", id: 1n })), FileCode.size_mismatch],
    ];
    for (const [, run, code] of cases) {
      const f = accepted();
      run(f);
      expect(rejects(f)).toEqual([code]);
      expect(f.calls.filter((c) => c === "show failed")).toHaveLength(1);
      expect(readdirSync(f.partials.dir).filter((n) => n.endsWith(".part"))).toEqual([]);
    }
  });

  test("DONE with other bytes than the offered hash: REJECT hash_mismatch and nothing in the download folder", () => {
    const f = accepted();
    f.receiver.onChunk(f.sf, { kind: "file_chunk", id: 1n, offset: 0, data: new TextEncoder().encode("9876543210") });
    f.receiver.onDone(f.sf, { kind: "file_done", id: 1n });
    expect(rejects(f)).toEqual([FileCode.hash_mismatch]);
    expect(existsSync(join(f.downloads, "a.txt"))).toBe(false);
  });

  test("a chunk for a transfer not yet accepted is a protocol fault; one for an id never offered is reported", () => {
    const f = fakeReceiver(tempHome("sotto-recv-unit-"));
    const sf = sessionFiles();
    f.receiver.onOffer(sf, { kind: "file_offer", id: 1n, size: data.length, sha256: sha(data), name: "a.txt" });
    f.receiver.onChunk(sf, { kind: "file_chunk", id: 1n, offset: 0, data });
    f.receiver.onChunk(sf, { kind: "file_chunk", id: 7n, offset: 0, data });
    expect(f.sent.at(-1)).toEqual({ kind: "file_reject", id: 1n, code: FileCode.protocol, reason: "the peer sent file data before the transfer was accepted" });
    expect(f.calls.at(-1)).toBe("report the peer sent FILE_CHUNK for a transfer it never offered; ignored");
  });
});
