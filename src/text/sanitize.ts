/**
 * Making peer-controlled text safe to print (docs/SECURITY.md §3.F: terminal escapes, log
 * injection, invalid UTF-8).
 *
 * Everything a peer sends (message text, nicknames, bye reasons, version strings) goes
 * through one of these before it reaches the terminal or a log line:
 *
 *   1. bytes → string with `decodeUtf8Strict`: invalid UTF-8 is refused, never patched
 *      with U+FFFD (the default decoder silently substitutes).
 *   2. string → printable with `sanitizeForTerminal` (message bodies: keeps "\n" and
 *      "\t") or `sanitizeLine` (single-line contexts: escapes those too).
 *
 * Escape convention (one, readable, never itself a control character):
 *   - C0 controls U+0000–U+001F, DEL U+007F and C1 controls U+0080–U+009F are written
 *     as JavaScript-style escapes: `\t` `\n` `\r` for those three, `\xHH` (two lowercase
 *     hex digits) for the rest, so ESC → `\x1b`, BEL → `\x07`, CSI U+009B → `\x9b`.
 *   - bidi controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069; "Trojan
 *     Source", CVE-2021-42574) are written as `<U+202E>`; so are the line and paragraph
 *     separators U+2028/U+2029 in `sanitizeLine`, since some renderers break lines there.
 *   - a lone surrogate (unpaired UTF-16 half) becomes U+FFFD.
 * Backslashes are not doubled: the output is for display, not meant to be reversible,
 * and a peer typing a literal `\x1b` can do no harm with it.
 *
 * In `sanitizeForTerminal` a CR directly followed by LF is dropped (CRLF → LF); any
 * other CR is escaped, because a bare CR returns the cursor and lets a peer overwrite
 * what is already on the line.
 */

/** The message used for every strict-decoding failure. */
const INVALID_UTF8 = "text is not valid UTF-8";

/** Thrown by `decodeUtf8Strict` when the bytes are not well-formed UTF-8. */
export class InvalidUtf8Error extends Error {
  readonly code = "invalid_utf8" as const;
  constructor() {
    super(INVALID_UTF8);
    this.name = "InvalidUtf8Error";
  }
}

// One decoder for the process: with fatal: true and no streaming it keeps no state.
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Decode `bytes` as UTF-8, refusing overlongs, surrogates, truncated sequences, bytes
 * F5–FF and stray continuation bytes. A leading BOM is dropped, as TextDecoder does.
 * @throws InvalidUtf8Error when `bytes` is not well-formed UTF-8.
 */
export function decodeUtf8Strict(bytes: Uint8Array): string {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    throw new InvalidUtf8Error();
  }
}

/** The ellipsis appended when text is cut at `maxLen`. */
export const ELLIPSIS = "…";

/** True for the bidi formatting characters that can reorder what a terminal shows. */
function isBidiControl(c: number): boolean {
  return c === 0x061c || c === 0x200e || c === 0x200f || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

function hex2(c: number): string {
  return c.toString(16).padStart(2, "0");
}

/** `<U+XXXX>` for a BMP code point. */
function uPlus(c: number): string {
  return `<U+${c.toString(16).toUpperCase().padStart(4, "0")}>`;
}

/**
 * The visible form of one UTF-16 unit (not a surrogate), or null when it prints as is.
 * `line` selects single-line mode, where "\n", "\t" and U+2028/U+2029 are escaped too.
 */
function escapeUnit(c: number, line: boolean): string | null {
  if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) {
    if (c === 0x0a) return line ? "\\n" : null;
    if (c === 0x09) return line ? "\\t" : null;
    if (c === 0x0d) return "\\r";
    return `\\x${hex2(c)}`;
  }
  if (isBidiControl(c)) return uPlus(c);
  if (line && (c === 0x2028 || c === 0x2029)) return uPlus(c);
  return null;
}

function checkMaxLen(maxLen: number | undefined): void {
  if (maxLen !== undefined && (!Number.isSafeInteger(maxLen) || maxLen < 1)) {
    throw new RangeError(`"maxLen" expected a positive integer, got ${maxLen}`);
  }
}

/**
 * The shared walk. Output pieces are whole: an escape or a surrogate pair is never cut.
 * With `maxLen`, the result is at most `maxLen` UTF-16 units, the last being "…" when
 * anything was cut; the walk stops as soon as the cap is passed, so a huge input costs
 * O(maxLen) work.
 */
function sanitize(s: string, line: boolean, maxLen: number | undefined): string {
  checkMaxLen(maxLen);
  let out = "";
  let cut = 0; // out.length at the last piece boundary that still leaves room for "…"
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let piece: string;
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1); // NaN past the end
      if (d >= 0xdc00 && d <= 0xdfff) {
        piece = s.slice(i, i + 2);
        i++;
      } else {
        piece = "\ufffd";
      }
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      piece = "\ufffd";
    } else if (c === 0x0d && !line && s.charCodeAt(i + 1) === 0x0a) {
      continue; // CRLF → LF: the LF comes next
    } else {
      piece = escapeUnit(c, line) ?? s[i]!;
    }
    if (maxLen !== undefined) {
      if (out.length + piece.length > maxLen) return out.slice(0, cut) + ELLIPSIS;
      if (out.length + piece.length <= maxLen - ELLIPSIS.length) cut = out.length + piece.length;
    }
    out += piece;
  }
  return out;
}

/**
 * Peer text made safe to print on a terminal: keeps "\n" and "\t", escapes every other
 * C0/C1 control, DEL and bare CR, shows bidi controls as `<U+XXXX>`, replaces lone
 * surrogates with U+FFFD, and caps the result at `maxLen` UTF-16 units with "…".
 * @throws RangeError when maxLen is given and is not a positive integer.
 */
export function sanitizeForTerminal(s: string, maxLen?: number): string {
  return sanitize(s, false, maxLen);
}

/**
 * Like `sanitizeForTerminal` for single-line contexts (names, bye reasons, log text):
 * "\n", "\t", every CR and U+2028/U+2029 are escaped too, so the result is one line.
 * @throws RangeError when maxLen is given and is not a positive integer.
 */
export function sanitizeLine(s: string, maxLen?: number): string {
  return sanitize(s, true, maxLen);
}
