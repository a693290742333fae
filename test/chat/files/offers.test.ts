/**
 * Step 1 of the receiver (src/chat/files/offers.ts, PROTOCOL §11.5), through a Receiver
 * over a fake host (fake-hosts.ts): each check of a FILE_OFFER, in order, and its answer.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { FileCode } from "../../../src/protocol/constants.ts";
import { removeHomes, tempHome } from "../../support/home.ts";
import { fakeReceiver, sessionFiles, sha } from "./fake-hosts.ts";

afterEach(() => removeHomes());

const offer = (id: bigint, name = "a.txt", data = "hello") => ({ kind: "file_offer" as const, id, size: data.length, sha256: sha(data), name });

describe("a FILE_OFFER is admitted or refused, with one answer each", () => {
  test("from a contact: PENDING, shown as offered, and it waits for the person", () => {
    const f = fakeReceiver(tempHome("sotto-offer-"));
    const sf = sessionFiles();
    f.receiver.onOffer(sf, offer(1n));
    expect(f.sent).toEqual([{ kind: "file_pending", id: 1n }]);
    expect(f.calls).toEqual(["show offered"]);
    expect(f.receiver.waiting.size).toBe(1);
  });

  test("from a key that is not a contact: REJECT declined, and the person is told once, with no transfer", () => {
    const f = fakeReceiver(tempHome("sotto-offer-"), { contact: false });
    f.receiver.onOffer(sessionFiles(), offer(1n));
    expect(f.sent).toEqual([{ kind: "file_reject", id: 1n, code: FileCode.declined, reason: "files are accepted from contacts only" }]);
    expect(f.calls).toEqual(["report offered a file, refused: it is not one of your contacts"]);
  });

  test("past the sender's rate: REJECT busy, nothing shown; the same id twice ends the first as a protocol fault", () => {
    const f = fakeReceiver(tempHome("sotto-offer-"), { offers: 1 });
    const sf = sessionFiles();
    f.receiver.onOffer(sf, offer(1n));
    f.receiver.onOffer(sf, offer(2n, "b.txt"));
    f.receiver.onOffer(sf, offer(1n, "c.txt"));
    expect(f.sent).toEqual([
      { kind: "file_pending", id: 1n },
      { kind: "file_reject", id: 2n, code: FileCode.busy, reason: "too many offers; offer fewer at a time" },
      { kind: "file_reject", id: 1n, code: FileCode.protocol, reason: "the same transfer id was offered twice" },
    ]);
    expect(f.calls).toEqual(["show offered", "forget", "show failed"]);
  });

  test("too large for the free disk, or with no usable name: REJECT too_large / bad_name, nothing shown or written", () => {
    const dir = tempHome("sotto-offer-");
    const f = fakeReceiver(dir, { free: 4 });
    const sf = sessionFiles();
    f.receiver.onOffer(sf, offer(1n));
    f.receiver.onOffer(sf, offer(2n, "../..", ""));
    expect(f.sent).toEqual([
      { kind: "file_reject", id: 1n, code: FileCode.too_large, reason: "the file is too large for this receiver" },
      { kind: "file_reject", id: 2n, code: FileCode.bad_name, reason: "no usable file name" },
    ]);
    expect(f.calls).toEqual([]);
    expect(readdirSync(f.partials.dir).filter((n) => n.endsWith(".part"))).toEqual([]);
  });
});
