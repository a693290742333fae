/** Shared fixtures for protocol tests: deterministic identities, key shares and handshakes. */
import { ed25519FromSeed } from "../../src/crypto/ed25519.ts";
import { x25519, x25519Public } from "../../src/crypto/x25519.ts";
import { ffdheContext } from "../../src/crypto/ffdhe.ts";
import { FixedRandom, PooledRandom, type RandomSource } from "../../src/crypto/random.ts";
import { Group } from "../../src/protocol/constants.ts";
import { FrameAssembler, type Frame } from "../../src/protocol/frame.ts";
import { Initiator, Responder } from "../../src/protocol/handshake.ts";
import { ctEqual, sha256 } from "../../src/crypto/hash.ts";
import { concat, utf8 } from "../../src/crypto/bytes.ts";
import { ed25519Sign } from "../../src/crypto/ed25519.ts";
import { ALERT_FOR, ProtocolError } from "../../src/protocol/errors.ts";
import { encodeItems, type Item } from "../../src/protocol/items.ts";
import type { Done, HandshakeResult, Identity, KexRequest } from "../../src/protocol/machine.ts";
import { RecordWriter } from "../../src/protocol/record.ts";
import { handshakeKeys, handshakeSecret } from "../../src/protocol/schedule.ts";
import { thrown } from "../support/thrown.ts";

/** 32 deterministic bytes from a label. */
export function det(label: string, len = 32): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0, c = 0; i < len; c++) {
    const h = sha256(utf8(`${label}/${c}`));
    out.set(h.subarray(0, Math.min(32, len - i)), i);
    i += 32;
  }
  return out;
}

export function identity(label: string): Identity {
  return ed25519FromSeed(det(`identity ${label}`));
}

/** Ephemeral private key of the right size for the group, and its public share. */
export function ephemeral(group: Group, label: string): { priv: Uint8Array; share: Uint8Array } {
  if (group === Group.X25519) {
    const priv = det(`eph ${label}`);
    return { priv, share: x25519Public(priv) };
  }
  const ctx = ffdheContext(group === Group.FFDHE2048 ? "ffdhe2048" : "ffdhe3072");
  const priv = det(`eph ${label}`, ctx.group.exponentLen);
  return { priv, share: ctx.publicShare(priv) };
}

/** Z = DH(priv, peerShare) for the group. */
export function shared(group: Group, priv: Uint8Array, peerShare: Uint8Array): Uint8Array {
  if (group === Group.X25519) return x25519(priv, peerShare);
  return ffdheContext(group === Group.FFDHE2048 ? "ffdhe2048" : "ffdhe3072").sharedSecret(priv, peerShare);
}

/** Parse a byte string of whole frames. */
export function frames(bytes: Uint8Array): Frame[] {
  return new FrameAssembler().push(bytes);
}
export function frame(bytes: Uint8Array): Frame {
  const f = frames(bytes);
  if (f.length !== 1) throw new Error(`expected one frame, got ${f.length}`);
  return f[0]!;
}

export interface Pair {
  i: HandshakeResult;
  r: HandshakeResult;
  wire: { hello: Uint8Array; reply: Uint8Array; authR: Uint8Array; authI: Uint8Array };
}

/** A complete in-memory handshake between "alice" (initiator) and "bob" (responder). */
export function handshake(group: Group = Group.X25519, random: RandomSource = new PooledRandom()): Pair {
  return handshakeBetween("alice", "bob", group, random);
}

/**
 * A complete in-memory handshake between two labelled parties: their identities,
 * ephemerals and nonces all derive from the labels, so other labels give another
 * session (handshake() is handshakeBetween("alice", "bob")).
 */
export function handshakeBetween(a: string, b: string, group: Group = Group.X25519, random: RandomSource = new PooledRandom()): Pair {
  const ei = ephemeral(group, a), er = ephemeral(group, b);
  const ini = new Initiator({ group, share: ei.share, nonce: det(`nonce ${a}`), identity: identity(a), random });
  const res = new Responder({ accept: [Group.X25519, Group.FFDHE2048, Group.FFDHE3072], nonce: det(`nonce ${b}`), identity: identity(b), random });
  const hello = ini.hello();
  const req = res.recv(frame(hello));
  if (req.kind !== "kex") throw new Error("expected kex");
  const [reply, authR] = res.completeKex(er.share, shared(group, er.priv, req.peerShare));
  const req2 = ini.recv(frame(reply!));
  if (req2.kind !== "kex") throw new Error("expected kex");
  ini.completeKex(shared(group, ei.priv, req2.peerShare));
  const doneI = ini.recv(frame(authR!)) as Done;
  const authI = doneI.send[0]!;
  const doneR = res.recv(frame(authI)) as Done;
  return { i: doneI.result, r: doneR.result, wire: { hello, reply: reply!, authR: authR!, authI } };
}

/** A deterministic RandomSource: the same label replays the same bytes (so re-run handshakes repeat their records). */
export function detRandom(label: string): RandomSource {
  let n = 0;
  const fill = (out: Uint8Array) => out.set(det(`${label} ${n++}`, out.length));
  return { fill, fillAt: (out: Uint8Array, at: number, len: number) => fill(out.subarray(at, at + len)) };
}

/** A Frame straight from bytes, without the assembler's checks: hands a machine exactly these bytes. */
export function rawFrame(bytes: Uint8Array): Frame {
  return { type: bytes[2]!, bytes, body: bytes.subarray(3) };
}

/** A copy of `b` with bit `bit` of byte `i` flipped. */
export function flip(b: Uint8Array, i: number, bit = 0): Uint8Array {
  const out = new Uint8Array(b);
  out[i]! ^= 1 << bit;
  return out;
}

/**
 * The ProtocolError code `fn` throws, "ok" when it returns, or "not a ProtocolError: …"
 * for anything else thrown: so `expect(codeOf(f)).toBe("bad_item")` fails with a useful diff.
 */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof ProtocolError) return e.code;
    return `not a ProtocolError: ${String(e)}`;
  }
  return "ok";
}

/** The ProtocolError `fn` throws. @throws Error when it returns or throws something else. */
export function protocolError(fn: () => unknown): ProtocolError {
  return thrown(ProtocolError, fn);
}

// ---------------------------------------------------------------------------
// Handshake machines at any step, for the handshake tests.

/** Every group sotto/1 defines: the default responder policy. */
export const ALL_GROUPS: Group[] = [Group.X25519, Group.FFDHE2048, Group.FFDHE3072];

/** Every ProtocolError code: a tampered handshake must end in one of these. */
export const PROTOCOL_CODES: ReadonlySet<string> = new Set(Object.keys(ALERT_FOR));

/**
 * Both machines with the same inputs as handshake() (labels "alice" and "bob" unless
 * `a` / `b` say otherwise), but with deterministic IVs: rebuilding them replays the same
 * frames byte for byte. `initiator` / `responder` override the identities.
 */
export function parties(group: Group = Group.X25519, o: PartyOptions = {}) {
  const a = o.a ?? "alice", b = o.b ?? "bob";
  const ei = ephemeral(group, a), er = ephemeral(group, b);
  const ini = new Initiator({ group, share: ei.share, nonce: det(`nonce ${a}`), identity: o.initiator ?? identity(a), random: detRandom(`${a} ivs`) });
  const res = new Responder({ accept: o.accept ?? ALL_GROUPS, nonce: det(`nonce ${b}`), identity: o.responder ?? identity(b), random: detRandom(`${b} ivs`), offloadSubgroupCheck: o.offloadSubgroupCheck });
  return { group, ei, er, ini, res };
}
export interface PartyOptions {
  a?: string;
  b?: string;
  initiator?: Identity;
  responder?: Identity;
  accept?: Group[];
  /** The responder leaves the FFDHE subgroup check to its KexResult (Responder's option). */
  offloadSubgroupCheck?: boolean;
}
export type Parties = ReturnType<typeof parties>;

/** Run an honest exchange between `p`'s machines and return every wire frame. */
export function exchange(p: Parties) {
  const hello = p.ini.hello();
  const req = p.res.recv(frame(hello)) as KexRequest;
  const [reply, authR] = p.res.completeKex(p.er.share, shared(p.group, p.er.priv, req.peerShare)) as [Uint8Array, Uint8Array];
  const req2 = p.ini.recv(frame(reply)) as KexRequest;
  p.ini.completeKex(shared(p.group, p.ei.priv, req2.peerShare));
  const doneI = p.ini.recv(frame(authR)) as Done;
  const authI = doneI.send[0]!;
  const doneR = p.res.recv(frame(authI)) as Done;
  return { hello, reply, authR, authI, doneI, doneR };
}

let ref: { wire: ReturnType<typeof exchange>; th1: Uint8Array; th2: Uint8Array } | null = null;
/** The honest X25519 exchange of parties() (alice → bob), its th1 and th2: the frames faults start from. */
export function reference() {
  if (ref === null) {
    const wire = exchange(parties());
    ref = { wire, th1: sha256(wire.hello, wire.reply), th2: sha256(wire.hello, wire.reply, wire.authR) };
  }
  return ref;
}

/** A fresh parties() whose initiator has sent HELLO and waits for the reply. */
export function initiatorWaitingReply(group: Group = Group.X25519, o: PartyOptions = {}): Parties {
  const p = parties(group, o);
  p.ini.hello();
  return p;
}

/** Feed an initiator waiting for the reply a reply and an AUTH record (as raw frames), doing the kex when asked. */
export function driveInitiator(p: Parties, reply: Uint8Array, authR: Uint8Array): KexRequest | Done {
  const req = p.ini.recv(rawFrame(reply)) as KexRequest;
  p.ini.completeKex(shared(p.group, p.ei.priv, req.peerShare));
  return p.ini.recv(rawFrame(authR));
}

/** A fresh initiator past the kex with the reference reply, waiting for the responder's AUTH. */
export function initiatorWaitingAuth(o: PartyOptions = {}): Initiator {
  const p = initiatorWaitingReply(Group.X25519, o);
  const req = p.ini.recv(frame(reference().wire.reply)) as KexRequest;
  p.ini.completeKex(shared(p.group, p.ei.priv, req.peerShare));
  return p.ini;
}

/** A fresh responder that has answered the reference HELLO (with the same frames), waiting for the initiator's AUTH. */
export function responderWaitingAuth(o: PartyOptions = {}): Responder {
  const p = parties(Group.X25519, o);
  const { wire } = reference();
  const req = p.res.recv(frame(wire.hello)) as KexRequest;
  const out = p.res.completeKex(p.er.share, shared(p.group, p.er.priv, req.peerShare));
  if (o.responder === undefined && !ctEqual(out[1]!, wire.authR)) throw new Error("the responder did not replay the reference AUTH");
  return p.res;
}

/**
 * A handshake record sealed by hand under hk_r2i or hk_i2r of the reference exchange (the
 * key schedule of schedule.ts with the known Z and th1), holding any items, or any
 * plaintext bytes.
 */
export function handRecord(dir: "r2i" | "i2r", items: Item[] | Uint8Array): Uint8Array {
  const p = parties();
  const z = shared(Group.X25519, p.er.priv, p.ei.share);
  const hk = handshakeKeys(handshakeSecret(z), reference().th1);
  return RecordWriter.fromKeyBlock(hk[dir], detRandom(`hand ${dir}`)).seal(items instanceof Uint8Array ? items : encodeItems(items));
}

/** An AUTH item: `who` signs label | th | pub (pub defaults to who's own key). */
export function authItem(who: Identity, label: Uint8Array, th: Uint8Array, pub: Uint8Array = who.publicKey): Item {
  return { kind: "auth", identity: pub, sig: ed25519Sign(who.privateKey, concat(label, th, pub)) };
}

export { FixedRandom };
