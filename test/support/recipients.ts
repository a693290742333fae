/** What the Recipients tests share: a `sent` event as the chat emits one. */

/** A sent event of "hi" to `peer` under `id` (queued when asked). */
export const sent = (peer: string, id: string, queued = false) => ({ type: "sent" as const, peer, id, text: "hi", private: false, time: 1, ...(queued ? { queued: true } : {}) });
