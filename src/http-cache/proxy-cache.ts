/**
 * The shared HTTP cache in front of the reverse proxy (RFC 9111). It lives inside the content cache plugin
 * (same store, same memory budget, same stats) and answers requests for proxy routes with `cache` on:
 *
 * - `tryHit`: the fast path, a fresh stored response for a GET/HEAD without request directives: one
 *   lookup, one compare, one `sendPrebuilt` (Age spliced into the buffer once per second); a client's
 *   conditional or Range answered from the entry.
 * - `handle`: everything else on a cached route: request directives, Vary, client conditionals and Range
 *   from the store, validation of stale entries, stale-while-revalidate / stale-if-error, collapsing of
 *   concurrent misses, storing while streaming, invalidation by unsafe methods, and `PURGE`.
 *
 * Each backend exchange is a `Fetch` (fetch.ts); this file holds the decisions that need the store.
 */

import { BroadcastChannel } from 'node:worker_threads';
import type { CacheEntry, StoredField } from '../cache/entry.ts';
import type { CacheStats, RejectionReason } from '../cache/stats.ts';
import type { MemoryStore, PurgeFilter } from '../cache/store.ts';
import type { HeaderList, HeaderValue, Request, Response } from '../http/types.ts';
import type { ProxyInstance } from '../proxy/plugin.ts';
import type { ProxyRoute } from '../proxy/routes.ts';
import type { Logger } from '../server/plugin.ts';
import { parseRequestDirectives } from './cache-control.ts';
import { type CacheStatusParts, cacheStatus, type ForwardReason } from './cache-status.ts';
import { Collapser } from './collapsing.ts';
import { Fetch } from './fetch.ts';
import { decideReuse, type ResponseTiming } from './freshness.ts';
import { invalidationTargets } from './invalidation.ts';
import { fieldsToHeaders, withMethod } from './messages.ts';
import type { RouteCachePolicy } from './options.ts';
import { ProxyEntry } from './proxy-entry.ts';
import { PurgeGate, type PurgeMethodOptions, purgeFilterOf } from './purge.ts';
import { answerFromEntry, connectionFor, hasConditionalOrRange, sendText } from './respond.ts';
import type { NotStoredReason } from './storability.ts';
import { buildEntry, planStorage, type StoragePlan, storedFields } from './storing.ts';
import type { UpstreamResponse } from './upstream-response.ts';
import { VaryIndex, variantKey } from './vary.ts';

/** Settings of the HTTP cache shared by every route. */
export interface ProxyCacheOptions {
  /** This cache's name in Cache-Status (the proxy's Via pseudonym). @default "tamarin" */
  name: string;
  /** Longest wait of a collapsed request for the leader. */
  collapseTimeoutMs: number;
  /** The `PURGE` method on the main listener. */
  purge: PurgeMethodOptions;
  /** Where unexpected failures are logged. */
  logger: Logger;
  /**
   * Name of a BroadcastChannel shared by the server's worker threads: PURGE and §4.4 invalidations made
   * in one worker reach the stores of the others. null with a single worker.
   */
  channel: string | null;
}

/** What one worker tells the others. */
type PeerMessage = { type: 'purge'; filter: PurgeFilter } | { type: 'invalidate'; bases: string[] };

/** Non-storable keys are not collapsed for this long (hit-for-miss). */
const PASS_MS = 5000;

const REJECTION: Record<NotStoredReason, RejectionReason> = {
  method: 'status',
  status: 'status',
  partial: 'status',
  'content-location': 'status',
  'no-store': 'no-store',
  private: 'excluded',
  authorization: 'excluded',
  'set-cookie': 'excluded',
  'vary-star': 'excluded',
  'no-freshness': 'excluded',
};

/** What the request's fields ask of a fresh stored response (see `requestKind`). */
const PLAIN = 0;
const FROM_ENTRY = 1;
const SLOW = 2;

/**
 * PLAIN: nothing but the stored answer; FROM_ENTRY: a conditional (If-None-Match, If-Modified-Since,
 * If-Range) or Range, answered from the entry as the slow path would; SLOW: request directives
 * (Cache-Control, Pragma: §5.2.1, §5.4) or preconditions that are the origin's to evaluate (If-Match,
 * If-Unmodified-Since): the slow path decides.
 */
function requestKind(headers: HeaderList): number {
  let kind = PLAIN;
  for (let i = 0; i < headers.length; i++) {
    const name = headers.name(i);
    const c = name.charCodeAt(0);
    if (c === 0x69 /* i */ && name.charCodeAt(1) === 0x66 && name.charCodeAt(2) === 0x2d) {
      if (name === 'if-match' || name === 'if-unmodified-since') return SLOW;
      kind = FROM_ENTRY;
    } else if (c === 0x72 /* r */ && name === 'range') kind = FROM_ENTRY;
    else if (c === 0x63 /* c */ && name === 'cache-control') return SLOW;
    else if (c === 0x70 /* p */ && name === 'pragma') return SLOW;
    // An upgrade (WebSocket handshake) is never answered from the store: the slow path's route match
    // leaves it to the proxy's tunnel.
    else if (c === 0x75 /* u */ && name === 'upgrade') return SLOW;
  }
  return kind;
}

/** Cache-Status of a fresh hit (RFC 9211): the member the pre-built bytes carry. */
const FRESH_HIT: CacheStatusParts = { hit: true };

export class ProxyCache {
  readonly vary = new VaryIndex();
  /**
   * Every stored entry by request-target (entries of other hosts and variants of one URL chained through
   * `sameTarget`): the fast path finds an entry with one lookup of `req.target`, a string the parser just
   * made, instead of building and hashing `http://host/target` per request; the entry's own key (hashed
   * once, when stored) then checks it against the store. Kept in step with the store by `insert` and
   * `onRemove`; a stale link can only cost a hit (the slow path looks again), never serve a removed entry.
   */
  private readonly byTarget = new Map<string, ProxyEntry>();
  readonly stats: CacheStats;
  readonly name: string;
  readonly clock: () => number;
  private readonly store: MemoryStore;
  private readonly policies: ReadonlyArray<RouteCachePolicy | null>;
  private readonly collapser: Collapser;
  private readonly gate: PurgeGate | null;
  private readonly getProxy: () => ProxyInstance | undefined;
  private proxy: ProxyInstance | null = null;
  private readonly peers: BroadcastChannel | null = null;
  private readonly logger: Logger;

  constructor(
    store: MemoryStore,
    stats: CacheStats,
    policies: ReadonlyArray<RouteCachePolicy | null>,
    options: ProxyCacheOptions,
    getProxy: () => ProxyInstance | undefined,
    clock: () => number,
  ) {
    this.store = store;
    this.stats = stats;
    this.policies = policies;
    this.name = options.name;
    this.clock = clock;
    this.collapser = new Collapser(options.collapseTimeoutMs, PASS_MS);
    this.gate = options.purge.enabled ? new PurgeGate(options.purge) : null;
    this.getProxy = getProxy;
    this.logger = options.logger;
    if (options.channel !== null) {
      const peers = new BroadcastChannel(options.channel);
      peers.onmessage = (event) => this.fromPeer((event as { data: PeerMessage }).data);
      // A channel must not keep a worker alive on shutdown.
      peers.unref();
      this.peers = peers;
    }
  }

  /** Apply another worker's purge or invalidation to this worker's store (never re-broadcast). */
  private fromPeer(message: PeerMessage): void {
    if (message.type === 'purge') this.store.purge(message.filter);
    else if (message.type === 'invalidate') for (const base of message.bases) this.invalidateBase(base);
  }

  private invalidateBase(base: string): void {
    for (const key of this.vary.variants(base)) this.store.delete(key, 'invalidated');
    this.store.delete(base, 'invalidated');
  }

  /** Whether any route caches (else the cache plugin never calls in here). */
  static wanted(policies: ReadonlyArray<RouteCachePolicy | null>, purge: PurgeMethodOptions): boolean {
    return purge.enabled || policies.some((p) => p !== null);
  }

  /** The store key of a URL: never collides with a static key (those start with `/` or a host name). */
  static baseKey(host: string, target: string): string {
    return 'http://' + host + target;
  }

  /**
   * Fast path: a fresh stored response for a GET/HEAD without request directives. One lookup by target,
   * one host compare, the store's lookup of the entry's own key (its hash cached), one compare with
   * `freshUntil` (§4.2), the Age slot brought up to date (§5.1), one `sendPrebuilt`. Conditionals and Range
   * (§4.3.2) are answered from the entry as `lookup` answers them (a 304 is pre-built too). False: not
   * answered here (nothing stored, stale, request Cache-Control or Pragma, If-Match, If-Unmodified-Since).
   */
  tryHit(req: Request, res: Response, now: number): boolean {
    let candidate = this.byTarget.get(req.target);
    if (candidate === undefined) return false;
    const host = req.host;
    while (candidate.record.host !== host) {
      const next: ProxyEntry | null = candidate.sameTarget;
      if (next === null) return false;
      candidate = next;
    }
    const key = candidate.vary === null ? candidate.record.key : this.variantKey(candidate, req.headers);
    const entry = this.store.get(key, now);
    if (!(entry instanceof ProxyEntry)) return false;
    if (now >= entry.freshUntil || entry.directives.noCache) return false;
    const kind = requestKind(req.headers);
    if (kind === SLOW) return false;
    entry.hits++;
    this.stats.hit(now);
    if (kind === PLAIN && connectionFor(req) === null)
      res.sendPrebuilt(entry.serve(now, req.method === 'GET'));
    // 304, 206, 416, or the whole answer with a Connection field: exactly what `lookup` would send.
    else answerFromEntry(entry, req, res, now, this.name, FRESH_HIT);
    return true;
  }

  /**
   * A URL that varies (§4.1): the key of the variant the request's fields select. A stored variant of this
   * host whose selecting request sent the very same field values is it (the common case: one client's
   * browser sends the same Accept-Encoding every time); else the values are normalised (vary.ts).
   */
  private variantKey(first: ProxyEntry, headers: HeaderList): string {
    const host = first.record.host;
    for (let entry: ProxyEntry | null = first; entry !== null; entry = entry.sameTarget) {
      if (entry.vary !== null && entry.record.host === host && entry.selectedBy(headers))
        return entry.record.key;
    }
    return this.vary.keyFor(first.base, headers);
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
    const base = ProxyCache.baseKey(req.host, req.target);
    const names = this.vary.names(base);
    const key = names === undefined ? base : variantKey(base, names, headers);
    const found = this.store.get(key, now);
    const entry = found instanceof ProxyEntry ? found : null;
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
      return;
    }
    this.stats.miss(now);
    // A stale entry with a validator is revalidated (§4.3.1); anything else is fetched whole.
    const mode = entry !== null && !originConditional && hasValidators(entry) ? 'validate' : 'miss';
    const fetch = new Fetch(this, req, res, route, policy, mode, entry, reason);
    if (canCollapse) fetch.leads(key);
    fetch.start();
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

  /** Count a response that was not stored. */
  rejected(reason: NotStoredReason | 'too-large' | 'incomplete'): void {
    if (reason === 'too-large' || reason === 'incomplete') this.stats.rejections[reason]++;
    else this.stats.rejections[REJECTION[reason]]++;
  }

  /**
   * Store a complete response. `req` selected it (its Vary'd fields pick the variant); `fields` are the
   * fields as relayed (end-to-end only). Returns the entry, or null when it was not stored.
   */
  storeResponse(
    req: Request,
    status: number,
    reason: string,
    fields: ReadonlyArray<readonly [string, HeaderValue]>,
    body: Buffer,
    plan: StoragePlan,
    policy: RouteCachePolicy,
  ): ProxyEntry | null {
    return this.insert(
      buildEntry(
        req,
        status,
        reason,
        storedFields(fields, plan, policy),
        body,
        plan,
        policy,
        this.name,
        this.clock(),
      ),
    );
  }

  /** Put an entry into the store under its (variant) key, keeping the Vary index consistent. */
  private insert(entry: ProxyEntry | null): ProxyEntry | null {
    if (entry === null) {
      this.rejected('no-freshness');
      return null;
    }
    if (!this.store.set(entry)) {
      this.stats.rejections['not-admitted']++;
      return null;
    }
    this.stats.insertions++;
    this.link(entry);
    const base = entry.base;
    const key = entry.record.key;
    if (entry.vary === null) {
      // The URL no longer varies: variants stored under the old Vary can never be selected again.
      for (const old of this.vary.variants(base)) this.store.delete(old, 'replaced');
    } else {
      for (const old of this.vary.add(base, entry.vary, key))
        if (old !== key) this.store.delete(old, 'replaced');
      if (key !== base) this.store.delete(base, 'replaced');
    }
    return entry;
  }

  /**
   * §4.3.4: a 304 freshens the stored entry: its fields updated from the 304 (`merged`), timing and
   * lifetime recomputed from the validation exchange. The old entry is replaced by the new one.
   */
  freshen(
    req: Request,
    entry: ProxyEntry,
    merged: readonly StoredField[],
    timing: ResponseTiming,
    policy: RouteCachePolicy,
  ): ProxyEntry | null {
    const head = fieldsToHeaders(merged);
    const plan = planStorage(
      withMethod(req, 'GET'),
      head,
      entry.record.status,
      timing,
      policy,
      entry.bodyLength,
    );
    if (!plan.decision.store) {
      // The origin now forbids storing (e.g. no-store on the 304): drop the entry, serve this once.
      this.store.delete(entry.record.key, 'invalidated');
      return null;
    }
    plan.vary = entry.vary;
    const { status, reason } = entry.record;
    return this.insert(
      buildEntry(req, status, reason, merged, entry.body, plan, policy, this.name, this.clock()),
    );
  }

  /** §4.4: invalidate the stored responses for the URIs an unsafe request changed. */
  invalidate(req: Request, status: number, head: HeaderList): void {
    const targets = invalidationTargets(
      req.method,
      status,
      req.host,
      req.target,
      head.get('location'),
      head.get('content-location'),
    );
    if (targets.length === 0) return;
    const bases = targets.map(({ host, target }) => ProxyCache.baseKey(host, target));
    for (const base of bases) this.invalidateBase(base);
    this.peers?.postMessage({ type: 'invalidate', bases } satisfies PeerMessage);
  }

  /** Keep the Vary and target indexes in sync with the store (its onRemove hook). */
  onRemove(entry: CacheEntry): void {
    if (!(entry instanceof ProxyEntry)) return;
    if (entry.vary !== null) this.vary.remove(entry.base, entry.record.key);
    this.unlink(entry);
  }

  /** Entries reachable from the target index: the proxied entries in the store (a test checks it). */
  indexedEntries(): number {
    let count = 0;
    for (let entry of this.byTarget.values()) {
      count++;
      while (entry.sameTarget !== null) {
        entry = entry.sameTarget;
        count++;
      }
    }
    return count;
  }

  /** Add a stored entry to the target index (at the head: the newest is the likeliest to be asked for). */
  private link(entry: ProxyEntry): void {
    const head = this.byTarget.get(entry.target);
    entry.sameTarget = head ?? null;
    this.byTarget.set(entry.target, entry);
  }

  /** Drop an entry from the target index; nothing when it is not there (a store that declined it). */
  private unlink(entry: ProxyEntry): void {
    const target = entry.target;
    const head = this.byTarget.get(target);
    if (head === undefined) return;
    if (head === entry) {
      if (entry.sameTarget === null) this.byTarget.delete(target);
      else this.byTarget.set(target, entry.sameTarget);
    } else {
      let prev = head;
      while (prev.sameTarget !== null && prev.sameTarget !== entry) prev = prev.sameTarget;
      if (prev.sameTarget === null) return;
      prev.sameTarget = entry.sameTarget;
    }
    entry.sameTarget = null;
  }

  /** `PURGE /url` or `PURGE /prefix*` (purge.ts). */
  private purge(req: Request, res: Response): void {
    const refusal = this.gate!.check(req);
    if (refusal !== null) {
      sendText(res, 403, `403 Forbidden (${refusal})`, null);
      return;
    }
    const filter = purgeFilterOf(req);
    const result = this.store.purge(filter);
    this.peers?.postMessage({ type: 'purge', filter } satisfies PeerMessage);
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('Cache-Control', 'no-store');
    res.end(JSON.stringify({ purged: result.removed, bytes: result.bytes }) + '\n');
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
    this.peers?.close();
  }
}

/** Whether a stored response can be validated with a conditional request (§4.3.1). */
function hasValidators(entry: ProxyEntry): boolean {
  return entry.etag !== undefined || entry.lastModifiedMs !== undefined;
}
