/**
 * Line mode: the chat when stdin is not a terminal (pipes, scripts, tests), or with --json.
 *
 *   1. every input line is a message for every connected peer, or a /command; input is
 *      read in chunks (split.ts, not readline) and the text lines of a chunk go to the
 *      chat in one ChatApi.sendAllMany call, each /command in its place between them;
 *   2. every event is printed as exactly one line: formatEvent(oneLine, no color), or with
 *      `json` one JSON object per event (ChatEvent as is; ids are already strings);
 *   3. input is held (at most `settleMs`) until each address dialled at start has either
 *      connected or failed once, so `echo hi | sotto chat --no-listen --connect h:p`
 *      sends "hi" to that peer instead of to no one;
 *   4. at end of input (or /quit, or stop()): while file transfers are under way, wait for
 *      them as long as they make progress (no byte for `drainTimeoutMs` ends the wait);
 *      print {type:"queued"} when messages await their ACK, wait for them at most
 *      `drainTimeoutMs`, close every session.
 *
 * Exit code: 0 when every message typed was acknowledged; 1 when one was not delivered
 * for sure, that is, it went to no peer (none connected), it was refused (too long, a
 * full outbox), state.db could not save it, or its ACK had not come back within
 * `drainTimeoutMs`.
 *
 * Backpressure: a pipe can wait, a person cannot. While BACKLOG lines await their ACK,
 * reading input pauses until ACKs bring them down to BACKLOG_RESUME (at most `drainTimeoutMs` without one), so piping
 * a long file never runs into the outbox's per-peer limit on a slow honest link. A script can then retry; the chat itself never resends after
 * it exits.
 */
import { isCommand, NO_PEER, runCommand } from "./commands.ts";
import { ChatError, type ChatApi, type ChatEvent, type ChatListener, type OutputGate } from "../chat/events.ts";
import { LineSplitter } from "./split.ts";
import { formatEvent, jsonLine } from "./format.ts";
import { JsonEvents } from "./json-event.ts";
import { OutputMeter, type MeteredStream } from "./output.ts";
import { GONE, Recipients } from "./recipients.ts";
import { countingSendAll, dialOutcome, wakeOrAfter } from "./lines-support.ts";

/** Unacknowledged lines at which line mode stops reading input until ACKs come. */
export const BACKLOG = 4096;
/**
 * Unacknowledged lines at or below which reading resumes: half of BACKLOG (2 MiB of 1 KiB
 * lines still in flight, three round trips of 100 Mbit/s at 50 ms). Resuming at the
 * first ACK instead made a turn of each ACK's ≈ 60 lines, each with the fixed costs of a
 * turn (a commit, a history flush, an ACK's delete): 330 turns for 20,000 lines.
 */
export const BACKLOG_RESUME = BACKLOG / 2;
/**
 * Lines handed to the chat in the first turn of input; each later turn may take twice as
 * many, up to a whole chunk. A chunk of a file is ≈ 500 lines of 1 KiB: queued in one
 * turn, the first of them left only once all 500 were queued, committed and sealed (≈ 20 ms
 * of code not yet compiled, then 500 KiB at once); 16 lines first put the first record on
 * the wire in a few ms, and the doubling keeps the turns' fixed costs (one commit each) few.
 */
export const FIRST_TURN_LINES = 16;
/** While waiting for ACKs, how often the backlog is looked at besides (ms). */
const BACKLOG_POLL_MS = 20;
/**
 * Events never left out of a backed-up output (output.ts step 2): what was shown and
 * acknowledged, and what the person's own lines became. Others (connections, notices)
 * come at rates a peer can drive.
 */
const KEPT = new Set<ChatEvent["type"]>(["message", "sent", "unsent", "ack", "recipients", "delivered", "queued", "error"]);
/** Error codes that mean a typed line was not sent. */
const NOT_SENT = new Set(["too_long", "outbox_full", "state"]);

/** Where line mode writes and how long it waits. */
export interface LineModeOptions {
  /** Where the lines go; with a "drain" event its backlog is metered (output.ts). */
  output: MeteredStream;
  /** One JSON object per event instead of text. */
  json: boolean;
  /** At end of input, wait at most this long for outstanding ACKs (ms). */
  drainTimeoutMs: number;
  /** How many addresses were dialled at start (ChatOptions.connect.length). */
  dials?: number;
  /** Hold input at most this long for those dials to connect or fail (ms; default drainTimeoutMs). */
  settleMs?: number;
  /** known_peers path, for the key-change warning. */
  knownPeers?: string;
  /**
   * Write the lines of one tick with one `output.write`, at the end of the tick (before
   * the ACKs of the messages it shows leave: those go in a later microtask). A pipe
   * costs one write per tick instead of one per event (`sotto chat` sets it).
   */
  batchOutput?: boolean;
}

/** The line-mode front end: hand `listener` to ChatNode.start, then `run` the api. */
export class LineMode {
  readonly #o: LineModeOptions;
  readonly #settled = new Set<string>();
  #wakeSettled: (() => void) | null = null;
  #stop: (() => void) | null = null;
  #stopped = false;
  /** Lines refused or not saved (see NOT_SENT and the "unsent" event). */
  #notSent = 0;

  readonly #meter: OutputMeter;
  /** The output's backlog, for ChatOptions.output (docs/SECURITY.md §10, R5). */
  readonly gate: OutputGate;

  /** batchOutput with json: the per-line events are written as pieces (json-event.ts). */
  readonly #piped: boolean;

  constructor(o: LineModeOptions) {
    this.#o = o;
    this.#piped = o.batchOutput === true && o.json;
    this.gate = this.#meter = new OutputMeter(o.output, (n) => this.#omittedLine(n));
  }

  /** The line that says `n` event lines were left out while the output was backed up. */
  #omittedLine(n: number): string | null {
    const e: ChatEvent = { type: "notice", message: `${n} event${n === 1 ? " was" : "s were"} left out while the output was not read (messages are never left out)` };
    const text = this.#o.json ? jsonLine(e) : formatEvent(e, { color: false, oneLine: true });
    return text === null ? null : `${text}\n`;
  }

  /** Our lines' recipients (recipients.ts), reported as `recipients` and `delivered` events. */
  readonly #recipients = new Recipients();

  /** Prints one event as one line. */
  readonly listener: ChatListener = (e) => {
    if (e.type === "sent" && this.#piped) {
      // A piped line's event (per line, per recipient): what #print would do for it, directly.
      this.#json.pieces(e, this.#tick());
      this.#recipients.sent(e);
      return;
    }
    this.#print(e);
    if (e.type === "sent") this.#recipients.sent(e);
    if (e.type === "nick" && e.request === undefined) this.#recipients.renamed(e.previous, e.peer);
    if (e.type === "contact" && GONE.has(e.change)) this.#recipients.gone(e.peer);
    if (e.type === "ack") {
      this.#acked?.();
      const lines = this.#recipients.ack(e);
      if (lines.length === 0) return;
      if (this.#piped) {
        // The ACK's event, written from its lines (json-event.ts).
        return this.#json.deliveredPieces(e.peer, lines, this.#tick());
      }
      this.#print({ type: "delivered", peer: e.peer, lines: lines.map((l) => String(l.line)) });
    }
  };

  /** The recipients of the line just handed to the api, as one event. */
  readonly #around = {
    begin: () => this.#recipients.begin(),
    end: () => {
      const l = this.#recipients.end();
      if (l === null) return;
      if (this.#piped) {
        // A piped line's event, written from the line itself (json-event.ts).
        return this.#json.recipientsPieces(l, this.#tick());
      }
      this.#print({ type: "recipients", line: String(l.line), text: l.text, private: l.private, time: l.time, recipients: l.recipients.map((r) => ({ ...r })) });
    },
  };

  #print(e: ChatEvent): void {
    if (e.type === "unsent" || (e.type === "error" && e.code !== undefined && NOT_SENT.has(e.code))) this.#notSent++;
    const outcome = dialOutcome(e);
    if (outcome !== null) {
      this.#settled.add(outcome);
      if (this.#settled.size >= (this.#o.dials ?? 0)) this.#wakeSettled?.();
    }
    const batch = this.#o.batchOutput === true && KEPT.has(e.type);
    // The event's JSON as pieces (a piped line's text as it is), joined once for the tick.
    if (batch && this.#piped) return this.#json.pieces(e, this.#tick());
    const text = this.#o.json ? this.#json.line(e) : formatEvent(e, { color: false, oneLine: true, knownPeers: this.#o.knownPeers });
    if (text === null) return;
    if (!KEPT.has(e.type)) {
      this.#flush(); // what this tick batched goes first: the order of events is kept
      return this.#meter.line(`${text}\n`);
    }
    if (!batch) return void this.#o.output.write(`${text}\n`);
    this.#tick().push(text, "\n");
  }

  /** The JSON of per-line events, each line's text encoded once. */
  readonly #json = new JsonEvents();

  /** What this tick has to write (batchOutput): its lines' pieces, each line ending in "\n", joined once. */
  #out: string[] = [];
  /** This tick's pieces to add to; the first piece of a tick has its write (#flush) follow the tick. */
  #tick(): string[] {
    if (this.#out.length === 0) queueMicrotask(this.#flush);
    return this.#out;
  }
  readonly #flush = (): void => {
    if (this.#out.length === 0) return;
    const text = this.#out.join("");
    this.#out = [];
    this.#o.output.write(text);
  };

  /** End input now (SIGINT/SIGTERM): the usual end-of-input path follows. @throws never */
  stop(): void {
    this.#stopped = true;
    this.#wakeSettled?.();
    this.#stop?.();
  }

  /**
   * Read `input` to its end, run each line, then drain (bounded) and close the api.
   * Returns the exit code (see the file comment). @throws only on a bug.
   */
  async run(api: ChatApi, input: NodeJS.ReadableStream): Promise<number> {
    const counted = countingSendAll(
      api,
      (n) => {
        if (n === 0) this.#unsent++;
      },
      this.#around,
    );
    const stopped = new Promise<null>((resolve) => (this.#stop = () => resolve(null)));
    if (this.#stopped) this.#stop!();
    const chunks = (input as AsyncIterable<Uint8Array | string>)[Symbol.asyncIterator]();
    const split = new LineSplitter();
    for (;;) {
      const next = await Promise.race([chunks.next(), stopped]);
      if (next === null) break;
      const lines = next.done === true ? split.end() : split.push(next.value);
      if ((await this.#runLines(lines, api, counted)) === "quit" || this.#stopped || next.done === true) break;
      // A chunk already buffered would resolve next() in this same turn, so without this the
      // tick's commit and send (setImmediate) would wait until BACKLOG lines were queued.
      if (lines.length > 0) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        this.#newTurn();
      }
    }
    input.pause?.();
    return this.#finish(api, this.#unsent);
  }

  /** Lines that went to no peer. */
  #unsent = 0;
  #first = true;
  /** Text lines this turn may still hand to the chat (FIRST_TURN_LINES, doubling each turn). */
  #turnLines = FIRST_TURN_LINES;
  #turnRoom = FIRST_TURN_LINES;

  /**
   * The lines of one chunk, in order: each run of text lines goes to the api in one
   * sendAllMany call (at most what fits under BACKLOG), each command on its own.
   */
  async #runLines(lines: string[], api: ChatApi, counted: ChatApi): Promise<"quit" | void> {
    if (lines.length === 0) return;
    if (this.#first) {
      this.#first = false;
      await this.#dialsSettled();
    }
    for (let i = 0; i < lines.length; ) {
      if (this.#stopped) return "quit";
      if (api.queued() >= BACKLOG) await this.#backlogDrained(api);
      if (isCommand(lines[i]!)) {
        if ((await this.#runLine(lines[i]!, counted)) === "quit") return "quit";
        i++;
        continue;
      }
      if (this.#turnRoom <= 0) {
        // This turn took its share: the chat's commit and send (setImmediate) go first.
        await new Promise<void>((resolve) => setImmediate(resolve));
        this.#newTurn();
      }
      const room = Math.min(this.#turnRoom, Math.max(1, BACKLOG - api.queued()));
      const texts: string[] = [];
      for (; i < lines.length && texts.length < room && !isCommand(lines[i]!); i++) {
        const line = lines[i]!;
        if (line.trim() !== "") texts.push(line.startsWith("//") ? line.slice(1) : line);
      }
      this.#turnRoom -= texts.length;
      this.#sendMany(api, texts);
    }
  }

  /** A turn of the event loop began: twice the last turn's lines (the ramp stops growing at BACKLOG). */
  #newTurn(): void {
    this.#turnLines = Math.min(BACKLOG, this.#turnLines * 2);
    this.#turnRoom = this.#turnLines;
  }

  /** Text lines to every peer, as runCommand sends one, with one api call when the api has sendAllMany. */
  #sendMany(api: ChatApi, texts: string[]): void {
    let done = 0;
    const each = (r: number | ChatError) => {
      this.#around.end();
      done++;
      if (r instanceof ChatError) this.listener({ type: "error", code: r.code, message: r.message });
      else if (r === 0) {
        this.#unsent++;
        this.listener(NO_PEER);
      }
      if (done < texts.length) this.#around.begin();
    };
    while (done < texts.length) {
      this.#around.begin();
      try {
        if (api.sendAllMany !== undefined) api.sendAllMany(done === 0 ? texts : texts.slice(done), each);
        else
          for (const text of done === 0 ? texts : texts.slice(done)) {
            let r: number | ChatError;
            try {
              r = api.sendAll(text);
            } catch (e) {
              if (!(e instanceof ChatError)) throw e;
              r = e;
            }
            each(r);
          }
      } catch (e) {
        // A bug: that line is reported, the lines after it still go.
        this.#around.end();
        done++;
        this.listener({ type: "error", code: "internal", message: `internal error (a bug in sotto): ${(e as Error).message}` });
      }
    }
  }

  async #runLine(line: string, api: ChatApi): Promise<"quit" | void> {
    try {
      return await runCommand(line, api, this.listener);
    } catch (e) {
      this.listener({ type: "error", code: "internal", message: `internal error (a bug in sotto): ${(e as Error).message}` });
    }
  }

  /** Wakes #backlogDrained: an ACK came. */
  #acked: (() => void) | null = null;

  /**
   * Backpressure: wait until at most BACKLOG_RESUME lines are unacknowledged, while ACKs
   * keep coming. Woken by each `ack` event (reading resumes in the tick of the ACK that
   * brought it there), else looks again every BACKLOG_POLL_MS (a line can also leave the
   * outbox without one).
   */
  async #backlogDrained(api: ChatApi): Promise<void> {
    let last = api.queued();
    let movedAt = performance.now();
    while (!this.#stopped && api.queued() > BACKLOG_RESUME) {
      const now = api.queued();
      if (now !== last) {
        last = now;
        movedAt = performance.now();
      } else if (performance.now() - movedAt > this.#o.drainTimeoutMs) return;
      await wakeOrAfter(BACKLOG_POLL_MS, (wake) => (this.#acked = wake));
    }
  }

  /** Step 3: resolves when every start-up dial has an outcome, or after settleMs. */
  #dialsSettled(): Promise<void> {
    const dials = this.#o.dials ?? 0;
    if (this.#settled.size >= dials) return Promise.resolve();
    return wakeOrAfter(this.#o.settleMs ?? this.#o.drainTimeoutMs, (wake) => (this.#wakeSettled = wake));
  }

  /** Step 4, files: wait while transfers under way make progress (an offer nobody answers is not waited for). */
  async #transfersSettled(api: ChatApi): Promise<void> {
    const files = api.files;
    if (files === undefined) return;
    const active = () => files.list().filter((t) => t.direction === "send" || t.state !== "offered");
    let last = "";
    let movedAt = performance.now();
    let told = false;
    for (let list = active(); list.length > 0 && !this.#stopped; list = active()) {
      if (!told) {
        this.listener({ type: "notice", message: `waiting for ${list.length} file transfer${list.length === 1 ? "" : "s"} to finish` });
        told = true;
      }
      // Progress: a byte moved, or a transfer finished.
      const now = `${list.length}/${list.reduce((n, t) => n + t.bytes, 0)}`;
      if (now !== last) {
        last = now;
        movedAt = performance.now();
      } else if (performance.now() - movedAt > this.#o.drainTimeoutMs) {
        this.listener({ type: "error", code: "transfers_stalled", message: `${list.length} file transfer${list.length === 1 ? " has" : "s have"} made no progress for ${(this.#o.drainTimeoutMs / 1000).toFixed(1)} s; stopping (a partial file resumes next time)` });
        return;
      }
      await Bun.sleep(50);
    }
  }

  /** Step 4. */
  async #finish(api: ChatApi, unsent: number): Promise<number> {
    await this.#transfersSettled(api);
    const waiting = api.queued();
    let acked = true;
    if (waiting > 0) {
      this.listener({ type: "queued", count: waiting });
      acked = await api.drain(this.#o.drainTimeoutMs);
      if (!acked) {
        const left = api.queued();
        const secs = (this.#o.drainTimeoutMs / 1000).toFixed(1).replace(/\.0$/, "");
        this.listener({ type: "error", code: "unacknowledged", message: `${left} message${left === 1 ? " was" : "s were"} not acknowledged within ${secs} s and may not have been delivered.` });
      }
    }
    await api.close();
    this.#flush();
    return acked && unsent === 0 && this.#notSent === 0 ? 0 : 1;
  }
}
