/**
 * The flush a session asks for when it queues an item (Session.send): every session that
 * queued items in this tick is flushed by one shared microtask, so that the items a
 * session queues in one tick share records (outbound.ts).
 */

// Sessions whose queued items are sealed in the next microtask: one shared queue, so a
// session needs no closure of its own.
let flushQueue: { flush(): void }[] = [];
function flushAll(): void {
  const q = flushQueue;
  flushQueue = [];
  for (const s of q) s.flush();
}

/** Call `s.flush()` in the next microtask (with every other session queued this tick). */
export function flushSoon(s: { flush(): void }): void {
  const n = flushQueue.length;
  if (n === 0) queueMicrotask(flushAll);
  // A session that sends and flushes many times in one tick is queued once, not once per send.
  else if (flushQueue[n - 1] === s) return;
  flushQueue.push(s);
}
