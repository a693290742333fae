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
import { INVITE_SCHEME } from "../chat/trust/invite.ts";
import { sanitizeForTerminal, sanitizeLine } from "../text/sanitize.ts";

/** How to render. */
export interface FormatOptions {
  /** Add ANSI colors (only for a terminal that wants them). */
  color: boolean;
  /** The clock for events that carry no time (default: new Date()). */
  now?: Date;
  /** One event = one line: newlines in text are escaped, multi-line blocks joined. */
  oneLine?: boolean;
  /** Put the time (hh:mm) in front of every event, not only messages (the terminal). */
  stamp?: boolean;
  /** Path of known_peers, named in the key-change warning (default: "known_peers in your sotto home"). */
  knownPeers?: string;
}

/** known_peers' address for a peer that dialled us (trust/known-peers.ts INBOUND). */
const INBOUND_ADDRESS = "*";

/** A refusal reason in words, with what to do. */
function plainReason(r: string): string {
  if (r === "not pinned and --strict is on") return "its key is not in your known_peers and --strict accepts only those; to let it in, start without --strict once (first contact), then /verify it";
  return r;
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

/** hh:mm of `d`, local time. */
export function hhmm(d: Date): string {
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

/** hh:mm for today, else YYYY-MM-DD hh:mm (history from earlier days). */
function when(t: number, now: Date): string {
  const d = new Date(t);
  const sameDay = d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() && d.getDate() === now.getDate();
  return sameDay ? hhmm(d) : `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")} ${hhmm(d)}`;
}

/** The colors a contact's name can get: distinct on dark and light backgrounds; red is kept for errors. */
const CONTACT_COLORS = [32, 33, 34, 35, 36, 92, 93, 94, 95, 96] as const;

/**
 * A contact's stable color (an SGR foreground code), derived from its key's fingerprint,
 * not its name: a peer that renames itself, or takes another's name, keeps its own color.
 * @throws never
 */
export function contactColor(fingerprint: string): number {
  const h = new Bun.CryptoHasher("sha256").update(fingerprint.replace(/\s+/g, "").toLowerCase()).digest();
  return CONTACT_COLORS[h[0]! % CONTACT_COLORS.length]!;
}

/** One line of a conversation: `hh:mm name › text` (history and our own lines). */
function convLine(o: { time: number; who: string; fingerprint?: string; text: string; private: boolean; to?: string; kept?: boolean; written?: number; label?: string; mark?: string }, opts: FormatOptions): string {
  const paint = (code: number, s: string) => (opts.color ? `\x1b[${code}m${s}\x1b[39m` : s);
  const dim = (s: string) => (opts.color ? `\x1b[2m${s}\x1b[22m` : s);
  const bold = (s: string) => (opts.color ? `\x1b[1m${s}\x1b[22m` : s);
  // `label` (a request's, already sanitized and painted) replaces the name; `mark` follows it.
  const name = o.label ?? (o.fingerprint ? paint(contactColor(o.fingerprint), nm(o.who)) : nm(o.who));
  const to = o.to !== undefined ? ` → ${nm(o.to)}` : "";
  const priv = o.private ? ` ${paint(35, "(private)")}` : "";
  const late = o.written !== undefined && Math.abs(o.time - o.written) >= 60_000 ? ` ${dim(`(written ${hhmm(new Date(o.written))})`)}` : "";
  // Live lines show hh:mm; kept lines from an earlier day carry their date too.
  const head = `${dim(o.kept ? when(o.time, opts.now ?? new Date()) : hhmm(new Date(o.time)))} ${bold(name)}${o.mark ?? ""}${to}${priv}${late} ${dim("›")} `;
  if (opts.oneLine) return head + sanitizeLine(o.text);
  return head + sanitizeForTerminal(o.text).split("\n").join("\n      ");
}

/** Our own typed line, as the terminal shows it once sent: timed like an incoming one. @throws never */
export function ownLine(o: { time: number; name: string; text: string; to?: string }, opts: FormatOptions): string {
  return convLine({ time: o.time, who: o.name, text: o.text, private: o.to !== undefined, ...(o.to !== undefined ? { to: o.to } : {}) }, opts);
}

/**
 * The text to print for `e` (see formatEvent), with the time in front of status lines
 * when `opts.stamp`: the terminal's "every event timestamped". @throws never
 */
export function formatStamped(e: ChatEvent, opts: FormatOptions): string | null {
  const text = formatEvent(e, opts);
  if (text === null || !opts.stamp || e.type === "message" || e.type === "history") return text;
  const t = hhmm(opts.now ?? new Date());
  const stamp = opts.color ? `\x1b[2m${t}\x1b[22m` : t;
  return `${stamp} ${text.split("\n").join(`\n${" ".repeat(t.length + 1)}`)}`;
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
      // A request is named by what it claims, quoted, with its fingerprint; a lookalike of a contact is marked loudly;
      // a verified contact's name carries ✓. Otherwise the name in the contact's own color (from its key).
      // PROTOCOL §12: a line that waited shows when it was written, too.
      const fp = ln(e.fingerprint).slice(0, 19);
      const label = e.request ? `${c("yellow", `request ${ln(e.request)}`)} "${nm(e.peer)}" [${fp}]${e.lookalike ? ` ${c("bold", c("red", `⚠ NOT your contact ${nm(e.lookalike)}`))}` : ""}` : undefined;
      const mark = !e.request && e.verified ? ` ${c("green", "✓")}` : "";
      return convLine({ time: at.getTime(), who: e.peer, fingerprint: e.fingerprint, text: e.text, private: e.private, ...(e.written !== undefined ? { written: e.written } : {}), ...(label === undefined ? {} : { label }), mark }, opts);
    }
    case "sent":
      // A line for a contact who is away says so (the same rule for every absence).
      return e.queued ? status("dim", `queued for ${nm(e.peer)}, who is away: it is delivered when ${nm(e.peer)} is back`) : null;
    case "ack":
    case "recipients":
    case "delivered":
      // The terminal shows these as marks on the line itself (terminal.ts); --json as events.
      return null;
    case "unsent":
      return block("✗", "red", [`not sent to ${nm(e.peer)}: ${sanitizeLine(e.text, 60)}`, `${ln(e.reason)}`]);
    case "identity":
      return status("dim", `your fingerprint: ${c("bold", ln(e.fingerprint))}`, e.created ? `a new identity key was created at ${ln(e.path)}` : `identity key: ${ln(e.path)}`);
    case "listening":
    {
      const addrs = (e.addresses ?? []).map(ln);
      if (addrs.length === 0) return status("green", `listening on ${ln(e.host)}:${e.port}; a friend connects with --connect <your address>:${e.port}`);
      // The invite (chat/trust/invite.ts) of the first address: dialling it pins our key, so no one in the middle can answer.
      const invite = `${INVITE_SCHEME}${addrs[0]}#${ln(e.fingerprint).replace(/ /g, "").toLowerCase()}`;
      return status("green", `listening on ${addrs.join(", ")}`, `a friend connects with --connect ${invite}`, "(that line pins your key; /invite makes one that also makes them your contact at once)");
    }
    case "connected": {
      const lines = [
        `${c("green", "connected")} to ${c("bold", opts.color ? `\x1b[${contactColor(e.fingerprint)}m${nm(e.peer)}\x1b[39m` : nm(e.peer))} at ${ln(e.address)} (${e.role === "initiator" ? "we dialled" : "they dialled"})${e.verified ? `, ${c("green", "verified ✓")}` : ""}`,
        `fingerprint: ${ln(e.fingerprint)}`,
      ];
      if (e.request) {
        lines[0] = `${c("yellow", `request ${ln(e.request)}`)}: a stranger calling itself "${nm(e.peer)}" connected from ${ln(e.address)}; nothing you type reaches it`;
        if (e.lookalike) lines.push(c("bold", c("red", `⚠ it is NOT your contact ${nm(e.lookalike)}, though its name is or looks like that.`)));
        lines.push(`/allow ${ln(e.request)} [name] makes it a contact, /block ${ln(e.request)} refuses its key from now on; /requests lists requests.`);
      } else if (e.firstContact) {
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
      // A request's claimed name may be a contact's: say it is the request that renamed itself.
      if (e.request !== undefined) return status("cyan", `request ${ln(e.request)} (claimed ${nm(e.previous)}) now calls itself ${nm(e.peer)}`);
      return status("cyan", `${nm(e.previous)} is now known as ${c("bold", nm(e.peer))}`);
    case "disconnected":
      // The code stays in --json; a person reads the sentence (chat/explain.ts).
      return status("yellow", `${c("yellow", "disconnected")} from ${c("bold", nm(e.peer))}${e.peer === e.address ? "" : ` at ${ln(e.address)}`}: ${ln(e.reason)}`);
    case "reconnecting":
      if (e.since !== undefined && e.since > 0) {
        // One status line per contact: who, when the next try is, since when, and why.
        const who = e.peer !== undefined ? `${c("bold", nm(e.peer))} (${ln(e.address)})` : ln(e.address);
        return status("yellow", `${who}: reconnecting in ${Math.max(1, Math.round(e.inMs / 1000))} s; unreachable since ${hhmm(new Date(e.since))}${e.reason ? `: ${ln(e.reason)}` : ""}`);
      }
      return status("yellow", `reconnecting to ${ln(e.address)} in ${(e.inMs / 1000).toFixed(1)} s (attempt ${e.attempt})`);
    case "dial_stopped":
      return status("yellow", `stopped dialling ${ln(e.address)}: ${ln(e.reason)}`);
    case "moved":
      return status("yellow", `${c("bold", nm(e.peer))} moved: now at ${ln(e.host)} (it dialled us); no longer dialling ${ln(e.from)}${e.pinned !== null ? `; known_peers now has ${ln(e.pinned)}, dialled from the next start` : ""}`);
    case "key_changed": {
      const where = opts.knownPeers ? ln(opts.knownPeers) : "known_peers (in your sotto home)";
      const inbound = e.direction === "inbound" || e.claimed !== undefined;
      const pn = nm(e.pinnedName);
      const lines = [
        c("bold", inbound ? `WARNING: A NEW KEY CLAIMS TO BE YOUR CONTACT ${pn}${e.claimed !== undefined ? ` (it calls itself "${nm(e.claimed)}")` : ""}. It is not ${pn} to sotto: nothing you type reaches it.` : `WARNING: THE IDENTITY KEY OF ${ln(e.address)} HAS CHANGED. The session was refused.`),
        `pinned key (${pn}): ${ln(e.pinned)}`,
        `presented key now:    ${ln(e.presented)}`,
        ...(e.safetyNumber ? [`safety number with the new key: ${ln(e.safetyNumber)}`] : []),
        `Someone may be impersonating ${pn} (a man in the middle), or ${pn} made a new identity.`,
        `Ask ${pn} through another channel and compare the safety number. Only if you know why the key changed and the numbers match, /replace ${pn} accepts the new key; /forget ${pn} drops the contact.`,
        ...(inbound ? [] : [`(Or delete the line for ${ln(e.address)} from ${where}, then /connect ${ln(e.address)} again.)`]),
      ];
      return block("!!", "red", lines.map((l) => c("red", l)));
    }
    case "rejected":
      return block("✗", "red", [
        `${c("red", "refused")} ${e.address === INBOUND_ADDRESS ? "a peer that dialled us" : ln(e.address)}: ${plainReason(ln(e.reason))}`,
        `fingerprint: ${ln(e.fingerprint)}`,
      ]);
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
    case "history": {
      const title = e.start ? "earlier" : e.peer !== undefined ? `history with ${nm(e.peer)}` : "history";
      if (e.lines.length === 0) return status("dim", `${title}: nothing kept${e.peer !== undefined ? ` with ${nm(e.peer)}` : ""}`);
      const lines = e.lines.map((l) =>
        l.from === "in"
          ? convLine({ time: l.time, who: l.peer, fingerprint: l.fingerprint, text: l.text, private: l.private, kept: true }, opts)
          : convLine({ time: l.time, who: "you", text: l.text, private: l.private, kept: true, ...(l.private ? { to: l.peer } : {}) }, opts),
      );
      if (opts.oneLine) return `${c("dim", "•")} ${title}: ${lines.join(" | ")}`;
      return [c("dim", `── ${title} ──`), ...lines, c("dim", "──")].join("\n");
    }
    case "help":
      return block("•", "dim", text(e.text));
    case "peers": {
      // One line per address still dialled: dialling, or since when it is unreachable, why, and the next try.
      const away = (e.away ?? []).map((a) => {
        const who = a.peer !== undefined ? `${nm(a.peer)} (${ln(a.address)})` : ln(a.address);
        if (a.state === "dialling") return `  ${who}: dialling`;
        const next = a.inMs !== undefined && a.inMs > 0 ? `reconnecting in ${Math.max(1, Math.round(a.inMs / 1000))} s` : "reconnecting now";
        return `  ${who}: ${next}; unreachable since ${hhmm(new Date(a.since ?? 0))}${a.reason ? `: ${ln(a.reason)}` : ""}`;
      });
      const awayBlock = away.length > 0 ? [`${away.length} not connected:`, ...away] : [];
      if (e.peers.length === 0) return status("dim", "No peers are connected; /connect host:port dials one.", ...awayBlock);
      const lines = e.peers.flatMap((p) => {
        const flags = [p.role === "initiator" ? "we dialled" : "they dialled", p.verified ? "verified" : "not verified"];
        if (p.group !== undefined) flags.push(ln(p.group));
        if (p.unacked > 0) flags.push(`${p.unacked} unacknowledged`);
        return [`  ${nm(p.name)}  ${ln(p.address)}  (${flags.join(", ")})`, `    fingerprint ${ln(p.fingerprint)}`];
      });
      return status("dim", `${e.peers.length} peer${e.peers.length === 1 ? "" : "s"} connected:`, ...lines, ...awayBlock);
    }
    case "safety_numbers": {
      if (e.peers.length === 0) return status("dim", "No peers are connected, so there is no safety number to show.");
      const lines = e.peers.flatMap((v) => [`Safety number with ${nm(v.name)}${v.verified ? " (verified)" : ""}:`, `    ${ln(v.safetyNumber)}`, `  their fingerprint ${ln(v.fingerprint)}`]);
      lines.push(`  your fingerprint  ${ln(e.you)}`, "Read the numbers to each other by voice or in person; if they match, no one is in the middle: /trust name.");
      return status("dim", ...lines);
    }
    case "transfers": {
      if (e.transfers.length === 0) return status("dim", "No transfers are under way.");
      const lines = e.transfers.map((t) => {
        const pct = t.size === 0 ? 100 : Math.floor((t.bytes / t.size) * 100);
        const arrow = t.direction === "send" ? `↑ to ${nm(t.peer)}` : `↓ from ${nm(t.peer)}`;
        const what = t.files !== undefined ? `${sanitizeLine(t.name, 80)}/ (${t.files} files)` : sanitizeLine(t.name, 80);
      return `  [${ln(t.id)}] ${arrow}  ${what}  ${formatBytes(t.size)}  ${pct}%  ${ln(t.state)}`;
      });
      return status("dim", `${e.transfers.length} transfer${e.transfers.length === 1 ? "" : "s"}:`, ...lines);
    }
    case "rekeyed":
      return status("dim", e.sessions === 0 ? "No sessions are open, so there were no keys to update." : `Updated the sending keys of ${e.sessions} session${e.sessions === 1 ? "" : "s"}.`);
    case "dialling":
      return status("dim", `Dialling ${ln(e.address)}…`);
    case "renamed":
      return status("dim", `You are now known as ${nm(e.name)}.`);
    case "offering":
      return status("dim", `Hashing and offering ${e.files === 1 ? "1 file" : `${e.files} files`}${e.peer !== undefined ? ` to ${nm(e.peer)}` : ""}…`);
    case "history_cleared":
      return status("dim", `forgot ${e.count} line${e.count === 1 ? "" : "s"} with ${nm(e.peer)}`);
    case "transfer_file":
      // One file of a folder: the folder's own lines and bar tell the person; --json has each file.
      return null;
    case "send_skipped":
      return block("!", "yellow", [`${e.files === 1 ? "1 file" : `${e.files} files`} in your sotto home (${ln(e.home)}) left out: it holds your private identity key, which is never offered`]);
    case "send_name_is_path":
      return block("!", "yellow", [`${nm(e.peer)} is one of your contacts, so the files go to ${nm(e.peer)}; the file or folder ${ln(e.path)} here was not sent (write ./${ln(e.path)} to send it)`]);
    case "already_connected":
      return status("dim", `${ln(e.address)} is ${c("bold", nm(e.peer))}, already connected (at ${ln(e.via)}): one session is kept; sotto dials ${ln(e.address)} again if it drops.`);
    case "not_dialling":
      return status("dim", ln(e.reason));
    case "disconnecting":
      return status("dim", `Disconnected from ${nm(e.peer)}: ${e.ended === 0 ? "nothing was open" : "no longer dialling it; /connect dials again"}.`);
    case "invites":
      return status("dim", "Send one of these lines to a friend over a channel you trust; they paste it into /connect (or --connect), and a different key there is refused:", ...e.invites.map((l) => `  ${ln(l)}`));
    case "contacts":
      if (e.contacts.length === 0) return status("dim", "You have no contacts yet; /connect host:port makes one, /allow accepts a request.");
      return status("dim", `${e.contacts.length} contact${e.contacts.length === 1 ? "" : "s"}:`, ...e.contacts.flatMap((c) => [`  ${nm(c.name)}  ${c.verified ? "verified ✓" : "not verified"}${c.connected ? ", connected" : ""}`, `    fingerprint ${ln(c.fingerprint)}`]));
    case "requests":
      if (e.requests.length === 0) return status("dim", "No request is waiting.");
      return status(
        "dim",
        `${e.requests.length} request${e.requests.length === 1 ? "" : "s"} (nothing you type reaches them): /allow ID [name] or /block ID`,
        ...e.requests.flatMap((r) => [`  ${ln(r.id)}  calls itself "${nm(r.claimed)}"${r.lookalike ? `  ⚠ NOT your contact ${nm(r.lookalike)}` : ""}${r.connected ? "" : " (gone)"}`, `    fingerprint ${ln(r.fingerprint)}`, `    safety number ${ln(r.safetyNumber)}`]),
      );
    case "contact":
      return block("•", "dim", text(e.message));
  }
}

/**
 * A transfer event as text; null for "progress" (the terminal draws those as a bar in
 * place, progress.ts; line mode skips them). File names and reasons come from the peer.
 */
function transferText(e: TransferEvent, c: (name: PaintName, s: string) => string, block: (bullet: string, color: PaintName, lines: string[]) => string): string | null {
  const who = c("bold", nm(e.peer));
  // A folder (PROTOCOL §11.11) is one transfer: its name, its file count and its total.
  const file = e.files !== undefined ? `${c("bold", `${sanitizeLine(e.name, 120)}/`)} (${e.files} files, ${formatBytes(e.size)})` : `${c("bold", sanitizeLine(e.name, 120))} (${formatBytes(e.size)})`;
  const pct = (n: number) => `${e.size === 0 ? 100 : Math.floor((n / e.size) * 100)}%`;
  const resume = e.offset ? `, resuming at ${formatBytes(e.offset)} (${pct(e.offset)})` : "";
  const send = e.direction === "send";
  // The code stays in --json; the text says the reason once ("declined", not "declined (declined)").
  const reason = ln(e.reason || e.code || "");
  switch (e.phase) {
    case "progress":
      return null;
    case "offered":
      if (send) return block("↑", "cyan", [`[${e.id}] offering ${file} to ${who}`]);
      return block("↓", "cyan", [
        `[${e.id}] ${who} offers ${file}${e.saveAs && e.saveAs !== e.name ? `, to be saved as ${sanitizeLine(e.saveAs, 120)}` : ""}${e.peerId !== undefined ? ` (${who} calls it ${ln(e.peerId)})` : ""}`,
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
      if (e.files !== undefined) {
        const note = e.reason !== undefined ? [ln(e.reason)] : [];
        if (send) return block("✓", "green", [`[${e.id}] sent ${file} to ${who} ${took}`, `every file's SHA-256 verified by ${nm(e.peer)}`, ...note]);
        return block("✓", "green", [`[${e.id}] received ${file} from ${who} ${took}`, `saved under ${ln(e.saveAs ?? "")}/ in the download folder`, "every file's SHA-256 verified"]);
      }
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

/**
 * One event as one JSON line (--json). JSON.stringify leaves U+0085, U+2028, U+2029 and
 * the other C1 controls raw, and line splitters (Python's splitlines, JavaScript's
 * line terminators, NEL-aware tools) cut there, so they are written as \u escapes; the
 * parsed value is unchanged. See docs/EVENTS.md. @throws never
 */
export function jsonLine(e: unknown): string {
  const j = JSON.stringify(e);
  // The test is one scan; replace() with a function costs more even when nothing matches (a 1 KiB line per event).
  return C1_OR_SEPARATOR.test(j) ? j.replace(C1_OR_SEPARATORS, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`) : j;
}
const C1_OR_SEPARATOR = /[\u007f-\u009f\u2028\u2029]/;
const C1_OR_SEPARATORS = /[\u007f-\u009f\u2028\u2029]/g;
