/**
 * A sotto peer on the network: one listener and any number of outbound dials, each
 * connection a Session. The only code that calls Bun.listen / Bun.connect.
 * Caps (sessions, half-open handshakes per peer and per address) answer with ALERT busy;
 * one sweep timer drives every session's deadlines.
 */
import type { Socket, SocketHandler, TCPSocketListener } from "bun";
import { systemRandom, type RandomSource } from "../crypto/random.ts";
import { AlertCode, Group } from "../protocol/constants.ts";
import { fail, ProtocolError } from "../protocol/errors.ts";
import type { Identity } from "../protocol/machine.ts";
import { encodeAlertFrame } from "../protocol/handshake.ts";
import type { Item, TextId } from "../protocol/items.ts";
import { Admission, FLOODING, FLOODING_LATE, shareOf } from "./admission.ts";
import { InboundHandshakes } from "./inbound-handshakes.ts";
import { raiseBacklog } from "./backlog.ts";
import { ByteBudget, defaultLimits, descriptorLimit, sessionsFor, TokenBucket, type Limits } from "./limits.ts";
import { Session } from "./session.ts";
import { x25519Pool } from "./x25519-pool.ts";
import { connectFailure, ConnectError, dialErrorCode } from "./route.ts";
import { isIP } from "node:net";
import type { CloseInfo, Role, SessionConfig, SessionEvents } from "./types.ts";

export interface PeerEvents {
  onReady?(s: Session): void;
  onItem?(s: Session, item: Item): void;
  /** A TEXT as (id, text), no Item object (SessionEvents.onText); absent: TEXT goes to onItem. */
  onText?(s: Session, id: TextId, text: string): void;
  onClose?(s: Session, info: CloseInfo): void;
  onDrain?(s: Session): void;
  /** An incoming connection was turned away with ALERT busy before any session existed. */
  onRefused?(address: string, reason: string): void;
}

export interface PeerOptions {
  identity: Identity;
  profile: { instance: Uint8Array; name: string };
  /** Group offered when dialling (default X25519). */
  group?: Group;
  /** Groups accepted when answering, and allowed for a retry after unsupported_group. */
  accept?: Group[];
  limits?: Partial<Limits>;
  random?: RandomSource;
  /** Trust policy; throw ProtocolError identity_rejected to refuse. */
  verifyPeer?: (identity: Uint8Array, ctx: { role: Role; address: string }) => void;
  events?: PeerEvents;
}

/** ALERT busy (PROTOCOL §7), encoded once: every refusal at accept sends these bytes. */
const BUSY_FRAME = encodeAlertFrame(AlertCode.busy);

type SocketData = { session: Session | null; dial?: Dial };
type Dial = {
  host: string;
  port: number;
  group: Group;
  retried: boolean;
  early: boolean;
  resolve: (s: Session) => void;
  reject: (e: Error) => void;
  /** The connect deadline (Limits.connectTimeoutMs): cleared by the peer's first byte. */
  timer?: ReturnType<typeof setTimeout> | null;
  /** The deadline passed: the attempt was given up and its session ends quietly. */
  abandoned?: boolean;
  session?: Session;
  /** The address the host name resolved to for this attempt (route.ts checks its route). */
  ip?: string;
};

/** The dial `d` failed with the OS error `code` (ECONNREFUSED made precise by route.ts): one sentence, the code kept. */
function dialFailed(d: Dial, err: Error, code: string | undefined): ConnectError {
  return new ConnectError(`could not connect to ${d.host}:${d.port}: ${connectFailure(code, err.message)}`, err, code);
}

export class Peer {
  readonly limits: Limits;
  readonly sessions = new Set<Session>();
  readonly #o: PeerOptions;
  readonly #random: RandomSource;
  /** The caps on sessions and handshakes, the FFDHE rate, the hosts that authenticated (admission.ts). */
  readonly #admission: Admission;
  /** Process-wide: bytes held by sessions before authentication. */
  readonly preAuthBudget: ByteBudget<Session>;
  /** Process-wide: real memory of every session's queued output. */
  readonly outputBudget: ByteBudget<Session>;
  /** Per session: the dial it answers, the remote host, and whether it still counts as half-open. */
  readonly #books = new Map<Session, { dial: Dial | null; remoteHost: string; halfOpen: boolean }>();
  /** Inbound sessions still handshaking, oldest first: strangers', and those of addresses that authenticated before (evicted last). */
  readonly #handshakes = new InboundHandshakes<Session>();
  #listener: TCPSocketListener<SocketData> | null = null;
  #sweep: ReturnType<typeof setInterval> | null = null;
  #closed = false;

  readonly #config: SessionConfig<Session>;

  constructor(o: PeerOptions) {
    this.#o = o;
    const l = { ...defaultLimits(), ...o.limits };
    // A session cap at (or over) the descriptor limit is no cap: accept fails before busy.
    l.maxSessions = sessionsFor(descriptorLimit(), l.maxSessions);
    this.limits = l;
    this.preAuthBudget = new ByteBudget(l.maxPreAuthBytes);
    this.outputBudget = new ByteBudget(l.maxOutputBytes);
    this.#random = o.random ?? systemRandom;
    this.#admission = new Admission(l);
    this.#config = {
      identity: o.identity,
      profile: o.profile,
      accept: this.accept,
      limits: this.limits,
      random: this.#random,
      verifyPeer: o.verifyPeer ? (id, s) => o.verifyPeer!(id, { role: s.role, address: s.address }) : undefined,
      preAuthBudget: this.preAuthBudget,
      pingBudget: new TokenBucket(l.pingsPerSecondTotal, l.pingsPerSecondTotal, performance.now()),
      outputBudget: this.outputBudget,
      admitKex: (s) => this.#admission.admitKex(this.#remoteHost(s), performance.now()),
      kexPriority: (s) => this.#admission.known(this.#remoteHost(s)),
      alertBeforeAuth: (s) => s.role !== "responder" || this.#admission.alertAllowed(this.#remoteHost(s), performance.now()),
    };
  }

  get accept(): Group[] {
    return this.#o.accept ?? [Group.X25519, Group.FFDHE2048, Group.FFDHE3072];
  }

  /** Handshakes in progress. */
  get halfOpen(): number {
    return this.#admission.halfOpen;
  }

  /** Change the display name sent in PROFILE (to new sessions, and to open ones). */
  setName(name: string): void {
    this.#o.profile.name = name;
    for (const s of this.sessions) if (s.state === "open") s.send({ kind: "profile", instance: this.#o.profile.instance, name });
  }

  /** The socket callbacks, made once: the listener and every dial share them (no closures per connection). */
  readonly #socketHandlers: SocketHandler<SocketData> = this.#handlers();

  #handlers(): SocketHandler<SocketData> {
    return {
      open: (socket) => this.#open(socket),
      data: (socket, chunk) => {
        // The peer answered: the connect deadline is met (the handshake deadline goes on).
        const d = socket.data.dial;
        if (d?.timer) {
          clearTimeout(d.timer);
          d.timer = null;
        }
        const s = socket.data.session;
        if (s === null) return;
        // A stranger's handshake from a prefix that floods with refusals: reset now, its
        // bytes unread (its connection was accepted before the flood was seen).
        if (s.state === "handshake" && d === undefined && this.#admission.floodingStranger(this.#remoteHost(s), performance.now())) return s.abort(fail("busy", FLOODING_LATE));
        s.onData(chunk);
      },
      drain: (socket) => socket.data.session?.onDrain(),
      close: (socket, err) => this.#socketClosed(socket, err ?? undefined),
      error: (socket, err) => this.#socketClosed(socket, err),
      connectError: (socket, err) => {
        const d = socket.data.dial;
        // The route of the address dialled, not of the host name (which has none to check).
        if (d) d.reject(dialFailed(d, err, dialErrorCode(d.ip ?? d.host, (err as Error & { code?: string }).code)));
      },
    };
  }

  /**
   * Listen on host:port (port 0 picks a free one). Resolves with the port.
   * @throws ConnectError with one clear sentence (port in use, permission).
   */
  listen(host: string, port: number): number {
    try {
      this.#listener = Bun.listen<SocketData>({ hostname: host, port, socket: this.#socketHandlers, data: { session: null } });
    } catch (e) {
      const code = (e as { code?: string }).code;
      const why = code === "EADDRINUSE" ? "the port is already in use" : code === "EACCES" ? "permission denied" : (e as Error).message;
      throw new ConnectError(`cannot listen on ${host}:${port}: ${why}`, e as Error);
    }
    // Bun asks for a backlog of 512; a flood that holds the loop fills it (backlog.ts).
    raiseBacklog((this.#listener as unknown as { fd?: number }).fd, this.limits.listenBacklog);
    // Pairs ahead for bursts of handshakes from others; a peer that only dials makes its one pair per dial inline.
    x25519Pool.warm();
    this.#startSweep();
    return this.#listener.port;
  }

  /** Stop accepting connections (open sessions stay). */
  stopListening(): void {
    this.#listener?.stop(false);
    this.#listener = null;
  }

  /**
   * Dial host:port and run the handshake. Resolves with the session once both PROFILEs
   * are exchanged, or with `early`, as soon as our AUTH is sent and we may send (the
   * initiator's application data rides in the same round trip as its AUTH). After an unsupported_group alert it retries once, with a group both
   * the responder named and our own policy accepts.
   * @throws ConnectError (unreachable, refused, handshake failed; `cause` is the ProtocolError).
   */
  connect(host: string, port: number, group: Group = this.#o.group ?? Group.X25519, opts: { early?: boolean } = {}): Promise<Session> {
    this.#startSweep();
    return new Promise<Session>((resolve, reject) => {
      const dial: Dial = {
        host,
        port,
        group,
        retried: false,
        early: opts.early ?? false,
        resolve: (s) => {
          this.#settle(dial);
          resolve(s);
        },
        reject: (e) => {
          this.#settle(dial);
          reject(e);
        },
      };
      this.#dial(dial);
    });
  }

  #settle(d: Dial): void {
    if (d.timer) clearTimeout(d.timer);
    d.timer = null;
  }

  #dial(d: Dial): void {
    // The connect deadline covers the TCP handshake and the peer's first byte (its
    // HELLO_REPLY): a blackholed SYN, or a path that accepts and forwards nothing.
    const ms = this.limits.connectTimeoutMs;
    if (ms > 0) {
      d.timer = setTimeout(() => {
        d.timer = null;
        d.abandoned = true;
        d.reject(new ConnectError(`could not connect to ${d.host}:${d.port}: no answer within ${ms / 1000} s (the path may be down or the address wrong)`, undefined, "ETIMEDOUT"));
        d.session?.destroy();
      }, ms);
      d.timer.unref?.();
    }
    // An address needs no look-up: dialled at once, with no promise or callbacks for it.
    if (isIP(d.host) !== 0) return this.#connectTo(d, d.host);
    void this.#resolve(d.host).then(
      (ip) => this.#connectTo(d, ip),
      (err: Error) => d.reject(dialFailed(d, err, "ENOTFOUND")),
    );
  }

  #connectTo(d: Dial, ip: string): void {
    if (d.abandoned) return;
    d.ip = ip;
    Bun.connect<SocketData>({ hostname: ip, port: d.port, socket: this.#socketHandlers, data: { session: null, dial: d } }).catch((err: Error & { code?: string }) => d.reject(dialFailed(d, err, dialErrorCode(ip, err.code))));
  }

  /**
   * A host name is looked up again on every dial (contacts are keys, not addresses: a
   * peer that moved is found at its new address), not taken from Bun.connect's DNS
   * cache, which keeps an entry for up to 30 s unless a connection to it fails.
   */
  async #resolve(host: string): Promise<string> {
    if (isIP(host) !== 0) return host;
    const found = await Bun.dns.lookup(host, { family: 0 });
    if (found.length === 0) throw new Error(`no address for ${host}`);
    return found[0]!.address;
  }

  #open(socket: Socket<SocketData>): void {
    const dial = socket.data?.dial;
    if (dial?.abandoned) {
      // The connect deadline passed before the TCP handshake finished.
      socket.data = { session: null };
      socket.terminate();
      return;
    }
    const role: Role = dial ? "initiator" : "responder";
    const remote = dial ? dial.host : socket.remoteAddress;
    if (!dial && this.#admission.floodingStranger(remote, performance.now())) {
      // A stranger from a prefix whose refusals are a flood: reset before anything is read
      // (each such connection brought up to a socket buffer of bytes to read and judge).
      socket.terminate();
      this.#o.events?.onRefused?.(`${remote}:${(socket as unknown as { remotePort?: number }).remotePort ?? 0}`, FLOODING);
      return;
    }
    let full = this.#admission.refusal(remote, dial !== undefined, this.sessions.size, this.#closed);
    if (full !== null && !dial && !this.#closed && this.#admission.ownRefusal(remote) === null && this.#evictOldHandshake(this.#admission.known(remote), shareOf(remote))) {
      full = this.#admission.refusal(remote, false, this.sessions.size, this.#closed);
    }
    if (full !== null && !dial) {
      // A refusal at accept is most of a flood's cost: the inbound socket keeps the
      // listener's { session: null }, one call writes the ALERT and the FIN, and the
      // remote port is read only for the report. Past the prefix's alert rate it is reset
      // without one (PROTOCOL §7.3): no write, no FIN exchange, no TIME_WAIT.
      if (this.#admission.alertAllowed(remote, performance.now())) socket.end(BUSY_FRAME);
      else socket.terminate();
      this.#o.events?.onRefused?.(`${remote}:${(socket as unknown as { remotePort?: number }).remotePort ?? 0}`, full);
      return;
    }
    const address = dial ? `${dial.host}:${dial.port}` : `${remote}:${(socket as unknown as { remotePort?: number }).remotePort ?? 0}`;
    if (full !== null) {
      socket.data = { session: null };
      socket.end();
      dial?.reject(new ConnectError(`too many connections: not dialling ${address}`));
      return;
    }
    const s = new Session(socket, this.#config, role, address, dial?.group, this.#events);
    this.#books.set(s, { dial: dial ?? null, remoteHost: remote, halfOpen: true });
    if (dial) dial.session = s;
    else this.#handshakes.add(s, this.#admission.known(remote), performance.now(), shareOf(remote));
    this.#admission.opened(remote);
    socket.data = { session: s, dial };
    this.sessions.add(s);
    void s.start();
  }

  // One events object and one config for every session (no closures per connection).
  readonly #events: SessionEvents<Session> = {
    onReady: (s) => {
      this.#handshakeOver(s);
      const b = this.#books.get(s);
      // The address itself, not the name we dialled: it is what its connections to us show.
      if (b !== undefined) this.#admission.remember(b.dial?.ip ?? b.remoteHost);
      b?.dial?.resolve(s);
      this.#o.events?.onReady?.(s);
    },
    onEstablished: (s) => {
      const d = this.#books.get(s)?.dial;
      if (d?.early) d.resolve(s);
    },
    onItem: (s, item) => this.#o.events?.onItem?.(s, item),
    onText: (s, id, text) => {
      const e = this.#o.events;
      if (e?.onText !== undefined) e.onText(s, id, text);
      else e?.onItem?.(s, { kind: "text", id: BigInt(id), text });
    },
    onDrain: (s) => this.#o.events?.onDrain?.(s),
    onClose: (s, info) => this.#sessionClosed(s, info),
  };

  /** The remote host a session was accepted from, or dialled (its Peer-side bookkeeping). */
  #remoteHost(s: Session): string {
    return this.#books.get(s)?.remoteHost ?? "";
  }

  /**
   * At a global cap: cut the handshake that gives way to a newcomer (InboundHandshakes:
   * the oldest stranger's past halfOpenEvictAfterMs, or at once for a newcomer from an
   * address that authenticated before when that stranger's is a flood's, or at once the
   * oldest of a share (an IPv4 /24, an IPv6 /48: admission.ts shareOf) holding two more than the newcomer's `prefix`), with busy, so that silent
   * connections cannot keep a good peer out (docs/SECURITY.md §10). False when none may give way.
   */
  #evictOldHandshake(known: boolean, prefix: string): boolean {
    const now = performance.now();
    const found = this.#handshakes.evictable(known, now, this.limits.halfOpenEvictAfterMs, (h) => this.#admission.floodsWith(this.#remoteHost(h), now), prefix);
    if (found === null) return false;
    const [s, since] = found;
    const age = now - since;
    // abort() closes at once: its close handler (#sessionClosed) lets go of the counts.
    // Younger than the grace: cut by the flood rule or the fair share (InboundHandshakes.evictable), not by its age.
    const why = age >= this.limits.halfOpenEvictAfterMs ? "longer than halfOpenEvictAfterMs" : "its address range held the most handshakes in progress, or a flood's: a fair share of seats";
    s.abort(fail("busy", `the listener is full and this handshake gave way to a newcomer (it had run ${Math.round(age)} ms; ${why})`));
    return true;
  }

  #handshakeOver(s: Session): void {
    this.#handshakes.delete(s);
    const b = this.#books.get(s);
    if (b === undefined || !b.halfOpen) return;
    b.halfOpen = false;
    this.#admission.over(b.remoteHost);
  }

  #sessionClosed(s: Session, info: CloseInfo): void {
    const dial = this.#books.get(s)?.dial ?? undefined;
    this.#handshakeOver(s);
    this.#books.delete(s);
    this.sessions.delete(s);
    if (dial && s.peerProfile === null) {
      const e = info.error;
      if (e instanceof ProtocolError && e.code === "alert" && e.alert === AlertCode.unsupported_group && !dial.retried && !this.#closed) {
        // --group is a minimum (PROTOCOL §3.5): a forged alert cannot move the dial below it.
        const next = (e.accepted ?? []).find((g) => g !== dial.group && g >= dial.group && this.accept.includes(g as Group)) as Group | undefined;
        if (next !== undefined) {
          Object.assign(dial, { group: next, retried: true, session: undefined });
          this.#dial(dial);
          return;
        }
      }
      dial.reject(new ConnectError(`handshake with ${dial.host}:${dial.port} failed: ${e?.message ?? "the connection closed"}`, e ?? undefined));
      if (dial.abandoned) return; // already reported as a dial that timed out
    }
    this.#o.events?.onClose?.(s, info);
  }

  #socketClosed(socket: Socket<SocketData>, err?: Error): void {
    const s = socket.data?.session;
    if (s) s.onSocketClose(err);
  }

  #startSweep(): void {
    if (this.#sweep !== null) return;
    const keepalive = this.limits.keepaliveMs > 0 ? this.limits.keepaliveMs / 4 : Infinity;
    const every = Math.max(20, Math.min(1000, this.limits.handshakeTimeoutMs / 4, keepalive));
    this.#sweep = setInterval(() => {
      const now = performance.now();
      for (const s of this.sessions) s.tick(now);
      this.#admission.sweep(now);
    }, every);
    this.#sweep.unref?.();
  }

  /** Send CLOSE on every session, stop listening, and wait (bounded) for the sockets to finish. */
  async close(reason = "bye", waitMs = 1000): Promise<void> {
    this.#closed = true;
    this.stopListening();
    for (const s of [...this.sessions]) s.close(reason);
    const until = performance.now() + waitMs;
    while (this.sessions.size > 0 && performance.now() < until) await Bun.sleep(10);
    for (const s of [...this.sessions]) s.destroy();
    if (this.#sweep) clearInterval(this.#sweep);
    this.#sweep = null;
  }
}
