import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ELLIPSIS, InvalidUtf8Error, decodeUtf8Strict, sanitizeForTerminal, sanitizeLine } from "../../src/text/sanitize.ts";

// docs/SECURITY.md §3.F: every payload a peer might use to take over the terminal.
const ESC = "\x1b";
const ST = ESC + "\\";
const PAYLOADS: Record<string, string> = {
  csi_clear_screen: `${ESC}[2J${ESC}[H`,
  csi_cursor_up_erase_line: `hi${ESC}[1A${ESC}[2K<alice> forged earlier line`,
  csi_sgr_hidden: `${ESC}[8msecret${ESC}[0m`,
  osc0_title_bel: `${ESC}]0;pwned\x07`,
  osc2_title_st: `${ESC}]2;pwned${ST}`,
  osc52_clipboard: `${ESC}]52;c;cm0gLXJmIH4K\x07`,
  osc8_hidden_link: `${ESC}]8;;https://evil.example/${ST}click me${ESC}]8;;${ST}`,
  c1_csi_9b: "\u009b2J\u009b31m",
  c1_osc_9d_st_9c: "\u009d0;pwned\u009c",
  c1_nel_85: "a\u0085b",
  bel: "ding\x07\x07",
  bare_cr_overwrite: "rm -rf ~\rls -la   ",
  del_7f: "abc\x7f\x7f",
  nul_and_backspace: "a\x00b\x08c",
  bidi_rlo_pdf: "access\u202Elevel\u202C",
  bidi_lre_rle_lro: "\u202A\u202B\u202Dx",
  bidi_isolates: "\u2066\u2067\u2068x\u2069",
  bidi_marks: "\u200E\u200F\u061C",
};

/** The characters that must never survive sanitizing (besides the allowed "\n" and "\t"). */
function isForbidden(c: number): boolean {
  return (
    (c < 0x20 && c !== 0x0a && c !== 0x09) ||
    (c >= 0x7f && c <= 0x9f) ||
    c === 0x061c ||
    c === 0x200e ||
    c === 0x200f ||
    (c >= 0x202a && c <= 0x202e) ||
    (c >= 0x2066 && c <= 0x2069)
  );
}

function forbiddenIn(s: string, line: boolean): number[] {
  const bad: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isForbidden(c) || (line && (c === 0x0a || c === 0x09 || c === 0x2028 || c === 0x2029))) bad.push(c);
  }
  return bad;
}

describe("sanitizeForTerminal / sanitizeLine: §F payloads", () => {
  for (const [name, payload] of Object.entries(PAYLOADS)) {
    test(`sanitize_${name}`, () => {
      const t = sanitizeForTerminal(payload);
      const l = sanitizeLine(payload);
      expect(forbiddenIn(t, false)).toEqual([]);
      expect(forbiddenIn(l, true)).toEqual([]);
      expect(t.isWellFormed()).toBe(true);
      // Escaped, not silently dropped: the output is never shorter than the input.
      expect(t.length).toBeGreaterThanOrEqual(payload.length);
    });
  }

  test("payloads reached through UTF-8 bytes are caught too (C1 as C2 9B)", () => {
    const text = decodeUtf8Strict(new Uint8Array([0x61, 0xc2, 0x9b, 0x32, 0x4a, 0xe2, 0x80, 0xae, 0x62]));
    expect(sanitizeForTerminal(text)).toBe("a\\x9b2J<U+202E>b");
  });
});

describe("escape convention", () => {
  test("C0, DEL and C1 as \\xHH; bidi as <U+XXXX>", () => {
    expect(sanitizeForTerminal(`${ESC}[2J`)).toBe("\\x1b[2J");
    expect(sanitizeForTerminal("\x07\x7f\u009b\x00")).toBe("\\x07\\x7f\\x9b\\x00");
    expect(sanitizeForTerminal("a\u202Eb\u2069")).toBe("a<U+202E>b<U+2069>");
  });

  test("newline and tab kept on the terminal, escaped on a line", () => {
    expect(sanitizeForTerminal("a\nb\tc")).toBe("a\nb\tc");
    expect(sanitizeLine("a\nb\tc")).toBe("a\\nb\\tc");
    expect(sanitizeLine("a\u2028b\u2029")).toBe("a<U+2028>b<U+2029>");
  });

  test("CRLF becomes LF, a bare CR is escaped; a line escapes both", () => {
    expect(sanitizeForTerminal("a\r\nb\rc\r")).toBe("a\nb\\rc\\r");
    expect(sanitizeLine("a\r\nb")).toBe("a\\r\\nb");
  });

  test("lone surrogates become U+FFFD; pairs survive", () => {
    expect(sanitizeForTerminal("a\ud800b\udc00c\ud83d")).toBe("a\ufffdb\ufffdc\ufffd");
    expect(sanitizeForTerminal("\ud83d\ude00")).toBe("😀");
  });

  test("ordinary text passes through untouched", () => {
    const s = "héllo wörld, 你好, مرحبا, 😀 \\x1b literal";
    expect(sanitizeForTerminal(s)).toBe(s);
    expect(sanitizeLine(s)).toBe(s);
  });
});

describe("length cap", () => {
  test("cuts with an ellipsis and never exceeds maxLen", () => {
    expect(sanitizeLine("abcdef", 4)).toBe("abc" + ELLIPSIS);
    expect(sanitizeLine("abcd", 4)).toBe("abcd");
    expect(sanitizeLine("abcde", 1)).toBe(ELLIPSIS);
  });

  test("never splits an escape or a surrogate pair", () => {
    expect(sanitizeLine("ab\x1bcdef", 6)).toBe("ab" + ELLIPSIS);
    expect(sanitizeLine("ab😀cd", 4)).toBe("ab" + ELLIPSIS);
    expect(sanitizeLine("a\u202Eb", 8)).toBe("a" + ELLIPSIS);
  });

  test("a huge input is capped cheaply", () => {
    const out = sanitizeForTerminal("\x1b".repeat(5_000_000), 80);
    expect(out.length).toBeLessThanOrEqual(80);
    expect(out.endsWith(ELLIPSIS)).toBe(true);
  });

  test("rejects a maxLen that is not a positive integer", () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => sanitizeLine("x", bad)).toThrow(RangeError);
  });
});

describe("property: nothing dangerous ever survives", () => {
  // Arbitrary UTF-16 units, lone surrogates included, biased toward the control ranges.
  const unit = fc.oneof(
    fc.integer({ min: 0, max: 0xffff }),
    fc.integer({ min: 0, max: 0x9f }),
    fc.constantFrom(0x061c, 0x200e, 0x200f, 0x202a, 0x202e, 0x2066, 0x2069, 0x2028, 0xd800, 0xdfff),
  );
  const text = fc.array(unit, { maxLength: 64 }).map((us) => String.fromCharCode(...us));

  test("for any string and any cap", () => {
    fc.assert(
      fc.property(text, fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }), (s, max) => {
        const t = sanitizeForTerminal(s, max);
        const l = sanitizeLine(s, max);
        expect(forbiddenIn(t, false)).toEqual([]);
        expect(forbiddenIn(l, true)).toEqual([]);
        expect(t.isWellFormed() && l.isWellFormed()).toBe(true);
        if (max !== undefined) expect(Math.max(t.length, l.length)).toBeLessThanOrEqual(max);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("decodeUtf8Strict", () => {
  const INVALID: Record<string, number[]> = {
    utf8_overlong_c0_80: [0xc0, 0x80],
    utf8_overlong_e0_80_af: [0xe0, 0x80, 0xaf],
    utf8_surrogate_ed_a0_80: [0xed, 0xa0, 0x80],
    utf8_surrogate_low_ed_bf_bf: [0xed, 0xbf, 0xbf],
    utf8_truncated_2: [0x61, 0xc3],
    utf8_truncated_3: [0xe2, 0x82],
    utf8_truncated_4: [0xf0, 0x9f, 0x98],
    utf8_above_10ffff: [0xf4, 0x90, 0x80, 0x80],
    utf8_stray_continuation: [0x61, 0x80, 0x62],
    utf8_lone_continuation_bf: [0xbf],
  };
  for (let b = 0xf5; b <= 0xff; b++) INVALID[`utf8_byte_${b.toString(16)}`] = [0x61, b];

  for (const [name, bytes] of Object.entries(INVALID)) {
    test(name, () => {
      let err: unknown;
      try {
        decodeUtf8Strict(new Uint8Array(bytes));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidUtf8Error);
      expect((err as InvalidUtf8Error).code).toBe("invalid_utf8");
    });
  }

  test("valid UTF-8 decodes exactly", () => {
    const s = "héllo 😀 \u202E \u0000";
    expect(decodeUtf8Strict(new TextEncoder().encode(s))).toBe(s);
    expect(decodeUtf8Strict(new Uint8Array(0))).toBe("");
  });
});
