/**
 * Active health checks: every `interval`, one GET of the health path per backend (on its own short-lived
 * connection, so a check never queues behind traffic or poisons the pool). `fall` consecutive failures
 * take a backend down, `rise` consecutive successes bring it back. 2xx and 3xx count as healthy.
 *
 * Once per server, not once per worker (as nginx Plus and HAProxy do): with several worker threads only
 * the leader (worker 0) checks, and its verdicts reach the others over a `BroadcastChannel` shared by the
 * server's threads, so a backend sees one check per interval and every worker agrees on it. Protocol
 * (one channel per route, every message carries the whole route so that applying one is idempotent):
 *
 * - the leader posts its `state` on each verdict change and on each interval tick (a worker that missed
 *   something converges within one interval);
 * - a worker that starts posts `hello`; the leader answers with its `state` (a restarted follower learns
 *   the verdicts at once instead of sending traffic to a down backend until the next tick);
 * - a restarted leader starts knowing nothing: followers that have heard a leader before answer its
 *   `hello` with the verdicts they hold, and it adopts those it has not decided itself yet, so a crash of
 *   worker 0 does not bring a down backend back up for `fall` intervals.
 *
 * Passive failure accounting (max_fails / cooldown) stays per worker, in {@link Backend}.
 */
import { request } from 'node:http';
import { BroadcastChannel } from 'node:worker_threads';
import type { Backend } from './backend.ts';
import type { HealthOptions } from './options.ts';

/** How a checker shares its verdicts with the other workers of the server. */
export interface HealthSharing {
  /** Whether this checker sends the checks (worker 0) or follows the leader's verdicts. @default true */
  leader: boolean;
  /**
   * Name of a BroadcastChannel shared by the server's worker threads, one per route; null with a single
   * worker (the checker then checks and decides alone). @default null
   */
  channel: string | null;
}

/**
 * Called when the checks themselves (not a peer's message) change a backend's verdict: once per server,
 * so that a log line says it once, not once per worker.
 */
export type VerdictListener = (backend: Backend, healthy: boolean, reason: string) => void;

/** One backend's verdict on the wire (the URL guards against a channel shared by mistake). */
interface Verdict {
  url: string;
  healthy: boolean;
  reason: string;
}

/** What the checkers of one route tell each other. */
export type HealthMessage =
  | { type: 'hello'; leader: boolean }
  | { type: 'state'; leader: boolean; verdicts: Verdict[] };

const ALONE: HealthSharing = { leader: true, channel: null };

/** Runs (or, in a follower, receives) the checks of one route until stopped. */
export class HealthChecker {
  private readonly backends: readonly Backend[];
  private readonly options: HealthOptions;
  private readonly via: string;
  private readonly leader: boolean;
  private readonly successes: number[];
  private readonly failures: number[];
  /** The current verdict per backend and why (what the leader broadcasts). */
  private readonly healthy: boolean[];
  private readonly reasons: string[];
  /** Leader: backends whose verdict came from its own checks (a follower's answer no longer applies). */
  private readonly decided: boolean[];
  /** Follower: whether a leader's state has arrived (only then is its own state worth telling). */
  private learned = false;
  private stopped = false;
  private peers: BroadcastChannel | null = null;
  private readonly channel: string | null;
  private timer: NodeJS.Timeout | null = null;
  private running = new Set<ReturnType<typeof request>>();
  private readonly onVerdict: VerdictListener | null;

  constructor(
    backends: readonly Backend[],
    options: HealthOptions,
    via: string,
    sharing = ALONE,
    onVerdict: VerdictListener | null = null,
  ) {
    this.backends = backends;
    this.onVerdict = onVerdict;
    this.options = options;
    this.via = via;
    this.leader = sharing.leader;
    this.channel = sharing.channel;
    this.successes = backends.map(() => 0);
    this.failures = backends.map(() => 0);
    // A backend carried over by a reload starts with the verdict it had (see Backend.adopt).
    this.healthy = backends.map((backend) => backend.checkedHealthy);
    this.reasons = backends.map((backend) =>
      backend.checkedHealthy ? 'initial state' : 'down before the reload',
    );
    this.decided = backends.map(() => false);
  }

  /** Whether this checker sends checks itself. */
  get checking(): boolean {
    return this.leader || this.channel === null;
  }

  start(): void {
    if (this.channel !== null) {
      const peers = new BroadcastChannel(this.channel);
      peers.onmessage = (event) => this.fromPeer((event as { data: HealthMessage }).data);
      // A channel must not keep a worker alive on shutdown.
      peers.unref();
      this.peers = peers;
      this.post({ type: 'hello', leader: this.leader });
    }
    if (!this.checking) return;
    this.timer = setInterval(() => {
      this.broadcast();
      this.checkAll();
    }, this.options.interval);
    this.timer.unref();
    this.checkAll();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const req of this.running) req.destroy();
    this.running.clear();
    this.peers?.close();
    this.peers = null;
  }

  /** Check every backend once (exposed for tests; a follower never checks). */
  checkAll(): void {
    if (!this.checking) return;
    for (const backend of this.backends) this.check(backend);
  }

  private check(backend: Backend): void {
    let settled = false;
    const settle = (ok: boolean, reason: string) => {
      if (settled) return;
      settled = true;
      this.running.delete(req);
      // A check that ends after stop() (its request destroyed) decides nothing.
      if (this.stopped) return;
      this.record(backend, ok, reason);
    };
    const req = request({
      host: backend.host,
      port: backend.port,
      path: this.options.path,
      method: 'GET',
      agent: false,
      timeout: this.options.timeout,
      headers: { Host: backend.url.slice(7), 'User-Agent': 'tamarin-health', Via: `1.1 ${this.via}` },
    });
    this.running.add(req);
    req.on('response', (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      settle(status >= 200 && status < 400, `health check ${this.options.path} answered ${status}`);
    });
    req.on('timeout', () => {
      settle(false, `health check ${this.options.path} timed out`);
      req.destroy();
    });
    req.on('error', (error: NodeJS.ErrnoException) =>
      settle(false, `health check ${this.options.path} failed: ${error.code ?? error.message}`),
    );
    req.end();
  }

  private record(backend: Backend, ok: boolean, reason: string): void {
    const i = backend.index;
    if (ok) {
      this.failures[i] = 0;
      this.successes[i]! += 1;
      if (this.successes[i]! >= this.options.rise) this.decide(i, true, reason);
    } else {
      this.successes[i] = 0;
      this.failures[i]! += 1;
      if (this.failures[i]! >= this.options.fall) this.decide(i, false, reason);
    }
  }

  /** The leader's own verdict: applied here and, when it changes, told to the followers at once. */
  private decide(i: number, healthy: boolean, reason: string): void {
    this.decided[i] = true;
    if (this.healthy[i] === healthy) return;
    this.apply(i, healthy, reason);
    this.onVerdict?.(this.backends[i]!, healthy, reason);
    this.broadcast();
  }

  private apply(i: number, healthy: boolean, reason: string): void {
    this.healthy[i] = healthy;
    this.reasons[i] = reason;
    this.backends[i]!.setHealthy(healthy, reason);
  }

  private broadcast(): void {
    if (this.peers === null) return;
    const verdicts = this.backends.map((backend, i) => ({
      url: backend.url,
      healthy: this.healthy[i]!,
      reason: this.reasons[i]!,
    }));
    this.post({ type: 'state', leader: this.leader, verdicts });
  }

  private post(message: HealthMessage): void {
    this.peers?.postMessage(message);
  }

  private fromPeer(message: HealthMessage): void {
    if (message.type === 'hello') {
      // A follower started: tell it everything. A leader (re)started: tell it what we hold, if anything.
      if (this.leader ? !message.leader : message.leader && this.learned) this.broadcast();
      return;
    }
    if (message.verdicts.length !== this.backends.length) return;
    if (this.leader) {
      if (message.leader) return; // two leaders: a config error elsewhere; keep our own checks
      for (let i = 0; i < this.backends.length; i++) {
        const verdict = message.verdicts[i]!;
        if (this.decided[i] || verdict.url !== this.backends[i]!.url) continue;
        if (verdict.healthy !== this.healthy[i]) this.apply(i, verdict.healthy, verdict.reason);
      }
      return;
    }
    if (!message.leader) return;
    this.learned = true;
    for (let i = 0; i < this.backends.length; i++) {
      const verdict = message.verdicts[i]!;
      if (verdict.url !== this.backends[i]!.url) continue;
      if (verdict.healthy !== this.healthy[i]) this.apply(i, verdict.healthy, verdict.reason);
    }
  }
}
