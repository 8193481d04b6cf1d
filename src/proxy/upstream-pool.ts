/**
 * Keep-alive connections to one backend. Idle connections are a LIFO stack: the most recently used one is
 * the least likely to have been closed by the backend's own idle timeout, and the ones at the bottom age
 * out through `idle_timeout`. At most `keepalive` idle connections are kept; busy ones are not limited
 * (like nginx's `keepalive`), so a burst opens more and the surplus is closed when it ends.
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
    const index = this.idleList.indexOf(conn);
    if (index >= 0) {
      this.idleList.splice(index, 1);
      this.backend.idleConnections--;
    }
  }

  /** Close every connection (server shutdown). */
  close(): void {
    this.closing = true;
    for (const conn of this.all) conn.destroy();
    this.all.clear();
    this.idleList.length = 0;
    this.backend.idleConnections = 0;
  }
}
