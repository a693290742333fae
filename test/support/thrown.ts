/** The one way tests take the error a call throws, of the class they expect. */

/**
 * The `cls` error that `fn` throws.
 * @throws Error when `fn` returns, or throws something else (as its cause).
 */
export function thrown<E extends Error>(cls: abstract new (...args: never[]) => E, fn: () => unknown): E {
  try {
    fn();
  } catch (e) {
    if (e instanceof cls) return e;
    throw new Error(`expected a ${cls.name}, got ${String(e)}`, { cause: e });
  }
  throw new Error(`expected a ${cls.name}, but the call returned`);
}
