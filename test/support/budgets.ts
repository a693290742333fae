/** What the process-wide budget tests (docs/SECURITY.md §10) share: good handshakes counted against a listener under attack. */
import { randomBytes } from "node:crypto";
import { ed25519Generate } from "../../src/crypto/ed25519.ts";
import type { Group } from "../../src/protocol/constants.ts";
import { Peer } from "../../src/net/peer.ts";
import { ConnectError } from "../../src/net/route.ts";

/** A dialling Peer that runs whole handshakes in `group`; counts those that succeed. */
export async function goodHandshakes(port: number, group: Group, n: number): Promise<number> {
  const p = new Peer({ identity: ed25519Generate(), profile: { instance: randomBytes(8), name: "good" } });
  let ok = 0;
  for (let i = 0; i < n; i++) {
    try {
      const s = await p.connect("127.0.0.1", port, group);
      ok++;
      s.close("bye");
    } catch (e) {
      if (!(e instanceof ConnectError)) throw e;
    }
  }
  await p.close("bye", 100);
  return ok;
}
