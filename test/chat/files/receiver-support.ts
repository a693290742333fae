/** What the receiver tests share: a Harness in a temporary home for each test, closed by each file's afterEach, and the bytes they send. */
import { tempHome } from "../../support/home.ts";
import { Harness } from "./fake-session.ts";

/** Every Harness made by harness(), for the afterEach of each receiver test file to close. */
export const harnesses: Harness[] = [];
/** A Harness over `home` (a new temporary one unless given), kept in `harnesses`. */
export const harness = (o: ConstructorParameters<typeof Harness>[1] = {}, home = tempHome("sotto-recv-")) => {
  const h = new Harness(home, o);
  harnesses.push(h);
  return h;
};
/** `n` bytes of a pattern that `seed` shifts. */
export const bytes = (n: number, seed = 1) => new Uint8Array(n).map((_, i) => (i * 31 + seed) & 0xff);
