/** What the delivery tests share: a chat node that takes every peer as a contact, and two of them connected. */
import { of } from "./events.ts";
import { startNode } from "./node.ts";
import { until } from "./wait.ts";

/** A chat node for the delivery tests (dialling `connect`, listening unless `listen` is false). */
export async function node(name: string, opts: { home?: string; connect?: string[]; port?: number; listen?: boolean } = {}) {
  // allowNew: a peer that dials in is a contact too (this file is about delivery; trust has test/chat/trust/, test/e2e/trust.test.ts).
  const { n, events, port } = await startNode(name, { home: opts.home, allowNew: true, port: opts.port, connect: opts.connect, ...(opts.listen === false ? { listen: null } : {}) });
  return { n, events, port };
}

/** bob, and alice dialling him: both connected. */
export async function pair() {
  const bob = await node("bob");
  const alice = await node("alice", { connect: [`127.0.0.1:${bob.port}`] });
  await until("both connected", () => of(alice.events, "connected").length === 1 && of(bob.events, "connected").length === 1);
  return { alice, bob };
}
