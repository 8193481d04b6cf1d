/**
 * The reverse proxy plugin: requests whose path (and host) match a `[[proxy.routes]]` entry are forwarded
 * to that route's backends; everything else falls through to the next content handler (static files).
 *
 * Routes with `cache` on get the proxy's RFC 9111 cache (src/http-cache/): it keeps its responses in the
 * content cache's store, so the proxy then requires that store (`CACHE_STORE`) and attaches its cache there
 * (it answers stored responses at the request stage, before any content handler).
 *
 * Control commands (admin API `GET /api/proxy/backends`): `backends` → {@link RouteSnapshot}[]; `stats` →
 * {@link ProxyStatsSnapshot} (per-route counters, `/api/stats` → `proxy`);
 * `backend-state` with a {@link BackendCommand} (`POST /api/proxy/backends/drain|disable|enable`) →
 * {@link BackendChange}[].
 */
import { z } from 'zod';
import { CACHE_STORE } from '../cache/service.ts';
import type { Request, Response } from '../http/types.ts';
import { routeCacheSchema, routePolicies } from '../http-cache/options.ts';
import { ProxyCache } from '../http-cache/proxy-cache.ts';
import { definePlugin, type Plugin, type PluginContext } from '../server/plugin.ts';
import { CONTENT_CODINGS, ERROR_PAGES, ROUTE_CLAIMS } from '../server/services.ts';
import { proxyAdmin } from './admin.ts';
import type { Backend, BackendSnapshot, BackendState } from './backend.ts';
import { applyBackendCommand, isBackendCommand } from './backend-admin.ts';
import { type ForwardObserver, forward } from './forward.ts';
import { HealthChecker } from './health.ts';
import { isOwnListener } from './loop.ts';
import { type HealthOptions, type ProxyOptions, proxyTableSchema, resolveUpstreams } from './options.ts';
import type { ProxyStatsSnapshot } from './route-stats.ts';
import { type CompiledPool, compilePool, compileRoute, matchRoute, type ProxyRoute } from './routes.ts';
import { isUpgradeRequest } from './tunnel.ts';

/**
 * The proxy's instance in a worker. Besides the plugin hooks it offers the forwarding path its response
 * cache uses: the cache matches the route itself, answers hits from its store, and forwards misses with an
 * observer that sees the head and whether the body ended cleanly.
 */
export interface ProxyInstance extends Plugin {
  /**
   * The route `req` goes to, or undefined (not proxied, or an `Upgrade` request: those are the proxy's
   * alone, so that no response cache ever answers, collapses or stores one).
   */
  match(req: Request): ProxyRoute | undefined;
  /** Whether `handle` takes `req`: its host and path match a route (`Upgrade` requests included). */
  claims(req: Request): boolean;
  /**
   * Whether some route matches `req`'s path for some host, `req`'s or another: an answer produced for
   * `req` by another handler is not right for every host, so a cache must ask `claims` before reusing it.
   */
  claimsPathOnSomeHost(req: Request): boolean;
  /** Forward `req` over `route` (loop protection, balancing, failover included). */
  forward(req: Request, res: Response, route: ProxyRoute, observer?: ForwardObserver): void;
  /** The compiled routes (a reload's new instance takes its backends' state from them). */
  readonly routes: readonly ProxyRoute[];
}

/** One route and the state of its backends, as plain data for the admin API. */
export interface RouteSnapshot {
  route: number;
  /** The named upstream whose backends (the same ones, same counters) the route shares, or null. */
  upstream?: string | null;
  match: string[];
  host: string | null;
  backends: BackendSnapshot[];
}

/** `[proxy]` as configured: the proxy's own options plus each route's `cache` setting. */
export const proxyPluginOptionsSchema = proxyTableSchema
  .extend({
    routes: z
      .array(proxyTableSchema.shape.routes.unwrap().element.extend({ cache: routeCacheSchema }))
      .default([]),
  })
  .transform(resolveUpstreams);

/** The proxy's options with each route's `cache` setting. */
export type ProxyPluginOptions = z.output<typeof proxyPluginOptionsSchema>;

/** Whether a route has `cache` on (then the proxy needs the content cache's store). */
function cachesAnyRoute(options: ProxyOptions): boolean {
  return (options.routes as Array<{ cache?: { enabled?: boolean } }>).some(
    (route) => route.cache !== undefined && route.cache.enabled !== false,
  );
}

/** Build the plugin instance of one worker. */
export function createProxy(options: ProxyOptions, context: PluginContext): ProxyInstance {
  const logger = context.logger;
  // Called at log time, when `routes` below exists. RegExp sources escape "/": shown as written.
  const label = (i: number) => `route ${i} (${routes[i]!.patterns.join(', ').replaceAll('\\/', '/')})`;
  // Passive health (cooling) is each worker's own view: its lines come from that worker. Transitions to
  // and from "down" follow the active checks' verdicts, which every worker applies: those are logged once,
  // where the checks decide them (onVerdict below).
  // `where` is called at log time, when `routes` below exists.
  const onStateChange =
    (where: () => string) => (backend: Backend, from: BackendState, to: BackendState, reason: string) => {
      if (from === 'down' || to === 'down') return;
      const line = `${where()}: backend ${backend.url} ${from} -> ${to}: ${reason}`;
      if (to === 'up') logger.info(line);
      else logger.warn(line);
    };
  const onVerdict = (where: string) => (backend: Backend, healthy: boolean, reason: string) => {
    const line = `${where}: backend ${backend.url} ${healthy ? 'down -> up' : 'up -> down'}: ${reason}`;
    if (healthy) logger.info(line);
    else logger.warn(line);
  };
  // One compiled pool per upstream that a route names: its routes share backends, health and connections.
  const shared = new Map<string, CompiledPool>();
  for (const upstream of options.upstreams) {
    if (options.routes.some((route) => route.upstream === upstream.name)) {
      shared.set(
        upstream.name,
        compilePool(
          upstream,
          onStateChange(() => `upstream ${upstream.name}`),
        ),
      );
    }
  }
  const routes: ProxyRoute[] = options.routes.map((route, i) =>
    compileRoute(
      route,
      i,
      options.via,
      onStateChange(() => label(i)),
      options.underscores_in_headers,
      Date.now,
      shared.get(route.upstream ?? '') ?? null,
    ),
  );
  carryOver(routes, context.previous as ProxyInstance | undefined);
  warnAboutSelf(routes, context);
  // Error pages come from the ERROR_PAGES service (the static plugin's `[static.error_pages]`), whose
  // provider `uses` makes the host create first.
  const errorPages = context.find(ERROR_PAGES) ?? null;
  for (const route of routes) route.errorPages = errorPages;
  const checkers: HealthChecker[] = [];
  const channel = healthChannel(context);
  const check = (backends: readonly Backend[], health: HealthOptions, name: string, where: string) => {
    const sharing = {
      leader: context.workerId === 0,
      channel: channel === null ? null : `${channel}:${name}`,
    };
    const checker = new HealthChecker(backends, health, options.via, sharing, onVerdict(where));
    checker.start();
    checkers.push(checker);
  };
  options.routes.forEach((route, i) => {
    if (route.health !== undefined && route.upstream === undefined)
      check(routes[i]!.backends, route.health, `${i}`, label(i));
  });
  for (const upstream of options.upstreams) {
    const pool = shared.get(upstream.name);
    if (pool !== undefined && upstream.health !== undefined)
      check(pool.backends, upstream.health, `u:${upstream.name}`, `upstream ${upstream.name}`);
  }

  const snapshot = (): RouteSnapshot[] =>
    routes.map((route) => ({
      route: route.index,
      upstream: route.upstream ?? null,
      match: [...route.patterns],
      host: route.host ?? null,
      backends: route.backends.map((backend) => backend.snapshot(route.now())),
    }));

  const statsSnapshot = (): ProxyStatsSnapshot => ({
    routes: routes.map((route) => route.stats.snapshot(route, route.backends)),
  });

  const instance: ProxyInstance = {
    name: 'proxy',
    handle(req: Request, res: Response): boolean {
      const route = matchRoute(routes, req.host, req.path);
      if (route === undefined) return false;
      forward(req, res, route);
      return true;
    },
    match(req: Request): ProxyRoute | undefined {
      if (isUpgradeRequest(req)) return undefined;
      return matchRoute(routes, req.host, req.path);
    },
    claims(req: Request): boolean {
      return matchRoute(routes, req.host, req.path) !== undefined;
    },
    claimsPathOnSomeHost(req: Request): boolean {
      for (const route of routes) for (const regex of route.matchers) if (regex.test(req.path)) return true;
      return false;
    },
    forward,
    routes,
    control(command: string, args: unknown): unknown {
      if (command === 'backends') return snapshot();
      if (command === 'stats') return statsSnapshot();
      if (command === 'metrics') return { backends: snapshot(), stats: statsSnapshot() };
      if (command === 'backend-state') {
        if (!isBackendCommand(args)) throw new Error('proxy: backend-state needs { action, url, route? }');
        const changes = applyBackendCommand(routes, args);
        for (const change of changes) {
          if (change.from !== change.to && context.workerId === 0) {
            const line = `backend ${change.url} (route ${change.route}) ${change.to} by the admin API`;
            if (change.to === 'enabled') logger.info(line);
            else logger.warn(line);
          }
        }
        return changes;
      }
      throw new Error(
        `proxy: unknown control command "${command}" (known: backends, backend-state, stats, metrics)`,
      );
    },
    onResponse(_req: Request, res: Response): void {
      cache?.responseDone(res);
    },
    close(): void {
      cache?.close();
      for (const checker of checkers) checker.stop();
      // A shared upstream's pools appear under each of its routes; closing twice is harmless.
      for (const route of routes) for (const pool of route.pools) pool.close();
    },
  };
  const cache = cachesAnyRoute(options) ? attachCache(options, context, instance) : null;
  context.provide(ROUTE_CLAIMS, instance);
  return instance;
}

/** The RFC 9111 cache of the routes with `cache` on, kept in and attached to the content cache's store. */
function attachCache(options: ProxyOptions, context: PluginContext, proxy: ProxyInstance): ProxyCache | null {
  const content = context.service(CACHE_STORE);
  const policies = routePolicies(options.routes as ProxyPluginOptions['routes'], content.maxObjectSize);
  if (!ProxyCache.wanted(policies)) return null;
  const cache = new ProxyCache(
    content.store,
    content.stats,
    policies,
    {
      name: options.via,
      collapseTimeoutMs: content.collapseTimeoutMs,
      tagHeaders: content.tagHeaders,
      logger: context.logger,
      channel: content.channel('http-cache'),
      shared: content.shared,
      encoding: context.find(CONTENT_CODINGS) !== undefined,
    },
    proxy,
    content.clock,
  );
  content.attach(cache);
  return cache;
}

/**
 * On a reload, each backend that was already configured keeps its health verdict, cooldown and counters:
 * the one of the same route (same patterns and host) when there is one, else the first with its URL. A
 * reload must not send traffic to a backend known to be down, nor zero the counters the dashboard shows.
 */
function carryOver(routes: readonly ProxyRoute[], previous: ProxyInstance | undefined): void {
  if (previous?.routes === undefined) return;
  const routeKey = (route: ProxyRoute) =>
    route.upstream !== undefined
      ? `upstream ${route.upstream}`
      : `${route.host ?? ''} ${route.patterns.join(' ')}`;
  const byRoute = new Map<string, Backend>();
  const byUrl = new Map<string, Backend>();
  for (const route of previous.routes) {
    for (const backend of route.backends) {
      byRoute.set(`${routeKey(route)} ${backend.url}`, backend);
      if (!byUrl.has(backend.url)) byUrl.set(backend.url, backend);
    }
  }
  const statsByRoute = new Map(previous.routes.map((route) => [routeKey(route), route.stats]));
  for (const route of routes) {
    const stats = statsByRoute.get(routeKey(route));
    if (stats !== undefined) route.stats.adopt(stats);
    for (const backend of route.backends) {
      const old = byRoute.get(`${routeKey(route)} ${backend.url}`) ?? byUrl.get(backend.url);
      if (old !== undefined) backend.adopt(old);
    }
  }
}

/**
 * Worker threads of one server share the process: a channel per process and port links their health
 * checkers (as the HTTP cache links its purges), so that only worker 0 checks. null with one worker.
 */
function healthChannel(context: PluginContext): string | null {
  if (context.workerCount <= 1) return null;
  const server = context.config.server as { port?: unknown } | undefined;
  return `tamarin:proxy-health:${process.pid}:${String(server?.port)}`;
}

/** A backend that is this server's own listener: warn once at start instead of looping at run time. */
function warnAboutSelf(routes: readonly ProxyRoute[], context: PluginContext): void {
  const server = context.config.server as { host?: unknown; port?: unknown } | undefined;
  const host = typeof server?.host === 'string' ? server.host : '127.0.0.1';
  const port = typeof server?.port === 'number' ? server.port : 0;
  for (const route of routes) {
    for (const backend of route.backends) {
      if (isOwnListener(backend.host, backend.port, host, port)) {
        context.logger.warn(
          `route ${route.index} (${route.patterns.join(', ')}): backend ${backend.url} is this server's own ` +
            'listener; such requests will be answered 508 (loop detected)',
        );
      }
    }
  }
}

/** The proxy plugin definition (registered as `proxy`). */
export const proxyPlugin = definePlugin({
  name: 'proxy',
  options: proxyPluginOptionsSchema,
  provides: [ROUTE_CLAIMS],
  uses: [ERROR_PAGES, CONTENT_CODINGS],
  requires: (options) => (cachesAnyRoute(options) ? [CACHE_STORE] : []),
  create: createProxy,
  admin: proxyAdmin,
});
