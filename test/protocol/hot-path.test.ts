/**
 * The per-message path makes as few objects as it can: these tests count the typed-array
 * views (`subarray`) and map operations made while sealing, opening and queueing small
 * records, and check that the bytes are still exactly the protocol's (each record opens,
 * each item decodes to what was sent).
 */
import { describe, expect, test } from "bun:test";
import { hkdfExpand, hmacSha256 } from "../../src/crypto/hash.ts";
import { PooledRandom } from "../../src/crypto/random.ts";
import { ByteBudget } from "../../src/net/limits.ts";
import { Outbound } from "../../src/net/outbound.ts";
import { BLOCK_LEN, MAX_PLAINTEXT } from "../../src/protocol/constants.ts";
import { FrameAssembler } from "../../src/protocol/frame.ts";
import { decodeItems, encodeItems, writeItem, type Item } from "../../src/protocol/items.ts";
import { recordFrameLength, RecordReader, RecordWriter } from "../../src/protocol/record.ts";
import { det, handshakeBetween } from "./helpers.ts";

const random = new PooledRandom();

/** Count calls of `subarray` on every typed array (and Buffer) while `f` runs. */
function countViews<T>(f: () => T): { views: number; result: T } {
  const protos = [Uint8Array.prototype, Buffer.prototype] as { subarray: (...a: number[]) => Uint8Array }[];
  const saved = protos.map((p) => Object.getOwnPropertyDescriptor(p, "subarray"));
  let views = 0;
  protos.forEach((p, i) => {
    const orig = saved[i]?.value ?? Uint8Array.prototype.subarray;
    Object.defineProperty(p, "subarray", { configurable: true, writable: true, value: function (this: Uint8Array, ...a: number[]) { views++; return orig.apply(this, a); } });
  });
  try {
    const result = f();
    return { views, result };
  } finally {
    protos.forEach((p, i) => (saved[i] ? Object.defineProperty(p, "subarray", saved[i]!) : delete (p as { subarray?: unknown }).subarray));
  }
}

function pair() {
  const kb = det("hot path", 64);
  return { w: RecordWriter.fromKeyBlock(new Uint8Array(kb), random), r: RecordReader.fromKeyBlock(new Uint8Array(kb)) };
}

const text = (id: number, s: string): Extract<Item, { kind: "text" }> => ({ kind: "text", id: BigInt(id), text: s });

describe("sealing and opening small records", () => {
  test("a run of equal-sized records is sealed without a new view; every one opens", () => {
    const { w, r } = pair();
    const pt = new Uint8Array(MAX_PLAINTEXT + BLOCK_LEN);
    const out = new Uint8Array(8 + 4096);
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 4; i++) {
      const items = encodeItems([text(i, "x".repeat(56))]);
      pt.set(items);
      const { views, result: len } = countViews(() => w.sealInto(pt, items.length, out, 8));
      if (i > 0) expect(views).toBe(0);
      expect(len).toBe(recordFrameLength(items.length));
      frames.push(out.slice(8, 8 + len));
    }
    frames.forEach((f, i) => expect(decodeItems(r.open(f))).toEqual([text(i, "x".repeat(56))]));
  });

  test("opening a record makes three views: MAC input, cipher input, plaintext", () => {
    const { w, r } = pair();
    const f1 = w.seal(encodeItems([text(1, "a")]));
    const f2 = w.seal(encodeItems([text(2, "b")]));
    r.open(f1);
    const { views, result } = countViews(() => r.open(f2));
    expect(views).toBeLessThanOrEqual(3);
    expect(decodeItems(result)).toEqual([text(2, "b")]);
  });
});

describe("writeItem", () => {
  const cases = ["", "d" + "x".repeat(55), "héllo wörld", "😀 emoji and ZWJ 👩‍💻", "lone \ud800 surrogate", "x".repeat(5000)];
  test("TEXT with room is encoded without a view, byte for byte as encodeItems", () => {
    const out = new Uint8Array(MAX_PLAINTEXT);
    for (const [i, s] of cases.entries()) {
      const item = text(i + 0x1_0000_0000 * (i % 2), s);
      const { views, result: end } = countViews(() => writeItem(out, 5, MAX_PLAINTEXT - 3, item));
      expect(views).toBe(0);
      expect([...out.slice(5, end)]).toEqual([...encodeItems([item])]);
      expect(decodeItems(out.subarray(5, end))).toEqual([{ kind: "text", id: item.id, text: s.replace("\ud800", "\ufffd") }] as Item[]);
    }
  });

  test("TEXT that might not fit falls back to the exact check and reports -1 when it does not", () => {
    const out = new Uint8Array(64);
    expect(writeItem(out, 0, 64, text(1, "é".repeat(30)))).toBe(-1); // 60 bytes + 11 > 64
    const end = writeItem(out, 0, 64, text(1, "é".repeat(20)));
    expect([...out.slice(0, end)]).toEqual([...encodeItems([text(1, "é".repeat(20))])]);
  });
});

describe("ByteBudget", () => {
  test("interleaved charges keep the exact total and the largest holder", () => {
    const b = new ByteBudget<string>(1000);
    const model = new Map<string, number>();
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
    for (let i = 0; i < 2000; i++) {
      const h = `s${rnd(5)}`;
      const v = rnd(4) === 0 ? 0 : rnd(600);
      const over = b.set(h, v);
      if (v === 0) model.delete(h);
      else model.set(h, v);
      const total = [...model.values()].reduce((a, x) => a + x, 0);
      expect(b.total).toBe(total);
      expect(over).toBe(total > 1000);
      const max = Math.max(-1, ...model.values());
      const largest = b.largest();
      if (model.size === 0) expect(largest).toBeUndefined();
      else expect(model.get(largest!)).toBe(max);
    }
  });

  test("a run of charges by one holder does no map operation after the first", () => {
    const b = new ByteBudget<object>(1 << 20);
    const s = {}, t = {};
    b.set(t, 10);
    b.set(s, 1);
    const ops = { n: 0 };
    const names = ["get", "set", "delete", "has"] as const;
    const saved = names.map((k) => Map.prototype[k]);
    names.forEach((k, i) => ((Map.prototype as unknown as Record<string, unknown>)[k] = function (this: Map<unknown, unknown>, ...a: unknown[]) { ops.n++; return (saved[i] as (...x: unknown[]) => unknown).apply(this, a); }));
    try {
      for (let i = 2; i < 100; i++) b.set(s, i);
    } finally {
      names.forEach((k, i) => ((Map.prototype as unknown as Record<string, unknown>)[k] = saved[i]));
    }
    expect(ops.n).toBe(0);
    expect(b.total).toBe(10 + 99);
    expect(b.largest()).toBe(s);
  });
});

describe("Outbound", () => {
  test("one flush is one socket write, with no view of the output buffer; the bytes open in order", () => {
    const writes: Uint8Array[] = [];
    const socket = {
      write(data: Uint8Array, off = 0, len = data.length - off) {
        writes.push(data.slice(off, off + len));
        return len;
      },
    };
    const o = new Outbound(socket as never);
    const { w, r } = pair();
    for (let round = 0; round < 3; round++) {
      o.queue(text(round, "x".repeat(56)));
      const { views } = countViews(() => o.flush(w, () => false));
      if (round > 0) expect(views).toBe(0);
      expect(writes.length).toBe(round + 1);
    }
    writes.forEach((f, i) => expect(decodeItems(r.open(f))).toEqual([text(i, "x".repeat(56))]));
  });
});

describe("Outbound: the handshake's last flight", () => {
  const collect = () => {
    const writes: Uint8Array[] = [];
    const socket = { write: (data: Uint8Array, off = 0, len = data.length - off) => (writes.push(data.slice(off, off + len)), len) };
    return { writes, o: new Outbound(socket as never) };
  };
  const auth = new Uint8Array([0x00, 0x05, 0x03, 1, 2, 3, 4]);

  test("held frames and the next flush's records go out in one write, frames first", () => {
    const { writes, o } = collect();
    const { w, r } = pair();
    o.holdFrames([auth]);
    expect(writes.length).toBe(0);
    o.queue({ kind: "profile", instance: new Uint8Array(8), name: "alice" });
    o.flush(w, () => false);
    expect(writes.length).toBe(1);
    expect([...writes[0]!.subarray(0, auth.length)]).toEqual([...auth]);
    expect(decodeItems(r.open(writes[0]!.subarray(auth.length)))).toEqual([{ kind: "profile", instance: new Uint8Array(8), name: "alice" }]);
    expect(o.written).toBe(writes[0]!.length);
  });

  test("a frame written before the flush (an alert) still follows the held frames", () => {
    const { writes, o } = collect();
    o.holdFrames([auth]);
    const alert = new Uint8Array([0x00, 0x02, 0x04, 9]);
    o.writeFrames([alert]);
    expect(writes.length).toBe(1);
    expect([...writes[0]!]).toEqual([...auth, ...alert]);
    expect(o.hasPending).toBe(false);
  });
});

describe("decodeItems: TEXT", () => {
  const items = [text(1, "d" + "x".repeat(55)), text(2, ""), text(3, "\u0000\u007f ascii edges"), text(4, "héllo 😀")];
  test("ASCII TEXT in a Buffer (what the cipher returns) is read without a view; others as before", () => {
    const pt = Buffer.from(encodeItems(items.slice(0, 3)));
    const { views, result } = countViews(() => decodeItems(pt));
    expect(views).toBe(0);
    expect(result).toEqual(items.slice(0, 3));
    expect(decodeItems(Buffer.from(encodeItems(items)))).toEqual(items);
    expect(decodeItems(encodeItems(items))).toEqual(items);
  });

  test("TEXT in a Buffer is one utf8Slice call each, no toString (its encoding lookup costs ≈ 0.1 µs a message)", () => {
    const pt = Buffer.from(encodeItems(items));
    const proto = Buffer.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
    const saved = { toString: proto.toString!, utf8Slice: proto.utf8Slice! };
    const calls = { toString: 0, utf8Slice: 0 };
    for (const k of ["toString", "utf8Slice"] as const) {
      proto[k] = function (this: Buffer, ...a: unknown[]) {
        calls[k]++;
        return saved[k].apply(this, a);
      };
    }
    let result: Item[];
    try {
      result = decodeItems(pt);
    } finally {
      proto.toString = saved.toString;
      proto.utf8Slice = saved.utf8Slice;
    }
    expect(result).toEqual(items);
    expect(calls).toEqual({ toString: 0, utf8Slice: 3 }); // the empty TEXT needs no call
  });

  test("invalid UTF-8 is still refused, in a Buffer or not", () => {
    const bad = Buffer.from(encodeItems([text(5, "ab")]));
    bad[bad.length - 1] = 0xc3; // a lead byte with nothing after it
    for (const pt of [bad, new Uint8Array(bad)]) expect(() => decodeItems(pt)).toThrow("TEXT is not valid UTF-8");
  });
});

describe("decodeItems: TEXT in a Buffer, any script", () => {
  test("non-ASCII TEXT in a Buffer is read without a view as well", () => {
    const items = [text(1, "héllo 😀"), text(2, "ünïcödé ".repeat(100)), text(3, "\uFEFFa BOM kept")];
    const pt = Buffer.from(encodeItems(items));
    const { views, result } = countViews(() => decodeItems(pt));
    expect(views).toBe(0);
    expect(result).toEqual(items);
  });

  test("every kind of invalid UTF-8 is still refused; a U+FFFD the peer sent is text", () => {
    const cases = [[0xc3], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xe0, 0x80, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82], [0x80], [0xff], [0xfe]];
    for (const c of cases) {
      const ok = encodeItems([text(5, "ab")]);
      const bad = Buffer.concat([Buffer.from(ok.subarray(0, 1)), Buffer.from([0, 8 + 2 + c.length]), Buffer.from(ok.subarray(3, 11)), Buffer.from("a"), Buffer.from(c), Buffer.from("b")]);
      expect(() => decodeItems(bad)).toThrow("TEXT is not valid UTF-8");
    }
    const replacement = [text(6, "a\uFFFDb"), text(7, "\uFFFD")];
    expect(decodeItems(Buffer.from(encodeItems(replacement)))).toEqual(replacement);
  });
});

describe("FrameAssembler", () => {
  test("whole frames in a chunk cost no view until one is read (the record path copies a small frame out by offset), and say where they lie", () => {
    const { w, r } = pair();
    const frames = [0, 1, 2, 3, 4].map((i) => w.seal(encodeItems([text(i, "m" + i)])));
    const chunk = Buffer.concat(frames);
    const asm = new FrameAssembler();
    const { views, result } = countViews(() => asm.push(chunk));
    expect(views).toBe(0);
    let at = 0;
    for (const f of result) (expect([f.src === chunk, f.at, f.size]).toEqual([true, at, f.bytes.length]), (at += f.size!));
    expect(result.map((f) => [...f.body])).toEqual(frames.map((f) => [...f.subarray(3)]));
    result.forEach((f, i) => expect(decodeItems(r.open(f.bytes))).toEqual([text(i, "m" + i)]));
  });
});

describe("the key schedule", () => {
  /** Keyed and unkeyed SHA-256 states made while `f` runs (new ones and copies). */
  function countHashers(f: () => void): number {
    const Orig = Bun.CryptoHasher;
    const origCopy = Orig.prototype.copy;
    let made = 0;
    const bun = Bun as unknown as { CryptoHasher: typeof Orig };
    bun.CryptoHasher = class extends Orig {
      constructor(...a: ConstructorParameters<typeof Orig>) {
        super(...a);
        made++;
      }
    };
    Orig.prototype.copy = function (this: Bun.CryptoHasher) {
      made++;
      return origCopy.call(this);
    };
    try {
      f();
    } finally {
      bun.CryptoHasher = Orig;
      Orig.prototype.copy = origCopy;
    }
    return made;
  }

  test("HKDF-Expand makes one hasher per output block (no keyed base to copy from)", () => {
    const prk = det("hot path prk", 32);
    for (const [len, blocks] of [[32, 1], [64, 2], [65, 3]] as const) {
      let out: Uint8Array = new Uint8Array(0);
      expect(countHashers(() => void (out = hkdfExpand(prk, new Uint8Array([1, 2]), len)))).toBe(blocks);
      expect([...out]).toEqual([...hkdf(prk, len)]); // the RFC 5869 vectors: test/crypto/hash.test.ts
    }
  });

  test("a whole X25519 handshake, both sides, makes at most 48 hashers (it made 60)", () => {
    handshakeBetween("warm a", "warm b");
    expect(countHashers(() => void handshakeBetween("alice", "bob"))).toBeLessThanOrEqual(48);
  });
});

/** HKDF-Expand written out as RFC 5869 §2.3 reads, over one-shot HMACs. */
function hkdf(prk: Uint8Array, len: number): Uint8Array {
  const out = new Uint8Array(len);
  let t: Uint8Array = new Uint8Array(0);
  for (let i = 1, pos = 0; pos < len; i++, pos += 32) {
    t = new Uint8Array(hmacSha256(prk, t, new Uint8Array([1, 2]), new Uint8Array([i])));
    out.set(t.subarray(0, Math.min(32, len - pos)), pos);
  }
  return out;
}
