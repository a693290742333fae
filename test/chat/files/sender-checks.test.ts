/**
 * The Sender alone over a fake host (fake-hosts.ts): the order of the answers it takes, a
 * wire id per offer, and its own checks of the file against what it offered (PROTOCOL §11.5),
 * at resume offsets on the segment edges too.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { FileCode } from "../../../src/protocol/constants.ts";
import { removeHomes } from "../../support/home.ts";
import { until } from "../../support/wait.ts";
import type { SendSet } from "../../../src/chat/files/state.ts";
import { SEGMENT_MIN } from "../../../src/chat/files/segments.ts";
import type { FileItem } from "../../../src/protocol/files.ts";
import { fakeSender, sessionFiles, sha } from "./fake-hosts.ts";
import type { FakeSession } from "./fake-session.ts";
import { bytes, files } from "./sender-support.ts";

afterEach(() => removeHomes());

const data = bytes(3000, 7);
/** A transfer of `data` from a Sender over a fake host, offered on one session. */
async function offered(f = fakeSender(), content = data) {
  const sf = sessionFiles();
  f.sessions.set(sf.pid, sf);
  const path = files(1, content)[0]!;
  const set: SendSet = { dir: "send", id: "s1", pid: sf.pid, name: "f0.bin", count: 1, total: content.length, done: 0, bytes: 0, ended: false, shown: "none", meter: null, members: [], refused: 0 };
  const t = f.sender.add(sf.pid, { path, name: "f0.bin", size: content.length }, f.sender.hashOnce(path, content.length), set);
  await until("the offer", () => t.wireId !== 0n && f.sent.find((i) => i.kind === "file_offer" && i.id === t.wireId));
  return { ...f, sf, t, id: t.wireId, path };
}
const fileChunks = (f: { sent: FileItem[] }) => f.sent.filter((i): i is Extract<FileItem, { kind: "file_chunk" }> => i.kind === "file_chunk");
const cancels = (f: { sent: FileItem[] }) => f.sent.filter((i) => i.kind === "file_cancel").map((i) => (i.kind === "file_cancel" ? [i.code, i.reason] : []));
/** Flip one byte of the file at `path`, in place (same size). */
function flip(path: string, at: number): void {
  const fd = openSync(path, "r+");
  const b = new Uint8Array(1);
  readSync(fd, b, 0, 1, at);
  b[0]! ^= 0xff;
  writeSync(fd, b, 0, 1, at);
  closeSync(fd);
}
const big = bytes(3 * SEGMENT_MIN + 100, 5);
/** Chunks of 32 KiB: 32 to a segment. */
const CH = 32_768;

describe("the Sender alone, over a fake host (fake-hosts.ts)", () => {
  test("one file end to end: SET then OFFER, chunks of chunkBytes at the accepted offset, DONE, and FILE_RECEIVED with our hash ends it done, once", async () => {
    const f = await offered();
    expect(f.sent.map((i) => i.kind)).toEqual(["file_set", "file_offer"]);
    f.sender.onAccept(f.sf, { kind: "file_accept", id: f.id, offset: 1000, prefix: sha(data.subarray(0, 1000)) });
    await until("DONE", () => f.sent.find((i) => i.kind === "file_done"));
    const chunks = f.sent.filter((i): i is Extract<FileItem, { kind: "file_chunk" }> => i.kind === "file_chunk");
    expect(chunks.map((c) => [c.offset, c.data.length])).toEqual([[1000, 1024], [2024, 976]]);
    f.sender.onReceived(f.sf, { kind: "file_received", id: f.id, sha256: sha(data) });
    f.sender.onReceived(f.sf, { kind: "file_received", id: f.id, sha256: sha(data) });
    expect(f.calls).toEqual(["show offered", "show accepted", "show progress", "ended done"]);
  });

  test("answers that break the order are faults of the transfer: ACCEPT twice, an offset past the size, RECEIVED before DONE, another hash", async () => {
    const twice = await offered();
    twice.sender.onAccept(twice.sf, { kind: "file_accept", id: twice.id, offset: 0, prefix: sha("") });
    twice.sender.onAccept(twice.sf, { kind: "file_accept", id: twice.id, offset: 0, prefix: sha("") });
    expect(cancels(twice)).toEqual([[FileCode.protocol, "the peer accepted the same transfer twice"]]);
    const past = await offered();
    past.sender.onAccept(past.sf, { kind: "file_accept", id: past.id, offset: data.length + 1, prefix: sha("") });
    expect(cancels(past)).toEqual([[FileCode.protocol, `the peer asked to resume at byte ${data.length + 1} of ${data.length}`]]);
    const early = await offered();
    (early.sf.s as FakeSession).bufferedAmount = 1 << 30; // a session that holds its output: no chunk goes yet
    early.sender.onAccept(early.sf, { kind: "file_accept", id: early.id, offset: 0, prefix: sha("") });
    await until("accepted", () => early.calls.includes("show accepted"));
    early.sender.onReceived(early.sf, { kind: "file_received", id: early.id, sha256: sha(data) });
    expect(cancels(early)).toEqual([[FileCode.protocol, "the peer confirmed a file before it had all of it"]]);
    const other = await offered();
    other.sender.onReceived(other.sf, { kind: "file_received", id: other.id, sha256: sha("not it") });
    expect(cancels(other)).toEqual([[FileCode.hash_mismatch, "the peer confirmed a different SHA-256"]]);
    for (const f of [twice, past, early, other]) expect(f.calls.filter((c) => c.startsWith("ended"))).toEqual([`ended failed ${f === other ? "hash_mismatch" : "protocol"}`]);
  });

  test("an answer for an id never offered is reported; one for an id that ended here is dropped quietly", async () => {
    const f = await offered();
    f.sender.cancel(f.t);
    f.sender.onAccept(f.sf, { kind: "file_accept", id: f.id, offset: 0, prefix: sha("") });
    f.sender.onPending(f.sf, { kind: "file_pending", id: 99n });
    expect(f.calls).toEqual(["show offered", "ended cancelled declined", "report the peer sent FILE_PENDING for a transfer it was never offered; ignored"]);
    expect(f.sent.at(-1)).toEqual({ kind: "file_cancel", id: f.id, code: FileCode.declined, reason: "cancelled by the sender" });
  });

  test("each offer gets a wire id of its own, across peers and sessions: a transfer offered again after a lost session gets a new one", async () => {
    const f = fakeSender();
    const a = await offered(f);
    const b = await offered(f);
    f.sender.sessionLost(a.sf);
    const again = sessionFiles(a.sf.s as FakeSession);
    f.sessions.set(again.pid, again);
    f.sender.offerQueued(again.pid);
    expect(f.sent.filter((i) => i.kind === "file_offer").map((i) => i.id)).toEqual([1n, 2n, 3n]);
    expect([a.id, b.id, a.t.wireId, a.t.sf === again]).toEqual([1n, 2n, 3n, true]);
  });
});

describe("the sender checks itself (PROTOCOL §11.5) without hashing the file twice", () => {
  test("a whole send passes each byte through SHA-256 once, for the offer; the chunks are checked against what that pass saw", async () => {
    const proto = Bun.CryptoHasher.prototype as unknown as { update(this: Bun.CryptoHasher, d: Uint8Array): Bun.CryptoHasher };
    const update = proto.update;
    let hashed = 0;
    proto.update = function (d) {
      if (this.algorithm === "sha256") hashed += d.length;
      return update.call(this, d);
    };
    try {
      const f = await offered(fakeSender({ chunkBytes: CH }), big);
      f.sender.onAccept(f.sf, { kind: "file_accept", id: f.id, offset: 0, prefix: sha("") });
      await until("DONE", () => f.sent.find((i) => i.kind === "file_done"));
      expect(fileChunks(f).reduce((n, c) => n + c.data.length, 0)).toBe(big.length);
      expect(hashed).toBe(big.length);
    } finally {
      proto.update = update;
    }
  });

  test("a byte changed after the offer: CANCEL changed at the end of its segment; nothing of the file after it is sent, and no DONE", async () => {
    const f = await offered(fakeSender({ chunkBytes: CH }), big);
    flip(f.path, SEGMENT_MIN + 12_345);
    f.sender.onAccept(f.sf, { kind: "file_accept", id: f.id, offset: 0, prefix: sha("") });
    await until("the end", () => f.calls.find((c) => c.startsWith("ended")));
    // Segment 1 ends at 2 MiB: its last chunk is read, found changed, and not sent.
    const sent = fileChunks(f);
    expect(sent.at(-1)!.offset + sent.at(-1)!.data.length).toBe(2 * SEGMENT_MIN - CH);
    expect(cancels(f)).toEqual([[FileCode.changed, "the file changed while it was being sent"]]);
    expect(f.sent.some((i) => i.kind === "file_done")).toBe(false);
    expect(f.calls.filter((c) => c.startsWith("ended"))).toEqual(["ended failed changed"]);
  });

  test("a byte changed in the last, short segment: every chunk but the last is sent, then CANCEL changed, no DONE", async () => {
    const f = await offered(fakeSender({ chunkBytes: CH }), big);
    flip(f.path, big.length - 1);
    f.sender.onAccept(f.sf, { kind: "file_accept", id: f.id, offset: 0, prefix: sha("") });
    await until("the end", () => f.calls.find((c) => c.startsWith("ended")));
    const sent = fileChunks(f);
    expect(sent.at(-1)!.offset + sent.at(-1)!.data.length).toBe(3 * SEGMENT_MIN);
    expect(cancels(f)).toEqual([[FileCode.changed, "the file changed while it was being sent"]]);
    expect(f.sent.some((i) => i.kind === "file_done")).toBe(false);
  });

  test("a resume whose prefix changed here since the offer: CANCEL changed (our file, not the peer's partial), no offer again", async () => {
    const f = await offered(fakeSender({ chunkBytes: CH }), big);
    flip(f.path, 100);
    // The peer holds the bytes as they were offered.
    const offset = SEGMENT_MIN + SEGMENT_MIN / 2;
    f.sender.onAccept(f.sf, { kind: "file_accept", id: f.id, offset, prefix: sha(big.subarray(0, offset)) });
    await until("the end", () => f.calls.find((c) => c.startsWith("ended")));
    expect(cancels(f)).toEqual([[FileCode.changed, "the file changed after it was offered"]]);
    expect(fileChunks(f)).toHaveLength(0);
    expect(f.sent.filter((i) => i.kind === "file_offer")).toHaveLength(1);
  });

  test("a resume of an unchanged file: its prefix is checked too, and the rest goes from the offset to DONE", async () => {
    const f = await offered(fakeSender({ chunkBytes: CH }), big);
    const offset = SEGMENT_MIN + 1000;
    f.sender.onAccept(f.sf, { kind: "file_accept", id: f.id, offset, prefix: sha(big.subarray(0, offset)) });
    await until("DONE", () => f.sent.find((i) => i.kind === "file_done"));
    const sent = fileChunks(f);
    expect(sent[0]!.offset).toBe(offset);
    expect(Buffer.concat(sent.map((c) => c.data))).toEqual(Buffer.from(big.subarray(offset)));
    expect(cancels(f)).toEqual([]);
  });
});

describe("resume offsets at the segment edges", () => {
  const cases: [string, Uint8Array<ArrayBuffer>, number][] = [
    ["at a segment's end (1 MiB)", big, SEGMENT_MIN],
    ["one byte before the last, short segment's end", big, big.length - 1],
    ["at the file's end: nothing left to send", big, big.length],
    ["of a file of exactly 2 MiB, at its end", bytes(2 * SEGMENT_MIN, 6), 2 * SEGMENT_MIN],
    ["of a file of exactly 1 MiB, at 0", bytes(SEGMENT_MIN, 7), 0],
  ];
  for (const [what, content, offset] of cases) {
    test(`a resume ${what}: the rest goes from the offset, then DONE, no CANCEL`, async () => {
      const f = await offered(fakeSender({ chunkBytes: CH }), content);
      f.sender.onAccept(f.sf, { kind: "file_accept", id: f.id, offset, prefix: sha(content.subarray(0, offset)) });
      await until("DONE", () => f.sent.find((i) => i.kind === "file_done"));
      const sent = fileChunks(f);
      expect(sent.length === 0 ? offset : sent[0]!.offset).toBe(offset);
      expect(Buffer.concat(sent.map((c) => c.data))).toEqual(Buffer.from(content.subarray(offset)));
      expect(cancels(f)).toEqual([]);
    });
  }

  test("a resume whose prefix changed here in the last, short segment (after the offer): CANCEL changed, nothing sent", async () => {
    const f = await offered(fakeSender({ chunkBytes: CH }), big);
    flip(f.path, big.length - 2);
    f.sender.onAccept(f.sf, { kind: "file_accept", id: f.id, offset: big.length, prefix: sha(big) });
    await until("the end", () => f.calls.find((c) => c.startsWith("ended")));
    expect(cancels(f)).toEqual([[FileCode.changed, "the file changed after it was offered"]]);
    expect(fileChunks(f)).toHaveLength(0);
    expect(f.sent.some((i) => i.kind === "file_done")).toBe(false);
  });
});
