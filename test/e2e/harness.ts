/** Drives real `sotto chat` processes over 127.0.0.1 in --json line mode. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { ChatEvent } from "../../src/chat/events.ts";

const MAIN = join(import.meta.dir, "../../src/cli/main.ts");

export class ChatProcess {
  readonly events: ChatEvent[] = [];
  readonly stderr: string[] = [];
  readonly proc: Subprocess<"pipe", "pipe", "pipe">;
  #exited: Promise<number>;

  constructor(readonly home: string, readonly args: string[]) {
    this.proc = Bun.spawn(["bun", MAIN, "chat", "--json", "--home", home, ...args], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1" },
    });
    void this.#read(this.proc.stdout, (l) => {
      try {
        this.events.push(JSON.parse(l) as ChatEvent);
      } catch {
        this.stderr.push(`stdout: ${l}`);
      }
    });
    void this.#read(this.proc.stderr, (l) => this.stderr.push(l));
    this.#exited = this.proc.exited;
  }

  async #read(stream: ReadableStream<Uint8Array>, line: (l: string) => void): Promise<void> {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of stream) {
      buf += dec.decode(chunk, { stream: true });
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        const l = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (l.trim() !== "") line(l);
      }
    }
  }

  /** Type a line (a message or a /command). */
  say(line: string): void {
    this.proc.stdin.write(line + "\n");
    this.proc.stdin.flush();
  }

  /** End of input: the chat drains, closes and exits. */
  endInput(): Promise<number> {
    this.proc.stdin.end();
    return this.#exited;
  }

  kill9(): Promise<number> {
    this.proc.kill(9);
    return this.#exited;
  }

  get exited(): Promise<number> {
    return this.#exited;
  }

  of<T extends ChatEvent["type"]>(t: T): Extract<ChatEvent, { type: T }>[] {
    return this.events.filter((e): e is Extract<ChatEvent, { type: T }> => e.type === t);
  }

  /** Wait for the first event matching `pred` (after the ones already seen when `from` is given). */
  async waitFor<T extends ChatEvent["type"]>(t: T, pred: (e: Extract<ChatEvent, { type: T }>) => boolean = () => true, ms = 15_000): Promise<Extract<ChatEvent, { type: T }>> {
    const end = performance.now() + ms;
    for (;;) {
      const hit = this.of(t).find(pred);
      if (hit) return hit;
      if (performance.now() > end) throw new Error(`timed out waiting for ${t}; events: ${JSON.stringify(this.events).slice(-1500)}; stderr: ${this.stderr.join("\n").slice(-800)}`);
      await Bun.sleep(10);
    }
  }

  async port(): Promise<number> {
    return (await this.waitFor("listening")).port;
  }
}

/** A fresh SOTTO_HOME; removed by cleanup(). */
export function tempHome(list: string[]): string {
  const h = mkdtempSync(join(tmpdir(), "sotto-e2e-"));
  list.push(h);
  return h;
}

export function cleanup(homes: string[], procs: ChatProcess[]): void {
  for (const p of procs.splice(0)) p.proc.kill(9);
  for (const h of homes.splice(0)) rmSync(h, { recursive: true, force: true });
}

/** A starter of `sotto chat` processes bound to 127.0.0.1, each kept in `procs` for cleanup(). */
export function loopbackChat(procs: ChatProcess[]): (home: string, ...args: string[]) => ChatProcess {
  return (home, ...args) => {
    const p = new ChatProcess(home, ["--host", "127.0.0.1", ...args]);
    procs.push(p);
    return p;
  };
}
