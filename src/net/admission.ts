/**
 * Who a Peer lets in, counted without sockets: the caps on sessions and on handshakes in
 * progress (half-open: in all, per address, per prefix for inbound), the per-prefix rate
 * of FFDHE key exchanges, and the addresses that authenticated lately (their key
 * exchanges go first and skip that rate, so contacts still get through a flood).
 * Every refusal is one sentence naming the limit (limits.ts), answered with ALERT busy
 * while the prefix is within its alert rate, reset without an alert beyond it.
 */
import { addressPrefix, TokenBucket, type Limits } from "./limits.ts";

/** Addresses remembered as having authenticated (their FFDHE work goes first). */
const KNOWN_HOSTS = 4096;
/**
 * Of them, at most this many of one /24 or /64 (its oldest forgotten first): becoming
 * "known" costs one handshake with any key the listener takes, so without it one /64
 * pushed every contact out of KNOWN_HOSTS in 4,096 handshakes.
 */
export const KNOWN_PER_PREFIX = 16;
/** And at most this many of one network, an IPv4 /16 or IPv6 /48 (a /56 home line holds 256 /64s). */
export const KNOWN_PER_NETWORK = 64;
/** The refusal sentence of a stranger reset at accept while its prefix floods. */
export const FLOODING = "its address block is refusing faster than preAuthAlertsPerPrefixPerSecond allows (a flood): reset at accept";
/** The same, for a stranger's handshake accepted before the flood was seen. */
export const FLOODING_LATE = "its address block is refusing faster than preAuthAlertsPerPrefixPerSecond allows (a flood): its handshake was reset when its next bytes came, unread";
/** Prefixes tracked by the FFDHE rate at once (≈ 100 bytes each); beyond, new ones wait. */
export const MAX_PREFIX_BUCKETS = 65_536;

export class Admission {
  readonly #limits: Limits;
  readonly #byAddr = new Map<string, number>();
  readonly #byPrefix = new Map<string, number>();
  // Per-prefix token buckets on FFDHE HELLOs (limits.ts ffdhePerPrefixPerSecond).
  readonly #ffdheByPrefix = new Map<string, TokenBucket>();
  // Per-prefix token buckets on plaintext alerts before authentication (limits.ts preAuthAlertsPerPrefixPerSecond).
  readonly #alertsByPrefix = new Map<string, TokenBucket>();
  // Per-prefix token buckets on the refusals past those alerts (resets): both empty is a flood.
  readonly #resetsByPrefix = new Map<string, TokenBucket>();
  readonly #knownHosts = new Set<string>();
  readonly #knownByPrefix = new Map<string, Set<string>>();
  #halfOpen = 0;
  /** The host remember() was last called with, while it is known (its fast path). */
  #newest: string | null = null;

  constructor(limits: Limits) {
    this.#limits = limits;
  }

  /** Handshakes in progress. */
  get halfOpen(): number {
    return this.#halfOpen;
  }

  /** Why a new connection with `remote` is turned away (null: it may go ahead). `dialled`: we dial it (no per-prefix cap). */
  refusal(remote: string, dialled: boolean, sessions: number, closing: boolean): string | null {
    const l = this.#limits;
    if (closing) return "shutting down";
    if (sessions >= l.maxSessions) return `${l.maxSessions} sessions open (maxSessions)`;
    if (this.#halfOpen >= l.maxHalfOpen) return `${l.maxHalfOpen} handshakes in progress (maxHalfOpen)`;
    if ((this.#byAddr.get(remote) ?? 0) >= l.maxHalfOpenPerAddress) return `${l.maxHalfOpenPerAddress} handshakes in progress from that address (maxHalfOpenPerAddress)`;
    if (dialled) return null;
    const prefix = prefixOf(remote);
    if ((this.#byPrefix.get(prefix) ?? 0) >= l.maxHalfOpenPerPrefix) return `${l.maxHalfOpenPerPrefix} handshakes in progress from ${prefix} (maxHalfOpenPerPrefix)`;
    return null;
  }

  /**
   * Why `remote` is turned away by its own caps (address, prefix), or null; unlike
   * refusal(), the global caps are left out: a newcomer under its own caps may take the
   * place of an old handshake (Peer, halfOpenEvictAfterMs).
   */
  ownRefusal(remote: string): string | null {
    const l = this.#limits;
    if ((this.#byAddr.get(remote) ?? 0) >= l.maxHalfOpenPerAddress) return `${l.maxHalfOpenPerAddress} handshakes in progress from that address (maxHalfOpenPerAddress)`;
    const prefix = prefixOf(remote);
    if ((this.#byPrefix.get(prefix) ?? 0) >= l.maxHalfOpenPerPrefix) return `${l.maxHalfOpenPerPrefix} handshakes in progress from ${prefix} (maxHalfOpenPerPrefix)`;
    return null;
  }

  /**
   * Whether a handshake from `host` is a flood's: its address has others in progress, its
   * prefix more than a quarter of maxHalfOpenPerPrefix (far above a household's), or its
   * prefix floods with refusals. An honest stranger's is none of these (Peer's eviction).
   */
  floodsWith(host: string, now: number): boolean {
    if ((this.#byAddr.get(host) ?? 0) > 1) return true;
    if ((this.#byPrefix.get(prefixOf(host)) ?? 0) > this.#limits.maxHalfOpenPerPrefix / 4) return true;
    return this.flooding(host, now);
  }

  /** A handshake with `remote` began. */
  opened(remote: string): void {
    const prefix = prefixOf(remote);
    this.#halfOpen++;
    this.#byAddr.set(remote, (this.#byAddr.get(remote) ?? 0) + 1);
    this.#byPrefix.set(prefix, (this.#byPrefix.get(prefix) ?? 0) + 1);
  }

  /** A handshake with `remote` ended (done, failed or cut): it no longer counts as half-open. */
  over(remote: string): void {
    this.#halfOpen--;
    const n = (this.#byAddr.get(remote) ?? 1) - 1;
    if (n <= 0) this.#byAddr.delete(remote);
    else this.#byAddr.set(remote, n);
    const prefix = prefixOf(remote);
    const p = (this.#byPrefix.get(prefix) ?? 1) - 1;
    if (p <= 0) this.#byPrefix.delete(prefix);
    else this.#byPrefix.set(prefix, p);
  }

  /** Responder, FFDHE: a refusal sentence when `host`'s prefix is over its rate, or null. */
  admitKex(host: string, now: number): string | null {
    if (this.known(host)) return null;
    const prefix = prefixOf(host);
    const rate = this.#limits.ffdhePerPrefixPerSecond;
    const b = bucketOf(this.#ffdheByPrefix, prefix, rate * 4, rate, now);
    if (b === null) return `FFDHE handshakes from ${MAX_PREFIX_BUCKETS} prefixes at once`;
    return b.take(now) ? null : `more than ${rate} FFDHE handshakes a second from ${prefix} (ffdhePerPrefixPerSecond)`;
  }

  /**
   * Whether a connection from `host` refused before authentication may get its plaintext
   * ALERT (false: reset it without one, PROTOCOL §7.3). Beyond MAX_PREFIX_BUCKETS
   * prefixes at once, a new one gets none.
   */
  alertAllowed(host: string, now: number): boolean {
    const rate = this.#limits.preAuthAlertsPerPrefixPerSecond;
    const prefix = prefixOf(host);
    if (bucketOf(this.#alertsByPrefix, prefix, rate * 2, rate, now)?.take(now) ?? false) return true;
    // Past the alerts: a second bucket, of the same rate, counts the resets.
    bucketOf(this.#resetsByPrefix, prefix, rate, rate, now)?.take(now);
    return false;
  }

  /**
   * Whether `host`'s prefix floods: it has used up its pre-authentication alerts and, past
   * them, a second second's worth of resets (its refusals come faster than
   * preAuthAlertsPerPrefixPerSecond, by far). A stranger's new connection from it is then
   * reset at accept, before any byte of it is read (PROTOCOL §7.3); the prefix gets its
   * handshakes back as its budgets refill. A peer that meets a cap now and then, or a
   * test suite's run of failing handshakes, stays far from it.
   */
  flooding(host: string, now: number): boolean {
    if (this.#resetsByPrefix.size === 0) return false; // no prefix is past its alerts: the common case, on every handshake's bytes
    const prefix = prefixOf(host);
    const alerts = this.#alertsByPrefix.get(prefix);
    const resets = this.#resetsByPrefix.get(prefix);
    return alerts !== undefined && resets !== undefined && alerts.level(now) < 1 && resets.level(now) < 1;
  }

  /** A stranger (not known lately) from a prefix that floods: reset before its bytes are read (Peer, at accept and at a handshake's next bytes). */
  floodingStranger(host: string, now: number): boolean {
    return this.flooding(host, now) && !this.known(host);
  }

  /** `host` authenticated: its key exchanges go first from now on (the oldest forgotten past KNOWN_HOSTS, or past KNOWN_PER_PREFIX of its prefix). */
  remember(host: string): void {
    const k = hostKey(host);
    // Already the newest known host: the last remember() was this one (a forget since
    // reorders nothing), so it is the newest of its groups too; nothing would change.
    if (k === this.#newest) return;
    this.#newest = k;
    this.#knownHosts.delete(k);
    this.#knownHosts.add(k);
    for (const [group, cap] of knownGroups(k)) {
      let mine = this.#knownByPrefix.get(group);
      if (mine === undefined) this.#knownByPrefix.set(group, (mine = new Set()));
      mine.delete(k);
      mine.add(k);
      if (mine.size > cap) this.#forget(mine.values().next().value!);
    }
    if (this.#knownHosts.size > KNOWN_HOSTS) this.#forget(this.#knownHosts.values().next().value!);
  }

  #forget(k: string): void {
    if (k === this.#newest) this.#newest = null;
    this.#knownHosts.delete(k);
    for (const [group] of knownGroups(k)) {
      const mine = this.#knownByPrefix.get(group);
      mine?.delete(k);
      if (mine?.size === 0) this.#knownByPrefix.delete(group);
    }
  }

  /** Whether `host` authenticated lately (in any of its forms: IPv4-mapped, capitals). */
  known(host: string): boolean {
    return this.#knownHosts.has(hostKey(host));
  }

  /** Forget per-prefix buckets once full again (idle prefixes cost nothing). */
  sweep(now: number): void {
    for (const [k, b] of this.#ffdheByPrefix) if (b.full(now)) this.#ffdheByPrefix.delete(k);
    for (const [k, b] of this.#alertsByPrefix) if (b.full(now)) this.#alertsByPrefix.delete(k);
    for (const [k, b] of this.#resetsByPrefix) if (b.full(now)) this.#resetsByPrefix.delete(k);
  }
}

/**
 * addressPrefix with a one-entry memo: a handshake asks for its address's prefix three to
 * five times (refusal, opened, over, remember), and a burst comes from few addresses; a
 * string each time is garbage a burst of connections pays for in collections.
 */
let lastHost: string | null = null;
let lastPrefix = "";
export function prefixOf(host: string): string {
  if (host !== lastHost) {
    lastPrefix = addressPrefix(host);
    lastHost = host;
  }
  return lastPrefix;
}

/**
 * Whose seats a host's inbound handshake counts against in the fair share at a full
 * listener (inbound-handshakes.ts): its IPv4 /24 (an IPv4-mapped address as its IPv4), or
 * its IPv6 /48. An end site is given a /48 or a /56 (a tunnel broker hands out a /48 for
 * free), so counted by /64, one site held 1,024 prefixes of 4 handshakes each, enough to
 * fill 4,096 seats and keep every new stranger out; a /48 is one share, as a /24 is.
 */
export function shareOf(host: string): string {
  const prefix = prefixOf(host);
  if (!prefix.endsWith("::/64")) return prefix;
  if (prefix === lastSharePrefix) return lastShare;
  lastSharePrefix = prefix;
  return (lastShare = `${prefix.split(":", 3).join(":")}::/48`);
}
let lastSharePrefix = "";
let lastShare = "";

/** The groups a known host is counted in, with their caps: its /24 or /64, and its /16 or /48. */
function knownGroups(k: string): [string, number][] {
  const prefix = prefixOf(k);
  const v4 = prefix.endsWith(".0/24");
  const net = v4 ? `${prefix.split(".", 2).join(".")}.0.0/16` : prefix.endsWith("::/64") ? shareOf(k) : null;
  return net === null ? [[prefix, KNOWN_PER_PREFIX]] : [[prefix, KNOWN_PER_PREFIX], [net, KNOWN_PER_NETWORK]];
}

/**
 * One key per address for the known hosts: an IPv4 address and its IPv4-mapped form (what
 * a dual-stack listener reports) are one, and IPv6 is compared in lower case.
 */
function hostKey(host: string): string {
  const h = host.toLowerCase();
  return h.startsWith("::ffff:") && h.indexOf(":", 7) < 0 && h.includes(".") ? h.slice(7) : h;
}

/** The token bucket of `prefix` in `map`, made full when new; null when the map already holds MAX_PREFIX_BUCKETS. */
function bucketOf(map: Map<string, TokenBucket>, prefix: string, burst: number, rate: number, now: number): TokenBucket | null {
  let b = map.get(prefix);
  if (b === undefined) {
    if (map.size >= MAX_PREFIX_BUCKETS) return null;
    b = new TokenBucket(burst, rate, now);
    map.set(prefix, b);
  }
  return b;
}
