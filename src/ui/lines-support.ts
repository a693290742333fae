/** Line mode's helpers (lines.ts): the api with each typed line's sends counted, a wait a wake or a timer ends, and the events that end a dial's first attempt. */
import type { ChatApi, ChatEvent } from "../chat/events.ts";

/**
 * `api` with each sendAll result reported to `seen`, and each sendAll / sendTo between
 * `around`'s two calls. A Proxy, so every member of the api (disconnect, files, …) is
 * there as it is on the real one; methods run on the real object (ChatNode has #private fields).
 */
export function countingSendAll(api: ChatApi, seen: (n: number) => void, around: { begin(): void; end(): void }): ChatApi {
  const wrap = <A extends unknown[], R>(f: (...a: A) => R) => (...a: A): R => {
    around.begin();
    try {
      return f(...a);
    } finally {
      around.end();
    }
  };
  const sendAll = wrap((text: string) => {
    const n = api.sendAll(text);
    seen(n);
    return n;
  });
  const sendTo = wrap((name: string, text: string) => api.sendTo(name, text));
  return new Proxy(api, {
    get(target, key) {
      if (key === "sendAll") return sendAll;
      if (key === "sendTo") return sendTo;
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** Resolves when the wake function handed to `hold` is called, or after `ms`; `hold` gets null once it resolved. */
export function wakeOrAfter(ms: number, hold: (wake: (() => void) | null) => void): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(wake, ms);
    function wake(): void {
      clearTimeout(timer);
      hold(null);
      resolve();
    }
    hold(wake);
  });
}

/** The address whose first dial attempt `e` ends, one way or the other (line mode holds input until each has one); null for any other event. */
export function dialOutcome(e: ChatEvent): string | null {
  if (e.type === "connected") return e.role === "initiator" ? e.address.toLowerCase() : null;
  if (e.type === "already_connected") return e.address.toLowerCase();
  if (e.type === "reconnecting" || e.type === "rejected" || e.type === "key_changed") return e.address.toLowerCase();
  return null;
}
