/**
 * Refused connections, as the person is told of them: a flood is reported, not echoed
 * (the first refusal at once, then one summary a second).
 */
import type { ChatListener } from "../events.ts";

export class RefusalReports {
  readonly #emit: ChatListener;
  #r: { count: number; address: string; reason: string; timer: ReturnType<typeof setTimeout> | null } = { count: 0, address: "", reason: "", timer: null };

  constructor(emit: ChatListener) {
    this.#emit = emit;
  }

  refused(address: string, reason: string): void {
    const r = this.#r;
    r.count++;
    r.address = address;
    r.reason = reason;
    if (r.timer !== null) return;
    const report = () => {
      if (r.count > 0) this.#emit({ type: "refused", address: r.address, reason: r.reason, count: r.count });
      r.count = 0;
    };
    report();
    r.timer = setTimeout(() => {
      r.timer = null;
      report();
    }, 1000);
    r.timer.unref?.();
  }

  close(): void {
    if (this.#r.timer !== null) clearTimeout(this.#r.timer);
  }
}
