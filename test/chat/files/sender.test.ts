/**
 * The sender side of PROTOCOL §11 over a fake session (fake-session.ts): the answer to an
 * offer is awaited while the session lives (a stall is not "cannot receive files"; a
 * PONG after no file item is), the chunk pump stays under HIGH_WATER, a resume is checked
 * against our own prefix, and a lost session pauses and re-offers.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { closeSync, openSync, readdirSync, readSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { FileCode, MAX_OPEN_TRANSFERS } from "../../../src/protocol/constants.ts";
import type { Item } from "../../../src/protocol/items.ts";
import { removeHomes, tempHome } from "../../support/home.ts";
import { until } from "../../support/wait.ts";
import type { SendSet } from "../../../src/chat/files/state.ts";
import { SEGMENT_MIN } from "../../../src/chat/files/segments.ts";
import type { FileItem } from "../../../src/protocol/files.ts";
import { fakeSender, sessionFiles } from "./fake-hosts.ts";
import { Harness, type FakeSession } from "./fake-session.ts";

const harnesses: Harness[] = [];
afterEach(() => {
  for (const h of harnesses.splice(0)) h.close();
  removeHomes();
});
const harness = (o: ConstructorParameters<typeof Harness>[1] = {}) => {
  const h = new Harness(tempHome("sotto-send-"), o);
  harnesses.push(h);
  return h;
};
const sha = (b: Uint8Array | string) => new Uint8Array(new Bun.CryptoHasher("sha256").update(b).digest());
const bytes = (n: number, seed = 1) => new Uint8Array(n).map((_, i) => (i * 13 + seed) & 0xff);

/** Files of `content` to send, in a fresh folder. */
function files(n: number, content: Uint8Array): string[] {
  const dir = tempHome("sotto-src-");
  return Array.from({ length: n }, (_, i) => {
    const p = join(dir, `f${i}.bin`);
    writeFileSync(p, content);
    return p;
  });
}
const pings = (s: FakeSession) => s.items.filter((i): i is Extract<Item, { kind: "ping" }> => i.kind === "ping");
/** The data bytes of every chunk sent for `id`, in order. */
const chunks = (s: FakeSession, id: bigint) => s.of("file_chunk", id);

describe("the answer to an offer is awaited while the session lives (PROTOCOL §11.4)", () => {
  test("a stall longer than the answer time ends nothing: the late PENDING and ACCEPT carry on, and what is queued stays", async () => {
    const h = harness({ answerTimeoutMs: 50 });
    const s = h.open();
    const data = bytes(5000);
    h.ft.send(files(MAX_OPEN_TRANSFERS + 3, data));
    await until("the first offers", () => s.of("file_offer").length === MAX_OPEN_TRANSFERS);
    // The answer time passes with nothing from the peer: we ask with a PING, nothing ends.
    const probe = await until("the probe PING", () => pings(s)[0]);
    await Bun.sleep(100);
    expect(h.transfers("unsupported")).toHaveLength(0);
    expect(h.ft.list()).toHaveLength(MAX_OPEN_TRANSFERS + 3);
    // The stall ends: the peer's answers come first (it read the offers before our PING), then its PONG.
    const first = s.of("file_offer")[0]!;
    h.deliver(s, { kind: "file_pending", id: first.id });
    h.deliver(s, { kind: "pong", data: probe.data });
    expect(h.transfers("waiting")).toHaveLength(1);
    h.deliver(s, { kind: "file_accept", id: first.id, offset: 0, prefix: sha("") });
    await until("DONE", () => s.of("file_done", first.id)[0]);
    h.deliver(s, { kind: "file_received", id: first.id, sha256: sha(data) });
    expect(h.transfers("done")).toHaveLength(1);
    expect(h.transfers("unsupported")).toHaveLength(0);
    // The slot freed by the delivered file goes to the next queued one.
    expect(s.of("file_offer")).toHaveLength(MAX_OPEN_TRANSFERS + 1);
  });

  test("a PONG to the probe with no file item before it: the peer skipped the offer and cannot receive files", async () => {
    const h = harness({ answerTimeoutMs: 20 });
    const s = h.open();
    h.ft.send(files(MAX_OPEN_TRANSFERS + 2, bytes(10)));
    const probe = await until("the probe PING", () => pings(s)[0]);
    // A keepalive PONG (other data) proves nothing.
    h.deliver(s, { kind: "pong", data: new Uint8Array(8).fill(7) });
    expect(h.transfers("unsupported")).toHaveLength(0);
    h.deliver(s, { kind: "pong", data: probe.data });
    const u = h.transfers("unsupported");
    expect(u).toHaveLength(MAX_OPEN_TRANSFERS + 2);
    expect(u[0]!.reason).toBe("the peer cannot receive files");
    expect(s.state).toBe("open");
    expect(pings(s)).toHaveLength(1);
  });

  test("once any file item came, no probe is sent in that session", async () => {
    const h = harness({ answerTimeoutMs: 20 });
    const s = h.open();
    h.ft.send(files(1, bytes(10)));
    const offer = await until("offer", () => s.of("file_offer")[0]);
    h.deliver(s, { kind: "file_pending", id: offer.id });
    await Bun.sleep(80);
    expect(pings(s)).toHaveLength(0);
  });
});

describe("to contacts only", () => {
  test("/send offers nothing to a key that is not a contact: named, it is refused; to everyone, it is left out", async () => {
    const h = harness();
    const contact = h.open();
    const request = h.open();
    h.allContacts = false;
    h.contacts.add(Buffer.from(contact.peerIdentity).toString("hex"));
    const f = files(1, bytes(10));
    expect(() => h.ft.send(f, `peer-${Buffer.from(request.peerIdentity).toString("hex").slice(0, 4)}`)).toThrow("not one of your contacts");
    expect(h.ft.send(f)).toBe(1);
    await until("offer to the contact", () => contact.of("file_offer")[0]);
    await Bun.sleep(20);
    expect(request.sent).toEqual([]);
  });
});

describe("sending", () => {
  test("chunks are queued only while the session holds less than HIGH_WATER, and go on at each drain", async () => {
    const highWater = 100_000;
    const h = harness({ highWater, chunkBytes: 10_000 });
    const s = h.open();
    s.holdOutput = true;
    const data = bytes(1_000_000, 3);
    h.ft.send(files(1, data));
    const offer = await until("offer", () => s.of("file_offer")[0]);
    s.drain();
    h.deliver(s, { kind: "file_accept", id: offer.id, offset: 0, prefix: sha("") });
    await until("first chunks", () => chunks(s, offer.id).length > 0);
    await Bun.sleep(20);
    const firstBurst = chunks(s, offer.id).length;
    expect(firstBurst * 10_000).toBeLessThanOrEqual(highWater + 10_000);
    for (let i = 0; i < 200 && s.of("file_done", offer.id).length === 0; i++) {
      s.drain();
      h.drain(s);
      expect(s.bufferedAmount).toBeLessThanOrEqual(highWater + 10_100);
    }
    const got = chunks(s, offer.id);
    expect(got.map((c) => c.offset)).toEqual(got.map((_, i) => i * 10_000));
    expect(Buffer.concat(got.map((c) => c.data)).equals(Buffer.from(data))).toBe(true);
    expect(s.of("file_done", offer.id)).toHaveLength(1);
  });

  test("chunks are cut no larger than the session's paced bulk record (bulkItemBytes), as it changes; the bytes and offsets stay whole", async () => {
    const h = harness({ chunkBytes: 60 * 1024, highWater: 64 * 1024 });
    const s = h.open();
    s.holdOutput = true;
    // A 10 Mbit/s path: one bulk record holds about 10 KB (net/pacer.ts quantum).
    s.bulkItemBytes = 10_016;
    const data = bytes(600_000, 5);
    h.ft.send(files(1, data));
    const offer = await until("offer", () => s.of("file_offer")[0]);
    s.drain();
    h.deliver(s, { kind: "file_accept", id: offer.id, offset: 0, prefix: sha("") });
    await until("the first chunks", () => chunks(s, offer.id).length > 0);
    // The path turns out faster: larger records, larger chunks (never past chunkBytes).
    s.bulkItemBytes = 1 << 20;
    for (let i = 0; i < 200 && s.of("file_done", offer.id).length === 0; i++) {
      s.drain();
      h.drain(s);
      await Bun.sleep(1);
    }
    await until("DONE", () => s.of("file_done", offer.id)[0]);
    const got = chunks(s, offer.id);
    const sizes = got.map((c) => c.data.length);
    expect(sizes[0]).toBe(10_000); // 10,016 less the 16-byte chunk header
    expect(sizes.filter((n) => n > 10_000).length).toBeGreaterThan(0);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(60 * 1024);
    expect(got.map((c) => c.offset)).toEqual(sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0)));
    expect(Buffer.concat(got.map((c) => c.data)).equals(Buffer.from(data))).toBe(true);
  });

  test("files are open only while their chunks are read: 64 accepted transfers to a peer that stops reading hold no descriptor", async () => {
    const fds = () => readdirSync("/proc/self/fd").length;
    const h = harness({ highWater: 50_000, chunkBytes: 10_000 });
    const s = h.open();
    s.holdOutput = true;
    h.ft.send(files(MAX_OPEN_TRANSFERS, bytes(200_000, 6)));
    await until("offers", () => s.of("file_offer").length === MAX_OPEN_TRANSFERS);
    s.drain();
    const before = fds();
    for (const o of s.of("file_offer")) h.deliver(s, { kind: "file_accept", id: o.id, offset: 0, prefix: sha("") });
    await until("accepted", () => h.transfers("accepted").length === MAX_OPEN_TRANSFERS);
    await until("chunks queued up to HIGH_WATER", () => s.bufferedAmount >= 50_000);
    expect(fds()).toBeLessThanOrEqual(before);
    for (let i = 0; i < 3; i++) {
      s.drain();
      h.drain(s);
    }
    expect(fds()).toBeLessThanOrEqual(before);
  });

  test("a resume: the prefix is checked against our own bytes; a false one is CANCEL resume_mismatch and one new offer at 0", async () => {
    const h = harness({ chunkBytes: 10_000 });
    const s = h.open();
    const data = bytes(50_000, 4);
    h.ft.send(files(1, data));
    const o1 = await until("offer", () => s.of("file_offer")[0]);
    h.deliver(s, { kind: "file_accept", id: o1.id, offset: 20_000, prefix: sha(data.subarray(0, 20_000)) });
    await until("chunks from 20,000", () => s.of("file_done", o1.id)[0]);
    expect(chunks(s, o1.id)[0]!.offset).toBe(20_000);
    h.deliver(s, { kind: "file_received", id: o1.id, sha256: sha(data) });
    expect(h.transfers("done")).toHaveLength(1);

    h.ft.send(files(1, data));
    const o2 = await until("second offer", () => s.of("file_offer")[1]);
    h.deliver(s, { kind: "file_accept", id: o2.id, offset: 20_000, prefix: sha("not the prefix") });
    const c = await until("cancel", () => s.of("file_cancel", o2.id)[0]);
    expect(c.code).toBe(FileCode.resume_mismatch);
    const o3 = await until("offered again", () => s.of("file_offer")[2]);
    expect(o3.id).not.toBe(o2.id);
    expect(o3.sha256).toEqual(sha(data));
  });

  test("a lost session pauses the transfer; the next session offers it again under a new id and it resumes", async () => {
    const h = harness({ chunkBytes: 10_000, highWater: 20_000 });
    const s1 = h.open();
    s1.holdOutput = true;
    const data = bytes(100_000, 5);
    h.ft.send(files(1, data));
    const o1 = await until("offer", () => s1.of("file_offer")[0]);
    s1.drain();
    h.deliver(s1, { kind: "file_accept", id: o1.id, offset: 0, prefix: sha("") });
    await until("some chunks", () => chunks(s1, o1.id).length > 0);
    h.lose(s1);
    expect(h.transfers("paused")).toHaveLength(1);
    const s2 = h.open(s1);
    const o2 = await until("offered again", () => s2.of("file_offer")[0]);
    expect(o2.sha256).toEqual(sha(data));
    h.deliver(s2, { kind: "file_accept", id: o2.id, offset: 30_000, prefix: sha(data.subarray(0, 30_000)) });
    await until("done sent", () => s2.of("file_done", o2.id)[0]);
    expect(chunks(s2, o2.id)[0]!.offset).toBe(30_000);
    h.deliver(s2, { kind: "file_received", id: o2.id, sha256: sha(data) });
    expect(h.transfers("done")).toHaveLength(1);
  });
});

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
