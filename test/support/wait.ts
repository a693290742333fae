/**
 * The one way tests wait: poll a condition until it holds, or fail with what was awaited.
 * Tests assert counts and order; the deadline only bounds how long a broken build hangs.
 */

/**
 * Resolve with the first truthy value of `f()`, polled every `everyMs`.
 * @throws Error naming `what` when `ms` pass first.
 */
export async function until<T>(what: string, f: () => T | undefined | null | false, ms = 10_000, everyMs = 5): Promise<T> {
  const end = performance.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== null && v !== false) return v;
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await Bun.sleep(everyMs);
  }
}
