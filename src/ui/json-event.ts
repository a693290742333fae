/**
 * jsonLine (format.ts) for line mode's per-line events, without re-encoding the text:
 * a piped line's text is in its `sent` event (one per recipient) and its `recipients`
 * event, so it is encoded once (the last text is remembered) and spliced into each
 * event's JSON. The result is exactly jsonLine's: the event is stringified with the text
 * replaced by 0, and `"text":0` can only be that key: inside a JSON string every `"` is
 * escaped, so the sequence cannot occur there, and the events spliced (SPLICED) have no
 * object before their `text` that could hold such a key. @throws never
 */
import { jsonLine } from "./format.ts";

/** Texts shorter than this go through jsonLine as they are (splicing costs more than it saves). */
const SPLICE_FROM = 128;
/**
 * The events a line's text is spliced into: our own line's, which repeat its text (one
 * `sent` per recipient, then `recipients`), each flat up to `text`. A `message` has its
 * text once: jsonLine as it is costs less than encoding it apart and splicing.
 */
const SPLICED = new Set(["sent", "recipients", "unsent"]);

export class JsonEvents {
  #text: string | null = null;
  #json = "";

  /** One event as one JSON line, as jsonLine(e). */
  line(e: { type: string }): string {
    const text = (e as { text?: unknown }).text;
    if (typeof text !== "string" || text.length < SPLICE_FROM || !SPLICED.has(e.type)) return jsonLine(e);
    if (text !== this.#text) {
      this.#json = jsonLine(text);
      this.#text = text;
    }
    const rest = jsonLine({ ...e, text: 0 });
    const at = rest.indexOf('"text":0');
    return `${rest.slice(0, at + 7)}${this.#json}${rest.slice(at + 8)}`;
  }
}
