/**
 * A fault-injecting TCP proxy for tests: it listens on 127.0.0.1 and pairs every accepted
 * connection with one it dials to the target. Each direction is a Pipe (pipe.ts):
 *
 *   1. `data` from the source: the chunk is copied into the queue with its due time
 *      (now + delayMs) and counted;
 *   2. more than maxQueueBytes queued: the source is paused (socket.pause), so the
 *      backpressure reaches the sender through TCP instead of growing our memory;
 *   3. the pump, unless stalled: writes the head of the queue once it is due, in pieces
 *      of at most splitBytes (one piece per macrotask, so Bun cannot cork pieces back
 *      together), never past the connection's cutAfterBytes budget; with a bandwidth cap
 *      (rateBytesPerSec, per direction) each piece also waits until the link is free, as
 *      on a serial line: a piece of n bytes keeps it busy n / rate seconds;
 *   4. a short write (Bun's socket.write takes only what the kernel takes) keeps the rest
 *      queued until `drain`; the source is resumed once the queue is below half the cap;
 *   5. the budget spent, or cut(): both sockets are closed at once and the queues dropped.
 *      A clean EOF from one side is passed on after that side's queue is flushed.
 *
 * A blackhole (like a dropped route) accepts the connection, never dials the target, and
 * swallows what the client sends.
 *
 * Faults are read live: the proxy's (`proxy.set`, every connection) under each
 * connection's own overrides (`conn.set`). Nothing here knows about sotto.
 */
import type { Socket, SocketHandler, TCPSocketListener } from "bun";
import { Pipe, type Side, type SocketData } from "./pipe.ts";

/** What the proxy does to the bytes it forwards. */
export interface Faults {
  /** Largest write toward either side; 1 = one byte per write; 0 = as received. */
  splitBytes: number;
  /** Hold each received chunk this long before forwarding it (latency; order is kept). */
  delayMs: number;
  /** Bytes forwarded on one connection (both directions together) after which it is cut … */
  cutAfterBytes: number;
  /** … this way. */
  cutMode: CutMode;
  /** Stop forwarding (queue, then pause the sources) without closing anything. */
  stalled: boolean;
  /** Bandwidth of each direction in bytes per second; 0 = unlimited. */
  rateBytesPerSec: number;
  /** New connections are accepted and then nothing is forwarded either way (read when a connection is accepted). */
  blackhole: boolean;
}

/** A clean pass-through. */
export const NO_FAULTS: Readonly<Faults> = { splitBytes: 0, delayMs: 0, cutAfterBytes: Infinity, cutMode: "end", stalled: false, rateBytesPerSec: 0, blackhole: false };

/** Megabits per second as NO_FAULTS.rateBytesPerSec wants it. */
export const mbit = (n: number): number => (n * 1_000_000) / 8;

/** How a cut closes the sockets: FIN after what was forwarded, or an abrupt close. */
export type CutMode = "end" | "reset";

/** Where to forward, the faults to start with, and the per-connection hook. */
export interface ProxyOptions {
  target: { host: string; port: number };
  faults?: Partial<Faults>;
  /** Bytes queued per direction of one connection before its source is paused (default 256 KiB). */
  maxQueueBytes?: number;
  /** Called for each accepted connection, before any byte is forwarded (set its faults here). */
  onConnection?: (c: ProxyConnection) => void;
}

/** One proxied connection: the accepted client socket and the socket dialled to the target. */
export class ProxyConnection {
  readonly id: number;
  /** client → server, server → client. */
  readonly up: Pipe;
  readonly down: Pipe;
  /** Bytes forwarded both ways (what cutAfterBytes counts). */
  forwarded = 0;
  closed = false;
  /** How it ended: "cut", "end" (both sides closed cleanly), or null while open. */
  how: "cut" | "end" | null = null;
  /** Resolves when both sockets are closed or the connection was cut. */
  readonly done: Promise<void>;
  readonly #own: Partial<Faults> = {};
  #resolve!: () => void;

  constructor(
    readonly proxy: FaultProxy,
    id: number,
  ) {
    this.id = id;
    this.up = new Pipe(this);
    this.down = new Pipe(this);
    this.done = new Promise((r) => (this.#resolve = r));
  }

  get maxQueueBytes(): number {
    return this.proxy.maxQueueBytes;
  }

  /** The faults in force: the proxy's, under this connection's own. */
  get faults(): Faults {
    return { ...this.proxy.faults, ...this.#own };
  }

  /** Override faults for this connection only (undefined removes an override). */
  set(f: Partial<Faults>): void {
    for (const [k, v] of Object.entries(f) as [keyof Faults, never][]) {
      if (v === undefined) delete this.#own[k];
      else this.#own[k] = v;
    }
    this.kick();
  }

  /** Stop (or restart) forwarding on this connection without closing it. */
  stall(on = true): void {
    this.set({ stalled: on });
  }

  /** Re-run both pumps after a change of faults. */
  kick(): void {
    this.up.pump();
    this.down.pump();
    const f = this.faults;
    if (this.forwarded >= f.cutAfterBytes) this.cut(f.cutMode);
  }

  /** Close both sides at once; what is queued is lost. */
  cut(mode: CutMode = "end"): void {
    if (this.closed) return;
    this.closed = true;
    this.how = "cut";
    this.proxy.cuts++;
    for (const p of [this.up, this.down]) p.drop();
    for (const s of [this.up.src, this.down.src]) {
      if (s === null) continue;
      s.data.conn = null;
      if (mode === "reset") s.terminate();
      else s.end();
    }
    this.#finish();
  }

  /** A pipe finished; both finished → closed. */
  sideDone(): void {
    if (this.up.finished && this.down.finished && !this.closed) {
      this.closed = true;
      this.how = "end";
      this.#finish();
    }
  }

  /** The socket on `side` closed (EOF, error or reset). */
  socketClosed(side: Side): void {
    if (this.closed) return;
    const from = side === "client" ? this.up : this.down; // the pipe it fed
    const to = side === "client" ? this.down : this.up; // the pipe that wrote to it
    to.finish();
    if (!from.eof && !this.closed) {
      from.eof = true;
      if (from.dst === null && !this.closed && this.proxy.connecting(this)) return; // flushed once the target answers
      if (from.dst === null) return this.cut();
      from.pump();
    }
  }

  #finish(): void {
    this.proxy.connections.delete(this);
    this.#resolve();
  }
}

/** The proxy: `port` to dial, `connections` open now, counters for the whole run. */
export class FaultProxy {
  readonly port: number;
  readonly maxQueueBytes: number;
  readonly connections = new Set<ProxyConnection>();
  /** Connections accepted, and cut (by budget, cut() or cutAll()). */
  accepted = 0;
  cuts = 0;
  #faults: Faults;
  #listener: TCPSocketListener<SocketData>;
  readonly #o: ProxyOptions;
  readonly #pending = new Set<ProxyConnection>();
  /** Bytes forwarded by connections already finished. */
  #doneBytes = { up: 0, down: 0 };

  constructor(o: ProxyOptions) {
    this.#o = o;
    this.maxQueueBytes = o.maxQueueBytes ?? 256 * 1024;
    this.#faults = { ...NO_FAULTS, ...o.faults };
    this.#listener = Bun.listen<SocketData>({ hostname: "127.0.0.1", port: 0, socket: this.#handlers(), data: { conn: null, side: "client" } });
    this.port = this.#listener.port;
  }

  /** The proxy-wide faults (a copy). */
  get faults(): Faults {
    return { ...this.#faults };
  }

  /** Change proxy-wide faults; applies at once to every open connection. */
  set(f: Partial<Faults>): void {
    this.#faults = { ...this.#faults, ...f };
    for (const c of [...this.connections]) c.kick();
  }

  /** Stop (or restart) forwarding on every connection. */
  stall(on = true): void {
    this.set({ stalled: on });
  }

  /** Cut every open connection now; returns how many. */
  cutAll(mode: CutMode = "end"): number {
    const all = [...this.connections];
    for (const c of all) c.cut(mode);
    return all.length;
  }

  /** Bytes forwarded in each direction, over all connections so far. */
  get bytes(): { up: number; down: number } {
    let { up, down } = this.#doneBytes;
    for (const c of this.connections) {
      up += c.up.forwarded;
      down += c.down.forwarded;
    }
    return { up, down };
  }

  /** Stop listening and cut everything. */
  close(): void {
    this.#listener.stop(true);
    this.cutAll("reset");
  }

  /** Is the dial to the target still in progress? */
  connecting(c: ProxyConnection): boolean {
    return this.#pending.has(c);
  }

  #handlers(): SocketHandler<SocketData> {
    return {
      open: (s) => {
        if (s.data.side === "client") this.#accept(s);
      },
      data: (s, chunk) => {
        const c = s.data.conn;
        if (c) (s.data.side === "client" ? c.up : c.down).push(chunk);
      },
      drain: (s) => {
        const c = s.data.conn;
        if (c) (s.data.side === "client" ? c.down : c.up).onDrain();
      },
      end: (s) => this.#closed(s),
      close: (s) => this.#closed(s),
      error: (s) => this.#closed(s),
    };
  }

  #accept(client: Socket<SocketData>): void {
    const c = new ProxyConnection(this, ++this.accepted);
    client.data = { conn: c, side: "client" };
    client.setNoDelay(true);
    c.up.src = client;
    c.down.dst = client;
    this.connections.add(c);
    void c.done.then(() => {
      this.#doneBytes.up += c.up.forwarded;
      this.#doneBytes.down += c.down.forwarded;
    });
    this.#o.onConnection?.(c);
    if (c.faults.blackhole) {
      // A dropped route: the client's bytes go nowhere and nothing ever comes back.
      c.up.finished = true;
      return;
    }
    this.#pending.add(c);
    const { host, port } = this.#o.target;
    Bun.connect<SocketData>({ hostname: host, port, socket: this.#handlers(), data: { conn: c, side: "server" } }).then(
      (server) => {
        this.#pending.delete(c);
        if (c.closed) return void server.terminate();
        server.setNoDelay(true);
        c.up.dst = server;
        c.down.src = server;
        c.up.pump();
      },
      () => {
        this.#pending.delete(c);
        c.cut("reset");
      },
    );
  }

  #closed(s: Socket<SocketData>): void {
    const c = s.data?.conn;
    if (!c) return;
    s.data.conn = null;
    c.socketClosed(s.data.side);
  }
}
