/**
 * Raw attackers for the hostile suite: `Attacker`, a TCP socket that writes whatever it
 * is told (Bun.connect, or node:net when it must stop reading or bind another source
 * address), and `EvilResponder`, a raw listener that answers a dialling victim with
 * whatever a script returns. Plus byte helpers for hand-made frames and items.
 */
import type { TCPSocketListener } from "bun";
import net from "node:net";
import { concat } from "../../src/crypto/bytes.ts";
import { FrameType } from "../../src/protocol/constants.ts";
import { FrameAssembler, type Frame } from "../../src/protocol/frame.ts";
import { until } from "../support/wait.ts";

/** A raw TCP connection the attacker drives: Bun.connect, or node:net to pause reading or bind a source address. */
export class Attacker {
  readonly chunks: Uint8Array[] = [];
  /** The connection ended: the listener closed it (or, after our own end() or destroy(), we did). */
  closed = false;
  onData: ((chunk: Uint8Array) => void) | null = null;
  localPort = 0;
  /** performance.now() just before connecting (the listener's close of this connection comes later). */
  readonly connectedAt = performance.now();
  #write: (b: Uint8Array) => void = () => {};
  #end: () => void = () => {};
  #destroy: () => void = () => {};
  #pause: () => void = () => {};
  #resume: () => void = () => {};
  #queued: () => number = () => 0;

  /** Connect with Bun.connect. */
  static async connect(port: number): Promise<Attacker> {
    const a = new Attacker();
    const queue: Uint8Array[] = [];
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        data: (_s, chunk) => a.#got(chunk),
        drain: (s) => {
          while (queue.length > 0) {
            const b = queue[0]!;
            const n = Math.max(0, s.write(b));
            if (n < b.length) {
              queue[0] = b.subarray(n);
              return;
            }
            queue.shift();
          }
        },
        end: () => void (a.closed = true),
        close: () => void (a.closed = true),
        error: () => void (a.closed = true),
      },
    });
    a.localPort = socket.localPort;
    a.#write = (b) => {
      if (a.closed) return;
      if (queue.length > 0) return void queue.push(b);
      const n = Math.max(0, socket.write(b));
      if (n < b.length) queue.push(b.subarray(n));
    };
    a.#end = () => socket.end();
    a.#destroy = () => socket.terminate();
    a.#queued = () => queue.reduce((n, b) => n + b.length, 0);
    return a;
  }

  /** Connect with node:net, optionally from another loopback source address (127.0.0.2). */
  static async connectNode(port: number, localAddress?: string): Promise<Attacker> {
    const a = new Attacker();
    const socket = net.connect({ host: "127.0.0.1", port, localAddress });
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    socket.on("data", (b: Buffer) => a.#got(b));
    socket.on("end", () => void (a.closed = true));
    socket.on("close", () => void (a.closed = true));
    socket.on("error", () => void (a.closed = true));
    a.localPort = socket.localPort!;
    a.#write = (b) => void (a.closed || socket.write(b));
    a.#end = () => void socket.end();
    a.#destroy = () => void socket.destroy();
    a.#pause = () => void socket.pause();
    a.#queued = () => socket.writableLength;
    a.#resume = () => void socket.resume();
    return a;
  }

  #got(chunk: Uint8Array): void {
    const c = new Uint8Array(chunk); // the runtime may reuse its buffer
    this.chunks.push(c);
    this.onData?.(c);
  }

  write(b: Uint8Array): void {
    this.#write(b);
  }

  /** Bytes written but still waiting in this process for the socket (the listener does not read). */
  get queued(): number {
    return this.#queued();
  }

  /** Write `b` in pieces of `size` bytes, yielding to the event loop between them. */
  async writeSplit(b: Uint8Array, size: number): Promise<void> {
    for (let i = 0; i < b.length; i += size) {
      this.write(b.subarray(i, i + size));
      await new Promise((r) => setImmediate(r));
    }
  }

  /** Half-close: send FIN (EOF at the listener). */
  end(): void {
    this.#end();
  }

  destroy(): void {
    this.#destroy();
  }

  /** Stop reading (node:net only): the kernel buffers fill and the listener's writes back up. */
  pause(): void {
    this.#pause();
  }

  /** Read again after pause(). */
  resume(): void {
    this.#resume();
  }

  /** (C) Resolve true once the listener closed the connection. */
  async waitClosed(ms = 3000): Promise<boolean> {
    try {
      await until("the attacker's socket to close", () => this.closed, ms);
      return true;
    } catch {
      return false;
    }
  }

  received(): Uint8Array {
    return concat(...this.chunks);
  }

  /** The plaintext frames received (as far as they parse). */
  plainFrames(): Frame[] {
    const asm = new FrameAssembler();
    const out: Frame[] = [];
    for (const c of this.chunks) {
      try {
        out.push(...asm.push(c));
      } catch {
        break;
      }
    }
    return out;
  }

  /** Alert codes received: plaintext ALERT frames. */
  alerts(): number[] {
    return this.plainFrames()
      .filter((f) => f.type === FrameType.ALERT)
      .map((f) => f.body[0]!);
  }
}

/** An item of any content type with raw content (for types the encoder will not write). */
export function rawItem(type: number, content: Uint8Array): Uint8Array {
  return concat(new Uint8Array([type, content.length >>> 8, content.length & 0xff]), content);
}

/** A frame header: length:u16 | type:u8 for a body of `bodyLen` bytes. */
export function header(type: number, bodyLen: number): Uint8Array {
  const length = bodyLen + 1;
  return new Uint8Array([(length >>> 8) & 0xff, length & 0xff, type]);
}

/** One connection to an EvilResponder: the victim's HELLO and everything it sent after. */
export interface EvilConn {
  hello: Frame;
  chunks: Uint8Array[];
  closed: boolean;
}

/**
 * A raw listener that answers each victim HELLO with whatever `script` returns (bytes,
 * then the connection stays open until the victim closes it).
 */
export class EvilResponder {
  readonly conns: EvilConn[] = [];
  readonly port: number;
  /** As a `Conn`: a victim's dialled session is reported under this port, after this time. */
  readonly localPort: number;
  readonly connectedAt = performance.now();
  readonly #l: TCPSocketListener<{ asm: FrameAssembler; conn: EvilConn | null }>;

  constructor(script: (hello: Frame, n: number) => Uint8Array) {
    this.#l = Bun.listen<{ asm: FrameAssembler; conn: EvilConn | null }>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open: (s) => void (s.data = { asm: new FrameAssembler(), conn: null }),
        data: (s, chunk) => {
          const c = new Uint8Array(chunk);
          if (s.data.conn !== null) return void s.data.conn.chunks.push(c);
          const fs = s.data.asm.push(c);
          const f = fs[0];
          if (f === undefined) return;
          const bytes = new Uint8Array(f.bytes);
          const conn: EvilConn = { hello: { type: bytes[2]!, bytes, body: bytes.subarray(3) }, chunks: [], closed: false };
          s.data.conn = conn;
          this.conns.push(conn);
          s.write(script(conn.hello, this.conns.length));
        },
        close: (s) => void (s.data.conn && (s.data.conn.closed = true)),
      },
    });
    this.port = this.localPort = this.#l.port;
  }

  stop(): void {
    this.#l.stop(true);
  }
}
