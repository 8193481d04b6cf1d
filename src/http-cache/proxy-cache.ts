/**
 * The shared HTTP cache in front of the reverse proxy (RFC 9111). It lives inside the content cache plugin
 * (same store, same memory budget, same stats) and answers requests for proxy routes with `cache` on:
 *
 * - `tryHit` (hit-path.ts): the fast path, a fresh stored response for a GET/HEAD without request
 *   directives: one lookup, one compare, one `sendPrebuilt` (Age spliced into the buffer once per second);
 *   a client's conditional or Range answered from the entry.
 * - `handle` (this file): everything else on a cached route: request directives, Vary, client conditionals
 *   and Range from the store, validation of stale entries, stale-while-revalidate / stale-if-error,
 *   collapsing of concurrent misses, then a `Fetch` (fetch.ts) for each backend exchange.
 *
 * `ProxyCache` is one class written as layers, one file each, read bottom-up: hit-path.ts (shared fields,
 * the fast path) ← proxy-store.ts (storing, freshening, the indexes) ← peer-invalidation.ts (§4.4
 * invalidation, PURGE, other workers) ← proxy-cache.ts (this: options, the slow path, collapsing).
 */

import type { CacheStats } from '../cache/stats.ts';
import type { MemoryStore } from '../cache/store.ts';
import type { Request, Response } from '../http/types.ts';
import type { ProxyInstance } from '../proxy/plugin.ts';
import type { ProxyRoute } from '../proxy/routes.ts';
import type { Logger } from '../server/plugin.ts';
import { parseRequestDirectives } from './cache-control.ts';
import { applyQueryRules } from './cache-key.ts';
import { cacheStatus, type ForwardReason } from './cache-status.ts';
import { Collapser } from './collapsing.ts';
import { Fetch } from './fetch.ts';
import { decideReuse } from './freshness.ts';
import type { RouteCachePolicy } from './options.ts';
import { PeerInvalidation } from './peer-invalidation.ts';
import { ProxyEntry } from './proxy-entry.ts';
import { baseKey } from './proxy-store.ts';
import type { PurgeMethodOptions } from './purge.ts';
import { answerFromEntry, hasConditionalOrRange, sendText } from './respond.ts';
import type { UpstreamResponse } from './upstream-response.ts';
import { variantKey } from './vary.ts';

/** Settings of the HTTP cache shared by every route. */
export interface ProxyCacheOptions {
  /** This cache's name in Cache-Status (the proxy's Via pseudonym). @default "tamarin" */
  name: string;
  /** Longest wait of a collapsed request for the leader. */
  collapseTimeoutMs: number;
  /** The `PURGE` method on the main listener. */
  purge: PurgeMethodOptions;
  /** Response fields that tag an entry for purge by tag (lower-case). @default cache-tag, surrogate-key */
  tagHeaders?: readonly string[];
  /** Where unexpected failures are logged. */
  logger: Logger;
  /**
   * Name of a BroadcastChannel shared by the server's worker threads: PURGE and §4.4 invalidations made
   * in one worker reach the stores of the others. null with a single worker.
   */
  channel: string | null;
}

/** Non-storable keys are not collapsed for this long (hit-for-miss). */
const PASS_MS = 5000;

/** The HTTP cache the cache plugin calls: the slow path over the layers below. */
export class ProxyCache extends PeerInvalidation {
  private readonly policies: ReadonlyArray<RouteCachePolicy | null>;
  private readonly collapser: Collapser;
  private readonly getProxy: () => ProxyInstance | undefined;
  private proxy: ProxyInstance | null = null;
  private readonly logger: Logger;

  constructor(
    store: MemoryStore,
    stats: CacheStats,
    policies: ReadonlyArray<RouteCachePolicy | null>,
    options: ProxyCacheOptions,
    getProxy: () => ProxyInstance | undefined,
    clock: () => number,
  ) {
    super(store, stats, options.name, clock, options.purge, options.channel);
    if (options.tagHeaders !== undefined) this.tagFields = new Set(options.tagHeaders);
    this.policies = policies;
    this.collapser = new Collapser(options.collapseTimeoutMs, PASS_MS);
    this.getProxy = getProxy;
    this.logger = options.logger;
  }

  /** Whether any route caches (else the cache plugin never calls in here). */
  static wanted(policies: ReadonlyArray<RouteCachePolicy | null>, purge: PurgeMethodOptions): boolean {
    return purge.enabled || policies.some((p) => p !== null);
  }

  /** The store key of a URL: never collides with a static key (those start with `/` or a host name). */
  static baseKey(host: string, target: string): string {
    return baseKey(host, target);
  }

  /** Handle a request for a cached route (or a PURGE); false when it is not this cache's. */
  handle(req: Request, res: Response): boolean {
    if (req.method === 'PURGE' && this.gate !== null) {
      this.purge(req, res);
      return true;
    }
    const proxy = this.resolveProxy();
    if (proxy === null) return false;
    const route = proxy.match(req);
    if (route === undefined) return false;
    const policy = this.policies[route.index] ?? null;
    if (policy === null) return false;
    // Before the lookup and the forwarding alike: the key is what the backend sees.
    if (policy.queryRules !== null) applyQueryRules(policy.queryRules, req);
    const method = req.method;
    if (method !== 'GET' && method !== 'HEAD') {
      // Unsafe methods go through, and invalidate what they change (§4.4); POST may be stored.
      this.stats.miss(this.clock());
      new Fetch(this, req, res, route, policy, 'unsafe', null, 'method').start();
      return true;
    }
    this.lookup(req, res, route, policy, false);
    return true;
  }

  /** Look the request up and answer it: from the store, after validation, or from the backend. */
  private lookup(
    req: Request,
    res: Response,
    route: ProxyRoute,
    policy: RouteCachePolicy,
    collapsed: boolean,
  ): void {
    const now = this.clock();
    const headers = req.headers;
    const directives = parseRequestDirectives(
      headers.getJoined('cache-control'),
      headers.getJoined('pragma'),
    );
    const base = baseKey(req.host, req.target);
    const names = this.vary.names(base);
    const key = names === undefined ? base : variantKey(base, names, headers);
    const found = this.store.get(key, now);
    let entry = found instanceof ProxyEntry ? found : null;
    if (entry !== null && entry.banChecked < this.bans.latest && this.banned(entry)) entry = null;
    // Preconditions meant for the origin (If-Match, If-Unmodified-Since) are the origin's to evaluate.
    const originConditional = headers.has('if-match') || headers.has('if-unmodified-since');
    if (entry !== null && !originConditional) {
      const reuse = decideReuse(entry, directives, now);
      if (reuse !== 'validate') {
        entry.hits++;
        this.stats.hit(now);
        const stale = reuse !== 'fresh';
        answerFromEntry(entry, req, res, now, this.name, {
          hit: true,
          ttl: stale ? entry.ttlSeconds(now) : undefined,
          collapsed: collapsed || undefined,
          detail: reuse === 'stale' ? 'max-stale' : reuse === 'stale-while-revalidate' ? reuse : undefined,
        });
        if (reuse === 'stale-while-revalidate') this.refreshInBackground(req, route, policy, entry);
        return;
      }
    }
    // §5.2.1.7: only-if-cached and nothing usable stored → 504.
    if (directives.onlyIfCached) {
      this.stats.miss(now);
      sendText(
        res,
        504,
        '504 Gateway Timeout (only-if-cached: not in the cache)',
        cacheStatus(this.name, {
          fwd: 'miss',
          detail: 'only-if-cached',
        }),
      );
      return;
    }
    const reason: ForwardReason =
      entry !== null
        ? directives.noCache || directives.maxAge !== undefined
          ? 'request'
          : 'stale'
        : names === undefined
          ? 'uri-miss'
          : 'vary-miss';
    // Only a plain GET leads a collapsed flight (a miss or a validation): a conditional, ranged,
    // authenticated or no-store request may get an answer that others cannot share.
    const canCollapse =
      policy.collapse &&
      !collapsed &&
      req.method === 'GET' &&
      !hasConditionalOrRange(req) &&
      !headers.has('authorization') &&
      !directives.noStore;
    if (canCollapse && !this.collapser.lead(key, now)) {
      this.followLeader(req, res, route, policy, key, reason);
      return;
    }
    this.stats.miss(now);
    // A stale entry with a validator is revalidated (§4.3.1); anything else is fetched whole.
    const mode = entry !== null && !originConditional && hasValidators(entry) ? 'validate' : 'miss';
    const fetch = new Fetch(this, req, res, route, policy, mode, entry, reason);
    if (canCollapse) fetch.leads(key);
    fetch.start();
  }

  /**
   * A collapsed request: wait for the flight that leads `key`, then look up again (the leader's answer is
   * stored if it could be) or, after `collapseTimeoutMs`, go to the backend alone.
   */
  private followLeader(
    req: Request,
    res: Response,
    route: ProxyRoute,
    policy: RouteCachePolicy,
    key: string,
    reason: ForwardReason,
  ): void {
    this.stats.collapsed++;
    this.collapser
      .wait(key)
      .then((result) => {
        if (res.aborted) return;
        if (result === 'timeout') {
          this.stats.miss(this.clock());
          new Fetch(this, req, res, route, policy, 'miss', null, reason).start();
        } else this.lookup(req, res, route, policy, true);
      })
      .catch((error: unknown) => {
        // Never an unhandled rejection (it would take the worker down): this one request fails.
        this.logError(`${req.method} ${req.target}`, error);
        if (res.headersSent) res.destroy();
        else sendText(res, 500, '500 Internal Server Error (cache)', null);
      });
  }

  /** stale-while-revalidate (RFC 5861 §3): one background validation per entry at a time. */
  private refreshInBackground(
    req: Request,
    route: ProxyRoute,
    policy: RouteCachePolicy,
    entry: ProxyEntry,
  ): void {
    if (entry.refreshing) return;
    entry.refreshing = true;
    new Fetch(this, req, null, route, policy, 'validate', entry, 'stale').start();
  }

  /** Finish a collapsed flight (the leader's Fetch calls this once). */
  finishFlight(key: string, storable: boolean): void {
    this.collapser.finish(key, storable, this.clock());
  }

  /** The proxy instance (looked up once: it is created after the cache plugin). */
  private resolveProxy(): ProxyInstance | null {
    if (this.proxy === null) {
      const proxy = this.getProxy();
      if (proxy === undefined || typeof proxy.match !== 'function' || typeof proxy.forward !== 'function')
        return null;
      this.proxy = proxy;
    }
    return this.proxy;
  }

  /** Forward through the proxy. */
  forward(req: Request, route: ProxyRoute, up: UpstreamResponse): void {
    this.resolveProxy()!.forward(req, up, route, {
      onHead: (head) => up.observeHead(head),
      onEnd: (complete) => up.observeEnd(complete),
    });
  }

  /** Log a failure of the cache's own code (the request it concerned failed, the worker keeps going). */
  logError(what: string, error: unknown): void {
    this.logger.error(
      `http cache: ${what}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
  }

  /** Release waiters (shutdown). */
  close(): void {
    this.collapser.clear();
    this.closePeers();
    this.banSweeper.stop();
  }
}

/** Whether a stored response can be validated with a conditional request (§4.3.1). */
function hasValidators(entry: ProxyEntry): boolean {
  return entry.etag !== undefined || entry.lastModifiedMs !== undefined;
}
