/**
 * Sessions without sockets: a Transport (src/net/types.ts) that hands what one session
 * writes to the other's onData in a microtask, in order, and an end or reset to both
 * sides after that. Everything written is kept, byte for byte, for the test to read.
 */
import { systemRandom } from "../../src/crypto/random.ts";
import { Group } from "../../src/protocol/constants.ts";
import type { Item, TextId } from "../../src/protocol/items.ts";
import { defaultLimits, type Limits } from "../../src/net/limits.ts";
import { Session } from "../../src/net/session.ts";
import type { CloseInfo, Role, SessionConfig, SessionEvents, Transport } from "../../src/net/types.ts";
import { identity } from "../protocol/helpers.ts";

export class FakeTransport implements Transport {
  /** Every write, copied (the session reuses its output buffer). */
  readonly written: Uint8Array[] = [];
  /** Bytes each write takes; the rest waits for the session's onDrain, as a full socket's would. */
  takes = Infinity;
  pauses = 0;
  resumes = 0;
  ends = 0;
  resets = 0;
  /** The session writing into this transport, and the one reading from it. */
  self: Session | null = null;
  other: Session | null = null;
  #gone = false;

  write(data: Uint8Array, byteOffset = 0, byteLength = data.length - byteOffset): number {
    if (this.#gone) return 0;
    const n = Math.min(byteLength, this.takes);
    const copy = data.slice(byteOffset, byteOffset + n);
    this.written.push(copy);
    queueMicrotask(() => this.other?.onData(copy));
    return n;
  }
  pause(): void {
    this.pauses++;
  }
  resume(): void {
    this.resumes++;
  }
  end(): void {
    this.ends++;
    this.#hangUp();
  }
  terminate(): void {
    this.resets++;
    this.#hangUp();
  }
  #hangUp(): void {
    if (this.#gone) return;
    this.#gone = true;
    queueMicrotask(() => {
      this.other?.onSocketClose();
      this.self?.onSocketClose();
    });
  }
  /** All bytes written so far, as one array. */
  bytes(): Uint8Array {
    return Buffer.concat(this.written);
  }
}

/** What a session reported, in order. */
export interface Heard {
  ready: number;
  items: Item[];
  closes: CloseInfo[];
  /** When present, the session's owner takes TEXT as (id, text) (SessionEvents.onText), kept here. */
  texts?: [TextId, string][];
}

export function config(label: string, limits: Partial<Limits> = {}): SessionConfig<Session> {
  return {
    identity: identity(label),
    profile: { instance: new Uint8Array(8).fill(label.charCodeAt(0)), name: label },
    accept: [Group.X25519, Group.FFDHE2048],
    limits: { ...defaultLimits(), ...limits },
    random: systemRandom,
  };
}

export function listen(heard: Heard): SessionEvents<Session> {
  return {
    onReady: () => void heard.ready++,
    onItem: (_s, item) => void heard.items.push(item),
    ...(heard.texts !== undefined ? { onText: (_s: Session, id: TextId, text: string) => void heard.texts!.push([id, text]) } : {}),
    onClose: (_s, info) => void heard.closes.push(info),
  };
}

/** One session on a fake transport (its peer is attached by `pair`, or fed by the test). */
export function session(role: Role, c: SessionConfig<Session>, heard: Heard, group?: Group): { s: Session; t: FakeTransport } {
  const t = new FakeTransport();
  const s = new Session(t, c, role, role === "initiator" ? "fake:1" : "fake:2", group, listen(heard));
  t.self = s;
  return { s, t };
}

/** An initiator and a responder joined back to back; neither started. */
export function pair(o: { group?: Group; limits?: Partial<Limits>; onText?: boolean } = {}) {
  const ha: Heard = { ready: 0, items: [], closes: [], ...(o.onText ? { texts: [] } : {}) };
  const hb: Heard = { ready: 0, items: [], closes: [], ...(o.onText ? { texts: [] } : {}) };
  const a = session("initiator", config("alice", o.limits), ha, o.group ?? Group.X25519);
  const b = session("responder", config("bob", o.limits), hb);
  a.t.other = b.s;
  b.t.other = a.s;
  return { a: a.s, at: a.t, ha, b: b.s, bt: b.t, hb };
}
