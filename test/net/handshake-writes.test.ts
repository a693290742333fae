/**
 * How many transport writes a handshake costs (each is a system call on a real socket):
 * each side's last flight is one write, and what a side sends in the tick its peer's
 * PROFILE arrives rides in the same write as its own PROFILE record.
 */
import { expect, test } from "bun:test";
import { FrameType } from "../../src/protocol/constants.ts";
import { FrameAssembler } from "../../src/protocol/frame.ts";
import type { Item } from "../../src/protocol/items.ts";
import { Session } from "../../src/net/session.ts";
import { until } from "../support/wait.ts";
import { config, FakeTransport } from "./fake-transport.ts";
import { Group } from "../../src/protocol/constants.ts";

/** The frame types of each write, in order. */
const shape = (t: FakeTransport) => t.written.map((w) => new FrameAssembler().push(w).map((f) => f.type));

test("a handshake is two writes per side; a reply sent on PROFILE rides with our own PROFILE", async () => {
  const got: Item[] = [];
  let ready = 0;
  const at = new FakeTransport(), bt = new FakeTransport();
  const a = new Session(at, config("alice"), "initiator", "fake:1", Group.X25519, { onReady: () => void ready++, onItem: (_s, it) => void got.push(it), onClose: () => {} });
  const b = new Session(bt, config("bob"), "responder", "fake:2", undefined, {
    onReady: (s) => {
      ready++;
      s.send({ kind: "text", id: 7n, text: "hello at once" });
    },
    onItem: () => {},
    onClose: () => {},
  });
  at.self = a;
  at.other = b;
  bt.self = b;
  bt.other = a;
  await Promise.all([a.start(), b.start()]);
  await until("both ready and the reply in", () => ready === 2 && got.length === 1);
  expect(got).toEqual([{ kind: "text", id: 7n, text: "hello at once" }]);
  const R = FrameType.RECORD;
  // alice: HELLO; then AUTH (a handshake-key record) and her PROFILE record together
  // (later writes: the pacer's first PING, PONGs).
  expect(shape(at).slice(0, 2)).toEqual([[FrameType.HELLO], [R, R]]);
  // bob: HELLO_REPLY and AUTH; then his PROFILE record and the record with the reply together.
  expect(shape(bt).slice(0, 2)).toEqual([[FrameType.HELLO_REPLY, R], [R, R]]);
});
