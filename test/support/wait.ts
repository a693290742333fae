/**
 * The one way tests wait: poll a condition until it holds, or fail with what was awaited.
 * Tests assert counts and order; the deadline only bounds how long a broken build hangs.
 */

/**
 * Resolve with the first truthy value of `f()`, polled every `everyMs`.
 * @throws Error naming `what` when `ms` pass first (a function: read then, e.g. to add a screen).
 */
export async function until<T>(what: string | (() => string), f: () => T | undefined | null | false, ms = 10_000, everyMs = 5): Promise<T> {
  const end = performance.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== null && v !== false) return v;
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${typeof what === "string" ? what : what()}`);
    await Bun.sleep(everyMs);
  }
}
