/**
 * The listening side of the hostile suite: a real `Peer` (src/net/peer.ts) with small
 * limits whose closes are captured as data, and a good peer chatting with it all along.
 * The listener echoes every TEXT back and ACKs it, which is how the good peer proves the
 * listener is still alive and undisturbed.
 */
import { randomBytes } from "node:crypto";
import { ed25519Generate } from "../../src/crypto/ed25519.ts";
import { Peer } from "../../src/net/peer.ts";
import type { Limits } from "../../src/net/limits.ts";
import type { Session } from "../../src/net/session.ts";
import type { CloseInfo } from "../../src/net/types.ts";
import type { Group } from "../../src/protocol/constants.ts";
import { ProtocolError, type ErrorCode } from "../../src/protocol/errors.ts";
import type { Item } from "../../src/protocol/items.ts";
import { until } from "../support/wait.ts";

/** Limits small enough that deadlines and caps show within a test. */
export const FAST_LIMITS: Partial<Limits> = {
  handshakeTimeoutMs: 500,
  maxSessions: 4096,
  maxHalfOpen: 2048,
  maxHalfOpenPerAddress: 2048,
  maxSendQueueBytes: 256 * 1024,
  idleTimeoutMs: 5000,
  keepaliveMs: 1500,
  // Every case checks the one alert PROTOCOL §7.2 prescribes, from one address and often
  // many at once: the alert rate of a flood (a reset past it) has its own tests
  // (hostile/budgets-admission › 5. refusals past preAuthAlertsPerPrefixPerSecond …).
  preAuthAlertsPerPrefixPerSecond: 1_000_000,
};

/** One session the listener closed, as data. */
export interface Closed {
  address: string;
  /** The remote port: the attacker's local port. */
  port: number;
  code: ErrorCode | null;
  error: Error | null;
  byPeer: boolean;
  /** performance.now() when the listener reported it. */
  at: number;
}

/** A connection as the listener sees it: the remote port, and when it was opened (ports get reused). */
export interface Conn {
  localPort: number;
  connectedAt: number;
}

/** A listening Peer with its closes captured, and a good peer connected to it. */
export class Scene {
  readonly closes: Closed[] = [];
  readonly identity = ed25519Generate();
  readonly listener: Peer;
  port = 0;
  good!: GoodPeer;

  private constructor(o: SceneOptions) {
    this.listener = new Peer({
      identity: this.identity,
      profile: { instance: randomBytes(8), name: "listener" },
      accept: o.accept,
      limits: { ...FAST_LIMITS, ...o.limits },
      verifyPeer: o.verifyPeer ? (id) => o.verifyPeer!(id) : undefined,
      events: {
        // The listener echoes every TEXT back and ACKs it: the good peer's proof of life.
        onItem: (s, item) => {
          if (item.kind !== "text" || s.state !== "open") return;
          s.send({ kind: "text", id: item.id, text: item.text });
          s.send({ kind: "ack", id: item.id });
        },
        onClose: (s, info) => this.closes.push(closedOf(s, info)),
      },
    });
  }

  /** Listen on 127.0.0.1 and connect the good peer. */
  static async start(o: SceneOptions = {}): Promise<Scene> {
    const sc = new Scene(o);
    sc.port = sc.listener.listen("127.0.0.1", 0);
    if (o.good !== false) sc.good = await GoodPeer.connect(sc.port);
    return sc;
  }

  /** The listener's close of `who`'s session (same remote port, reported after it connected), if any yet. */
  closed(who: Conn): Closed | undefined {
    return this.closes.findLast((c) => c.port === who.localPort && c.at >= who.connectedAt);
  }

  /** The listener's close of `who`'s session, waiting for it. */
  async closeOf(who: Conn, ms = 3000): Promise<Closed> {
    let hit: Closed | undefined;
    await until(`the listener to close the session from port ${who.localPort}`, () => (hit = this.closed(who)) !== undefined, ms);
    return hit!;
  }

  /** Sessions the listener holds that are not the good peer's. */
  get others(): number {
    return this.listener.sessions.size - (this.good ? 1 : 0);
  }

  /** (M) Wait until only the good peer's session is left and no handshake is in progress. */
  async settled(ms = 3000): Promise<void> {
    await until(`the listener's counters to settle (sessions ${this.listener.sessions.size}, halfOpen ${this.listener.halfOpen})`, () => this.others === 0 && this.listener.halfOpen === 0, ms);
  }

  async stop(): Promise<void> {
    await this.good?.peer.close("bye", 200);
    await this.listener.close("bye", 200);
  }
}

export interface SceneOptions {
  limits?: Partial<Limits>;
  accept?: Group[];
  verifyPeer?: (identity: Uint8Array) => void;
  /** false: no good peer. */
  good?: boolean;
}

function closedOf(s: Session, info: CloseInfo): Closed {
  const port = Number(s.address.slice(s.address.lastIndexOf(":") + 1));
  return { address: s.address, port, code: info.error instanceof ProtocolError ? info.error.code : null, error: info.error, byPeer: info.byPeer, at: performance.now() };
}

/** A well-behaved sotto peer (a dialling Peer) with one session to the scene. */
export class GoodPeer {
  readonly items: Item[] = [];
  closed: CloseInfo | null = null;
  peer!: Peer;
  session!: Session;
  #next = 1n;

  static async connect(port: number, limits?: Partial<Limits>): Promise<GoodPeer> {
    const me = new GoodPeer();
    me.peer = new Peer({
      identity: ed25519Generate(),
      profile: { instance: randomBytes(8), name: "good" },
      limits,
      events: {
        onItem: (_s, item) => void me.items.push(item),
        onClose: (_s, info) => void (me.closed = info),
      },
    });
    me.session = await me.peer.connect("127.0.0.1", port);
    return me;
  }

  /** (I) Send one TEXT; resolve when it came back and was ACKed. @throws Error after `ms`. */
  async roundTrip(ms = 3000): Promise<number> {
    if (this.closed) throw new Error(`the good peer's session closed: ${this.closed.error?.message ?? "cleanly"}`);
    const id = this.#next++;
    const t0 = performance.now();
    const text = `still here ${id}`;
    this.session.send({ kind: "text", id, text });
    await until(`the good peer's TEXT ${id} to come back with its ACK`, () => this.items.some((i) => i.kind === "text" && i.id === id && i.text === text) && this.items.some((i) => i.kind === "ack" && i.id >= id), ms);
    return performance.now() - t0;
  }
}
