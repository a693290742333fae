/**
 * Line mode at wire speed, with real processes:
 *   bun bench/links-processes.ts [lines]
 * bob: `sotto chat --json` listening on 127.0.0.1; alice: `sotto chat --no-listen
 * --connect` with `lines` lines of 1 KiB piped on stdin. Timed from bob's "connected"
 * event to his last "message" event (so process start-up and the handshake are not in
 * it); before printing, checks that bob showed every line once and in order, and that
 * alice exited 0 (every line acknowledged).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bulkLine } from "../test/faults/bulk.ts";

const lines = Number(process.argv[2] ?? 20_000);
const SIZE = 1024;
const MAIN = join(import.meta.dir, "..", "src", "cli", "main.ts");
const dir = mkdtempSync(join(tmpdir(), "sotto-links-"));
const input = join(dir, "input.txt");
let text = "";
for (let i = 0; i < lines; i++) text += `${bulkLine(i, SIZE)}\n`;
writeFileSync(input, text);

const prof = process.env.SOTTO_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.SOTTO_PROF}`] : [];
const bob = Bun.spawn(["bun", ...prof, MAIN, "chat", "--json", "--home", join(dir, "bob"), "--name", "bob", "--host", "127.0.0.1", "--port", "0"], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
let port = 0;
let connectedAt = 0;
let lastAt = 0;
let shown = 0;
let bad = 0;
let allShown: () => void = () => {};
const done = new Promise<void>((r) => (allShown = r));
// Bob's stdout is read to its end (a closed pipe would fail bob's next write).
void (async () => {
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of bob.stdout) {
    buf += dec.decode(chunk, { stream: true });
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (l.startsWith('{"type":"message"')) {
        // The line's number (bulkLine's first 8 characters), without parsing the JSON:
        // this reader must not be what limits the rate.
        const at = l.indexOf('"text":"') + 8;
        if (Number(l.slice(at, at + 8)) !== shown || l.indexOf('x"', at + 8 + SIZE - 10) < 0) bad++;
        shown++;
        lastAt = performance.now();
        if (shown === lines) allShown();
      } else if (l.startsWith('{"type":"listening"')) port = (JSON.parse(l) as { port: number }).port;
      else if (l.startsWith('{"type":"connected"')) connectedAt = performance.now();
    }
  }
})();
while (port === 0) await Bun.sleep(5);
const alice = Bun.spawn(["bun", ...prof, MAIN, "chat", "--json", "--home", join(dir, "alice"), "--name", "alice", "--no-listen", "--connect", `127.0.0.1:${port}`], { stdin: Bun.file(input), stdout: "ignore", stderr: "inherit" });
await done;
const code = await alice.exited;
bob.kill("SIGINT");
await bob.exited;
rmSync(dir, { recursive: true, force: true });
if (shown !== lines || bad !== 0 || code !== 0) {
  console.error(`not a clean run: shown ${shown}/${lines}, ${bad} out of order, alice exited ${code}; not timed`);
  process.exit(1);
}
const ms = lastAt - connectedAt;
console.log(`real processes, loopback: ${lines} lines of 1 KiB in ${ms.toFixed(0)} ms = ${Math.round((lines / ms) * 1000).toLocaleString("en-US")} lines/s (target ≥ 50,000)`);
