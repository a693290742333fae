/**
 * Worker thread that does the finite-field Diffie-Hellman arithmetic, so that building
 * a group's context (~0.44 s, once) never blocks the main event loop.
 * Private exponents are drawn here and never leave this thread; a few key pairs are
 * made ahead of need while the worker is idle, and each is used for one exchange only.
 *
 * Messages in:  {id, op: "share", group}              → {id, share}     (keeps x under id)
 *               {id, op: "finish", group, peer}       → {id, z}         (forgets x)
 *               {id, op: "respond", group, peer}      → {id, share, z}  (x never stored)
 *               {id, op: "respond-check", group, peer} → the same with subgroupOk: true, or
 *                                                         {id, subgroupOk: false} (no Z made)
 *               {id, op: "drop"}                                          (forgets x)
 * Errors come back as {id, error: message}.
 */
import { randomFillSync } from "node:crypto";
import { checkFfdheShare, FFDHE, ffdheContext, type FfdheName } from "../crypto/ffdhe.ts";

declare const self: Worker;

const MAX_PENDING = 65_536;
const pending = new Map<number, Uint8Array>();

function exponent(name: FfdheName): Uint8Array {
  const ctx = ffdheContext(name);
  const x = new Uint8Array(ctx.group.exponentLen);
  do randomFillSync(x);
  while (x.every((b, i) => (i === x.length - 1 ? b < 2 : b === 0)));
  return x;
}

// Key pairs made ahead of need while the worker is idle, so a handshake waits for one
// exponentiation (Z) instead of two. Each pair is used once and wiped.
const POOL_TARGET = 4;
const pools = new Map<FfdheName, { x: Uint8Array; share: Uint8Array }[]>();
let refillScheduled = false;

function keyPair(name: FfdheName): { x: Uint8Array; share: Uint8Array } {
  const pool = pools.get(name) ?? [];
  pools.set(name, pool);
  const kp = pool.pop() ?? (() => {
    const x = exponent(name);
    return { x, share: ffdheContext(name).publicShare(x) };
  })();
  if (!refillScheduled) {
    refillScheduled = true;
    setTimeout(refill, 0);
  }
  return kp;
}

function refill(): void {
  refillScheduled = false;
  for (const [name, pool] of pools) {
    if (pool.length < POOL_TARGET) {
      const x = exponent(name);
      pool.push({ x, share: ffdheContext(name).publicShare(x) });
      if (pool.length < POOL_TARGET && !refillScheduled) {
        // One pair per turn, so requests are never kept waiting long.
        refillScheduled = true;
        setTimeout(refill, 0);
      }
    }
  }
}

self.onmessage = (ev: MessageEvent) => {
  const m = ev.data as { id: number; op: string; group: FfdheName; peer?: Uint8Array };
  try {
    switch (m.op) {
      case "warm":
        ffdheContext(m.group);
        self.postMessage({ id: m.id });
        return;
      case "share": {
        if (pending.size >= MAX_PENDING) throw new Error("too many pending exchanges");
        const kp = keyPair(m.group);
        pending.set(m.id, kp.x);
        self.postMessage({ id: m.id, share: kp.share });
        return;
      }
      case "finish": {
        const x = pending.get(m.id);
        pending.delete(m.id);
        if (x === undefined) throw new Error("no pending exchange");
        const z = ffdheContext(m.group).sharedSecret(x, m.peer!);
        x.fill(0);
        self.postMessage({ id: m.id, z });
        return;
      }
      case "respond-check":
      case "respond": {
        // respond-check: the subgroup check first (PROTOCOL §3.2); a share that fails it gets no Z.
        if (m.op === "respond-check" && checkFfdheShare(FFDHE[m.group], m.peer!) !== null) {
          self.postMessage({ id: m.id, subgroupOk: false });
          return;
        }
        const { x, share } = keyPair(m.group);
        const z = ffdheContext(m.group).sharedSecret(x, m.peer!);
        x.fill(0);
        self.postMessage({ id: m.id, share, z, subgroupOk: m.op === "respond-check" ? true : undefined });
        return;
      }
      case "drop":
        pending.get(m.id)?.fill(0);
        pending.delete(m.id);
        return;
    }
    throw new Error(`unknown op ${m.op}`);
  } catch (e) {
    self.postMessage({ id: m.id, error: (e as Error).message });
  }
};
