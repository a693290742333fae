/**
 * Partials of an earlier run (PROTOCOL §11.7): each becomes a paused transfer (listed by
 * /transfers, removable with /cancel) that the same sender's next offer resumes; those
 * older than the bounded age, or no longer usable, are deleted.
 */
import { safeRelativePath } from "./names.ts";
import type { Partials } from "./partials.ts";
import type { Incoming } from "./state.ts";

/** Turn the partials index of `store` into paused transfers in `byKey`, each given an id by `register` (and `restored`: their first offer is shown). */
export function restorePartials(store: Partials, register: (t: Incoming) => string, byKey: Map<string, Incoming>, restored: Set<Incoming>, maxAgeMs: number): void {
  for (const e of store.entries()) {
    const rel = safeRelativePath(e.name);
    const held = store.age(e) > maxAgeMs || rel === null ? null : store.size(e);
    store.release(e);
    if (held === null || held > e.size || byKey.has(e.key)) {
      store.remove(e);
      continue;
    }
    const t: Incoming = { dir: "receive", local: "", pid: e.pid, name: e.name, rel: rel!, size: e.size, sha256: new Uint8Array(Buffer.from(e.sha256, "hex")), key: e.key, partial: e, state: "paused", accepted: true, sf: null, wireId: 0n, next: held, hasher: null, meter: null, set: null, counted: 0 };
    t.local = register(t);
    byKey.set(e.key, t);
    restored.add(t);
  }
}

/** Paused transfers whose partial is older than `maxAgeMs`. */
export function stale(store: Partials, byKey: Map<string, Incoming>, maxAgeMs: number): Incoming[] {
  return [...byKey.values()].filter((t) => t.sf === null && t.partial !== null && store.age(t.partial) > maxAgeMs);
}

/** A duration for a person: "7 days", "3 hours", "20 seconds". */
export function span(ms: number): string {
  const [n, unit] = ms >= 86_400_000 ? [ms / 86_400_000, "day"] : ms >= 3_600_000 ? [ms / 3_600_000, "hour"] : [Math.max(1, ms / 1000), "second"];
  const r = Math.round(n);
  return `${r} ${unit}${r === 1 ? "" : "s"}`;
}
