/** What the sender tests share: the bytes they send, and files of them to offer. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempHome } from "../../support/home.ts";

/** `n` bytes of a pattern that `seed` shifts. */
export const bytes = (n: number, seed = 1) => new Uint8Array(n).map((_, i) => (i * 13 + seed) & 0xff);

/** Files of `content` to send, in a fresh folder. */
export function files(n: number, content: Uint8Array): string[] {
  const dir = tempHome("sotto-src-");
  return Array.from({ length: n }, (_, i) => {
    const p = join(dir, `f${i}.bin`);
    writeFileSync(p, content);
    return p;
  });
}
