/** The home is checked like ssh's StrictModes before anything in it is trusted (docs/SECURITY.md §12). */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HomeError, prepareHome } from "../../../src/chat/trust/home.ts";
import { ChatError } from "../../../src/chat/events.ts";
import { removeHomes, tempHome } from "../../support/home.ts";
import { startNode } from "../../support/node.ts";
import { thrown } from "../../support/thrown.ts";

afterAll(removeHomes);

const OTHER_UID = 4242;
const me = process.getuid!();

const refusal = (home: string): HomeError => thrown(HomeError, () => prepareHome(home));

describe("the sotto home", () => {
  test("a missing home is created with mode 0700, parents too", () => {
    const home = join(tempHome(), "a", "b", "sotto");
    prepareHome(home);
    expect(statSync(home).mode & 0o777).toBe(0o700);
  });

  test("a home writable by group or others is refused, with the path and the fix", () => {
    for (const mode of [0o777, 0o770, 0o702]) {
      const home = tempHome();
      chmodSync(home, mode);
      const e = refusal(home);
      expect(e.path).toBe(home);
      expect(e.message).toContain("can be written by other users");
      expect(e.message).toContain(`chmod go-w ${home}`);
    }
  });

  test("a file in the home writable by group or others is refused", () => {
    const home = tempHome();
    writeFileSync(join(home, "known_peers"), "", { mode: 0o600 });
    chmodSync(join(home, "known_peers"), 0o664);
    expect(refusal(home).path).toBe(join(home, "known_peers"));
  });

  test.skipIf(me !== 0)("a home, or a file in it, owned by another user is refused (needs root to chown)", () => {
    const home = tempHome();
    chownSync(home, OTHER_UID, OTHER_UID);
    expect(refusal(home).message).toContain(`belongs to another user (uid ${OTHER_UID})`);
    const home2 = tempHome();
    mkdirSync(join(home2, "downloads"));
    writeFileSync(join(home2, "known_peers"), "", { mode: 0o600 });
    chownSync(join(home2, "known_peers"), OTHER_UID, OTHER_UID);
    expect(refusal(home2).path).toBe(join(home2, "known_peers"));
  });

  test("ChatNode refuses such a home with a ChatError before reading known_peers; state.db and its WAL are 0600", async () => {
    const bad = tempHome();
    writeFileSync(join(bad, "known_peers"), "* eve 1111111111111111111111111111111111111111111111111111111111111111 verified\n");
    chmodSync(join(bad, "known_peers"), 0o666);
    // The test closes the node it starts.
    const start = async (home: string) => (await startNode("me", { home, listen: null, cleanup: false })).n;
    const err = await start(bad).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ChatError);
    expect((err as ChatError).code).toBe("home");
    const good = tempHome();
    const n = await start(good);
    n.sendAll("nobody"); // a write, so the WAL exists
    for (const f of ["state.db", "state.db-wal", "identity"]) expect(statSync(join(good, f)).mode & 0o777).toBe(0o600);
    await n.close();
  });
});
