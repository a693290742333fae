/**
 * The sender side of PROTOCOL §11 over a fake session (fake-session.ts): the answer to an
 * offer is awaited while the session lives (a stall is not "cannot receive files"; a
 * PONG after no file item is), the chunk pump stays under HIGH_WATER, a resume is checked
 * against our own prefix, and a lost session pauses and re-offers.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { FileCode, MAX_OPEN_TRANSFERS } from "../../../src/protocol/constants.ts";
import type { Item } from "../../../src/protocol/items.ts";
import { removeHomes, tempHome } from "../../support/home.ts";
import { until } from "../../support/wait.ts";
import { sha } from "./fake-hosts.ts";
import { Harness, type FakeSession } from "./fake-session.ts";
import { bytes, files } from "./sender-support.ts";

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
