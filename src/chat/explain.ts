/**
 * Failures in plain words: every alert a peer can send (PROTOCOL §7), every local
 * protocol fault and the OS errors of listening and dialling become one sentence that
 * says what happened and what to do. The codes stay in the events (`code`, `alert`,
 * `errno`), for --json; the sentence is for a person.
 */
import { AlertCode, ALERT_NAMES } from "../protocol/constants.ts";
import { ProtocolError } from "../protocol/errors.ts";

/** A failure as the events carry it. */
export interface Explained {
  message: string;
  /** ProtocolError code, or the OS errno (ECONNREFUSED, …). */
  code?: string;
  /** The alert number the peer sent (PROTOCOL §7), when it sent one. */
  alert?: number;
}

/** What the peer told us with ALERT `code`, about us; `who` names the peer (or its address). @throws never */
export function alertSentence(code: number, who: string): string {
  switch (code) {
    case AlertCode.protocol_error:
      return `${who} closed the session: it could not parse what we sent (protocol error). Check that both of you run the same sotto version.`;
    case AlertCode.unsupported_version:
      return `${who} does not speak sotto/1 (unsupported version). One of you needs to update sotto.`;
    case AlertCode.unsupported_group:
      return `${who} accepts none of the key-exchange groups we offered. Start with --group x25519, or the group ${who} uses.`;
    case AlertCode.bad_record:
      return `${who} received a record that failed its integrity check: something on the network changed the bytes. The session was closed; sotto dials again.`;
    case AlertCode.auth_failed:
      return `${who} could not verify our handshake (auth failed). If ${who} is this same sotto (you connected to yourself), use your friend's address instead.`;
    case AlertCode.identity_rejected:
      return `${who} refused our key: it does not match the one ${who} pinned for us, or ${who} accepts only known peers (--strict). Ask ${who} to check their known_peers; if you made a new identity, they must remove the old pin.`;
    case AlertCode.timeout:
      return `${who} stopped waiting for us (timeout). Check the network between you; sotto dials again.`;
    case AlertCode.busy:
      return `${who} is too busy to take this connection (too many sessions, handshakes or messages). Try again in a while.`;
    case AlertCode.internal_error:
      return `${who} closed the session because of an internal error on its side. Ask ${who} to report it.`;
    default:
      return `${who} closed the session with alert ${code}, which this sotto does not know. Updating sotto may tell you more.`;
  }
}

/** A peer whose session was up and whose connection ended without CLOSE. @throws never */
export function goneSentence(who: string): string {
  return `${who} went away without a goodbye (its sotto quit or crashed, or the network dropped).`;
}

/**
 * The OS errors that end an open session's socket when the peer's process died or its
 * machine left the network: a kernel that closes a killed process's socket with data
 * unread sends a reset, and a write after that meets a broken pipe.
 */
const GONE_ERRNOS = new Set(["ECONNRESET", "EPIPE"]);

/** A local protocol fault (we ended the session) in words; `who` names the peer. @throws never */
export function protocolSentence(e: ProtocolError, who: string): string {
  switch (e.code) {
    case "alert":
      return e.alert === AlertCode.unsupported_group && e.accepted ? alertSentence(AlertCode.unsupported_group, who) : alertSentence(e.alert ?? -1, who);
    case "reflection":
      return `${who} answered with our own key: this is our own sotto (you connected to yourself). Dial your friend's address instead.`;
    case "auth_failed":
      return `${who} failed to prove its identity (its handshake signature did not verify); the session was refused. Someone may be in the middle.`;
    case "identity_rejected":
      return `we refused ${who}'s key: ${e.message}.`;
    case "bad_record":
      return `a record from ${who} failed its integrity check (the bytes were changed on the way); the session was closed.`;
    case "timeout":
      return `${who} did not answer in time (timeout); the session was closed. Check the network; sotto dials again.`;
    case "truncated":
      // Where the stream ended (net/session.ts, protocol/frame.ts): "in the middle of a message" only when it did.
      switch (e.ended) {
        case "between_frames":
          return goneSentence(who);
        case "handshake":
          return `the connection to ${who} closed during the handshake; is ${who} a sotto, and does it accept you?`;
        default:
          return `the connection to ${who} ended in the middle of a message.`;
      }
    case "unsupported_version":
      return `${who} speaks another protocol version than sotto/1; one of you needs to update sotto.`;
    case "unsupported_group":
      return `${who} offered a key-exchange group we do not accept.`;
    case "busy":
      return e.message;
    default:
      return `${who} sent something sotto/1 does not allow (${e.code}: ${e.message}); the session was closed. It may run another sotto version.`;
  }
}

/** An OS error of listening or dialling (errno code) in words. @throws never */
export function osSentence(errno: string, address: string, listening: boolean): string | null {
  const [host, port] = splitAddress(address);
  switch (errno) {
    case "ECONNREFUSED":
      return `nothing is listening at ${address}: check the address and port, and that sotto is running there.`;
    case "ENETUNREACH":
      return `${host} cannot be reached from this machine: it has no route to that network (no network connection, or an address on a network you are not on); check your connection and the address.`;
    case "EHOSTUNREACH":
      return `nothing answers at ${host}: its network is reachable but no machine there has that address (it may be off, or have another address now); check that it is on and its current address.`;
    case "ETIMEDOUT":
      return `${address} did not answer: the machine may be off, or a firewall drops the connection.`;
    case "ECONNRESET":
      return `the connection to ${address} was reset by the other side or the network.`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_NONAME":
      return `the host name ${host} cannot be found: check its spelling, or use an IP address.`;
    case "EADDRINUSE":
      return `port ${port} is already in use on this machine (another sotto, or another program): choose another with --port, or --port 0 for any free one.`;
    case "EACCES":
    case "EPERM":
      return listening
        ? `permission denied for port ${port}: ports below 1024 need administrator rights; use a port from 1024 up (--port 5000).`
        : `permission denied when connecting to ${address}: a local firewall or policy blocks it.`;
    case "EADDRNOTAVAIL":
      return listening
        ? `${host} is not an address of this machine: --host must be one of its own addresses (or 0.0.0.0 for all).`
        : `${address} cannot be dialled from here: this machine has no local address or free port to dial it from (a network that went away, or too many connections open).`;
    default:
      return null;
  }
}

function splitAddress(a: string): [string, string] {
  const i = a.lastIndexOf(":");
  return i < 0 ? [a, ""] : [a.slice(0, i).replace(/^\[|\]$/g, ""), a.slice(i + 1)];
}

/** The errno code of `e` or of an error in its cause chain. */
function errnoOf(e: unknown): string | undefined {
  for (let x = e as { code?: unknown; cause?: unknown } | undefined, i = 0; x && i < 5; x = x.cause as typeof x, i++) {
    if (typeof x.code === "string" && /^E[A-Z_]+$/.test(x.code)) return x.code;
  }
  return undefined;
}

/** The ProtocolError of `e` or of its cause. */
function protocolOf(e: unknown): ProtocolError | undefined {
  if (e instanceof ProtocolError) return e;
  const c = (e as { cause?: unknown } | undefined)?.cause;
  return c instanceof ProtocolError ? c : undefined;
}

/**
 * Any failure of listening, dialling or a session, explained. `who` names the peer
 * (its name, or its address); `address` is what was dialled or listened on; `established`:
 * the session had opened (so a reset socket is a peer gone without a goodbye).
 * @throws never
 */
export function explain(e: unknown, o: { who: string; address: string; listening?: boolean; established?: boolean }): Explained {
  const p = protocolOf(e);
  if (p !== undefined) {
    const base: Explained = { message: protocolSentence(p, o.who), code: p.code };
    if (p.code === "alert" && p.alert !== undefined) base.alert = p.alert;
    return base;
  }
  const errno = errnoOf(e);
  if (errno !== undefined) {
    if (o.established === true && GONE_ERRNOS.has(errno)) return { message: goneSentence(o.who), code: errno };
    const s = osSentence(errno, o.address, o.listening ?? false);
    if (s !== null) return { message: s, code: errno };
  }
  return { message: e instanceof Error ? e.message : String(e) };
}

/** The alert name for a number, for --json and logs (undefined when unknown). @throws never */
export function alertName(code: number): string | undefined {
  return ALERT_NAMES[code];
}
