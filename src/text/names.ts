/**
 * The one place names are compared (STYLE: "names are resolved in one place with one
 * normalisation").
 *
 *   - `nameKey`: what makes two local names the same name: NFKC, then lowercase. Used for
 *     uniqueness among contacts and for resolving `/msg NAME` and every other command
 *     (exact local name after this normalisation, never a prefix or a claimed name).
 *   - `nameSkeleton`: what makes two names look the same: the UTS #39 confusable
 *     skeleton (NFD, map every character through the Unicode confusables table, NFD
 *     again) of the NFKC form, lowercased, then skeleton and lowercase once more: case
 *     must not separate names (the table keeps "A" and "a" apart) and must not hide a
 *     lookalike either ("paypaI" with a capital I is "paypal"; "b0b" is "bOb", so "bob").
 *     "bob" and "bоb" (Cyrillic о) share a skeleton; NFKC alone keeps them apart.
 * The confusables table is the `unhomoglyph` package's copy of Unicode's confusables.txt
 * (its data.json; README, "Dependencies, and why").
 */
import confusables from "unhomoglyph/data.json" with { type: "json" };

// Every source in confusables.txt is one code point, so a Map per code point does what
// the package's one large alternation regex does, about 20 times faster (bench/pins.ts).
const ASCII = /^[\x00-\x7f]*$/;
const TABLE = new Map<string, string>(Object.entries(confusables as Record<string, string>));

// The table's answer for each ASCII character, looked up by char code (start-up maps every contact's name).
const ASCII_TABLE = Array.from({ length: 128 }, (_, i) => TABLE.get(String.fromCharCode(i)) ?? String.fromCharCode(i));

function unhomoglyph(s: string): string {
  let out = "";
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    out += c < 128 ? ASCII_TABLE[c]! : (TABLE.get(ch) ?? ch);
  }
  return out;
}

/** The normalised form two names must share to be the same local name (NFKC + lowercase). @throws never */
export function nameKey(name: string): string {
  return (ASCII.test(name) ? name : name.normalize("NFKC")).toLowerCase(); // ASCII is its own NFKC
}

/** The UTS #39 confusable skeleton of a name, case folded: equal skeletons look alike on screen. @throws never */
export function nameSkeleton(name: string): string {
  if (ASCII_SKELETON !== null && ASCII.test(name)) {
    let out = "";
    for (let i = 0; i < name.length; i++) out += ASCII_SKELETON[name.charCodeAt(i)]!;
    return out;
  }
  return slowSkeleton(name);
}

function slowSkeleton(name: string): string {
  // ASCII is its own NFKC and NFD: skip the normalisations (most names; start-up builds one skeleton per contact).
  const skeleton = (s: string) => (ASCII.test(s) ? unhomoglyph(s) : unhomoglyph(s.normalize("NFD")).normalize("NFD")).toLowerCase();
  return skeleton(skeleton(ASCII.test(name) ? name : name.normalize("NFKC")));
}

/** True when two names are the same name or could be mistaken for each other. @throws never */
export function confusable(a: string, b: string): boolean {
  return nameKey(a) === nameKey(b) || nameSkeleton(a) === nameSkeleton(b);
}

// For ASCII the whole skeleton is per character (no normalisation can join two ASCII
// characters), so each character's skeleton is computed once; used only if every one is
// ASCII again, so concatenating them is exactly the skeleton of the string.
const ASCII_SKELETON: string[] | null = (() => {
  const t = Array.from({ length: 128 }, (_, i) => slowSkeleton(String.fromCharCode(i)));
  return t.every((x) => ASCII.test(x)) ? t : null;
})();

/** Does `text` mention `name` as a word (case-insensitive, "@name" too)? @throws never */
export function mentions(text: string, name: string): boolean {
  const n = nameKey(name);
  if (n === "") return false;
  const t = nameKey(text);
  for (let i = t.indexOf(n); i >= 0; i = t.indexOf(n, i + 1)) {
    const before = t[i - 1];
    const after = t[i + n.length];
    const wordChar = (ch: string | undefined) => ch !== undefined && /[\p{L}\p{N}_]/u.test(ch);
    if (!wordChar(before) && !wordChar(after)) return true;
  }
  return false;
}
