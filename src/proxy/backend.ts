/**
 * One backend of a route: its address, its health state and its statistics.
 *
 * Two independent sources decide whether a backend gets traffic: passive health (too many failures in a
 * window → `cooling` for a while, Monkey's AttemptsCount / OfflineTimeOut) and optional active checks
 * (`down` until enough checks succeed). Cooling ends lazily, when a balancer next looks at the backend,
 * so no timer runs per backend.
 */
import type { BackendAddress, BackendTls } from './options.ts';

/** What the operator sees: `up` gets traffic, `cooling` is skipped until its cooldown ends, `down` is
 * skipped until active health checks succeed again. */
export type BackendState = 'up' | 'down' | 'cooling';

/**
 * What an operator decided through the admin API: `enabled` (health decides), `draining` (no new
 * requests, those in flight finish) or `disabled` (no new requests; its idle connections are closed).
 * Health checks keep running either way, so that the verdict is current when the backend is enabled again.
 */
export type AdminState = 'enabled' | 'draining' | 'disabled';

/** The state column of the listing: health, unless an operator took the backend out. */
export type ListedState = BackendState | 'draining' | 'drained' | 'disabled';

/** Passive health settings of a backend's route. */
export interface FailurePolicy {
  /** Failures within `failWindow` that start a cooldown. */
  maxFails: number;
  failWindow: number;
  cooldown: number;
}

/** Called once per state change, for the log and for tests. */
export type StateListener = (backend: Backend, from: BackendState, to: BackendState, reason: string) => void;

/** Plain-data snapshot of a backend, as the admin API shows it. */
export interface BackendSnapshot {
  url: string;
  weight: number;
  /** `draining` while requests sent before the drain are in flight, `drained` once none is left. */
  state: ListedState;
  /** What health says (the state once the backend is enabled again). */
  health: BackendState;
  admin: AdminState;
  inFlight: number;
  requests: number;
  failures: number;
  /** Mean time to the response head over all successful requests, in ms. */
  latencyMs: number;
  /** Exponentially weighted latency (α = 0.2), in ms: what the backend does now. */
  latencyEwmaMs: number;
  lastError: string | null;
  openConnections: number;
  idleConnections: number;
}

export class Backend {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  /** Position in its route's backend list (balancers index per-backend arrays with it). */
  readonly index: number;

  /** Requests currently being forwarded to this backend. */
  inFlight = 0;
  requests = 0;
  failures = 0;
  latencyTotal = 0;
  latencyCount = 0;
  latencyEwma = 0;
  lastError: string | null = null;
  /** TLS settings of an `https://` backend; null for `http://`. */
  readonly tls: BackendTls | null;
  /** Last TLS session (resumption on the next connect); see backend-connect.ts. */
  tlsSession: Buffer | null = null;
  /** Maintained by the connection pool. */
  openConnections = 0;
  idleConnections = 0;
  /** Set through the admin API; anything but `enabled` keeps every new request away. */
  admin: AdminState = 'enabled';

  private coolingUntil = 0;
  private windowStart = 0;
  private windowFails = 0;
  private healthy = true;
  private reported: BackendState = 'up';
  private readonly policy: FailurePolicy;
  private readonly listener: StateListener | null;

  constructor(address: BackendAddress, index: number, policy: FailurePolicy, listener: StateListener | null) {
    this.url = address.url;
    this.host = address.host;
    this.port = address.port;
    this.weight = address.weight;
    this.tls = address.tls ?? null;
    this.index = index;
    this.policy = policy;
    this.listener = listener;
  }

  /** Whether balancers may choose this backend now. Ends an expired cooldown as a side effect. */
  available(now: number): boolean {
    if (this.admin !== 'enabled') return false;
    if (this.reported === 'up') return true;
    if (!this.healthy) return false;
    if (now < this.coolingUntil) return false;
    this.transition('up', 'cooldown over');
    return true;
  }

  /** In a cooldown after passive failures (and not down by active checks): what panic mode may pick. */
  get cooling(): boolean {
    return this.reported === 'cooling' && this.admin === 'enabled';
  }

  /** Current state, ending an expired cooldown first. */
  state(now: number): BackendState {
    if (this.reported === 'cooling' && this.healthy && now >= this.coolingUntil) {
      this.transition('up', 'cooldown over');
    }
    return this.reported;
  }

  /** A request failed in a way that is the backend's fault (refused, reset, timeout, bad response). */
  recordFailure(now: number, reason: string): void {
    this.failures++;
    this.lastError = reason;
    if (now - this.windowStart > this.policy.failWindow) {
      this.windowStart = now;
      this.windowFails = 0;
    }
    this.windowFails++;
    if (this.windowFails >= this.policy.maxFails && this.reported === 'up') {
      this.coolingUntil = now + this.policy.cooldown;
      this.windowFails = 0;
      this.transition(
        'cooling',
        `${this.policy.maxFails} failures within ${this.policy.failWindow} ms: ${reason}`,
      );
    }
  }

  /** A response head arrived `latency` ms after the request was sent. */
  recordSuccess(latency: number): void {
    this.latencyTotal += latency;
    this.latencyCount++;
    this.latencyEwma = this.latencyCount === 1 ? latency : this.latencyEwma * 0.8 + latency * 0.2;
  }

  /**
   * A request sent while this backend was cooling (panic mode) got its response head: it has recovered,
   * so its cooldown ends now rather than when it runs out. Only such a request counts: one that was
   * already in flight when the cooldown began says nothing about the backend since.
   */
  recordProbeSuccess(): void {
    if (this.reported === 'cooling') this.transition('up', 'answered while every backend was cooling');
  }

  /** Result of the active health checks (after their rise/fall thresholds). */
  setHealthy(healthy: boolean, reason: string): void {
    if (healthy === this.healthy) return;
    this.healthy = healthy;
    this.transition(healthy ? 'up' : 'down', reason);
  }

  /** The active health checks' verdict (true until they decide otherwise). */
  get checkedHealthy(): boolean {
    return this.healthy;
  }

  /**
   * Take over the state of the same backend under the configuration a reload replaced: health verdict,
   * cooldown, failure window and counters. Nothing changed for the backend, so no state-change line.
   */
  adopt(previous: Backend): void {
    this.requests = previous.requests;
    this.failures = previous.failures;
    this.latencyTotal = previous.latencyTotal;
    this.latencyCount = previous.latencyCount;
    this.latencyEwma = previous.latencyEwma;
    this.lastError = previous.lastError;
    this.healthy = previous.healthy;
    this.reported = previous.reported;
    this.coolingUntil = previous.coolingUntil;
    this.windowStart = previous.windowStart;
    this.windowFails = previous.windowFails;
    this.admin = previous.admin;
  }

  snapshot(now: number): BackendSnapshot {
    const health = this.state(now);
    return {
      url: this.url,
      weight: this.weight,
      state:
        this.admin === 'enabled'
          ? health
          : this.admin === 'disabled'
            ? 'disabled'
            : this.inFlight > 0
              ? 'draining'
              : 'drained',
      health,
      admin: this.admin,
      inFlight: this.inFlight,
      requests: this.requests,
      failures: this.failures,
      latencyMs: this.latencyCount ? round(this.latencyTotal / this.latencyCount) : 0,
      latencyEwmaMs: round(this.latencyEwma),
      lastError: this.lastError,
      openConnections: this.openConnections,
      idleConnections: this.idleConnections,
    };
  }

  private transition(to: BackendState, reason: string): void {
    const from = this.reported;
    if (from === to) return;
    // Leaving a cooldown or a down state starts with a clean failure count.
    if (to === 'up') {
      this.windowFails = 0;
      this.coolingUntil = 0;
    }
    if (to === 'up' && !this.healthy) return;
    this.reported = to;
    this.listener?.(this, from, to, reason);
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
