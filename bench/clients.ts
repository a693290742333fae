/**
 * The sending side of the end-to-end bench: one connection type per contender behind one
 * interface, so every case runs the same code for plain TCP, TLS 1.3 and sotto.
 *   - RawConn: Bun.connect (optionally with TLS) and the u16-length framing of wire.ts;
 *   - SottoConn: a Session of one client Peer per process; messages are TEXT items.
 * Backpressure: a sender queues while the transport holds less than HIGH_WATER bytes and
 * waits for `drain` above it.
 */
import { randomBytes } from "node:crypto";
import type { Socket } from "bun";
import { ed25519Generate } from "../src/crypto/ed25519.ts";
import { Peer } from "../src/net/peer.ts";
import type { Session } from "../src/net/session.ts";
import type { Group } from "../src/protocol/constants.ts";
import { Op, RawFramer, rawMessage, readCounter, sottoText } from "./wire.ts";

export const HIGH_WATER = 1 << 20;

/** A reply from the server: op, counter, and for FINISH whether every DATA was in order. */
export interface Reply {
  op: number;
  counter: number;
  size: number;
  ok: boolean;
}

/** One open connection to a bench server. */
export interface Conn {
  /** Stream `n` DATA messages of `size` bytes; one write (and for sotto one record) per message when `perWrite`. */
  stream(size: number, n: number, perWrite: boolean): Promise<void>;
  /** Send FINISH and wait for the answer. */
  finish(): Promise<Reply>;
  /** Send one ECHO of `size` bytes and wait for it to come back; checks it. */
  echo(size: number, counter: number): Promise<void>;
  close(): void;
}

class Waiter<T> {
  #q: T[] = [];
  #w: ((v: T) => void) | null = null;
  put(v: T): void {
    if (this.#w) {
      const w = this.#w;
      this.#w = null;
      w(v);
    } else this.#q.push(v);
  }
  take(): Promise<T> {
    if (this.#q.length > 0) return Promise.resolve(this.#q.shift()!);
    return new Promise((r) => (this.#w = r));
  }
}

type RawData = { conn: RawConn | null };

/** Plain TCP or TLS, with the same framing as sotto. */
export class RawConn implements Conn {
  #s: Socket<RawData>;
  #out: Uint8Array[] = [];
  #outBytes = 0;
  #drain: (() => void) | null = null;
  readonly replies = new Waiter<Reply>();
  readonly framer = new RawFramer((m) => this.replies.put({ op: m[0]!, counter: readCounter(m), size: m.length, ok: m[5] === 1 }));

  private constructor(s: Socket<RawData>) {
    this.#s = s;
  }

  /** Connect; for TLS, resolves once the TLS handshake is done. @throws Error on failure. */
  static open(port: number, tls?: { ca: string }): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      let done = false;
      const ready = (s: Socket<RawData>) => {
        if (done) return;
        done = true;
        const c = new RawConn(s);
        s.data = { conn: c };
        resolve(c);
      };
      Bun.connect<RawData>({
        hostname: "127.0.0.1",
        port,
        tls: tls ? { ca: tls.ca, serverName: "localhost" } : undefined,
        data: { conn: null },
        socket: {
          open(s) {
            if (!tls) ready(s);
          },
          handshake(s, ok, err) {
            if (ok || err === null) ready(s);
            else if (!done) {
              done = true;
              reject(new Error(`TLS handshake failed: ${err.message}`));
            }
          },
          data(s, chunk) {
            s.data.conn?.framer.push(chunk);
          },
          drain(s) {
            s.data.conn?.onDrain();
          },
          close() {},
          error(_s, e) {
            if (!done) {
              done = true;
              reject(e);
            }
          },
          connectError(_s, e) {
            if (!done) {
              done = true;
              reject(e);
            }
          },
        },
      }).catch((e) => {
        if (!done) {
          done = true;
          reject(e);
        }
      });
    });
  }

  get tlsVersion(): string | null {
    return (this.#s as unknown as { getTLSVersion?: () => string | null }).getTLSVersion?.() ?? null;
  }

  #write(b: Uint8Array): void {
    if (this.#out.length > 0) {
      this.#out.push(b);
      this.#outBytes += b.length;
      return;
    }
    const n = Math.max(0, this.#s.write(b));
    if (n < b.length) {
      this.#out.push(b.subarray(n));
      this.#outBytes += b.length - n;
    }
  }

  onDrain(): void {
    while (this.#out.length > 0) {
      const b = this.#out[0]!;
      const n = Math.max(0, this.#s.write(b));
      this.#outBytes -= n;
      if (n < b.length) {
        this.#out[0] = b.subarray(n);
        return;
      }
      this.#out.shift();
    }
    const d = this.#drain;
    this.#drain = null;
    d?.();
  }

  #drained(): Promise<void> {
    return new Promise((r) => (this.#drain = r));
  }

  async stream(size: number, n: number, perWrite: boolean): Promise<void> {
    const per = 2 + size;
    const k = perWrite ? 1 : Math.max(1, Math.floor(65536 / per));
    const template = new Uint8Array(k * per);
    for (let j = 0; j < k; j++) rawMessage(Op.DATA, 0, size, template, j * per);
    let i = 0;
    while (i < n) {
      const m = Math.min(k, n - i);
      const buf = template.slice(0, m * per);
      for (let j = 0, at = 3; j < m; j++, at += per, i++) {
        buf[at] = i >>> 24;
        buf[at + 1] = (i >>> 16) & 0xff;
        buf[at + 2] = (i >>> 8) & 0xff;
        buf[at + 3] = i & 0xff;
      }
      this.#write(buf);
      if (this.#outBytes > HIGH_WATER) await this.#drained();
    }
  }

  finish(): Promise<Reply> {
    this.#write(rawMessage(Op.FINISH, 0, 5));
    return this.replies.take();
  }

  async echo(size: number, counter: number): Promise<void> {
    this.#write(rawMessage(Op.ECHO, counter, size));
    const r = await this.replies.take();
    if (r.op !== Op.ECHO || r.counter !== counter || r.size !== size) throw new Error("echo came back damaged");
  }

  close(): void {
    this.#s.end();
  }
}

/** A client Peer shared by every SottoConn of the process. */
class ClientPeer {
  readonly peer: Peer;
  readonly replies = new Map<Session, Waiter<Reply>>();
  readonly drains = new Map<Session, () => void>();
  constructor() {
    // Deadlines far above any figure: the first ffdhe2048 dial includes the worker's start and
    // the context build on both sides, which a loaded machine makes slower, not a failure.
    this.peer = new Peer({
      identity: ed25519Generate(),
      profile: { instance: randomBytes(8), name: "bench-client" },
      limits: { maxSessions: 1_000_000, maxHalfOpen: 100_000, maxHalfOpenPerAddress: 100_000, maxSendQueueBytes: 64 * 1024 * 1024, keepaliveMs: 0, idleTimeoutMs: 0, handshakeTimeoutMs: 120_000, connectTimeoutMs: 120_000 },
      events: {
        // TEXT as (id, text), as the chat takes it (PeerEvents.onText): no Item object per message.
        onText: (s, id, text) => {
          const op = text.charCodeAt(0);
          this.replies.get(s)?.put({ op, counter: Number(id), size: 8 + text.length, ok: text === "fok" });
        },
        onDrain: (s) => {
          const d = this.drains.get(s);
          this.drains.delete(s);
          d?.();
        },
        onClose: (s) => {
          this.replies.delete(s);
          this.drains.delete(s);
        },
      },
    });
  }
}

let clientPeer: ClientPeer | null = null;

/** The process's client Peer (made on first use). */
export function sottoClient(): Peer {
  clientPeer ??= new ClientPeer();
  return clientPeer.peer;
}

/** Close the process's client Peer; the next sottoClient() makes a new one. */
export async function closeSottoClient(): Promise<void> {
  const c = clientPeer;
  clientPeer = null;
  await c?.peer.close("done", 200);
}

/** A sotto Session to a bench server. */
export class SottoConn implements Conn {
  readonly s: Session;
  readonly #cp: ClientPeer;
  readonly #replies = new Waiter<Reply>();

  private constructor(s: Session, cp: ClientPeer) {
    this.s = s;
    this.#cp = cp;
    cp.replies.set(s, this.#replies);
  }

  /**
   * Dial and handshake. Resolves as soon as our AUTH is sent (`early`): the first message
   * rides in the same round trip, as TLS 1.3 client data follows its Finished.
   * @throws ConnectError.
   */
  static async open(port: number, group: Group): Promise<SottoConn> {
    sottoClient();
    const s = await clientPeer!.peer.connect("127.0.0.1", port, group, { early: true });
    return new SottoConn(s, clientPeer!);
  }

  #drained(): Promise<void> {
    return new Promise((r) => this.#cp.drains.set(this.s, r));
  }

  async stream(size: number, n: number, perWrite: boolean): Promise<void> {
    const text = sottoText(Op.DATA, size);
    const s = this.s;
    // Batched: queue ~256 KiB of items per flush (4 full records, one socket write).
    const k = perWrite ? 1 : Math.max(1, Math.floor((256 * 1024) / (size + 3)));
    let i = 0;
    while (i < n) {
      const m = Math.min(k, n - i);
      // Session.sendText, as the chat sends its lines: no Item object, no BigInt per message.
      for (let j = 0; j < m; j++) s.sendText(i++, text);
      s.flush();
      if (s.bufferedAmount > HIGH_WATER) await this.#drained();
      if (s.state === "closed") throw new Error("session closed while streaming");
    }
  }

  finish(): Promise<Reply> {
    this.s.sendText(0, "f");
    return this.#replies.take();
  }

  async echo(size: number, counter: number): Promise<void> {
    const text = sottoText(Op.ECHO, size);
    this.s.sendText(counter, text);
    const r = await this.#replies.take();
    if (r.op !== Op.ECHO || r.counter !== counter || r.size !== size) throw new Error("echo came back damaged");
  }

  close(): void {
    this.s.close("bye");
  }
}
