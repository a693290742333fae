/**
 * `Evil`: an initiator driven by hand over an `Attacker`, with its own Ed25519 identity.
 * It runs the real handshake from the core's pieces (key schedule, record layer, items),
 * so it can misbehave at any step: a custom AUTH record, any plaintext sealed under its
 * real traffic keys, even a record with a valid tag over bad padding (`craft`).
 *
 *   1. HELLO (X25519, fresh ephemeral and nonce) → the listener's HELLO_REPLY and AUTH_r;
 *   2. Z, th1, hs, hk_* (schedule.ts); open AUTH_r under hk_r2i;
 *   3. th2; our AUTH under hk_i2r (honest, or `authRecord`'s);
 *   4. th3, ts_*; writer / reader; our PROFILE (unless `profile: null`);
 *   5. every later record from the listener is opened as it arrives (`items`).
 */
import { createCipheriv, randomBytes } from "node:crypto";
import { concat } from "../../src/crypto/bytes.ts";
import { ed25519Generate, ed25519Sign } from "../../src/crypto/ed25519.ts";
import { hmacSha256, sha256 } from "../../src/crypto/hash.ts";
import { systemRandom } from "../../src/crypto/random.ts";
import { x25519, x25519Generate } from "../../src/crypto/x25519.ts";
import { FrameType, Group, HELLO_FIXED_LEN, Label } from "../../src/protocol/constants.ts";
import { FrameAssembler, type Frame } from "../../src/protocol/frame.ts";
import { encodeHello } from "../../src/protocol/handshake.ts";
import { decodeItems, encodeItems, type Item } from "../../src/protocol/items.ts";
import type { Identity } from "../../src/protocol/machine.ts";
import { RecordReader, RecordWriter } from "../../src/protocol/record.ts";
import { handshakeKeys, handshakeSecret, nextSecret, trafficKeys, trafficSecrets } from "../../src/protocol/schedule.ts";
import { Attacker } from "./attacker.ts";
import { until } from "../support/wait.ts";

/** What a custom AUTH builder gets: everything an honest initiator knows at that point. */
export interface AuthContext {
  identity: Identity;
  responderIdentity: Uint8Array;
  th1: Uint8Array;
  th2: Uint8Array;
  hello: Uint8Array;
  reply: Uint8Array;
  authR: Uint8Array;
  /** Seal a plaintext under hk_i2r at sequence 0 (a fresh writer each call). */
  sealHs(plaintext: Uint8Array): Uint8Array;
  /** The honest AUTH item. */
  honest(): Item;
}

export interface EvilOptions {
  identity?: Identity;
  /** Build the initiator's AUTH record; default: the honest one. */
  authRecord?: (c: AuthContext) => Uint8Array;
  /** The first application item; default PROFILE "mallory"; null: send none. */
  profile?: Item | null;
  /** Write AUTH_i and the first record in pieces of this many bytes (and HELLO too). */
  split?: number;
  /** node:net transport (needed to pause reading or to bind `localAddress`). */
  node?: boolean;
  localAddress?: string;
}

/** The raw traffic keys of one direction, mirrored outside the record layer to hand-craft records. */
interface RawKeys {
  ts: Uint8Array;
  seq: number;
}

export class Evil {
  readonly a: Attacker;
  readonly identity: Identity;
  readonly frames: Frame[] = [];
  readonly instance = randomBytes(8);
  responderIdentity: Uint8Array | null = null;
  wire: { hello: Uint8Array; reply: Uint8Array; authR: Uint8Array; authI: Uint8Array } | null = null;
  writer: RecordWriter | null = null;
  reader: RecordReader | null = null;
  /** Every application record we sealed, in order (for replay, reorder, cross-session). */
  readonly sent: Uint8Array[] = [];
  /** Every application record the listener sent us, raw (for reflection). */
  readonly got: Uint8Array[] = [];
  /** Items the listener sent after the handshake (opened as they arrive). */
  readonly items: Item[] = [];
  /** Set when a record from the listener failed to open (we broke our reader on purpose). */
  readerBroken = false;
  #asm = new FrameAssembler();
  #raw: RawKeys | null = null;

  private constructor(a: Attacker, o: EvilOptions) {
    this.a = a;
    this.identity = o.identity ?? ed25519Generate();
    a.onData = (c) => {
      try {
        for (const f of this.#asm.push(c)) this.#frame(f);
      } catch {
        /* a listener never sends a bad frame; ignore */
      }
    };
  }

  get localPort(): number {
    return this.a.localPort;
  }

  get connectedAt(): number {
    return this.a.connectedAt;
  }

  #frame(f: Frame): void {
    const copy = new Uint8Array(f.bytes);
    const fr: Frame = { type: copy[2]!, bytes: copy, body: copy.subarray(3) };
    if (this.reader === null || f.type !== FrameType.RECORD || this.readerBroken) return void this.frames.push(fr);
    this.got.push(copy);
    try {
      this.items.push(...decodeItems(this.reader.open(copy)));
    } catch {
      this.readerBroken = true;
    }
  }

  async nextFrame(ms = 3000): Promise<Frame> {
    await until("a frame from the listener", () => this.frames.length > 0 || this.a.closed, ms);
    const f = this.frames.shift();
    if (f === undefined) throw new Error("the listener closed the connection");
    return f;
  }

  /** Connect and send a HELLO for X25519 (nothing else). */
  static async hello(port: number, o: EvilOptions = {}): Promise<{ evil: Evil; priv: ReturnType<typeof x25519Generate>; hello: Uint8Array }> {
    const a = o.node ? await Attacker.connectNode(port, o.localAddress) : await Attacker.connect(port);
    const evil = new Evil(a, o);
    const priv = x25519Generate();
    const hello = encodeHello(FrameType.HELLO, Group.X25519, randomBytes(32), priv.publicKey);
    if (o.split) await a.writeSplit(hello, o.split);
    else a.write(hello);
    return { evil, priv, hello };
  }

  /**
   * Run the handshake as initiator up to and including our AUTH record (and the first
   * application record, unless `profile` is null). Does not wait for the listener's verdict.
   */
  static async handshake(port: number, o: EvilOptions = {}): Promise<Evil> {
    const { evil, priv, hello } = await Evil.hello(port, o);
    const reply = await evil.nextFrame();
    if (reply.type !== FrameType.HELLO_REPLY) throw new Error(`expected HELLO_REPLY, got frame type ${reply.type} (alert ${reply.body[0]})`);
    const z = x25519(priv.privateKey, reply.body.subarray(HELLO_FIXED_LEN));
    const th1 = sha256(hello, reply.bytes);
    const hs = handshakeSecret(z);
    const hk = handshakeKeys(hs, th1);
    const hkI2r = new Uint8Array(hk.i2r);
    const authR = await evil.nextFrame();
    const rItems = decodeItems(RecordReader.fromKeyBlock(hk.r2i).open(authR.bytes));
    const rAuth = rItems.find((i) => i.kind === "auth");
    if (rAuth?.kind !== "auth") throw new Error("the listener's AUTH record holds no AUTH");
    evil.responderIdentity = new Uint8Array(rAuth.identity);
    const th2 = sha256(hello, reply.bytes, authR.bytes);
    const ctx: AuthContext = {
      identity: evil.identity,
      responderIdentity: evil.responderIdentity,
      th1,
      th2,
      hello,
      reply: reply.bytes,
      authR: authR.bytes,
      sealHs: (pt) => RecordWriter.fromKeyBlock(new Uint8Array(hkI2r), systemRandom).seal(pt),
      honest: () => authItemFor(evil.identity, Label.initiator_auth, th2),
    };
    const authI = o.authRecord ? o.authRecord(ctx) : ctx.sealHs(encodeItems([ctx.honest()]));
    evil.wire = { hello, reply: reply.bytes, authR: authR.bytes, authI };
    const ts = trafficSecrets(hs, sha256(hello, reply.bytes, authR.bytes, authI));
    evil.#raw = { ts: new Uint8Array(ts.i2r), seq: 0 };
    evil.writer = RecordWriter.fromSecret(ts.i2r, systemRandom);
    evil.reader = RecordReader.fromSecret(ts.r2i);
    const out = [authI];
    const profile = o.profile === undefined ? ({ kind: "profile", instance: evil.instance, name: "mallory" } as Item) : o.profile;
    if (profile !== null) out.push(evil.seal([profile]));
    if (o.split) await evil.a.writeSplit(concat(...out), o.split);
    else evil.a.write(concat(...out));
    return evil;
  }

  /** A full handshake and PROFILE exchange: the session is open at the listener. */
  static async open(port: number, o: EvilOptions = {}): Promise<Evil> {
    const e = await Evil.handshake(port, o);
    await until("the listener's PROFILE", () => e.items.some((i) => i.kind === "profile") || e.a.closed, 3000);
    if (!e.items.some((i) => i.kind === "profile")) throw new Error("the listener closed before its PROFILE");
    return e;
  }

  /** Seal items into the next application record (the writer's seq advances). */
  seal(items: Item[], keyUpdate = false): Uint8Array {
    const pt = encodeItems(keyUpdate ? [...items, { kind: "key_update" }] : items);
    return this.sealPlain(pt, keyUpdate);
  }

  /** Seal a raw plaintext (any bytes, even malformed items) into the next application record. */
  sealPlain(pt: Uint8Array, keyUpdate = false): Uint8Array {
    const r = this.writer!.seal(pt, keyUpdate);
    this.#raw!.seq++;
    if (keyUpdate) this.#raw = { ts: nextSecret(this.#raw!.ts), seq: 0 };
    this.sent.push(r);
    return r;
  }

  /**
   * A record hand-built under the current keys and sequence number from an already
   * padded plaintext (so the padding may be wrong, or the plaintext oversized): the tag is
   * valid. The writer is not advanced; only use it as the last record.
   */
  craft(padded: Uint8Array): Uint8Array {
    const kb = trafficKeys(new Uint8Array(this.#raw!.ts));
    const iv = randomBytes(16);
    const c = createCipheriv("aes-256-cbc", kb.subarray(0, 32), iv).setAutoPadding(false);
    const ct = new Uint8Array(Buffer.concat([c.update(padded), c.final()]));
    const length = 1 + 16 + ct.length + 32;
    const head = new Uint8Array([length >>> 8, length & 0xff, FrameType.RECORD]);
    const seq = new Uint8Array(8);
    new DataView(seq.buffer).setBigUint64(0, BigInt(this.#raw!.seq));
    const tag = hmacSha256(kb.subarray(32, 64), seq, head, iv, ct);
    return concat(head, iv, ct, tag);
  }

  send(items: Item[], keyUpdate = false): Uint8Array {
    const r = this.seal(items, keyUpdate);
    this.a.write(r);
    return r;
  }

  /** Alert codes the listener sent: plaintext ALERT frames and ALERT items in records we could open. */
  alerts(): number[] {
    const plain = this.frames.filter((f) => f.type === FrameType.ALERT).map((f) => f.body[0]!);
    const enc = this.items.filter((i): i is Extract<Item, { kind: "alert" }> => i.kind === "alert").map((i) => i.code);
    return [...plain, ...enc];
  }
}

/** An AUTH item: `who` signs label | th | pub (pub defaults to who's own key). */
export function authItemFor(who: Identity, label: Uint8Array, th: Uint8Array, pub: Uint8Array = who.publicKey): Item {
  return { kind: "auth", identity: pub, sig: ed25519Sign(who.privateKey, concat(label, th, pub)) };
}
