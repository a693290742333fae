/**
 * jsonLine (format.ts) for line mode's per-line events, without re-encoding the text:
 * a piped line's text is in its `sent` event (one per recipient) and its `recipients`
 * event, so it is encoded once (the last text is remembered) and spliced into each
 * event's JSON. The result is exactly jsonLine's: the event is stringified with the text
 * replaced by 0, and `"text":0` can only be that key: inside a JSON string every `"` is
 * escaped, so the sequence cannot occur there, and the events spliced (SPLICED) have no
 * object before their `text` that could hold such a key.
 *
 * The two events every piped line makes (`sent` and `recipients`, with exactly the keys
 * the chat gives them, in its order), and the `message` every line shown makes, are
 * written out field by field instead (no copy of the event, no stringify of it; the
 * peer's name and fingerprint encoded once while they repeat): the same bytes, which the
 * tests compare with jsonLine's. A string with nothing in it that JSON or jsonLine writes otherwise than as itself (a
 * quote, a backslash, a control, DEL or C1, a separator, a surrogate) is that string in
 * quotes: one scan of it, where stringify and jsonLine's C1 test made two. @throws never
 */
import { jsonLine } from "./format.ts";

/** What jsonLine writes otherwise than as itself in a string: `"`, `\`, controls, DEL and C1, U+2028/9, surrogates (a lone one is escaped). */
const SPECIAL = /["\\\u0000-\u001f\u007f-\u009f\u2028\u2029\ud800-\udfff]/;

/** jsonLine(s) for a string: itself in quotes when nothing in it is written otherwise. */
export function jsonString(s: string): string {
  return SPECIAL.test(s) ? jsonLine(s) : `"${s}"`;
}

/** Texts shorter than this go through jsonLine as they are (splicing costs more than it saves). */
const SPLICE_FROM = 128;
/**
 * The events a line's text is spliced into: our own line's, which repeat its text (one
 * `sent` per recipient, then `recipients`), each flat up to `text`. (A `message` of the
 * chat's own shape is written field by field, #messageParts; of another, as jsonLine.)
 */
const SPLICED = new Set(["sent", "recipients", "unsent"]);

/**
 * The keys of the chat's `message` event (node/delivery.ts), in its order, one list per
 * shape: a contact's, a request's, a request's with a lookalike; `written` last, when there.
 */
const MESSAGE_KEYS = [
  ["type", "peer", "verified", "fingerprint", "id", "text", "time", "private"],
  ["type", "peer", "request", "fingerprint", "id", "text", "time", "private"],
  ["type", "peer", "request", "lookalike", "fingerprint", "id", "text", "time", "private"],
];
/** The keys of the chat's `sent` event (delivery.ts), in its order; `queued` only when true. */
const SENT_KEYS = ["type", "peer", "id", "text", "private", "time"];
/** The keys of line mode's `recipients` event (lines.ts), in its order, and of each recipient. */
const RECIPIENTS_KEYS = ["type", "line", "text", "private", "time", "recipients"];
const RECIPIENT_KEYS = ["peer", "id", "state"];

/**
 * Whether `o` has exactly `keys` (plus `extra`, last), in that order, all its own. for-in
 * walks the keys Object.keys lists, in its order, without making their array (per event,
 * per line); then inherited enumerable keys, which JSON leaves out: an inherited key in
 * the place of the last (a `queued` or `written` the object lacks) would be written as if
 * its own, so the last key walked must be own, and then all before it are. Such an object
 * is not of the shape, and goes the way of any event (jsonLine).
 */
function keysAre(o: object, keys: readonly string[], extra?: string): boolean {
  let i = 0;
  let last = "";
  for (const k in o) {
    if (i < keys.length ? k !== keys[i] : i > keys.length || k !== extra) return false;
    last = k;
    i++;
  }
  return (i === keys.length || (extra !== undefined && i === keys.length + 1)) && Object.hasOwn(o, last);
}

/** A recipient's state as JSON: the three line mode sets, written once. */
function stateJson(state: string): string {
  return state === "sent" ? '"sent"' : state === "delivered" ? '"delivered"' : state === "queued" ? '"queued"' : jsonString(state);
}

type Sent = { type: "sent"; peer: unknown; id: unknown; text: unknown; private: unknown; time: unknown; queued?: unknown };
type Recipients = { type: "recipients"; line: unknown; text: unknown; private: unknown; time: unknown; recipients: unknown };
type Message = { type: "message"; peer: unknown; verified?: unknown; request?: unknown; lookalike?: unknown; fingerprint: unknown; id: unknown; text: unknown; time: unknown; private: unknown; written?: unknown };

/** One value's JSON, remembered while the same value comes again (0 and -0 are both "0"). */
class LastJson<K> {
  #key: K | undefined = undefined;
  #json = "";
  constructor(readonly encode: (k: K) => string) {}

  of(k: K): string {
    if (k !== this.#key) {
      this.#json = this.encode(k);
      this.#key = k;
    }
    return this.#json;
  }
}

export class JsonEvents {
  #text: string | null = null;
  #json = "";
  /** Strings and numbers that repeat from event to event: a peer's name and fingerprint, a line's id (its `sent` and its `recipients` carry the same one), a time (the lines of one burst share their millisecond, whose digits cost a conversion of a double each). */
  readonly #name = new LastJson(jsonString);
  readonly #fp = new LastJson(jsonString);
  readonly #id = new LastJson(jsonString);
  readonly #time = new LastJson<number>(String);

  /** Whether the remembered text is its JSON without the quotes (nothing in it escaped). */
  #plain = false;

  /** JSON of the line's text, encoded once for all its events. */
  #textJson(text: string): string {
    if (text !== this.#text) {
      this.#plain = !SPECIAL.test(text);
      this.#json = this.#plain ? `"${text}"` : jsonLine(text);
      this.#text = text;
    }
    return this.#json;
  }

  /**
   * Push jsonLine(e) and a newline onto `out` as pieces whose concatenation is that line
   * (line mode joins a tick's pieces once): a piped line's text goes in as it is, not
   * spliced into a string of its event, which each use would copy again.
   */
  pieces(e: { type: string }, out: string[]): void {
    const parts = this.#parts(e);
    if (parts === null) {
      out.push(this.line(e), "\n");
      return;
    }
    const json = this.#textJson((e as unknown as { text: string }).text);
    if (this.#plain) out.push(`${parts[0]}"`, this.#text!, `"${parts[1]}\n`);
    else out.push(parts[0], json, `${parts[1]}\n`);
  }

  /**
   * The `recipients` event of a line (recipients.ts TrackedLine), as pieces(e) pushes
   * that event: written from the line itself, with no event object, no copy of its
   * recipients and no check of their keys (its shape is known here). `line` is a whole
   * number; a time that is not finite goes the way of any event. @throws never
   */
  recipientsPieces(l: { line: number; text: string; private: boolean; time: number; recipients: readonly { peer: string; id: string; state: string }[] }, out: string[]): void {
    if (!Number.isSafeInteger(l.line) || !Number.isFinite(l.time)) {
      this.pieces({ type: "recipients", line: String(l.line), text: l.text, private: l.private, time: l.time, recipients: l.recipients.map((r) => ({ peer: r.peer, id: r.id, state: r.state })) } as { type: string }, out);
      return;
    }
    const rs = l.recipients;
    let list = "";
    for (let i = 0; i < rs.length; i++) {
      const r = rs[i]!;
      const one = `{"peer":${this.#name.of(r.peer)},"id":${this.#id.of(r.id)},"state":${stateJson(r.state)}}`;
      list = i === 0 ? one : `${list},${one}`;
    }
    const json = this.#textJson(l.text);
    const tail = `,"private":${l.private},"time":${this.#time.of(l.time)},"recipients":[${list}]}\n`;
    if (this.#plain) out.push(`{"type":"recipients","line":"${l.line}","text":"`, l.text, `"${tail}`);
    else out.push(`{"type":"recipients","line":"${l.line}","text":`, json, tail);
  }

  /**
   * The `delivered` event of an ACK, as pieces(e) pushes it for `{ type: "delivered",
   * peer, lines }` with each line's number as a string: written from the lines
   * (recipients.ts TrackedLine, numbers counting from 1) without that event or its list. @throws never
   */
  deliveredPieces(peer: string, lines: readonly { line: number }[], out: string[]): void {
    const numbers = new Array<string>(lines.length);
    for (let i = 0; i < lines.length; i++) {
      const n = lines[i]!.line;
      // A whole number's string needs no escape; any other goes the way of any event.
      if (!Number.isSafeInteger(n)) return this.pieces({ type: "delivered", peer, lines: lines.map((l) => String(l.line)) } as { type: string }, out);
      numbers[i] = String(n);
    }
    // One join (native) for the list: a string built number by number cost more than the JSON.stringify it replaces.
    out.push(`{"type":"delivered","peer":${jsonString(peer)},"lines":${numbers.length === 0 ? "[]" : `["${numbers.join('","')}"]`}}\n`);
  }

  /** One event as one JSON line, as jsonLine(e). */
  line(e: { type: string }): string {
    const parts = this.#parts(e);
    if (parts !== null) return `${parts[0]}${this.#textJson((e as unknown as { text: string }).text)}${parts[1]}`;
    const text = (e as { text?: unknown }).text;
    if (typeof text !== "string" || text.length < SPLICE_FROM || !SPLICED.has(e.type)) return jsonLine(e);
    this.#textJson(text);
    const rest = jsonLine({ ...e, text: 0 });
    const at = rest.indexOf('"text":0');
    return `${rest.slice(0, at + 7)}${this.#json}${rest.slice(at + 8)}`;
  }

  /** The JSON before and after the text of a `sent`, `recipients` or `message` event of the chat's own shape; null for any other. */
  #parts(e: { type: string }): [string, string] | null {
    if (e.type === "sent") return this.#sentParts(e as Sent);
    if (e.type === "message") return this.#messageParts(e as Message);
    if (e.type === "recipients") return this.#recipientsParts(e as Recipients);
    return null;
  }

  /** A `message` event as the chat makes it (one of MESSAGE_KEYS), field by field, as its JSON before and after the text; null when it is not of that shape. */
  #messageParts(e: Message): [string, string] | null {
    const { peer, fingerprint, id, text, time, written } = e;
    if (typeof peer !== "string" || typeof fingerprint !== "string" || typeof id !== "string" || typeof text !== "string" || typeof e.private !== "boolean" || typeof time !== "number" || !Number.isFinite(time)) return null;
    if (written !== undefined && (typeof written !== "number" || !Number.isFinite(written))) return null;
    const shape = typeof e.verified === "boolean" ? 0 : typeof e.request !== "string" ? -1 : e.lookalike === undefined ? 1 : typeof e.lookalike === "string" ? 2 : -1;
    if (shape < 0 || !keysAre(e, MESSAGE_KEYS[shape]!, "written")) return null;
    const who = shape === 0 ? `"verified":${e.verified as boolean}` : shape === 1 ? `"request":${jsonString(e.request as string)}` : `"request":${jsonString(e.request as string)},"lookalike":${jsonString(e.lookalike as string)}`;
    return [
      `{"type":"message","peer":${this.#name.of(peer)},${who},"fingerprint":${this.#fp.of(fingerprint)},"id":${this.#id.of(id)},"text":`,
      `,"time":${this.#time.of(time)},"private":${e.private}${written === undefined ? "" : `,"written":${String(written)}`}}`,
    ];
  }

  /** A `sent` event as the chat makes it, field by field, as its JSON before and after the text; null when it is not of that shape. */
  #sentParts(e: Sent): [string, string] | null {
    const { peer, id, text, time } = e;
    if (typeof peer !== "string" || typeof id !== "string" || typeof text !== "string" || typeof e.private !== "boolean" || typeof time !== "number" || !Number.isFinite(time)) return null;
    if (!keysAre(e, SENT_KEYS, "queued") || (e.queued !== undefined && e.queued !== true)) return null;
    return [`{"type":"sent","peer":${this.#name.of(peer)},"id":${this.#id.of(id)},"text":`, `,"private":${e.private},"time":${this.#time.of(time)}${e.queued === true ? ',"queued":true' : ""}}`];
  }

  /** A `recipients` event as line mode makes it, field by field, as its JSON before and after the text; null when it is not of that shape. */
  #recipientsParts(e: Recipients): [string, string] | null {
    const { line, text, time, recipients } = e;
    if (typeof line !== "string" || typeof text !== "string" || typeof e.private !== "boolean" || typeof time !== "number" || !Number.isFinite(time) || !Array.isArray(recipients)) return null;
    if (!keysAre(e, RECIPIENTS_KEYS)) return null;
    let list = "";
    for (const r of recipients as unknown[]) {
      if (typeof r !== "object" || r === null || !keysAre(r, RECIPIENT_KEYS)) return null;
      const { peer, id, state } = r as { peer: unknown; id: unknown; state: unknown };
      if (typeof peer !== "string" || typeof id !== "string" || typeof state !== "string") return null;
      list += `${list === "" ? "" : ","}{"peer":${this.#name.of(peer)},"id":${this.#id.of(id)},"state":${stateJson(state)}}`;
    }
    return [`{"type":"recipients","line":${jsonString(line)},"text":`, `,"private":${e.private},"time":${this.#time.of(time)},"recipients":[${list}]}`];
  }
}
