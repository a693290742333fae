/**
 * The one way tests start a ChatNode: X25519, not strict, listening on 127.0.0.1 (port 0
 * unless given), dialling what `connect` names, its events collected in order; every node
 * started is closed by `stopNodes()` (call it from afterEach or afterAll, as removeHomes).
 */
import type { ChatEvent, ChatListener } from "../../src/chat/events.ts";
import { ChatNode, type ChatOptions } from "../../src/chat/node.ts";
import { Group } from "../../src/protocol/constants.ts";
import { tempHome } from "./home.ts";

/** ChatOptions for a test, each with its default; `listen: null` listens nowhere. */
export interface TestNodeOptions extends Partial<Omit<ChatOptions, "name">> {
  /** The port to listen on (default 0: any free one); ignored with `listen` given. */
  port?: number;
  /** Also hear every event (after it is collected). */
  onEvent?: ChatListener;
  /** false: the test closes the node itself (stopNodes leaves it alone). */
  cleanup?: boolean;
}

export interface TestNode {
  n: ChatNode;
  /** Every event, in order. */
  events: ChatEvent[];
  /** The port it listens on (0 when it does not). */
  port: number;
  home: string;
}

const started: ChatNode[] = [];

/** Start `name` with `o` (a fresh home unless one is given). @throws what ChatNode.start throws. */
export async function startNode(name: string, o: TestNodeOptions = {}): Promise<TestNode> {
  const { port = 0, onEvent, cleanup = true, ...given } = o;
  // An option given as undefined keeps its default.
  const opts = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as Partial<ChatOptions>;
  const events: ChatEvent[] = [];
  const home = opts.home ?? tempHome();
  const n = await ChatNode.start({ group: Group.X25519, strict: false, listen: { host: "127.0.0.1", port }, connect: [], ...opts, home, name }, (e) => {
    events.push(e);
    onEvent?.(e);
  });
  if (cleanup) started.push(n);
  const listening = events.find((e) => e.type === "listening");
  return { n, events, port: listening?.type === "listening" ? listening.port : 0, home };
}

/** Close every node startNode started (a failed close, as of a node the test closed itself, is ignored). */
export async function stopNodes(): Promise<void> {
  await Promise.all(started.splice(0).map((n) => n.close().catch(() => {})));
}

/** Forget `n` (the test closed it, or will): stopNodes leaves it alone. */
export function released(n: ChatNode): ChatNode {
  const i = started.indexOf(n);
  if (i >= 0) started.splice(i, 1);
  return n;
}
