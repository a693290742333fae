/**
 * The session's per-message path around the record: what one send + flush costs besides
 * sealing. Counts, not time: microtask entries per tick, clock reads per flush.
 */
import { describe, expect, test } from "bun:test";
import { PooledRandom } from "../../src/crypto/random.ts";
import { Established } from "../../src/net/established.ts";
import { defaultLimits } from "../../src/net/limits.ts";
import { flushSoon } from "../../src/net/flush-soon.ts";
import { Outbound } from "../../src/net/outbound.ts";
import type { HandshakeResult } from "../../src/protocol/machine.ts";
import { decodeItems, encodeItems, type Item } from "../../src/protocol/items.ts";
import type { RecordHost } from "../../src/net/established.ts";
import type { SessionState } from "../../src/net/types.ts";
import { RecordReader, RecordWriter } from "../../src/protocol/record.ts";
import { ContentType, FileType, FrameType } from "../../src/protocol/constants.ts";
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
      s.est.pace(s.o, { flush() {} });
    }
    expect(s.reads() - before).toBe(0);
    expect(kinds(s.got, s.reader)).toEqual(Array(10).fill("text"));
  });

  test("the first probe goes ahead of the first file chunk, once, and not before any file", () => {
    const s = setup();
    s.o.queue({ kind: "text", id: 1n, text: "hi" });
    s.est.probeFirst(s.o, 0); // chat lines only: no probe
    s.o.flush(s.est.writer, s.est.keyUpdateDue);
    expect(s.est.probedFirst).toBe(false);
    s.o.queue({ kind: "ext", type: FileType.FILE_CHUNK, content: new Uint8Array(1000) });
    s.est.probeFirst(s.o, 0);
    s.o.flush(s.est.writer, s.est.keyUpdateDue);
    s.o.queue({ kind: "ext", type: FileType.FILE_CHUNK, content: new Uint8Array(1000) });
    s.est.probeFirst(s.o, 20); // the second chunk: no second first probe
    s.o.flush(s.est.writer, s.est.keyUpdateDue);
    expect(kinds(s.got, s.reader)).toEqual(["text", "ping", "ext", "ext"]);
    expect(s.est.probedFirst).toBe(true);
  });

  test("after bulk went out, it still probes: a PING follows the file chunk", () => {
    const s = setup();
    s.o.queue({ kind: "ext", type: FileType.FILE_CHUNK, content: new Uint8Array(1000) });
    s.o.flush(s.est.writer, s.est.keyUpdateDue);
    const before = s.reads();
    s.est.pace(s.o, { flush() {} });
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
      text: (id, t) => void got.push({ kind: "text", id: BigInt(id), text: t }),
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
    const h = { ...host("open").h, get state() { return state; }, item: (it: Item) => void got.push(it), text: (id: bigint | number, t: string) => void got.push({ kind: "text", id: BigInt(id), text: t }), closedByPeer: () => void (state = "closed") };
    est.read(seal([...texts(2), { kind: "close", reason: "bye" }, ...texts(3)]), h);
    expect(got).toEqual(texts(2));
  });
});

describe("Outbound.queueText: TEXT as (id, text), no Item object", () => {
  const kb2 = new Uint8Array(64).fill(5);
  function setup(takes = Infinity) {
    const got: Uint8Array[] = [];
    const sock = { takes, write: (d: Uint8Array, off = 0, len = d.length - off) => { const n = Math.min(len, sock.takes); got.push(d.slice(off, off + n)); return n; } };
    const o = new Outbound(sock as never);
    const w = RecordWriter.fromKeyBlock(new Uint8Array(kb2), new PooledRandom());
    const r = RecordReader.fromKeyBlock(new Uint8Array(kb2));
    const opened = () => {
      const asm = new FrameAssembler();
      const out: Item[] = [];
      for (const b of got) for (const f of asm.push(b)) out.push(...decodeItems(r.open(f.bytes)));
      return out;
    };
    return { o, w, sock, got, opened };
  }

  test("items and TEXTs queued in any mix go out in the order queued, ids exact (a bigint id as it was)", () => {
    const { o, w, opened } = setup();
    o.queue({ kind: "ext", type: 0xbf, content: new Uint8Array(8) });
    o.queueText(7, "seven");
    o.queue({ kind: "text", id: 2n ** 64n - 1n, text: "an item" });
    o.queueText(2n ** 60n, "big");
    o.queue({ kind: "ack", id: 3n });
    o.flush(w, () => false);
    expect(opened()).toEqual([
      { kind: "ext", type: 0xbf, content: new Uint8Array(8) },
      { kind: "text", id: 7n, text: "seven" },
      { kind: "text", id: 2n ** 64n - 1n, text: "an item" },
      { kind: "text", id: 2n ** 60n, text: "big" },
      { kind: "ack", id: 3n },
    ]);
  });

  test("a TEXT is charged as one item, as send(item) charged it: its bound and one item's heap", () => {
    const a = setup(), b = setup();
    for (let i = 0; i < 10; i++) a.o.queueText(i, "x".repeat(i));
    for (let i = 0; i < 10; i++) b.o.queue({ kind: "text", id: BigInt(i), text: "x".repeat(i) });
    expect(a.o.memoryBytes).toBe(b.o.memoryBytes);
    expect(a.o.bufferedAmount).toBe(b.o.bufferedAmount);
    a.o.flush(a.w, () => false);
    expect(a.o.memoryBytes).toBe(0);
  });

  test("behind a socket that stops taking, what was not sealed stays queued whole and goes out once, in order, after the drain", () => {
    const { o, w, sock, opened } = setup(1000);
    const n = 40_000; // 2.7 MB of TEXTs: three batches of records
    for (let i = 0; i < n; i++) o.queueText(i, "d" + "x".repeat(55));
    o.flush(w, () => false);
    expect(o.backedUp).toBe(true);
    expect(o.hasPending).toBe(true);
    const waiting = o.memoryBytes;
    sock.takes = Infinity;
    expect(o.drain()).toBe(true);
    o.flush(w, () => false);
    expect(o.hasPending).toBe(false);
    expect(o.memoryBytes).toBe(0);
    expect(waiting).toBeGreaterThan(0);
    const got = opened();
    expect(got.length).toBe(n);
    got.forEach((it, i) => expect(it).toEqual({ kind: "text", id: BigInt(i), text: "d" + "x".repeat(55) }));
  });

  test("a TEXT that cannot fit in any record is refused with RangeError, and nothing is queued", () => {
    const { o } = setup();
    expect(() => o.queueText(1, "x".repeat(65_300))).toThrow(RangeError);
    expect(o.hasPending).toBe(false);
    o.queueText(2, "é".repeat(30_000)); // 60,000 bytes: over the bound, within the exact size
    expect(o.hasPending).toBe(true);
  });
});

describe("Established.read hands TEXT over as (id, text)", () => {
  function setup2() {
    const kb3 = new Uint8Array(64).fill(9);
    const writer = RecordWriter.fromKeyBlock(new Uint8Array(kb3), new PooledRandom());
    const est = new Established({ writer: RecordWriter.fromKeyBlock(new Uint8Array(kb3), new PooledRandom()), reader: RecordReader.fromKeyBlock(new Uint8Array(kb3)) } as unknown as HandshakeResult, defaultLimits(), () => 0);
    const texts: [number | bigint, string][] = [];
    const items: Item[] = [];
    const h: RecordHost = { state: "open", item: (it) => void items.push(it), text: (id, t) => void texts.push([id, t]), closedByPeer: () => {}, send: () => {}, pong: () => false, profile: () => {} };
    return { est, h, texts, items, seal: (pt: Uint8Array) => ({ type: FrameType.RECORD, bytes: writer.seal(pt), body: new Uint8Array(0) }) };
  }

  test("ids below 2^53 as numbers, 2^64 - 1 as the exact bigint, other items through item()", () => {
    const { est, h, texts, items, seal } = setup2();
    est.read(seal(encodeItems([{ kind: "text", id: 2n ** 53n - 1n, text: "a" }, { kind: "ack", id: 1n }, { kind: "text", id: 2n ** 64n - 1n, text: "b" }])), h);
    expect(texts).toEqual([[2 ** 53 - 1, "a"], [2n ** 64n - 1n, "b"]]);
    expect(items).toEqual([{ kind: "ack", id: 1n }]);
  });

  test("a record with a bad item after good TEXTs hands over none of them (a record is handled whole or not at all)", () => {
    const { est, h, texts, seal } = setup2();
    const good = encodeItems([{ kind: "text", id: 1n, text: "a" }, { kind: "text", id: 2n, text: "b" }]);
    const bad = Buffer.concat([good, Buffer.from([ContentType.TEXT, 0, 9, 0, 0, 0, 0, 0, 0, 0, 3, 0xff])]); // TEXT with invalid UTF-8
    expect(() => est.read(seal(bad), h)).toThrow("TEXT is not valid UTF-8");
    expect(texts).toEqual([]);
  });

  test("a record read from inside the owner's callback (a nested read) does not disturb the record being handed over", () => {
    const { est, h, texts, seal } = setup2();
    const inner = setup2();
    let nested = false;
    const h2: RecordHost = { ...h, text: (id, t) => {
      texts.push([id, t]);
      if (!nested) {
        nested = true;
        inner.est.read(inner.seal(encodeItems([{ kind: "text", id: 100n, text: "inner" }, { kind: "text", id: 101n, text: "inner2" }])), inner.h);
      }
    } };
    est.read(seal(encodeItems([1n, 2n, 3n].map((id) => ({ kind: "text" as const, id, text: `o${id}` })))), h2);
    expect(texts).toEqual([[1, "o1"], [2, "o2"], [3, "o3"]]);
    expect(inner.texts).toEqual([[100, "inner"], [101, "inner2"]]);
  });
});

describe("a chunk of small records is read where it lies in the chunk", () => {
  /** Count `subarray` calls on `of` (through Buffer's and Uint8Array's prototypes) while `f` runs. */
  function subarrays(of: Uint8Array, f: () => void): number {
    let n = 0;
    const protos = [Uint8Array.prototype, Buffer.prototype] as unknown as Record<string, unknown>[];
    const saved = protos.map((p) => Object.getOwnPropertyDescriptor(p, "subarray"));
    const orig = Uint8Array.prototype.subarray;
    const counted = function (this: Uint8Array, ...a: [number?, number?]) {
      if (this === of) n++;
      return (saved[1]?.value ?? orig).apply(this, a);
    };
    for (const p of protos) Object.defineProperty(p, "subarray", { configurable: true, writable: true, value: counted });
    try {
      f();
    } finally {
      protos.forEach((p, i) => {
        if (saved[i]) Object.defineProperty(p, "subarray", saved[i]!);
        else delete p["subarray"];
      });
    }
    return n;
  }

  test("six one-TEXT records in one Buffer chunk: no view of the chunk (a first view of a socket's chunk costs ≈ 0.6 µs), all six handed over in order", async () => {
    const { pair } = await import("./fake-transport.ts");
    const { until } = await import("../support/wait.ts");
    const p = pair({ onText: true });
    await Promise.all([p.a.start(), p.b.start()]);
    await until("both ready", () => p.ha.ready === 1 && p.hb.ready === 1);
    // Alice's next six records are caught, not delivered: one chunk of them goes to Bob at once.
    p.at.other = null;
    const from = p.at.written.length;
    for (let i = 0; i < 6; i++) {
      p.a.sendText(100 + i, `line ${i} ` + "x".repeat(40));
      p.a.flush();
    }
    const records = p.at.written.slice(from);
    expect(records.length).toBe(6);
    const chunk = Buffer.alloc(records.reduce((n, r) => n + r.length, 0));
    let at = 0;
    for (const r of records) (chunk.set(r, at), (at += r.length));
    const views = subarrays(chunk, () => p.b.onData(chunk));
    expect(p.hb.texts!.map(([id, t]) => [id, t])).toEqual(Array.from({ length: 6 }, (_, i) => [100 + i, `line ${i} ` + "x".repeat(40)]));
    expect(views).toBe(0);
    expect(p.b.state).toBe("open");
  });
});
