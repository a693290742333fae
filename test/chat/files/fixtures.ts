/**
 * Helpers for the file-transfer tests: ChatNodes in one process, test files written in
 * 1 MiB pieces (hashed as they are written), and "mallory", a raw sotto Peer that speaks
 * file items by hand, to play a hostile sender or receiver.
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChatEvent, TransferEvent, TransferPhase } from "../../../src/chat/events.ts";
import { loadOrCreateIdentity } from "../../../src/chat/trust/identity.ts";
import type { ChatOptions } from "../../../src/chat/node.ts";
import { Peer } from "../../../src/net/peer.ts";
import type { Session } from "../../../src/net/session.ts";
import { decodeFileItem, encodeFileItem, isFileType, type FileItem } from "../../../src/protocol/files.ts";
import type { Item } from "../../../src/protocol/items.ts";
import { until } from "../../support/wait.ts";
import { startNode, stopNodes, type TestNode } from "../../support/node.ts";

export class Fixture {
  readonly dirs: string[] = [];
  readonly peers: Peer[] = [];

  dir(prefix = "sotto-ft-"): string {
    const d = mkdtempSync(join(tmpdir(), prefix));
    this.dirs.push(d);
    return d;
  }

  async cleanup(): Promise<void> {
    await stopNodes();
    await Promise.all(this.peers.splice(0).map((p) => p.close("bye", 100)));
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }

  /** A ChatNode listening on 127.0.0.1 (port 0 unless given), collecting its events. */
  node(name: string, o: Partial<ChatOptions> & { port?: number } = {}): Promise<TestNode> {
    // These tests are about files, not trust: peers that dial in are contacts (allowNew).
    return startNode(name, { home: o.home ?? this.dir(), allowNew: o.allowNew ?? true, listen: o.listen, port: o.port, connect: o.connect, files: o.files, limits: o.limits });
  }

  /** A raw peer ("mallory") connected to 127.0.0.1:port (identity kept in `home`); `got` collects the file items it receives. */
  async mallory(port: number, home = this.dir(), name = "mallory"): Promise<Mallory> {
    const identity = loadOrCreateIdentity(home);
    const got: FileItem[] = [];
    const p = new Peer({
      identity,
      profile: { instance: new Uint8Array(randomBytes(8)), name },
      events: { onItem: (_s, it) => void (it.kind === "ext" && isFileType(it.type) && got.push(decodeFileItem(it.type, new Uint8Array(it.content)))) },
    });
    this.peers.push(p);
    const s = await p.connect("127.0.0.1", port);
    return new Mallory(s, got);
  }
}

export class Mallory {
  constructor(
    readonly s: Session,
    readonly got: FileItem[],
  ) {}
  send(it: FileItem): void {
    this.s.send(encodeFileItem(it));
  }
  raw(type: number, content: Uint8Array): void {
    this.s.send({ kind: "ext", type, content });
  }
  item(it: Item): void {
    this.s.send(it);
  }
  /** The first received item of `kind` for transfer `id`. */
  async answer<K extends FileItem["kind"]>(kind: K, id: bigint, ms = 5000): Promise<Extract<FileItem, { kind: K }>> {
    return until(`${kind} for ${id}`, () => this.got.find((g): g is Extract<FileItem, { kind: K }> => g.kind === kind && g.id === id), ms);
  }
}

/** The one way tests wait (test/support/wait.ts), for the file tests that import it from here. */
export { until };

export const transfers = (ev: ChatEvent[], phase?: TransferPhase): TransferEvent[] => ev.filter((e): e is TransferEvent => e.type === "transfer" && (phase === undefined || e.phase === phase));

/** Wait for a transfer event of `phase` (optionally for one name). */
export function waitPhase(ev: ChatEvent[], phase: TransferPhase, name?: string, ms = 20_000): Promise<TransferEvent> {
  return until(`transfer ${phase}${name ? ` of ${name}` : ""}; saw ${JSON.stringify(transfers(ev).filter((e) => e.phase !== "progress").map((e) => `${e.phase} ${e.name} ${e.reason ?? ""}`))}`, () => transfers(ev, phase).find((e) => name === undefined || e.name === name), ms);
}

/**
 * Write `size` bytes to `path` (1 MiB at a time: a 200 MB file costs 1 MiB here) and
 * return their SHA-256 as hex. Every 4 KiB page carries its index, so no two pages match.
 */
export function makeFile(path: string, size: number, seed = 1): string {
  const base = new Uint8Array(1 << 20);
  for (let i = 0; i < base.length; i++) base[i] = (i * 131 + seed * 7919) & 0xff;
  const h = new Bun.CryptoHasher("sha256");
  const fd = openSync(path, "w");
  try {
    for (let off = 0; off < size; off += base.length) {
      const n = Math.min(base.length, size - off);
      for (let p = 0; p < n; p += 4096) new DataView(base.buffer).setFloat64(p, off + p + seed);
      const piece = base.subarray(0, n);
      h.update(piece);
      writeSync(fd, piece);
    }
  } finally {
    closeSync(fd);
  }
  return h.digest("hex");
}

/** SHA-256 of a file's bytes, as hex. */
export async function sha256File(path: string): Promise<string> {
  const h = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(path).stream()) h.update(chunk);
  return h.digest("hex");
}

export function sha256Hex(b: Uint8Array | string): string {
  return new Bun.CryptoHasher("sha256").update(b).digest("hex");
}
