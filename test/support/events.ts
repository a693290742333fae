import type { ChatEvent } from "../../src/chat/events.ts";

/** The events of one type, typed as that type. */
export const of = <T extends ChatEvent["type"]>(ev: ChatEvent[], t: T) => ev.filter((e): e is Extract<ChatEvent, { type: T }> => e.type === t);
