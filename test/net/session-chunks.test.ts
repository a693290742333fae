/**
 * The incomplete frame a chunk ends with is a view into that chunk until the session
 * settles it (FrameAssembler deferTail, src/net/session.ts onData). Two checks that no
 * frame ever reads bytes that changed after their chunk's callback: Bun hands each data
 * callback a chunk of its own, never reused; and a session fed by a transport that does
 * reuse (overwrites each chunk once onData returns) still gets every byte right, in the
 * handshake, across its switch to the established phase, while a key exchange holds
 * frames, and after.
 */
import { describe, expect, test } from "bun:test";
import { Group } from "../../src/protocol/constants.ts";
import { until } from "../support/wait.ts";
import { config, FakeTransport, listen, type Heard } from "./fake-transport.ts";
import { Session } from "../../src/net/session.ts";
import type { Role } from "../../src/net/types.ts";

describe("Bun's data chunks", () => {
  test("a chunk kept past its callback is unchanged after 100 more callbacks, on the listener's side and on the dialler's", async () => {
    const N = 100;
    const side = () => {
      const held: { view: Uint8Array; copy: Uint8Array }[] = [];
      let bytes = 0;
      return { held, bytes: () => bytes, keep: (c: Uint8Array) => void (held.push({ view: c, copy: new Uint8Array(c) }), (bytes += c.length)) };
    };
    const sv = side(), cl = side();
    // The listener keeps what it gets and sends back a copy of it, overwritten after the write.
    const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: (s, c) => { sv.keep(c); const back = new Uint8Array(c); s.write(back); back.fill(0); } } });
    const c = await Bun.connect({ hostname: "127.0.0.1", port: server.port, socket: { data: (_s, b) => cl.keep(b) } });
    try {
      let sent = 0;
      for (let i = 0; i < N; i++) {
        c.write(new Uint8Array(1000 + i).fill(i));
        sent += 1000 + i;
        await until(`chunk ${i} there and back`, () => sv.bytes() >= sent && cl.bytes() >= sent, 5000);
      }
      expect(Math.min(sv.held.length, cl.held.length)).toBeGreaterThan(N / 2);
      const changed = (h: typeof sv.held) => h.filter((x) => Buffer.compare(x.view, x.copy) !== 0).length;
      expect([changed(sv.held), changed(cl.held)]).toEqual([0, 0]);
    } finally {
      c.end();
      server.stop(true);
    }
  });
});

/** A transport that hands the peer what is written in pieces of `sizes` (in turn), and overwrites each piece once the peer's onData returns. */
class ReusingTransport extends FakeTransport {
  #n = 0;
  constructor(readonly sizes: number[]) {
    super();
  }
  override write(data: Uint8Array, byteOffset = 0, byteLength = data.length - byteOffset): number {
    const copy = data.slice(byteOffset, byteOffset + byteLength);
    this.written.push(copy.slice());
    queueMicrotask(() => {
      for (let off = 0; off < copy.length; ) {
        const k = Math.min(this.sizes[this.#n++ % this.sizes.length]!, copy.length - off);
        const piece = copy.subarray(off, off + k);
        this.other?.onData(piece);
        piece.fill(0xee);
        off += k;
      }
    });
    return byteLength;
  }
}

function reusingPair(group: Group, sizes: number[]) {
  const ha: Heard = { ready: 0, items: [], closes: [] };
  const hb: Heard = { ready: 0, items: [], closes: [] };
  const mk = (role: Role, label: string, h: Heard, g?: Group) => {
    const t = new ReusingTransport(sizes);
    const s = new Session(t, config(label), role, `fake:${label}`, g, listen(h));
    t.self = s;
    return { s, t };
  };
  const a = mk("initiator", "alice", ha, group);
  const b = mk("responder", "bob", hb);
  a.t.other = b.s;
  b.t.other = a.s;
  return { a: a.s, b: b.s, ha, hb };
}

describe("a session whose chunks are overwritten after onData", () => {
  for (const [name, group] of [["x25519", Group.X25519], ["ffdhe2048", Group.FFDHE2048]] as const) {
    for (const sizes of [[1, 2, 5, 64, 300, 3], [4096], [70_000]]) {
      test(`${name}, chunks of ${sizes.join("/")} bytes: the handshake completes and 200 TEXTs of up to 3 KB arrive intact, in order`, async () => {
        const p = reusingPair(group, sizes);
        await Promise.all([p.a.start(), p.b.start()]);
        await until("both ready", () => p.ha.ready === 1 && p.hb.ready === 1, 10_000);
        const texts = Array.from({ length: 200 }, (_, i) => String.fromCharCode(97 + (i % 26)).repeat(1 + ((i * 37) % 3000)));
        for (let i = 0; i < texts.length; i++) p.a.send({ kind: "text", id: BigInt(i), text: texts[i]! });
        await until("every TEXT", () => p.hb.items.length === texts.length || p.hb.closes.length > 0, 10_000);
        expect(p.hb.closes).toEqual([]);
        expect(p.hb.items.map((it) => (it.kind === "text" ? it.text : "?"))).toEqual(texts);
      }, 20_000);
    }
  }
});
