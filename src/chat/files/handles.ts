/**
 * The ids the person types (/accept, /reject, /cancel, /transfers): one per transfer as
 * the person sees it (PROTOCOL §11.11): a set (a folder, or one file we send), or the
 * file of a plain offer (from a sender without FILE_SET). A set a peer offers keeps the
 * sender's label as its id unless that id is taken here.
 */
import { randomBytes } from "node:crypto";
import { ChatError, type TransferInfo } from "../events.ts";
import type { Handle } from "./state.ts";

export class Handles {
  readonly byId = new Map<string, Handle>();

  /** An id for `h`: `want` (the sender's FILE_SET label) when free and not "all", else 4 random digits not in use. */
  register(h: Handle, want?: string): string {
    // "all" is a word of /accept, /reject and /cancel (in any case): a peer's label never takes it.
    let id = want?.toLowerCase() === "all" ? undefined : want;
    while (id === undefined || this.byId.has(id)) id = String(1000 + (randomBytes(2).readUInt16BE(0) % 9000));
    this.byId.set(id, h);
    return id;
  }

  /** `h` ended: its id is free again. A file of a set has none of its own (the set's lives on). */
  forget(h: Handle): void {
    if ("set" in h && h.set !== null) return;
    const id = "local" in h ? h.local : h.id;
    if (this.byId.get(id) === h) this.byId.delete(id);
  }

  /** Offers waiting for the person: plain ones, and sets (each once). */
  waiting(): Handle[] {
    return [...this.byId.values()].filter(waiting);
  }

  /** `id`'s handle when `ok` says it may be used; without an id, `all()`. @throws ChatError unknown_transfer */
  pick(id: string | undefined, all: () => Handle[], what: string, ok: (h: Handle) => boolean): Handle[] {
    if (id === undefined) return all();
    const h = this.byId.get(id.replace(/^#/, ""));
    if (h === undefined || !ok(h)) throw new ChatError("unknown_transfer", `no ${what} has id ${JSON.stringify(id.slice(0, 20))}; /transfers lists them`);
    return [h];
  }

  /** Without an id: the one waiting offer; "all": every one; several waiting and no id → ChatError bad_command. */
  answerable(id: string | undefined, verb: string): Handle[] {
    if (id?.toLowerCase() === "all") return this.waiting();
    return this.pick(
      id,
      () => {
        const all = this.waiting();
        if (all.length <= 1) return all;
        throw new ChatError("bad_command", `${all.length} offers are waiting; /${verb} ID ${verb}s one (/transfers lists their ids), /${verb} all ${verb}s every one`);
      },
      "offer waiting for an answer",
      waiting,
    );
  }
}

/** An offer waiting for the person: a plain one, or a set not yet answered that has shown its offer. */
function waiting(h: Handle): boolean {
  if (h.dir !== "receive") return false;
  if ("label" in h) return !h.accepted && !h.ended && h.shown !== "none";
  return h.state === "offered" && !h.accepted;
}

/** One line of /transfers: a set over all its files. */
export function info(h: Handle, nameOf: (pid: string) => string): TransferInfo {
  if (!("members" in h)) {
    return { id: h.local, direction: h.dir, peer: nameOf(h.pid), name: h.name, size: h.size, bytes: h.dir === "send" ? h.offset : h.next, state: h.dir === "receive" && h.state === "offered" && h.accepted ? "accepted" : h.state };
  }
  const state = h.dir === "receive" && !h.accepted ? "offered" : h.shown === "accepted" ? (h.dir === "send" ? "sending" : "receiving") : h.shown === "paused" ? "paused" : h.dir === "send" ? "offered" : "accepted";
  return { id: h.id, direction: h.dir, peer: nameOf(h.pid), name: h.name, size: h.total, bytes: h.bytes, state, ...(h.count > 1 ? { files: h.count } : {}) };
}
