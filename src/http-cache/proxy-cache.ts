/**
 * The shared HTTP cache of the reverse proxy (RFC 9111). The proxy plugin creates it for its routes with
 * `cache` on, keeps it in the content cache's store (same memory budget, same stats: the `CACHE_STORE`
 * service) and attaches it there as the store's front, so that it answers at the request stage:
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
 * invalidation, other workers) ← proxy-cache.ts (this: options, the slow path, collapsing).
 */

import type { StoreFront } from '../cache/service.ts';
import { FILL_LEAD, FILL_WAIT } from '../cache/shared/arena.ts';
import type { SharedStoreClient } from '../cache/shared/client.ts';
import { SingleFlight } from '../cache/single-flight.ts';
import { type CacheStats, ERROR, HIT, PROXY, STALE } from '../cache/stats.ts';
import type { MemoryStore, PurgeResult } from '../cache/store.ts';
import { hasConditionalOrRange } from '../http/semantics/conditional.ts';
import type { Request, Response } from '../http/types.ts';
import type { ForwardObserver } from '../proxy/forward.ts';
import type { ProxyRoute } from '../proxy/routes.ts';
import type { BanInfo } from '../server/bans.ts';
import type { Logger } from '../server/plugin.ts';
import { parseRequestDirectives } from './cache-control.ts';
import { applyQueryRules } from './cache-key.ts';
import { cacheStatus, type ForwardReason } from './cache-status.ts';
import { Fetch } from './fetch.ts';
import { decideReuse } from './freshness.ts';
import type { RouteCachePolicy } from './options.ts';
import { PeerInvalidation } from './peer-invalidation.ts';
import type { ProxyEntry } from './proxy-entry.ts';
import { baseKey } from './proxy-store.ts';
import { answerFromEntry, sendText } from './respond.ts';
import type { UpstreamResponse } from './upstream-response.ts';
import { variantKey } from './vary.ts';
import { loadProxyEntries, saveProxyEntries } from './warm-proxy.ts';

/** Settings of the HTTP cache shared by every route. */
export interface ProxyCacheOptions {
  /** This cache's name in Cache-Status (the proxy's Via pseudonym). @default "tamarin" */
  name: string;
  /** Longest wait of a collapsed request for the leader. */
  collapseTimeoutMs: number;
  /** Response fields that tag an entry for purge by tag (lower-case). @default cache-tag, surrogate-key */
  tagHeaders?: readonly string[];
  /** Where unexpected failures are logged. */
  logger: Logger;
  /**
   * Name of a BroadcastChannel shared by the server's worker threads: §4.4 invalidations made in one
   * worker reach the stores of the others. null with a single worker.
   */
  channel: string | null;
  /**
   * The server's shared store (src/cache/shared/) and the configuration stamp to store entries with:
   * entries then live there for every worker. @default null (entries in `store`, this worker's own)
   */
  shared?: { readonly client: SharedStoreClient; readonly stamp: number } | null;
  /**
   * Whether a body encoder may change relayed answers (the `compress` plugin runs): misses then keep the
   * bytes sent, to store an encoded answer as sent (encoded-variant.ts). @default false
   */
  encoding?: boolean;
}

/** How often a miss waiting for another worker's fill of the same key looks for its entry. */
const FILL_POLL_MS = 2;

/** Non-storable keys are not collapsed for this long (hit-for-miss). */
const PASS_MS = 5000;

/**
 * `$upstream_cache_status` of a request that goes to the backend (nginx's words): `MISS` with nothing
 * stored, `EXPIRED` when the stored answer is stale (or marked `no-cache`, so it must be validated),
 * `BYPASS` when it was fresh and the request's own `no-cache` / `max-age` / `min-fresh` skipped it. A 304
 * to the validation turns either into `REVALIDATED` (fetch.ts), a stale answer standing in for an error
 * into `STALE`.
 */
function forwardStatus(entry: ProxyEntry | null, now: number): string {
  if (entry === null) return 'MISS';
  return entry.freshUntil > now && !entry.directives.noCache ? 'BYPASS' : 'EXPIRED';
}

/** What the cache needs of the proxy that owns it: its route matching and its forwarding path. */
export interface Forwarder {
  /** The route `req` goes to, or undefined (not proxied, or an Upgrade: never answered from a cache). */
  match(req: Request): ProxyRoute | undefined;
  /** Forward `req` over `route`, telling `observer` the head and whether the body ended cleanly. */
  forward(req: Request, res: Response, route: ProxyRoute, observer?: ForwardObserver): void;
}

/** The proxy's HTTP cache: the slow path over the layers below. */
export class ProxyCache extends PeerInvalidation implements StoreFront {
  private readonly policies: ReadonlyArray<RouteCachePolicy | null>;
  private readonly collapser: SingleFlight;
  private readonly proxy: Forwarder;
  private readonly logger: Logger;
  private readonly collapseTimeoutMs: number;
  /** Keys whose cell in the shared store's fill table this worker holds (it fetches them for all). */
  private readonly fills = new Set<string>();
  /** Relayed answers to store once sent (`whenSent`). */
  private readonly sending = new Map<Response, () => void>();
  /** `ProxyCacheOptions.encoding`. */
  readonly encoding: boolean;

  constructor(
    store: MemoryStore,
    stats: CacheStats,
    policies: ReadonlyArray<RouteCachePolicy | null>,
    options: ProxyCacheOptions,
    proxy: Forwarder,
    clock: () => number,
  ) {
    super(store, stats, options.name, clock, options.channel, options.shared ?? null);
    if (options.tagHeaders !== undefined) this.tagFields = new Set(options.tagHeaders);
    this.policies = policies;
    this.collapser = new SingleFlight(options.collapseTimeoutMs, PASS_MS);
    this.collapseTimeoutMs = options.collapseTimeoutMs;
    this.proxy = proxy;
    this.logger = options.logger;
    this.encoding = options.encoding ?? false;
  }

  /** Whether any route caches (else the proxy creates no cache). */
  static wanted(policies: ReadonlyArray<RouteCachePolicy | null>): boolean {
    return policies.some((p) => p !== null);
  }

  /** The store key of a URL: never collides with a static key (those start with `/` or a host name). */
  static baseKey(host: string, target: string): string {
    return baseKey(host, target);
  }

  /** Handle a request for a cached route; false when it is not this cache's. */
  handle(req: Request, res: Response): boolean {
    const route = this.proxy.match(req);
    if (route === undefined) return false;
    const policy = this.policies[route.index] ?? null;
    if (policy === null) return false;
    // Entries are keyed by the normal form of the target. A route that forwards the raw bytes instead
    // (normalize_path = false) may get another answer for them: such a request is neither answered from,
    // stored in nor invalidating the cache, so that what a key holds is always what its target returned.
    const raw = req.rawTarget;
    if (!route.normalizePath && raw !== undefined && raw !== req.target) return false;
    // Before the lookup and the forwarding alike: the key is what the backend sees.
    if (policy.queryRules !== null) applyQueryRules(policy.queryRules, req);
    const method = req.method;
    if (method !== 'GET' && method !== 'HEAD') {
      // Unsafe methods go through, and invalidate what they change (§4.4); POST may be stored.
      res.cacheStatus = 'BYPASS';
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
    const names = this.varyNamesOf(base, now);
    const key = names === undefined ? base : variantKey(base, names, headers);
    let entry = this.entryOf(key, now);
    if (entry !== null && this.purging !== null && this.purgedByTag(entry)) {
      // Selected by a tag purge still freeing memory in slices: gone for every request from now on.
      this.store.delete(key, 'purged');
      entry = null;
    }
    if (entry !== null && entry.banChecked < this.bans.latest && this.banned(entry)) entry = null;
    // Covered by a soft purge still marking in slices: stale from the purge on, like the ones it marked.
    if (entry !== null && this.softPurging !== null) this.softPurgedNow(entry, now);
    // Preconditions meant for the origin (If-Match, If-Unmodified-Since) are the origin's to evaluate.
    const originConditional = headers.has('if-match') || headers.has('if-unmodified-since');
    if (entry !== null && !originConditional) {
      const reuse = decideReuse(entry, directives, now);
      if (reuse !== 'validate') {
        const stale = reuse !== 'fresh';
        // nginx's $upstream_cache_status words: served stale by the client's leave, or while updating.
        res.cacheStatus = reuse === 'fresh' ? 'HIT' : reuse === 'stale' ? 'STALE' : 'UPDATING';
        answerFromEntry(entry, req, res, now, this.name, {
          hit: true,
          ttl: stale ? entry.ttlSeconds(now) : undefined,
          collapsed: collapsed || undefined,
          detail: reuse === 'stale' ? 'max-stale' : reuse === 'stale-while-revalidate' ? reuse : undefined,
        });
        this.stats.count(PROXY + (stale ? STALE : HIT), now, res.bodyBytes);
        if (reuse === 'stale-while-revalidate') this.refreshInBackground(req, route, policy, entry, key, now);
        return;
      }
    }
    // §5.2.1.7: only-if-cached and nothing usable stored → 504.
    if (directives.onlyIfCached) {
      this.stats.count(PROXY + ERROR, now);
      res.cacheStatus = 'MISS';
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
    const collapsible =
      policy.collapse &&
      req.method === 'GET' &&
      !hasConditionalOrRange(req.headers) &&
      !headers.has('authorization') &&
      !directives.noStore;
    if (collapsible && !collapsed && !this.collapser.lead(key, now, req)) {
      this.followLeader(req, res, route, policy, key, reason);
      return;
    }
    // A request that waited once does not wait again; but when nothing is in flight it leads, so that the
    // requests after it wait for what it stores (its client may ask again, on any worker, before the
    // shared store's owner has the entry: they would find the old one and go forward too).
    let leads = collapsible && (!collapsed || this.collapser.lead(key, now, req));
    res.cacheStatus = forwardStatus(entry, now);
    if (leads && this.shared !== null) {
      // Another worker fetching this very key: wait for the entry it stores instead of fetching again
      // (once: a request that already waited goes forward alone).
      const claim = this.shared.client.claimFill(key, now, this.collapseTimeoutMs);
      if (claim === FILL_WAIT) {
        this.collapser.finish(key, true, now, req);
        if (!collapsed) {
          this.waitForWorker(req, res, route, policy, key, now + this.collapseTimeoutMs);
          return;
        }
        leads = false;
      } else if (claim === FILL_LEAD) this.fills.add(key);
    }
    // A stale entry with a validator is revalidated (§4.3.1); anything else is fetched whole.
    const mode = entry !== null && !originConditional && hasValidators(entry) ? 'validate' : 'miss';
    const fetch = new Fetch(this, req, res, route, policy, mode, entry, reason);
    if (leads) fetch.leads(key);
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
          res.cacheStatus = 'MISS';
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

  /**
   * Another worker fetches `key` for the shared store: look for its entry every {@link FILL_POLL_MS} and
   * answer from it once stored, or look up again (and fetch) once that worker is done or at `deadline`.
   */
  private waitForWorker(
    req: Request,
    res: Response,
    route: ProxyRoute,
    policy: RouteCachePolicy,
    key: string,
    deadline: number,
  ): void {
    this.stats.collapsed++;
    const client = this.shared!.client;
    const poll = (): void => {
      if (res.aborted) return;
      const now = this.clock();
      const stored = this.entryOf(key, now);
      if ((stored !== null && now < stored.freshUntil) || !client.filling(key) || now >= deadline) {
        this.lookup(req, res, route, policy, true);
        return;
      }
      setTimeout(poll, FILL_POLL_MS);
    };
    setTimeout(poll, FILL_POLL_MS);
  }

  /**
   * stale-while-revalidate (RFC 5861 §3): one background validation per entry at a time, and with the
   * shared store one for the whole server: the refresh claims the key's fill cell, so that a worker whose
   * peer already refreshes it leaves it to that one (the refreshed entry reaches every worker).
   */
  private refreshInBackground(
    req: Request,
    route: ProxyRoute,
    policy: RouteCachePolicy,
    entry: ProxyEntry,
    key: string,
    now: number,
  ): void {
    if (entry.refreshing) return;
    let claimed = false;
    if (this.shared !== null) {
      const claim = this.shared.client.claimFill(key, now, this.collapseTimeoutMs);
      if (claim === FILL_WAIT) return;
      if (claim === FILL_LEAD) {
        this.fills.add(key);
        claimed = true;
      }
    }
    entry.refreshing = true;
    const fetch = new Fetch(this, req, null, route, policy, 'validate', entry, 'stale');
    // Leading releases the claim when the exchange ends (no local flight has this request as leader).
    if (claimed) fetch.leads(key);
    fetch.start();
  }

  /**
   * Finish the collapsed flight `leader` leads (the leader's Fetch calls this once, right after storing):
   * with the shared store, once the store has the entry, so that every worker's waiters find it.
   */
  finishFlight(key: string, storable: boolean, leader: Request): void {
    const written = this.takeWrite();
    const finish = (): void => {
      this.collapser.finish(key, storable, this.clock(), leader);
      if (this.fills.delete(key)) this.shared?.client.releaseFill(key);
    };
    if (written === null) finish();
    else void written.finally(finish);
  }

  /**
   * Run `then` once `res` is done on the wire (`responseDone`, the proxy plugin's stage 40): a relayed
   * answer that an encoder still flushes when the backend's body ended is stored from what it sent.
   */
  whenSent(res: Response, then: () => void): void {
    this.sending.set(res, then);
  }

  /** `res` finished or was aborted (stage 40): run what waited for it. */
  responseDone(res: Response): void {
    if (this.sending.size === 0) return;
    const then = this.sending.get(res);
    if (then === undefined) return;
    this.sending.delete(res);
    try {
      then();
    } catch (error) {
      this.logError('storing an encoded answer', error);
    }
  }

  /** Forward through the proxy. */
  forward(req: Request, route: ProxyRoute, up: UpstreamResponse): void {
    this.proxy.forward(req, up, route, {
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

  /** Purge by tag for the content cache (`PURGE` with `X-Purge-Tag`, the admin API's `?tag=`). */
  purgeByTags(tags: readonly string[], soft: boolean): PurgeResult | Promise<PurgeResult> {
    return soft ? this.softPurgeTags(tags) : this.purgeTags(tags);
  }

  /** The bans pending in this worker. */
  listBans(): BanInfo[] {
    return this.bans.list();
  }

  /** Warm restart: the stored proxied responses, bodies included (warm-proxy.ts). */
  saveWarm(file: string): void | Promise<void> {
    if (this.shared === null) {
      saveProxyEntries(file, this.entriesToSave(), this.clock());
      return;
    }
    return this.shared.stored().then((entries) => {
      saveProxyEntries(file, entries, this.clock());
    });
  }

  /** Warm restart: put back what the previous run saved; their age went on meanwhile. */
  loadWarm(file: string, warn: (message: string) => void): number {
    let added = 0;
    for (const entry of loadProxyEntries(file, this.clock(), warn)) if (this.restore(entry)) added++;
    return added;
  }

  /** Release waiters (shutdown). */
  close(): void {
    this.collapser.clear();
    for (const key of this.fills) this.shared?.client.releaseFill(key);
    this.fills.clear();
    this.sending.clear();
    this.closePeers();
    this.banSweeper.stop();
  }
}

/** Whether a stored response can be validated with a conditional request (§4.3.1). */
function hasValidators(entry: ProxyEntry): boolean {
  return entry.etag !== undefined || entry.lastModifiedMs !== undefined;
}
