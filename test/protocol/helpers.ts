/** Shared fixtures for protocol tests: deterministic identities, key shares and handshakes. */
import { ed25519FromSeed } from "../../src/crypto/ed25519.ts";
import { x25519, x25519Public } from "../../src/crypto/x25519.ts";
import { ffdheContext } from "../../src/crypto/ffdhe.ts";
import { FixedRandom, PooledRandom, type RandomSource } from "../../src/crypto/random.ts";
import { Group } from "../../src/protocol/constants.ts";
import { FrameAssembler, type Frame } from "../../src/protocol/frame.ts";
import { Initiator, Responder, type Done, type HandshakeResult, type Identity } from "../../src/protocol/handshake.ts";
import { sha256 } from "../../src/crypto/hash.ts";
import { utf8 } from "../../src/crypto/bytes.ts";

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
  const ei = ephemeral(group, "alice"), er = ephemeral(group, "bob");
  const ini = new Initiator({ group, share: ei.share, nonce: det("nonce alice"), identity: identity("alice"), random });
  const res = new Responder({ accept: [Group.X25519, Group.FFDHE2048, Group.FFDHE3072], nonce: det("nonce bob"), identity: identity("bob"), random });
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

export { FixedRandom };
