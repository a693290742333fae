/**
 * The terminal UI over a fake ChatApi, for test/ui/terminal.test.ts (run inside tmux).
 * argv[2]: a file to write "<pid>\n" to once the prompt is up; SIGUSR1 makes a peer
 * message arrive, SIGUSR2 the next step of a transfer; every api call is appended to argv[3]. Exits with run()'s code.
 */
import { appendFileSync, writeFileSync } from "node:fs";
import type { ChatApi } from "../../src/chat/events.ts";
import { TerminalUi } from "../../src/ui/terminal.ts";

const [pidFile, logFile] = process.argv.slice(2) as [string, string];
const log = (s: string) => appendFileSync(logFile, `${s}\n`);
let n = 0;
const api: ChatApi = {
  fingerprint: "ffff",
  name: "alice",
  sendAll: (text) => (log(`sendAll ${text}`), 1),
  sendTo: (to, text) => log(`sendTo ${to} ${text}`),
  connect: (a) => log(`connect ${a}`),
  peers: () => [],
  verify: () => [],
  trust: () => {},
  nick: () => {},
  rekey: () => 0,
  queued: () => 0,
  drain: async () => true,
  close: async () => log("close"),
};
const ui = new TerminalUi({ input: process.stdin, output: process.stdout, color: false });
process.on("SIGUSR1", () => {
  n++;
  ui.listener({ type: "message", peer: "bob", fingerprint: "bb", id: String(n), text: `incoming ${n} \x1b[2J`, time: Date.now(), private: false });
});
// SIGUSR2 walks one incoming transfer through accepted → progress → progress → done.
let step = 0;
process.on("SIGUSR2", () => {
  step++;
  const base = { type: "transfer", id: "1", direction: "receive", peer: "bob", name: "movie.mkv", size: 1000, saveAs: "movie.mkv" } as const;
  if (step === 1) ui.listener({ ...base, phase: "accepted", bytes: 0, offset: 0 });
  else if (step < 4) ui.listener({ ...base, phase: "progress", bytes: (step - 1) * 250, rate: 100, etaSeconds: 5 });
  else ui.listener({ ...base, phase: "done", bytes: 1000, sha256: "ab".repeat(32), path: "/tmp/movie.mkv", elapsedMs: 1000, rate: 1000 });
});
const done = ui.run(api);
writeFileSync(pidFile, `${process.pid}\n`);
const code = await done;
log(`exit ${code}`);
process.exit(code);
