/**
 * The fault proxy itself: bytes pass intact both ways (coalesced, 1-byte writes, delayed),
 * cuts close both sides (on demand, after a byte budget), a stall forwards nothing and
 * closes nothing, and a reader that stops reading is met with bounded queues.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { randomBytes } from "node:crypto";
import { FaultProxy, type Faults } from "./proxy.ts";
import { until } from "../support/wait.ts";

/** One end of a test connection: what it got, in how many chunks, and whether it closed. */
class End {
  chunks: Uint8Array[] = [];
  received = 0;
  closed = false;
  socket: Socket<End> | null = null;
  #outbox: Uint8Array[] = [];

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Write everything, honouring short writes and drain. */
  send(data: Uint8Array): void {
    this.#outbox.push(data);
    this.flush();
  }

  flush(): void {
    const s = this.socket;
    while (s !== null && this.#outbox.length > 0 && !this.closed) {
      const d = this.#outbox[0]!;
      const n = Math.max(0, s.write(d));
      if (n < d.length) {
        this.#outbox[0] = d.subarray(n);
        return;
      }
      this.#outbox.shift();
    }
  }

  get pendingOut(): number {
    return this.#outbox.reduce((n, d) => n + d.length, 0);
  }
}

const handlers = {
  open(s: Socket<End>) {
    s.data.socket = s;
    s.data.flush();
  },
  data(s: Socket<End>, d: Uint8Array) {
    s.data.chunks.push(new Uint8Array(d));
    s.data.received += d.length;
  },
  drain(s: Socket<End>) {
    s.data.flush();
  },
  close(s: Socket<End>) {
    s.data.closed = true;
  },
  error(s: Socket<End>) {
    s.data.closed = true;
  },
};

let servers: TCPSocketListener<End>[] = [];
let proxies: FaultProxy[] = [];
afterEach(() => {
  for (const p of proxies.splice(0)) p.close();
  for (const s of servers.splice(0)) s.stop(true);
});

/** A target server, a proxy in front of it, and one client connected through the proxy. */
async function setup(faults: Partial<Faults> = {}, maxQueueBytes?: number) {
  const accepted: End[] = [];
  const server = Bun.listen<End>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      ...handlers,
      open(s) {
        s.data = new End();
        s.data.socket = s;
        accepted.push(s.data);
      },
    },
    data: undefined as unknown as End,
  });
  servers.push(server);
  const proxy = new FaultProxy({ target: { host: "127.0.0.1", port: server.port }, faults, maxQueueBytes });
  proxies.push(proxy);
  const client = new End();
  await Bun.connect<End>({ hostname: "127.0.0.1", port: proxy.port, socket: handlers, data: client });
  await until("accepted.length === 1", () => accepted.length === 1);
  return { proxy, client, target: accepted[0]!, conn: [...proxy.connections][0]! };
}

/** Bun hands a socket's data to JS in reads of up to 512 KiB: the overshoot past the cap. */
const ONE_READ = 512 * 1024;

describe("FaultProxy", () => {
  test("bytes pass intact both ways, coalesced", async () => {
    const { client, target, proxy } = await setup();
    const a = randomBytes(300_000), b = randomBytes(200_000);
    client.send(a);
    target.send(b);
    await until("target.received === a.length && client.received === b.length", () => target.received === a.length && client.received === b.length);
    expect(target.bytes().equals(a)).toBe(true);
    expect(client.bytes().equals(b)).toBe(true);
    expect(proxy.bytes).toEqual({ up: a.length, down: b.length });
  });

  test("bytes pass intact both ways with 1-byte writes, one write per byte", async () => {
    const { client, target, conn } = await setup({ splitBytes: 1 });
    const a = randomBytes(3000), b = randomBytes(2000);
    client.send(a);
    target.send(b);
    await until("target.received === a.length && client.received === b.length", () => target.received === a.length && client.received === b.length);
    expect(target.bytes().equals(a)).toBe(true);
    expect(client.bytes().equals(b)).toBe(true);
    expect(conn.up.writes).toBe(a.length);
    expect(conn.down.writes).toBe(b.length);
    // The reader sees the bytes spread over several reads, not one coalesced chunk.
    expect(target.chunks.length).toBeGreaterThan(1);
  });

  test("a delay holds every chunk at least delayMs and keeps the order", async () => {
    const { client, target } = await setup({ delayMs: 80, splitBytes: 7 });
    const parts = Array.from({ length: 20 }, () => randomBytes(100));
    const t0 = performance.now();
    for (const p of parts) client.send(p);
    await until("target.received > 0", () => target.received > 0);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(75);
    await until("target.received === 2000", () => target.received === 2000);
    expect(target.bytes().equals(Buffer.concat(parts))).toBe(true);
  });

  test("a bandwidth cap paces the bytes: intact, in order, in link-sized writes, and never faster than the cap", async () => {
    const rate = 2_000_000; // 2 MB/s
    const { client, target, conn } = await setup({ rateBytesPerSec: rate });
    const a = randomBytes(400_000);
    const t0 = performance.now();
    client.send(a);
    await until("target.received === a.length", () => target.received === a.length);
    const took = performance.now() - t0;
    expect(target.bytes().equals(a)).toBe(true);
    // Each write carries at most 4 ms of the link's time, so the pace cannot be bursty.
    expect(conn.up.writes).toBeGreaterThanOrEqual(Math.ceil(a.length / (rate / 250)));
    // The shaper's own bound (not a performance claim): n bytes take at least n / rate.
    expect(took).toBeGreaterThanOrEqual((a.length / rate) * 1000 - 10);
  });

  test("a blackhole accepts the connection and forwards nothing either way", async () => {
    let targetOpened = 0;
    const server = Bun.listen<End>({ hostname: "127.0.0.1", port: 0, socket: { ...handlers, open: () => void targetOpened++ }, data: undefined as unknown as End });
    servers.push(server);
    const proxy = new FaultProxy({ target: { host: "127.0.0.1", port: server.port }, faults: { blackhole: true } });
    proxies.push(proxy);
    const client = new End();
    await Bun.connect<End>({ hostname: "127.0.0.1", port: proxy.port, socket: handlers, data: client });
    await until("proxy.accepted === 1", () => proxy.accepted === 1);
    client.send(randomBytes(10_000));
    await Bun.sleep(200);
    expect(targetOpened).toBe(0);
    expect(client.received).toBe(0);
    expect(client.closed).toBe(false);
    expect(proxy.bytes).toEqual({ up: 0, down: 0 });
  });

  test("cutAll() closes both sides at once", async () => {
    const { client, target, proxy, conn } = await setup();
    client.send(randomBytes(100));
    await until("target.received === 100", () => target.received === 100);
    expect(proxy.cutAll()).toBe(1);
    await until("client.closed && target.closed", () => client.closed && target.closed);
    expect(conn.how).toBe("cut");
    expect(proxy.cuts).toBe(1);
    expect(proxy.connections.size).toBe(0);
  });

  test("a reset cut closes both sides too", async () => {
    const { client, target, conn } = await setup();
    conn.cut("reset");
    await until("client.closed && target.closed", () => client.closed && target.closed);
  });

  test("cutAfterBytes: exactly that many bytes pass (both directions together), then both sides close", async () => {
    const { client, target, conn } = await setup({ cutAfterBytes: 1000, splitBytes: 64 });
    const b = randomBytes(300);
    target.send(b);
    await until("client.received === 300", () => client.received === 300);
    const a = randomBytes(5000);
    client.send(a);
    await until("client.closed && target.closed", () => client.closed && target.closed);
    expect(target.received).toBe(700);
    expect(target.bytes().equals(a.subarray(0, 700))).toBe(true);
    expect(conn.forwarded).toBe(1000);
  });

  test("a stall forwards nothing and closes nothing; unstalling delivers everything", async () => {
    const { client, target, conn, proxy } = await setup();
    conn.stall();
    const a = randomBytes(50_000), b = randomBytes(40_000);
    client.send(a);
    target.send(b);
    await Bun.sleep(250);
    expect(target.received).toBe(0);
    expect(client.received).toBe(0);
    expect(client.closed || target.closed).toBe(false);
    expect(conn.up.received).toBe(a.length);
    conn.set({ stalled: undefined }); // back to the proxy-wide setting (not stalled)
    await until("target.received === a.length && client.received === b.length", () => target.received === a.length && client.received === b.length);
    expect(target.bytes().equals(a)).toBe(true);
    expect(client.bytes().equals(b)).toBe(true);
    // The proxy-wide switch works on open connections too.
    proxy.stall();
    client.send(randomBytes(10));
    await Bun.sleep(100);
    expect(target.received).toBe(a.length);
    proxy.stall(false);
    await until("target.received === a.length + 10", () => target.received === a.length + 10);
  });

  test("a stalled connection keeps its queue bounded: the sender is paused, not buffered without end", async () => {
    const cap = 64 * 1024;
    const { client, target, conn } = await setup({}, cap);
    conn.stall();
    const a = randomBytes(16 * 1024 * 1024);
    client.send(a);
    await Bun.sleep(400);
    // The source is paused once over the cap; at most one more read lands after that.
    expect(conn.up.peakQueued).toBeLessThanOrEqual(cap + ONE_READ);
    expect(client.pendingOut).toBeGreaterThan(0);
    conn.stall(false);
    await until("target.received === a.length", () => target.received === a.length, 20_000);
    expect(target.bytes().equals(a)).toBe(true);
    expect(conn.up.peakQueued).toBeLessThanOrEqual(cap + ONE_READ);
  });

  test("a destination that stops reading: short writes wait for drain, queues stay bounded", async () => {
    const cap = 64 * 1024;
    const { client, target, conn } = await setup({}, cap);
    target.socket!.pause();
    const a = randomBytes(16 * 1024 * 1024);
    client.send(a);
    await Bun.sleep(400);
    expect(target.received).toBeLessThan(a.length);
    expect(conn.up.peakQueued).toBeLessThanOrEqual(cap + ONE_READ);
    target.socket!.resume();
    await until("target.received === a.length", () => target.received === a.length, 20_000);
    expect(target.bytes().equals(a)).toBe(true);
  });

  test("a clean close from one side is passed on after the queued bytes", async () => {
    const { client, target, conn } = await setup({ delayMs: 50 });
    const a = randomBytes(1000);
    client.send(a);
    client.socket!.end();
    await until("target.closed", () => target.closed);
    expect(target.bytes().equals(a)).toBe(true);
    await conn.done;
    expect(conn.how).toBe("end");
  });

  test("a target that refuses: the client is closed", async () => {
    const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = server.port;
    server.stop(true);
    const proxy = new FaultProxy({ target: { host: "127.0.0.1", port } });
    proxies.push(proxy);
    const client = new End();
    await Bun.connect<End>({ hostname: "127.0.0.1", port: proxy.port, socket: handlers, data: client });
    await until("client.closed", () => client.closed);
  });
});
