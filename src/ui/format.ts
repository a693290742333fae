/**
 * The human rendering of a ChatEvent: what the terminal UI and plain line mode print.
 *
 *   12:04 alice › hi there                    a message (time, sender, text)
 *   12:04 alice (private) › just to you       a /msg
 *   • connected to alice at 10.0.0.7:7000     status lines start with "•" (colored)
 *   ✗ could not ...                           errors and refusals start with "✗" (red)
 *
 * Every string in an event may have come from a peer (ChatEvent keeps them raw), so
 * every one passes through sanitize.ts here, and colors (SGR codes) are added only after
 * sanitizing, only when `opts.color` is set. Names go through `sanitizeLine`, message
 * text through `sanitizeForTerminal` (keeps "\n" and "\t"), or `sanitizeLine` in
 * `oneLine` mode, where one event is always exactly one output line.
 */
import type { ChatEvent, TransferEvent } from "../chat/events.ts";
import { formatBytes, formatDuration } from "./progress.ts";
import { sanitizeForTerminal, sanitizeLine } from "../text/sanitize.ts";

/** How to render. */
export interface FormatOptions {
  /** Add ANSI colors (only for a terminal that wants them). */
  color: boolean;
  /** The clock for events that carry no time (default: new Date()). */
  now?: Date;
  /** One event = one line: newlines in text are escaped, multi-line blocks joined. */
  oneLine?: boolean;
  /** Path of known_peers, named in the key-change warning (default: "known_peers in your sotto home"). */
  knownPeers?: string;
}

/** Longest name shown; longer names are cut with "…" (known_peers names are at most 32). */
const NAME_MAX = 40;

type Paint = (s: string) => string;
const sgr =
  (on: number, off: number): Paint =>
  (s) =>
    `\x1b[${on}m${s}\x1b[${off}m`;
const PAINT = { dim: sgr(2, 22), bold: sgr(1, 22), red: sgr(31, 39), green: sgr(32, 39), yellow: sgr(33, 39), cyan: sgr(36, 39), magenta: sgr(35, 39) };
type PaintName = keyof typeof PAINT;

/** Sanitized name of a peer (or any short single-line string). */
const nm = (s: string) => sanitizeLine(s, NAME_MAX);
/** Sanitized single-line value (addresses, fingerprints, reasons). */
const ln = (s: string) => sanitizeLine(s, 200);

function hhmm(d: Date): string {
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

/**
 * The text to print for `e`, or null for events that print nothing (`sent`: the typed
 * line is already on screen; `ack`: too chatty, see --json). Multi-line unless `oneLine`.
 * @throws never
 */
export function formatEvent(e: ChatEvent, opts: FormatOptions): string | null {
  const c = (name: PaintName, s: string) => (opts.color ? PAINT[name](s) : s);
  // A status block: first line after a bullet, further lines indented under it.
  const block = (bullet: string, color: PaintName, lines: string[]): string => {
    const [first = "", ...rest] = lines;
    if (opts.oneLine) return `${c(color, bullet)} ${rest.reduce((acc, l) => `${acc}${/[.:]$/.test(acc) ? " " : "; "}${l}`, first)}`;
    return [`${c(color, bullet)} ${first}`, ...rest.map((l) => `  ${l}`)].join("\n");
  };
  const status = (color: PaintName, ...lines: string[]) => block("•", color, lines);
  // Free text (notices, errors): may be several lines; each line is sanitized.
  const text = (s: string) => s.split("\n").map((l) => (opts.oneLine ? sanitizeLine(l) : sanitizeForTerminal(l)));

  switch (e.type) {
    case "message": {
      const at = Number.isFinite(e.time) && e.time > 0 ? new Date(e.time) : (opts.now ?? new Date());
      const who = c("bold", c("cyan", nm(e.peer))) + (e.private ? ` ${c("magenta", "(private)")}` : "");
      // PROTOCOL §12: a line that waited shows when it was written, too.
      const late = e.written !== undefined && Math.abs(at.getTime() - e.written) >= 60_000 ? ` ${c("dim", `(written ${hhmm(new Date(e.written))})`)}` : "";
      const head = `${c("dim", hhmm(at))} ${who}${late} ${c("dim", "›")} `;
      if (opts.oneLine) return head + sanitizeLine(e.text);
      // Continuation lines of a multi-line message are indented under the first.
      return head + sanitizeForTerminal(e.text).split("\n").join("\n      ");
    }
    case "sent":
      // A line for a contact who is away says so (the same rule for every absence).
      return e.queued ? status("dim", `queued for ${nm(e.peer)}, who is away: it is delivered when ${nm(e.peer)} is back`) : null;
    case "ack":
      return null;
    case "unsent":
      return block("✗", "red", [`not sent to ${nm(e.peer)}: ${sanitizeLine(e.text, 60)}`, `${ln(e.reason)}`]);
    case "identity":
      return status("dim", `your fingerprint: ${c("bold", ln(e.fingerprint))}`, e.created ? `a new identity key was created at ${ln(e.path)}` : `identity key: ${ln(e.path)}`);
    case "listening":
      return status("green", `listening on ${ln(e.host)}:${e.port}; a friend connects with --connect <your address>:${e.port}`);
    case "connected": {
      const lines = [
        `${c("green", "connected")} to ${c("bold", nm(e.peer))} at ${ln(e.address)} (${e.role === "initiator" ? "we dialled" : "they dialled"})${e.verified ? `, ${c("green", "verified ✓")}` : ""}`,
        `fingerprint: ${ln(e.fingerprint)}`,
      ];
      if (e.firstContact) {
        lines.push(
          `first contact: this key is now pinned; a different key for ${nm(e.peer)} will be refused.`,
          `Compare the safety number by voice or in person: /verify ${nm(e.peer)}, then /trust ${nm(e.peer)}.`,
        );
      } else if (!e.verified) {
        lines.push(`not verified yet: compare safety numbers with /verify ${nm(e.peer)}`);
      }
      return status("green", ...lines);
    }
    case "nick":
      return status("cyan", `${nm(e.previous)} is now known as ${c("bold", nm(e.peer))}`);
    case "disconnected":
      return status("yellow", `${c("yellow", "disconnected")} from ${c("bold", nm(e.peer))} at ${ln(e.address)}: ${ln(e.reason)}${e.code ? ` (${ln(e.code)})` : ""}`);
    case "reconnecting":
      return status("yellow", `reconnecting to ${ln(e.address)} in ${(e.inMs / 1000).toFixed(1)} s (attempt ${e.attempt})`);
    case "key_changed": {
      const where = opts.knownPeers ? ln(opts.knownPeers) : "known_peers (in your sotto home)";
      const lines = [
        c("bold", `WARNING: THE IDENTITY KEY OF ${ln(e.address)} HAS CHANGED. The session was refused.`),
        `pinned key (${nm(e.pinnedName)}): ${ln(e.pinned)}`,
        `presented key now:    ${ln(e.presented)}`,
        `Someone may be impersonating ${nm(e.pinnedName)} (a man in the middle), or ${nm(e.pinnedName)} made a new identity.`,
        `Ask ${nm(e.pinnedName)} through another channel. Only if you know why the key changed, remove the pin:`,
        `delete the line for ${ln(e.address)} from ${where}, then /connect ${ln(e.address)} again.`,
      ];
      return block("!!", "red", lines.map((l) => c("red", l)));
    }
    case "rejected":
      return block("✗", "red", [`${c("red", "refused")} ${ln(e.address)}: ${ln(e.reason)}`, `fingerprint: ${ln(e.fingerprint)}`]);
    case "refused":
      return block("•", "yellow", [`${c("yellow", `turned away ${e.count} connection${e.count === 1 ? "" : "s"}`)} (latest from ${ln(e.address)}): ${ln(e.reason)}`]);
    case "error":
      return block("✗", "red", text(e.message));
    case "notice":
      return opts.oneLine ? block("•", "dim", [text(e.message).join(" | ")]) : block("•", "dim", text(e.message));
    case "queued":
      return status("dim", `${e.count} message${e.count === 1 ? "" : "s"} waiting for acknowledgement`);
    case "transfer":
      return transferText(e, c, block);
  }
}

/**
 * A transfer event as text; null for "progress" (the terminal draws those as a bar in
 * place, progress.ts; line mode skips them). File names and reasons come from the peer.
 */
function transferText(e: TransferEvent, c: (name: PaintName, s: string) => string, block: (bullet: string, color: PaintName, lines: string[]) => string): string | null {
  const who = c("bold", nm(e.peer));
  const file = `${c("bold", sanitizeLine(e.name, 120))} (${formatBytes(e.size)})`;
  const pct = (n: number) => `${e.size === 0 ? 100 : Math.floor((n / e.size) * 100)}%`;
  const resume = e.offset ? `, resuming at ${formatBytes(e.offset)} (${pct(e.offset)})` : "";
  const send = e.direction === "send";
  const reason = `${ln(e.reason ?? "")}${e.code ? ` (${ln(e.code)})` : ""}`;
  switch (e.phase) {
    case "progress":
      return null;
    case "offered":
      if (send) return block("↑", "cyan", [`[${e.id}] offering ${file} to ${who}`]);
      return block("↓", "cyan", [
        `[${e.id}] ${who} offers ${file}${e.saveAs && e.saveAs !== e.name ? `, to be saved as ${sanitizeLine(e.saveAs, 120)}` : ""}`,
        e.auto ? "accepting it" : `/accept ${e.id} to receive it, /reject ${e.id} to refuse it`,
      ]);
    case "waiting":
      return block("↑", "dim", [`[${e.id}] ${who} has the offer of ${file}; waiting for it to be accepted`]);
    case "accepted":
      return block(send ? "↑" : "↓", "cyan", [send ? `[${e.id}] ${who} accepted ${file}${resume}` : `[${e.id}] receiving ${file} from ${who}${resume}`]);
    case "paused":
      return block("•", "yellow", [`[${e.id}] ${file} paused at ${pct(e.bytes)}: the connection to ${who} was lost; it resumes when ${nm(e.peer)} is back`]);
    case "done": {
      const took = `in ${formatDuration((e.elapsedMs ?? 0) / 1000)}${e.rate ? `, ${formatBytes(Math.round(e.rate))}/s` : ""}`;
      const sha = `SHA-256 ${ln(e.sha256 ?? "")}`;
      if (send) return block("✓", "green", [`[${e.id}] sent ${file} to ${who} ${took}`, `${sha}, verified by ${nm(e.peer)}`]);
      return block("✓", "green", [`[${e.id}] received ${file} from ${who} ${took}`, `saved as ${ln(e.path ?? "")}`, `${sha} verified`]);
    }
    case "rejected":
      return block("✗", "red", [send ? `[${e.id}] ${who} refused ${file}: ${reason}` : `[${e.id}] refused ${file} from ${who}`]);
    case "cancelled":
      return block("✗", "yellow", [`[${e.id}] ${file} ${send ? "to" : "from"} ${who} cancelled: ${reason}`]);
    case "failed":
      return block("✗", "red", [`[${e.id}] ${file} ${send ? "to" : "from"} ${who} failed: ${reason}`]);
    case "unsupported":
      return block("✗", "red", [`[${e.id}] the peer cannot receive files: ${who} did not answer the offer of ${file}; nothing was sent`]);
  }
}
