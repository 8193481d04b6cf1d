/**
 * Keep-alive connections to one backend. Idle connections are a LIFO stack: the most recently used one is
 * the least likely to have been closed by the backend's own idle timeout, and the ones at the bottom age
 * out through `idle_timeout`. At most `keepalive` idle connections are kept; busy ones are not limited
 * (like nginx's `keepalive`), so a burst opens more and the surplus is closed when it ends.
 *
 * Timeouts (connect, response, idle) are enforced by one interval timer per pool that sweeps its
 * connections every eighth of the shortest timeout, and runs only while the pool has connections. A socket
 * timer per connection would be re-armed by Node on every read and write of every proxied request.
 */
import type { HttpLimits } from '../http/types.ts';
import type { Backend } from './backend.ts';
import { type ConnectionOwner, UpstreamConnection, type UpstreamUser } from './upstream-client.ts';

/** Timeouts and sizes of one route's pools. */
export interface PoolSettings {
  connectTimeout: number;
  responseTimeout: number;
  idleTimeout: number;
  /** Idle connections kept; 0 closes each connection after its response. */
  keepalive: number;
  limits: HttpLimits;
}

/** Limits for parsing backend responses: heads may be larger than requests (cookies, CSP), bodies any size. */
export const UPSTREAM_LIMITS: HttpLimits = {
  maxRequestLine: 8192,
  maxHeadSize: 64 * 1024,
  maxHeaders: 200,
  maxBodySize: Number.MAX_SAFE_INTEGER,
};

export class UpstreamPool implements ConnectionOwner {
  readonly backend: Backend;
  readonly connectTimeout: number;
  readonly responseTimeout: number;
  readonly idleTimeout: number;
  readonly limits: HttpLimits;
  private readonly keepalive: number;
  /** Sweeps done; connections note it at each sign of life. */
  ticks = 0;
  /** Sweep period in ms (0: no timeout configured, no sweeps). */
  private readonly period: number;
  private sweeper: NodeJS.Timeout | null = null;
  private readonly idleList: UpstreamConnection[] = [];
  private readonly all = new Set<UpstreamConnection>();
  private closing = false;

  constructor(backend: Backend, settings: PoolSettings) {
    this.backend = backend;
    this.connectTimeout = settings.connectTimeout;
    this.responseTimeout = settings.responseTimeout;
    this.idleTimeout = settings.idleTimeout;
    this.keepalive = settings.keepalive;
    this.limits = settings.limits;
    this.period = sweepPeriod(settings);
  }

  /**
   * A connection for `user`: a pooled one, ready now (`conn.ready`), or a new one that calls
   * `user.onUpstreamConnect` once connected (or `onUpstreamError` if it cannot).
   */
  acquire(user: UpstreamUser): UpstreamConnection {
    const idle = this.idleList;
    while (idle.length > 0) {
      const conn = idle.pop()!;
      this.backend.idleConnections--;
      if (!conn.usable) continue;
      conn.attach(user);
      return conn;
    }
    const conn = new UpstreamConnection(this, user);
    this.all.add(conn);
    if (this.sweeper === null && this.period > 0) {
      this.sweeper = setInterval(() => this.sweep(), this.period);
      this.sweeper.unref();
    }
    return conn;
  }

  release(conn: UpstreamConnection): void {
    if (this.closing || this.idleList.length >= this.keepalive) {
      conn.destroy();
      return;
    }
    conn.idle();
    this.idleList.push(conn);
    this.backend.idleConnections++;
  }

  closed(conn: UpstreamConnection): void {
    this.all.delete(conn);
    if (this.all.size === 0) this.stopSweeper();
    const index = this.idleList.indexOf(conn);
    if (index >= 0) {
      this.idleList.splice(index, 1);
      this.backend.idleConnections--;
    }
  }

  /** Close the idle connections (their backend was disabled); busy ones finish their exchange. */
  closeIdle(): void {
    for (const conn of this.idleList.splice(0)) {
      this.backend.idleConnections--;
      conn.destroy();
    }
  }

  /** Close every connection (server shutdown). */
  close(): void {
    this.closing = true;
    this.stopSweeper();
    for (const conn of this.all) conn.destroy();
    this.all.clear();
    this.idleList.length = 0;
    this.backend.idleConnections = 0;
  }

  /** One sweep: every connection checks the timeout of its phase (a failing one leaves `all`). */
  private sweep(): void {
    const ticks = ++this.ticks;
    for (const conn of this.all) conn.checkTimeout(ticks, this.period);
  }

  private stopSweeper(): void {
    if (this.sweeper !== null) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }
}

/**
 * An eighth of the shortest configured timeout (a timeout then fires within 1.25x its value), between
 * 5 ms and 1 s; 0 when no timeout is configured.
 */
export function sweepPeriod(
  settings: Pick<PoolSettings, 'connectTimeout' | 'responseTimeout' | 'idleTimeout'>,
): number {
  let shortest = Number.POSITIVE_INFINITY;
  for (const ms of [settings.connectTimeout, settings.responseTimeout, settings.idleTimeout]) {
    if (ms > 0 && ms < shortest) shortest = ms;
  }
  if (shortest === Number.POSITIVE_INFINITY) return 0;
  return Math.min(1000, Math.max(5, Math.floor(shortest / 8)));
}
