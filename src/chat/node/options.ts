/** How a chat is started (src/cli/chat-args.ts builds these from the command line). */
import type { Group } from "../../protocol/constants.ts";
import type { Limits } from "../../net/limits.ts";
import type { FileOptions } from "../files/transfers.ts";
import type { OutputGate } from "../events.ts";

export interface ChatOptions {
  home: string;
  name: string;
  group: Group;
  strict: boolean;
  /** --allow-new: every new key, inbound too, becomes a contact at once (bots, scripts). Default false: a key that dials us is a request. */
  allowNew?: boolean;
  listen: { host: string; port: number } | null;
  connect: string[];
  limits?: Partial<Limits>;
  /** File transfer; default: on, into `home/downloads`, asking before each file. `false`: off (the peer cannot receive files). */
  files?: FileOptions | false;
  /** Keep conversations in history.db (src/chat/delivery/history.ts); default true (--no-history: false). */
  history?: boolean;
  /** Messages a peer may send per second on average (a burst of 10 s worth is allowed); beyond, the session ends with ALERT busy. Default DEFAULT_TEXT_PER_SECOND. */
  textPerSecond?: number;
  /** The Dialer's first backoff (ms); default BACKOFF_BASE_MS (250). Tests that cut links often shorten it. */
  backoffBaseMs?: number;
  /** The front end's pending output: while it is full, TEXT is not taken in (hold.ts). */
  output?: OutputGate;
}
