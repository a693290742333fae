/**
 * The no-flag start in a real terminal (tmux): port (asked again, a free one suggested,
 * when taken), peer (empty for none), name (default: the user name); the listening line
 * names real addresses and the invite. Skipped only where tmux is missing (.ci/run installs it).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { removeHomes, tempHome } from "../support/home.ts";
import { TMUX, tmuxSession } from "../support/tmux.ts";

// -J: a long line (the invite) the terminal wrapped is read as one.
const { session, tmux, screen, until } = tmuxSession("sotto-start", ["-J"]);

const MAIN = join(import.meta.dir, "../../src/cli/main.ts");

afterAll(() => {
  if (TMUX) Bun.spawnSync([TMUX, "kill-session", "-t", session], { stderr: "ignore" });
  removeHomes();
});

describe.skipIf(!TMUX)("the no-flag start in a terminal", () => {
  test("a taken port is asked again with a free one; then peer and name; the listening line has real addresses", async () => {
    // A port someone else holds, on every interface, as a second sotto on 5000 would.
    const holder = Bun.listen({ hostname: "0.0.0.0", port: 0, socket: { data() {} } });
    try {
      const taken = holder.port;
      const home = tempHome();
      tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30", "-e", `SOTTO_HOME=${home}`, "-e", "USER=robin", `bun ${MAIN}; sleep 30`);
      await until("the port question", () => screen().includes("Port to listen on"));
      tmux("send-keys", "-t", session, "-l", String(taken));
      tmux("send-keys", "-t", session, "Enter");
      await until("asked again", () => screen().includes(`port ${taken} is already in use`));
      const suggested = Number(/(\d+) is free: press Enter/.exec(screen().replace(/\n/g, ""))![1]);
      expect(suggested).toBeGreaterThan(taken);
      tmux("send-keys", "-t", session, "Enter");
      await until("the peer question", () => screen().includes("Peer to connect to"));
      tmux("send-keys", "-t", session, "Enter");
      await until("the name question", () => screen().includes("Your name, as others see it (robin)"));
      tmux("send-keys", "-t", session, "Enter");
      await until("listening", () => screen().includes("listening on"));
      const s = screen();
      expect(s).toContain(`:${suggested}`);
      expect(s).not.toContain("0.0.0.0");
      expect(s).not.toContain("<your address>");
      // The listening line carries the invite: an address and our fingerprint.
      const fp = /your fingerprint: ((?:[0-9a-f]{4} ){15}[0-9a-f]{4})/.exec(s)![1]!.replace(/ /g, "");
      expect(s).toMatch(new RegExp(`a friend connects with --connect sotto://\\S+:${suggested}#${fp}`));
      await until("the prompt", () => screen().includes("robin›"));
      tmux("send-keys", "-t", session, "C-c");
    } finally {
      holder.stop(true);
    }
  }, 30_000);
});
