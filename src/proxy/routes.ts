/**
 * Routes compiled once at start-up: regexes, backends with their pools and a balancer per route. A
 * request is matched by host (when the route names one) and path; the first matching route wins.
 */

import type { Request } from '../http/types.ts';
import { Backend, type StateListener } from './backend.ts';
import type { BackendPool, Balancer } from './balancer.ts';
import { createBalancer } from './balancers/index.ts';
import type { ErrorPageSource } from './errors.ts';
import type { PoolOptions, RouteOptions } from './options.ts';
import { RouteStats } from './route-stats.ts';
import { UPSTREAM_LIMITS, UpstreamPool } from './upstream-pool.ts';

/** How the upstream `Host` field is chosen. */
export type HostHeaderMode = { kind: 'pass' } | { kind: 'backend' } | { kind: 'literal'; value: string };

/** A compiled route: everything `forward` needs, precomputed. */
export interface ProxyRoute extends BackendPool {
  readonly index: number;
  /** The `[[proxy.upstreams]]` name whose backends, pools and balancer the route shares, or undefined. */
  readonly upstream: string | undefined;
  /** The route's regexes as written, for the admin API. */
  readonly patterns: readonly string[];
  readonly matchers: readonly RegExp[];
  readonly host: string | undefined;
  readonly balancer: Balancer;
  /** Connection pools, indexed by `Backend.index`. */
  readonly pools: readonly UpstreamPool[];
  readonly hostHeader: HostHeaderMode;
  /**
   * The request-target sent upstream is the normal form every other part of the server used (true), or
   * the bytes the client sent (false: `normalize_path = false`, for backends that need them).
   */
  readonly normalizePath: boolean;
  /** Header fields whose name holds `_` are forwarded (`[proxy] underscores_in_headers`). */
  readonly underscoresInHeaders: boolean;
  readonly attempts: number;
  /** Our pseudonym for `Via`. */
  readonly via: string;
  /** `Connection: close` upstream when no connection is kept. */
  readonly closeUpstream: boolean;
  /** Upgrade requests are tunnelled (`websocket`). */
  readonly websocket: boolean;
  /** Time allowed to connect to a backend, in ms (0: none). */
  readonly connectTimeout: number;
  /** Time allowed for a response head, in ms (0: none). */
  readonly responseTimeout: number;
  /** Idle time after which a tunnel is closed, in ms (0: never). */
  readonly tunnelIdleTimeout: number;
  /** Custom pages for the proxy's own error answers; set by the plugin once created, else null. */
  errorPages: ErrorPageSource | null;
  /** This route's counters in this worker (the admin's per-route series). */
  readonly stats: RouteStats;
}

/** The backends of a route or of a named upstream, with their connection pools and one balancer. */
export interface CompiledPool {
  readonly backends: readonly Backend[];
  readonly pools: readonly UpstreamPool[];
  readonly balancer: Balancer;
}

/** Build the backends, pools and balancer of `options` (a route's own, or an upstream shared by routes). */
export function compilePool(options: PoolOptions, listener: StateListener | null): CompiledPool {
  const policy = { maxFails: options.max_fails, failWindow: options.fail_window, cooldown: options.cooldown };
  const backends = options.backends.map((address, i) => new Backend(address, i, policy, listener));
  const settings = {
    connectTimeout: options.connect_timeout,
    responseTimeout: options.response_timeout,
    idleTimeout: options.idle_timeout,
    keepalive: options.keepalive,
    limits: UPSTREAM_LIMITS,
  };
  return {
    backends,
    pools: backends.map((backend) => new UpstreamPool(backend, settings)),
    balancer: createBalancer(options.balancer),
  };
}

/**
 * Build a route from validated options; `shared` is its upstream's compiled pool (one health state and
 * one connection pool per backend for every route that names it), or null for its own backends.
 */
export function compileRoute(
  options: RouteOptions,
  index: number,
  via: string,
  listener: StateListener | null,
  underscoresInHeaders = false,
  now: () => number = Date.now,
  shared: CompiledPool | null = null,
): ProxyRoute {
  const { backends, pools, balancer } = shared ?? compilePool(options, listener);
  const mode = options.host_header;
  return {
    index,
    upstream: options.upstream,
    patterns: options.match.map((r) => r.source),
    matchers: options.match,
    host: options.host,
    backends,
    now,
    panic: false,
    balancer,
    pools,
    hostHeader:
      mode === 'pass'
        ? { kind: 'pass' }
        : mode === 'backend'
          ? { kind: 'backend' }
          : { kind: 'literal', value: mode },
    normalizePath: options.normalize_path,
    underscoresInHeaders,
    attempts: options.attempts,
    via,
    closeUpstream: options.keepalive === 0,
    websocket: options.websocket,
    connectTimeout: options.connect_timeout,
    responseTimeout: options.response_timeout,
    tunnelIdleTimeout: options.tunnel_idle_timeout,
    errorPages: null,
    stats: new RouteStats(),
  };
}

/** The first route matching `host` and `path`, or undefined (the request falls through to static files). */
export function matchRoute(
  routes: readonly ProxyRoute[],
  host: string,
  path: string,
): ProxyRoute | undefined {
  for (const route of routes) {
    if (route.host !== undefined && route.host !== host) continue;
    for (const regex of route.matchers) if (regex.test(path)) return route;
  }
  return undefined;
}

/**
 * The request-target sent upstream: the normal form (the one the route was matched on and the HTTP cache
 * keys by), or the raw bytes on a `normalize_path = false` route.
 */
export function upstreamTarget(route: ProxyRoute, req: Request): string {
  return route.normalizePath ? req.target : (req.rawTarget ?? req.target);
}

/**
 * The `Host` sent upstream. "pass" sends `req.host`, the one normalised authority (absolute-form target
 * first, RFC 9112 §3.2.2, else the Host field; lower-cased, no port, no trailing dot) that matched the
 * route and keys the caches, never the client's raw field: a variant (`VICTIM.TEST`, `victim.test.`,
 * `victim.test:1337`) or an absolute-form target naming another host must not reach the backend as
 * something else than what the cache stored its answer under. nginx's `proxy_set_header Host $host`.
 */
export function upstreamHost(route: ProxyRoute, req: Request, backend: Backend): string {
  const mode = route.hostHeader;
  if (mode.kind === 'literal') return mode.value;
  if (mode.kind === 'pass' && req.host !== '') return req.host;
  return backend.url.slice(7);
}
