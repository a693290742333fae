/**
 * Input lines from chunks of a byte stream, as Node's readline gives them (crlfDelay
 * Infinity): a line ends at "\n", "\r\n" or a lone "\r"; "\r\n" split across two chunks is
 * one end; a UTF-8 sequence split across two chunks is one character; a last line without
 * an end is a line at end of input; an empty input gives no line.
 */
export class LineSplitter {
  readonly #decoder = new TextDecoder("utf-8");
  /** The start of a line whose end has not come yet (never holds "\r" or "\n"). */
  #rest = "";
  /** The last chunk ended in "\r": a "\n" that starts the next one ends no further line. */
  #cr = false;

  /** The lines this chunk completes, in order. @throws never */
  push(chunk: Uint8Array | string): string[] {
    let s = typeof chunk === "string" ? chunk : this.#decoder.decode(chunk, { stream: true });
    if (s === "") return [];
    if (this.#cr && s.charCodeAt(0) === 10) s = s.slice(1);
    this.#cr = s.charCodeAt(s.length - 1) === 13;
    const all = this.#rest === "" ? s : this.#rest + s;
    const lines = all.indexOf("\r") === -1 ? all.split("\n") : all.split(/\r\n|\r|\n/);
    this.#rest = lines.pop()!;
    return lines;
  }

  /** End of input: the last line when it had no end of its own. @throws never */
  end(): string[] {
    const tail = this.#decoder.decode();
    const lines = tail === "" ? [] : this.push(tail);
    const rest = this.#rest;
    this.#rest = "";
    if (rest !== "") lines.push(rest);
    return lines;
  }
}
