/**
 * Builds the sotto/1 vector transcript from fixed inputs with the core itself.
 * make-sotto-v1.ts writes its output to sotto-v1.json; test/protocol/vectors.test.ts
 * rebuilds it and compares, and checks records independently of the record layer.
 */
import { toHex, fromHex } from "../../src/crypto/bytes.ts";
import { ed25519FromSeed } from "../../src/crypto/ed25519.ts";
import { FixedRandom } from "../../src/crypto/random.ts";
import { Group, GROUP_NAMES } from "../../src/protocol/constants.ts";
import { Initiator, Responder } from "../../src/protocol/handshake.ts";
import type { Done } from "../../src/protocol/machine.ts";
import { encodeItems, type Item } from "../../src/protocol/items.ts";
import { handshakeKeys, handshakeSecret, nextSecret, trafficKeys, trafficSecrets } from "../../src/protocol/schedule.ts";
import { sha256 } from "../../src/crypto/hash.ts";
import { x25519Public } from "../../src/crypto/x25519.ts";
import { ffdheContext, type FfdheName } from "../../src/crypto/ffdhe.ts";
import { det, ephemeral, frame, shared } from "../protocol/helpers.ts";

export interface VectorInputs {
  group: string;
  initiator: { ephemeral_private: string; nonce: string; identity_seed: string; ivs: string[] };
  responder: { ephemeral_private: string; nonce: string; identity_seed: string; ivs: string[] };
}

/** The fixed inputs for one group: every value is SHA-256-derived from a readable label. */
export function inputsFor(group: Group): VectorInputs {
  const name = GROUP_NAMES[group];
  const iv = (who: string, n: number) => Array.from({ length: n }, (_, k) => toHex(det(`iv ${who} ${k}`, 16)));
  return {
    group: name,
    initiator: { ephemeral_private: toHex(ephemeral(group, `vector ${name} initiator`).priv), nonce: toHex(det(`nonce ${name} initiator`)), identity_seed: toHex(det(`seed initiator`)), ivs: iv("initiator", 4) },
    responder: { ephemeral_private: toHex(ephemeral(group, `vector ${name} responder`).priv), nonce: toHex(det(`nonce ${name} responder`)), identity_seed: toHex(det(`seed responder`)), ivs: iv("responder", 4) },
  };
}

const GROUP_BY_NAME: Record<string, Group> = { x25519: Group.X25519, ffdhe2048: Group.FFDHE2048, ffdhe3072: Group.FFDHE3072 };

/** The application items each side sends: two items, then KEY_UPDATE, then one after it. */
export function appItems(side: "i" | "r"): Item[][] {
  const instance = det(`instance ${side}`, 8);
  return [
    [{ kind: "profile", instance, name: side === "i" ? "alice" : "bob" }, { kind: "text", id: 1n, text: side === "i" ? "hi bob" : "hello alice ☕" }],
    [{ kind: "key_update" }],
    [{ kind: "text", id: 2n, text: side === "i" ? "after the key update" : "new keys here too" }],
  ];
}

/** Run the whole exchange from the inputs and record every value. */
export function buildTranscript(inp: VectorInputs): Record<string, unknown> {
  const group = GROUP_BY_NAME[inp.group]!;
  const idI = ed25519FromSeed(fromHex(inp.initiator.identity_seed));
  const idR = ed25519FromSeed(fromHex(inp.responder.identity_seed));
  const privI = fromHex(inp.initiator.ephemeral_private), privR = fromHex(inp.responder.ephemeral_private);
  const shareI = ephemeralShare(group, privI), shareR = ephemeralShare(group, privR);
  const rndI = new FixedRandom(inp.initiator.ivs.map(fromHex)), rndR = new FixedRandom(inp.responder.ivs.map(fromHex));
  const ini = new Initiator({ group, share: shareI, nonce: fromHex(inp.initiator.nonce), identity: idI, random: rndI });
  const res = new Responder({ accept: [group], nonce: fromHex(inp.responder.nonce), identity: idR, random: rndR });

  const hello = ini.hello();
  const req = res.recv(frame(hello));
  if (req.kind !== "kex") throw new Error("expected kex");
  const z = shared(group, privR, req.peerShare);
  const zHex = toHex(z);
  const [reply, authR] = res.completeKex(shareR, z);
  const req2 = ini.recv(frame(reply!));
  if (req2.kind !== "kex") throw new Error("expected kex");
  ini.completeKex(shared(group, privI, req2.peerShare));
  const doneI = ini.recv(frame(authR!)) as Done;
  const authI = doneI.send[0]!;
  const doneR = res.recv(frame(authI)) as Done;

  const th1 = sha256(hello, reply!), th2 = sha256(hello, reply!, authR!), th3 = sha256(hello, reply!, authR!, authI);
  const hs = handshakeSecret(fromHex(zHex));
  const hk = handshakeKeys(hs, th1);
  const ts = trafficSecrets(hs, th3);
  const records = (side: "i" | "r") => {
    const w = side === "i" ? doneI.result.writer : doneR.result.writer;
    const rd = side === "i" ? doneR.result.reader : doneI.result.reader;
    return appItems(side).map((items) => {
      const ku = items.some((x) => x.kind === "key_update");
      const pt = encodeItems(items);
      const rec = w.seal(pt, ku);
      const back = rd.open(rec);
      if (toHex(back) !== toHex(pt)) throw new Error("record did not round-trip");
      if (ku) rd.update();
      return { plaintext: toHex(pt), frame: toHex(rec) };
    });
  };
  return {
    ...inp,
    derived: {
      initiator_share: toHex(shareI),
      responder_share: toHex(shareR),
      initiator_identity: toHex(idI.publicKey),
      responder_identity: toHex(idR.publicKey),
      Z: zHex,
      th1: toHex(th1),
      th2: toHex(th2),
      th3: toHex(th3),
      hs: toHex(hs),
      hk_i2r: toHex(hk.i2r),
      hk_r2i: toHex(hk.r2i),
      ts_i2r: toHex(ts.i2r),
      ts_r2i: toHex(ts.r2i),
      keys_ts_i2r: toHex(trafficKeys(ts.i2r)),
      keys_ts_r2i: toHex(trafficKeys(ts.r2i)),
      next_ts_i2r: toHex(nextSecret(ts.i2r)),
      next_ts_r2i: toHex(nextSecret(ts.r2i)),
      keys_next_ts_i2r: toHex(trafficKeys(nextSecret(ts.i2r))),
      keys_next_ts_r2i: toHex(trafficKeys(nextSecret(ts.r2i))),
    },
    frames: { hello: toHex(hello), hello_reply: toHex(reply!), responder_auth: toHex(authR!), initiator_auth: toHex(authI) },
    records_i2r: records("i"),
    records_r2i: records("r"),
  };
}

function ephemeralShare(group: Group, priv: Uint8Array): Uint8Array {
  // Same derivation as helpers.ephemeral, from the stored private value.
  if (group === Group.X25519) return x25519Public(priv);
  return ffdheContext(GROUP_NAMES[group] as FfdheName).publicShare(priv);
}
