/** The outputs node:crypto's Cipheriv `update` returned while `f` ran, every context's (the prototype's method wrapped, then put back): what a test of giving cipher outputs back looks at. */
import { createCipheriv } from "node:crypto";

export function cipherOutputs(f: () => void): Uint8Array[] {
  const proto = Object.getPrototypeOf(createCipheriv("aes-256-cbc", new Uint8Array(32), new Uint8Array(16))) as { update: (...a: unknown[]) => Uint8Array };
  const saved = Object.getOwnPropertyDescriptor(proto, "update")!;
  const seen: Uint8Array[] = [];
  Object.defineProperty(proto, "update", {
    ...saved,
    value: function (this: unknown, ...a: unknown[]) {
      const out = saved.value.apply(this, a) as Uint8Array;
      seen.push(out);
      return out;
    },
  });
  try {
    f();
  } finally {
    Object.defineProperty(proto, "update", saved);
  }
  return seen;
}
