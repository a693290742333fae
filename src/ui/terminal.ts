/**
 * The interactive terminal UI: a node:readline prompt `name› ` at the bottom, and every
 * event printed above the line being typed without breaking it:
 *
 *   1. move the cursor up to the first row of the prompt (the typed line may wrap);
 *   2. clear from there to the end of the screen;
 *   3. print the event (formatEvent, colored when the terminal wants color);
 *   4. re-render the prompt with the partial input, cursor where it was (rl.prompt(true)).
 *
 * File transfers in progress are drawn as status lines (progress bars, progress.ts)
 * between the printed events and the prompt, redrawn in place by the same steps (at
 * most 10 times a second), each cut to the terminal width so the row count stays exact.
 *
 * Lines go to runCommand. /quit, Ctrl+C, Ctrl+D (on an empty line) and stop() all end the
 * same way: api.close() sends CLOSE on every session, and run() resolves with 0; the
 * caller exits. Events that arrive before run() or after the prompt closed print plainly.
 */
import { clearScreenDown, createInterface, cursorTo, moveCursor, type Interface } from "node:readline";
import { COMMAND_NAMES, runCommand } from "./commands.ts";
import type { ChatApi, ChatListener, OutputGate, TransferEvent } from "../chat/events.ts";
import { OutputMeter, type MeteredStream } from "./output.ts";
import { formatEvent, formatStamped, hhmm, ownLine } from "./format.ts";
import { completeLine } from "./complete.ts";
import { progressLine } from "./progress.ts";
import { sanitizeLine } from "../text/sanitize.ts";
import { mentions } from "../text/names.ts";
import { GONE, Recipients, withMarks, type TrackedLine } from "./recipients.ts";

/**
 * One of our lines on screen, for its recipients' marks (recipients.ts): its text
 * without marks, how many rows it takes, and where it is (`endAt`: the count of rows
 * printed once it was).
 */
interface OwnBlock {
  own: string;
  rows: number;
  endAt: number;
  epoch: number;
  line: TrackedLine | null;
}

/** Own lines whose marks can still be redrawn in place. */
const MAX_BLOCKS = 200;

/** The terminal to draw on. */
export interface TerminalOptions {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** Color the output (a TTY without NO_COLOR). */
  color: boolean;
  /** known_peers path, for the key-change warning. */
  knownPeers?: string;
  /** Ring the bell (BEL: terminals flash, beep or notify) when a message mentions our name (default true; --no-bell). */
  bell?: boolean;
}

/** The terminal bell. */
const BEL = "\x07";

/** The prompt for our display name. */
export function promptFor(name: string): string {
  return `${sanitizeLine(name, 32)}› `;
}

/** The terminal front end: hand `listener` to ChatNode.start, then `run` the api. */
export class TerminalUi {
  readonly #o: TerminalOptions;
  #rl: Interface | null = null;
  #stopped = false;
  /** Status lines (one per transfer under way), drawn above the prompt. */
  readonly #status = new Map<string, string>();
  /** How many status rows are on screen now. */
  #statusRows = 0;
  #redrawAt = 0;
  #redrawTimer: ReturnType<typeof setTimeout> | null = null;
  /** Our lines' recipients (recipients.ts). */
  readonly #recipients = new Recipients();
  /** Rows printed for good (events, our lines, echoed commands): where an own line is, counted from the bottom. */
  #printed = 0;
  /** Bumped when rows we did not count may have been printed (a resize, a Tab list): older lines are not redrawn. */
  #epoch = 0;
  /** Our lines on screen with recipients, newest last (at most MAX_BLOCKS). */
  readonly #blocks: OwnBlock[] = [];

  /** The terminal's backlog (a paused terminal, a slow link), for ChatOptions.output (docs/SECURITY.md §10, R5). */
  readonly gate: OutputGate;

  constructor(o: TerminalOptions) {
    this.#o = o;
    this.gate = new OutputMeter(o.output as unknown as MeteredStream);
    (o.output as NodeJS.WritableStream & { on?: (ev: string, f: () => void) => void }).on?.("resize", () => this.#epoch++);
  }

  /** The api being run (our name for mentions, names for Tab). */
  #api: ChatApi | null = null;

  /** Prints one event above the prompt, timestamped; rings the bell when it mentions our name. */
  readonly listener: ChatListener = (e) => {
    if (e.type === "transfer" && this.#transfer(e)) return;
    // A line's recipients are marks on that line, not lines of their own (recipients.ts).
    if (e.type === "sent" && this.#recipients.sent(e)) return;
    if (e.type === "ack") return this.#acked(e);
    if (e.type === "nick" && e.request === undefined) this.#recipients.renamed(e.previous, e.peer);
    if (e.type === "contact" && GONE.has(e.change)) this.#recipients.gone(e.peer);
    if (this.#dialStatus(e)) return;
    const text = formatStamped(e, { color: this.#o.color, knownPeers: this.#o.knownPeers, stamp: true });
    // A line state.db could not save is offered back in the input line (once, if it is empty).
    if (e.type === "unsent" && this.#rl !== null && this.#rl.line === "") this.#rl.write(e.text);
    if (text === null) return;
    const ring = e.type === "message" && (this.#o.bell ?? true) && this.#api !== null && mentions(e.text, this.#api.name);
    this.#printAbove(ring ? `${text}${BEL}` : text);
  };

  /** Keep the status line of a transfer; true when nothing else is to be printed. */
  #transfer(e: TransferEvent): boolean {
    const key = `${e.direction}${e.id}`;
    if (e.phase === "progress" || e.phase === "accepted") {
      const had = this.#status.has(key);
      this.#status.set(key, progressLine(e));
      if (e.phase === "progress") {
        if (this.#rl === null) return true;
        this.#scheduleRedraw();
        return true;
      }
      return had; // the first "accepted" prints its line too
    }
    if (e.phase !== "offered" && e.phase !== "waiting") this.#status.delete(key);
    return false;
  }

  /**
   * Our own line, once Enter is pressed: readline left "name› text" on screen; it is
   * replaced by "hh:mm name › text" (or "name → bob (private)" for /msg), so our lines
   * carry their time like everyone else's.
   */
  #echoOwn(line: string, api: ChatApi): OwnBlock | null {
    const msg = /^\/msg\s+(\S+)\s+(.*)$/is.exec(line);
    const plain = line.trim() !== "" && (!line.startsWith("/") || line.startsWith("//"));
    const out = this.#o.output;
    const cols = this.#cols();
    const rows = Math.max(1, Math.ceil(Bun.stringWidth(promptFor(api.name) + line) / cols));
    if (!plain && msg === null) {
      // readline's echo of a command stays on screen, above the status rows: with status
      // rows shown it landed below them, so it is written again above them.
      this.#printed += rows;
      if (this.#statusRows === 0) return null;
      moveCursor(out, 0, -(rows + this.#statusRows));
      cursorTo(out, 0);
      clearScreenDown(out);
      out.write(`${promptFor(api.name)}${line}\n`);
      for (const l of this.#status.values()) out.write(`${clip(l, Math.max(10, cols - 1))}\n`);
      this.#statusRows = this.#status.size;
      return null;
    }
    // The status rows sit between the text and the prompt (#printAbove): our line goes
    // above them, and they are drawn again below it.
    moveCursor(out, 0, -(rows + this.#statusRows));
    cursorTo(out, 0);
    clearScreenDown(out);
    const text = msg ? msg[2]! : line.startsWith("//") ? line.slice(1) : line;
    const own = ownLine({ time: Date.now(), name: api.name, text, ...(msg ? { to: msg[1]! } : {}) }, { color: this.#o.color });
    out.write(`${own}\n`);
    const width = Math.max(10, cols - 1);
    for (const l of this.#status.values()) out.write(`${clip(l, width)}\n`);
    this.#statusRows = this.#status.size;
    const ownRows = rowsOf(own, cols);
    this.#printed += ownRows;
    const block: OwnBlock = { own, rows: ownRows, endAt: this.#printed, epoch: this.#epoch, line: null };
    this.#blocks.push(block);
    if (this.#blocks.length > MAX_BLOCKS) this.#blocks.shift();
    return block;
  }

  #cols(): number {
    return Math.max(1, (this.#o.output as { columns?: number }).columns ?? 80);
  }

  /**
   * Draw an own line's marks again where it is: redrawn with what follows when it is the
   * last line printed; else rewritten in place (cursor saved and restored) when it is
   * still on screen and the marks take no more rows. False: it cannot be reached.
   */
  #redrawOwn(b: OwnBlock): boolean {
    const rl = this.#rl;
    const out = this.#o.output;
    if (rl === null || b.epoch !== this.#epoch) return false;
    const text = withMarks(b.own, b.line, this.#o.color);
    const rows = rowsOf(text, this.#cols());
    const below = this.#printed - b.endAt;
    const cursorRows = rl.getCursorPos().rows;
    if (below === 0) {
      moveCursor(out, 0, -(cursorRows + this.#statusRows + b.rows));
      cursorTo(out, 0);
      clearScreenDown(out);
      this.#printed -= b.rows;
      this.#printAbove(text, false);
      b.rows = rows;
      b.endAt = this.#printed;
      return true;
    }
    const screen = (out as { rows?: number }).rows;
    if (rows > b.rows || screen === undefined || below + b.rows + this.#statusRows + cursorRows + 1 >= screen) return false;
    // DECSC / DECRC: the cursor (and readline's idea of it) is back where it was.
    out.write("\x1b7");
    moveCursor(out, 0, -(cursorRows + this.#statusRows + below + b.rows));
    for (let i = 0; i < b.rows; i++) {
      cursorTo(out, 0);
      out.write("\x1b[2K");
      if (i < b.rows - 1) moveCursor(out, 0, 1);
    }
    moveCursor(out, 0, -(b.rows - 1));
    cursorTo(out, 0);
    out.write(`${text}\x1b8`);
    return true;
  }

  /**
   * An ACK: the marks of the lines it covers become ✓; those out of reach get one short
   * line for all of them, except lines queued while the peer was away: the chat's own
   * notice ("carol is back: … delivered", after this ack) says those, once.
   */
  #acked(e: Extract<Parameters<ChatListener>[0], { type: "ack" }>): void {
    const lines = this.#recipients.ack(e);
    if (lines.length === 0) return;
    const far = lines.filter((l) => {
      const b = this.#blocks.find((x) => x.line === l);
      return (b === undefined || !this.#redrawOwn(b)) && !this.#recipients.queuedWhenTyped(l, e.peer);
    });
    if (far.length === 0) return;
    const at = hhmm(new Date(far[0]!.time));
    const what = far.length === 1 ? `your line "${sanitizeLine(far[0]!.text, 30)}" (${at})` : `${far.length} of your lines (from ${at})`;
    this.listener({ type: "notice", message: `✓ ${e.peer} got ${what}` });
  }

  /**
   * Outages you can see: one status line per contact being redialled ("bob (h:p):
   * reconnecting in 8 s; unreachable since 12:01: …"), updated in place instead of a
   * line per attempt; gone once connected or when the dialling stops. True: nothing to print.
   */
  #dialStatus(e: Parameters<ChatListener>[0]): boolean {
    if (e.type === "reconnecting" && e.since !== undefined && this.#rl !== null) {
      const line = formatEvent(e, { color: this.#o.color, oneLine: true });
      if (line !== null) this.#status.set(`dial:${e.address}`, line);
      this.#printAbove(null);
      return true;
    }
    if (e.type === "connected" || e.type === "dial_stopped") this.#status.delete(`dial:${e.address}`);
    return false;
  }

  #scheduleRedraw(): void {
    if (this.#redrawTimer !== null) return;
    const wait = Math.max(0, this.#redrawAt + 100 - performance.now());
    this.#redrawTimer = setTimeout(() => {
      this.#redrawTimer = null;
      this.#redrawAt = performance.now();
      if (this.#rl !== null) this.#printAbove(null);
    }, wait);
  }

  /** End the chat as /quit would (SIGTERM). @throws never */
  stop(): void {
    this.#stopped = true;
    this.#rl?.close();
  }

  #printAbove(text: string | null, moveUp = true): void {
    const out = this.#o.output;
    const rl = this.#rl;
    if (rl === null) {
      if (text !== null) out.write(`${text}\n`);
      return;
    }
    // Steps 1-4 of the file comment; the status rows sit between the text and the prompt.
    const rows = rl.getCursorPos().rows + this.#statusRows;
    if (rows > 0 && moveUp) moveCursor(out, 0, -rows);
    cursorTo(out, 0);
    clearScreenDown(out);
    if (text !== null) {
      out.write(`${text}\n`);
      this.#printed += rowsOf(text, this.#cols());
    }
    const width = Math.max(10, ((out as { columns?: number }).columns ?? 80) - 1);
    for (const line of this.#status.values()) out.write(`${clip(line, width)}\n`);
    this.#statusRows = this.#status.size;
    // readline's redraw first moves up `prevRows` (the cursor row at its last redraw).
    // The cursor now sits at column 0 of a fresh row with nothing of the prompt above,
    // so that must be 0, or a wrapped input line is redrawn over the text just printed
    // (Node's and Bun's readline both keep this field; test/ui/terminal.test.ts step 3).
    (rl as unknown as { prevRows?: number }).prevRows = 0;
    rl.prompt(true);
  }

  /**
   * Run the prompt until /quit, Ctrl+C, Ctrl+D or stop(); then close every session.
   * Returns the exit code (0). @throws only on a bug.
   */
  run(api: ChatApi): Promise<number> {
    this.#api = api;
    const completer = (line: string): [string[], string] => {
      const r = completeLine(line, { commands: COMMAND_NAMES, names: [...new Set([...api.peers().map((p) => p.name), ...(api.history?.names() ?? [])])] });
      // readline prints a list of several candidates itself: rows we do not count.
      if (r[0].length > 1) this.#epoch++;
      return r;
    };
    const rl = createInterface({ input: this.#o.input, output: this.#o.output, terminal: true, prompt: promptFor(api.name), historySize: 200, completer });
    this.#rl = rl;
    return new Promise<number>((resolve) => {
      let chain = Promise.resolve();
      let quit = false;
      rl.on("line", (line) => {
        // Now, not in the chain: readline has just ended this line's row, and a pasted
        // next line is echoed only after this handler returns.
        const block = quit ? null : this.#echoOwn(line, api);
        chain = chain.then(async () => {
          // A line readline took in before Ctrl+C (a paste) is still sent, or kept in
          // the outbox; only /quit ends the run of lines.
          if (quit) return;
          this.#recipients.begin();
          const r = await this.#runLine(line, api);
          const sent = this.#recipients.end();
          if (sent !== null && block !== null) {
            block.line = sent;
            this.#redrawOwn(block);
          }
          if (r === "quit") {
            quit = true;
            return void rl.close();
          }
          if (this.#rl === null) return;
          rl.setPrompt(promptFor(api.name));
          // Keep the cursor: readline may already hold the next line (a paste), and a plain
          // prompt() would move the cursor to its start and splice what follows there.
          rl.prompt(true);
        });
      });
      // Ctrl+C: readline is in raw mode, so it arrives here, not as a signal.
      rl.on("SIGINT", () => rl.close());
      rl.on("close", () => {
        this.#rl = null;
        if (this.#redrawTimer !== null) clearTimeout(this.#redrawTimer);
        this.#o.output.write("\n");
        void chain.then(async () => {
          // Say what is still on its way: wait briefly for ACKs in flight, then count.
          if (api.queued() > 0) await api.drain(QUIT_DRAIN_MS);
          const left = api.queued();
          if (left > 0) {
            this.listener({ type: "queued", count: left });
            this.listener({ type: "notice", message: `kept in the outbox: sent again when sotto next reaches ${left === 1 ? "its" : "their"} peer` });
          }
          await api.close();
          resolve(0);
        });
      });
      if (this.#stopped) rl.close();
      else rl.prompt();
    });
  }

  async #runLine(line: string, api: ChatApi): Promise<"quit" | void> {
    try {
      return await runCommand(line, api, this.listener);
    } catch (e) {
      this.listener({ type: "error", code: "internal", message: `internal error (a bug in sotto): ${(e as Error).message}` });
    }
  }
}

/** How long Ctrl+C waits for acknowledgements already on their way before it counts. */
const QUIT_DRAIN_MS = 1500;

/** Rows `text` takes on a terminal `cols` wide. @throws never */
export function rowsOf(text: string, cols: number): number {
  return text.split("\n").reduce((n, l) => n + Math.max(1, Math.ceil(Bun.stringWidth(l) / cols)), 0);
}

/** `line` cut to `width` terminal cells (wide characters count 2), with "…" when cut. */
export function clip(line: string, width: number): string {
  if (Bun.stringWidth(line) <= width) return line;
  let out = "";
  for (const ch of line) {
    if (Bun.stringWidth(out + ch) > width - 1) break;
    out += ch;
  }
  return `${out}…`;
}
