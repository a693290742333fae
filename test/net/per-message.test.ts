/**
 * The session's per-message path around the record: what one send + flush costs besides
 * sealing. Counts, not time: microtask entries per tick, clock reads per flush.
 */
import { describe, expect, test } from "bun:test";
import { PooledRandom } from "../../src/crypto/random.ts";
import { Established } from "../../src/net/established.ts";
import { defaultLimits } from "../../src/net/limits.ts";
import { flushSoon, Outbound } from "../../src/net/outbound.ts";
import type { HandshakeResult } from "../../src/protocol/handshake.ts";
import { decodeItems, encodeItems, type Item } from "../../src/protocol/items.ts";
import type { RecordHost } from "../../src/net/established.ts";
import type { SessionState } from "../../src/net/types.ts";
import { RecordReader, RecordWriter } from "../../src/protocol/record.ts";
import { FileType, FrameType } from "../../src/protocol/constants.ts";
import { FrameAssembler } from "../../src/protocol/frame.ts";

const kb = new Uint8Array(64).fill(3);

describe("flushSoon", () => {
  test("a session that sends and flushes 100 times in one tick is flushed once by the microtask, in order with others", async () => {
    const order: string[] = [];
    const a = { flush: () => void order.push("a") };
    const b = { flush: () => void order.push("b") };
    for (let i = 0; i < 100; i++) flushSoon(a);
    flushSoon(b);
    flushSoon(a);
    await Promise.resolve();
    expect(order).toEqual(["a", "b", "a"]);
    flushSoon(a);
    await Promise.resolve();
    expect(order).toEqual(["a", "b", "a", "a"]);
  });
});

describe("Established.pace", () => {
  function setup() {
    let clock = 0;
    let reads = 0;
    const now = () => (reads++, clock);
    const writer = RecordWriter.fromKeyBlock(new Uint8Array(kb), new PooledRandom());
    const reader = RecordReader.fromKeyBlock(new Uint8Array(kb));
    const est = new Established({ writer, reader } as unknown as HandshakeResult, defaultLimits(), now);
    const got: Uint8Array[] = [];
    const o = new Outbound({ write: (d: Uint8Array, off = 0, len = d.length - off) => (got.push(d.slice(off, off + len)), len) } as never);
    return { est, o, got, reads: () => reads, tick: (ms: number) => (clock += ms), reader: RecordReader.fromKeyBlock(new Uint8Array(kb)) };
  }
  const kinds = (got: Uint8Array[], r: RecordReader) => {
    const asm = new FrameAssembler();
    const out: string[] = [];
    for (const b of got) for (const f of asm.push(b)) for (const it of decodeItems(r.open(f.bytes))) out.push(it.kind);
    return out;
  };

  test("after chat lines only (no bulk queued or unacknowledged), it reads no clock", () => {
    const s = setup();
    const before = s.reads();
    for (let i = 0; i < 10; i++) {
      s.o.queue({ kind: "text", id: BigInt(i), text: `line ${i}` });
      s.o.flush(s.est.writer, s.est.keyUpdateDue);
      s.est.pace(s.o, () => {});
    }
    expect(s.reads() - before).toBe(0);
    expect(kinds(s.got, s.reader)).toEqual(Array(10).fill("text"));
  });

  test("after bulk went out, it still probes: a PING follows the file chunk", () => {
    const s = setup();
    s.o.queue({ kind: "ext", type: FileType.FILE_CHUNK, content: new Uint8Array(1000) });
    s.o.flush(s.est.writer, s.est.keyUpdateDue);
    const before = s.reads();
    s.est.pace(s.o, () => {});
    expect(s.reads() - before).toBeGreaterThan(0);
    expect(kinds(s.got, s.reader)).toEqual(["ext", "ping"]);
  });
});

describe("Established.read", () => {
  function host(state: SessionState) {
    const got: Item[] = [];
    let reads = 0;
    const h: RecordHost = {
      get state() {
        reads++;
        return state;
      },
      item: (it) => void got.push(it),
      closedByPeer: () => {},
      send: () => {},
      pong: () => false,
      profile: () => {},
    };
    return { h, got, reads: () => reads };
  }
  function setup() {
    const writer = RecordWriter.fromKeyBlock(new Uint8Array(kb), new PooledRandom());
    const reader = RecordReader.fromKeyBlock(new Uint8Array(kb));
    const est = new Established({ writer: RecordWriter.fromKeyBlock(new Uint8Array(kb), new PooledRandom()), reader } as unknown as HandshakeResult, defaultLimits(), () => 0);
    return { est, reader, seal: (items: Item[]) => ({ type: FrameType.RECORD, bytes: writer.seal(encodeItems(items)), body: new Uint8Array(0) }) };
  }
  const texts = (n: number): Item[] => Array.from({ length: n }, (_, i) => ({ kind: "text", id: BigInt(i), text: `m${i}` }));

  test("a record of TEXTs looks at the session's state once per TEXT (it looked twice) and hands them over in order", () => {
    const { est, seal } = setup();
    const { h, got, reads } = host("open");
    est.read(seal(texts(10)), h);
    expect(got).toEqual(texts(10));
    expect(reads()).toBe(10);
  });

  test("after a record is read, the reader keeps no reference to its plaintext (an idle session holds none)", () => {
    const { est, reader, seal } = setup();
    est.read(seal([{ kind: "ext", type: 0x90, content: new Uint8Array(60_000).fill(7) }]), host("open").h);
    expect(() => reader.takeOpened()).toThrow("no record opened since the last takeOpened");
  });

  test("TEXT before the peer's PROFILE is still refused, with the same sentence; ACK too", () => {
    for (const item of [texts(1)[0]!, { kind: "ack", id: 3n } as Item]) {
      const { est, seal } = setup();
      const { h, got } = host("profile");
      expect(() => est.read(seal([item]), h)).toThrow(`the peer sent ${item.kind.toUpperCase()} before its PROFILE`);
      expect(got).toEqual([]);
    }
  });

  test("a session closed by an earlier item of the record hears nothing after it", () => {
    const { est, seal } = setup();
    let state: SessionState = "open";
    const got: Item[] = [];
    const h = { ...host("open").h, get state() { return state; }, item: (it: Item) => void got.push(it), closedByPeer: () => void (state = "closed") };
    est.read(seal([...texts(2), { kind: "close", reason: "bye" }, ...texts(3)]), h);
    expect(got).toEqual(texts(2));
  });
});
