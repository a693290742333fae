/**
 * --help text that fits an 80-column terminal, colored only when asked (a terminal
 * without NO_COLOR). citty's renderUsage pads every option to the longest flag and then
 * appends the description on the same line, so each row passed 160 columns; here each
 * flag gets its own line and the description is wrapped, indented, below it.
 */
import type { ArgsDef } from "citty";

/** The widest line the help prints. */
export const HELP_WIDTH = 80;
const INDENT = "      ";

/** Should output to this stream be colored? No for pipes, TERM=dumb, or NO_COLOR set to a non-empty value (no-color.org). @throws never */
export function wantColor(isTTY: boolean, env: Record<string, string | undefined>): boolean {
  return isTTY && (env.NO_COLOR ?? "") === "" && env.TERM !== "dumb";
}

/** `text` broken at spaces into lines of at most `width` columns, each prefixed by `indent`. @throws never */
export function wrap(text: string, width: number, indent = ""): string[] {
  const lines: string[] = [];
  let cur = "";
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    const next = cur === "" ? `${indent}${word}` : `${cur} ${word}`;
    if (cur !== "" && Bun.stringWidth(next) > width) {
      lines.push(cur);
      cur = `${indent}${word}`;
    } else cur = next;
  }
  if (cur !== "") lines.push(cur);
  return lines;
}

/**
 * The usage of one command: a description, a usage line, then each flag with its
 * description wrapped under it. Every line is at most HELP_WIDTH columns. @throws never
 */
export function renderHelp(o: { usage: string; description: string; args: ArgsDef; notes?: string; color: boolean }): string {
  const paint = (code: string) => (s: string) => (o.color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const bold = paint("1");
  const cyan = paint("36");
  const dim = paint("2");
  const out: string[] = [...wrap(o.description, HELP_WIDTH), "", `${bold("USAGE")}  ${cyan(o.usage)}`, "", bold("OPTIONS")];
  for (const [name, def] of Object.entries(o.args)) {
    const d = def as { type?: string; valueHint?: string; description?: string; default?: unknown };
    const flag = d.type === "boolean" ? `--${name}` : `--${name} <${d.valueHint ?? name}>`;
    out.push(`  ${cyan(flag)}`);
    const text = `${d.description ?? ""}${d.default !== undefined ? ` (default: ${String(d.default)})` : ""}`;
    const body = wrap(text, HELP_WIDTH, INDENT);
    out.push(...(d.default !== undefined && o.color ? body.map((l) => l.replace(/\(default: [^)]*\)$/, (m) => dim(m))) : body));
  }
  if (o.notes) out.push("", bold("NOTES"), "", o.notes);
  return out.join("\n");
}
