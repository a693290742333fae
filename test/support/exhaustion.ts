/** What the resource-exhaustion tests (docs/SECURITY.md §3.E) share: the scene's handshake deadline and the timeout alert. */
import { AlertCode } from "../../src/protocol/constants.ts";
import { FAST_LIMITS } from "../hostile/scene.ts";

/** The handshake deadline of a Scene with FAST_LIMITS, in ms. */
export const HS = FAST_LIMITS.handshakeTimeoutMs!;
/** The ALERT code a connection cut at a deadline receives. */
export const T = AlertCode.timeout;
