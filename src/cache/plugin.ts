/**
 * The content cache plugin. Stage 20 (`onRequest`) answers hits from memory before any file-system work;
 * stage 40 (`onResponse`) stores eligible static-file responses. `control()` serves the admin API.
 *
 * Multi-worker: each worker thread has its own instance and its own store; the configured `max_size` (and
 * `max_entries`) is the server's total, so each worker gets `max_size / workers`. A hot file ends up in
 * every worker's store (the kernel spreads connections over workers); the admin aggregates stats across
 * workers and a purge reaches every worker because the admin calls `control()` in each.
 */

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import type { Request, Response } from '../http/types.ts';
import { routePolicies } from '../http-cache/options.ts';
import { ProxyCache } from '../http-cache/proxy-cache.ts';
import { purgeMethodSchema } from '../http-cache/purge.ts';
import { splitTags } from '../http-cache/tags.ts';
import { loadProxyEntries, saveProxyEntries } from '../http-cache/warm-proxy.ts';
import type { ProxyInstance } from '../proxy/plugin.ts';
import type { Plugin, PluginContext } from '../server/plugin.ts';
import { definePlugin } from '../server/plugin.ts';
import { byteSize, duration } from '../server/units.ts';
import { acceptedEncodings } from '../static/encoding.ts';
import { keepWholeBody } from '../static/whole-body.ts';
import { CacheEntry, toStoredFields } from './entry.ts';
import { HitResponder } from './hit.ts';
import { createPolicy, DEFAULT_POLICY, POLICY_NAMES } from './policies/index.ts';
import type { PolicyName } from './policy.ts';
import { exposedGc, Reclaimer, reclaimThreshold } from './reclaim.ts';
import { cacheRuleSchema, compileRules, decideAdmission } from './rules.ts';
import { CacheStats } from './stats.ts';
import type { PurgeFilter } from './store.ts';
import { MemoryStore } from './store.ts';
import { loadState, reloadEntries, saveState, type WarmRecord } from './warm-restart.ts';

const MiB = 1024 * 1024;

/** The `[cache]` config table. */
export const cacheOptionsSchema = z.strictObject({
  /** Whether the cache is used at all. @default true */
  enabled: z.boolean().default(true),
  /**
   * Memory budget for the whole server (split evenly between workers): headers + bodies + a per-entry
   * overhead estimate. Seed: the cache's total size.
   * @default "256MiB"
   */
  max_size: byteSize()
    .refine((n) => n > 0, 'max_size must be larger than 0')
    .default(256 * MiB),
  /** Most entries for the whole server (split between workers). @default none (bytes alone bound it) */
  max_entries: z.number().int().positive().optional(),
  /** Eviction policy: "lru", "lfu" (the seed's), "s3fifo", "w-tinylfu". @default the measured winner */
  policy: z.enum(POLICY_NAMES as unknown as [PolicyName, ...PolicyName[]]).default(DEFAULT_POLICY),
  /** Smallest body stored, in bytes. @default 0 */
  min_object_size: byteSize().default(0),
  /** Largest body stored (seed: `MaxFileSize`). @default "8MiB" */
  max_object_size: byteSize().default(8 * MiB),
  /**
   * How long an entry may be served (seed: `ExpiryTime`). Entries are also dropped as soon as the file
   * changes on disk (see `revalidate_interval`). @default none: until evicted or changed on disk
   */
  ttl: duration()
    .refine((ms) => ms > 0, 'ttl must be longer than 0 (set enabled = false to turn the cache off)')
    .optional(),
  /**
   * Admission rules, first match wins (seed: `MimeTypesList` → a `mime = [...]` rule then a catch-all
   * `cache = false` rule). @default [] (everything within the size limits is cached)
   */
  rules: z.array(cacheRuleSchema).default([]),
  /**
   * Longest time a changed or deleted file may still be served from the cache: an entry is compared with
   * the file (size, mtime, inode) on the first hit after this interval. @default "1s"
   */
  revalidate_interval: duration().default(1000),
  /**
   * Concurrent misses for one key wait this long for the first one to fill the cache (single flight),
   * then read the file themselves. @default "2s"
   */
  collapse_timeout: duration().default(2000),
  /**
   * The HTTP `PURGE` method on the main listener (`PURGE /url`, `PURGE /prefix*`), restricted to the
   * `allow` addresses and/or a `token`. Proxied responses are cached per route: `cache = true` in a
   * `[[proxy.routes]]` entry (src/http-cache/options.ts). @default { enabled = false }
   */
  purge_method: purgeMethodSchema,
  /**
   * Response fields whose values tag a stored proxied response for purge by tag (`Cache-Tag: a b`,
   * `Surrogate-Key: a,b`; see src/http-cache/tags.ts). @default ["cache-tag", "surrogate-key"]
   */
  tag_headers: z
    .array(
      z
        .string()
        .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected a header field name such as "cache-tag"')
        .transform((name) => name.toLowerCase()),
    )
    .default(['cache-tag', 'surrogate-key']),
  /**
   * Run a full garbage collection once 1/16 of the capacity (4–48 MiB) was evicted or purged, so dropped
   * bodies go back to the allocator instead of waiting for V8 (which counts them late): RSS stays within
   * ~1.1x the capacity. Costs a pause of 10–100 ms, at most every 100 ms, only while the cache churns;
   * `false` trades ~1.3x RSS for no such pauses. @default true
   */
  reclaim: z.boolean().default(true),
  /** Save the cache index on shutdown and reload the hottest files on start. @default false */
  warm_restart: z.boolean().default(false),
  /**
   * Where `warm_restart` keeps the index (one file per worker: `.N` is appended when workers > 1).
   * @default "<os tmpdir>/tamarin/cache-state.json"
   */
  state_file: z.string().min(1).optional(),
});

export type CacheOptions = z.output<typeof cacheOptionsSchema>;

/** What the content cache asks of the proxy's routing. */
type RouteClaims = Pick<ProxyInstance, 'claims' | 'claimsPathOnSomeHost'>;

/** Routing without a proxy plugin: nothing is claimed. */
const NO_PROXY: RouteClaims = { claims: () => false, claimsPathOnSomeHost: () => false };

/** Waiters on one in-flight miss (single flight). */
interface Flight {
  readonly leader: Response;
  readonly waiters: Array<() => void>;
  timer: NodeJS.Timeout | null;
}

/** Rejected keys are not captured or collapsed again for this long (a big or excluded file stays so). */
const NEGATIVE_TTL_MS = 5000;
const NEGATIVE_MAX = 10_000;

const entriesArgs = z
  .strictObject({
    sort: z.enum(['hits', 'size', 'age']).default('hits'),
    limit: z.number().int().min(1).max(10_000).default(100),
    offset: z.number().int().min(0).default(0),
  })
  .default({ sort: 'hits', limit: 100, offset: 0 });

const banArgs = z.strictObject({
  url: z.string().optional(),
  host: z.string().optional(),
  field: z.string().optional(),
  value: z.string().optional(),
});

const soft = z.boolean().optional();
const purgeArgs = z.union([
  z.strictObject({ all: z.literal(true), soft }),
  z.strictObject({ path: z.string().startsWith('/'), host: z.string().optional(), soft }),
  z.strictObject({ prefix: z.string().startsWith('/'), host: z.string().optional(), soft }),
  z.strictObject({ tag: z.string().min(1), soft }),
]);

function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/** Key suffixes per accepted-encodings list (see `acceptedEncodings`): one constant string per class. */
function encodingSuffix(list: readonly string[]): string {
  if (list.length === 0) return '';
  if (list.length === 1) return list[0] === 'br' ? ' br' : ' gzip';
  return list[0] === 'br' ? ' br,gzip' : ' gzip,br';
}

/** One worker's cache: the store, the stats and the hooks. Exported for tests (injectable clock). */
export class ContentCache implements Plugin {
  readonly name = 'cache';
  readonly store: MemoryStore;
  /** Shared with the instance a reload replaced, so that hit and miss counters go on counting. */
  readonly stats: CacheStats;
  private readonly options: CacheOptions;
  private readonly context: PluginContext;
  private readonly clock: () => number;
  /**
   * `Date.now() - performance.now()`, refreshed every second by the sweeper: with the real clock, a hit
   * takes its time from the engine's clock read of the socket read (`req.startTime`) instead of reading
   * the clock again (a clock step is followed within a second). Unused with an injected clock (tests).
   */
  private wallOffset = 0;
  private readonly realClock: boolean;
  private readonly rules;
  private readonly responder: HitResponder;
  private readonly keyByHost: boolean;
  private readonly negotiate: boolean;
  private readonly inflight = new Map<string, Flight>();
  private readonly negative = new Map<string, number>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly stateFile: string;
  private closed = false;
  private routeClaims: RouteClaims | null = null;
  /** The shared HTTP cache for proxy routes with `cache` on (RFC 9111); null when no route caches. */
  readonly http: ProxyCache | null = null;
  /** Collects dropped bodies while the cache churns (see reclaim.ts); null without a usable `gc`. */
  readonly reclaimer: Reclaimer | null = null;

  /**
   * @param gc the full collection the reclaimer runs (tests inject one, or `null` for none)
   *   @default V8's `gc` when `reclaim` is on and it can be exposed (see reclaim.ts)
   */
  constructor(
    options: CacheOptions,
    context: PluginContext,
    clock: () => number = Date.now,
    gc?: (() => void) | null,
  ) {
    this.options = options;
    this.context = context;
    this.stats = context.previous instanceof ContentCache ? context.previous.stats : new CacheStats();
    this.clock = clock;
    this.realClock = clock === Date.now;
    if (this.realClock) this.wallOffset = Date.now() - performance.now();
    const workers = Math.max(1, context.workerCount);
    this.store = new MemoryStore({
      maxBytes: Math.max(1, Math.floor(options.max_size / workers)),
      maxEntries:
        options.max_entries === undefined
          ? Number.POSITIVE_INFINITY
          : Math.max(1, Math.floor(options.max_entries / workers)),
      createPolicy: (o) => createPolicy(options.policy, o),
      onRemove: (entry, reason) => {
        this.http?.onRemove(entry);
        this.reclaimer?.dropped(entry.headLength + entry.bodyLength);
        if (reason === 'evicted') this.stats.evictions++;
        else if (reason === 'expired') this.stats.expirations++;
        else if (reason === 'invalidated') this.stats.invalidations++;
        else if (reason === 'purged') this.stats.purged++;
      },
    });
    const collect = gc !== undefined ? gc : options.reclaim ? exposedGc() : null;
    if (collect !== null) this.reclaimer = new Reclaimer(reclaimThreshold(this.store.maxBytes), collect);
    this.rules = compileRules({
      minObjectSize: options.min_object_size,
      maxObjectSize: options.max_object_size,
      ttlMs: options.ttl,
      rules: options.rules,
    });
    this.responder = new HitResponder(this.store, this.stats, options.revalidate_interval, (req) =>
      this.proxy().claims(req),
    );
    // Keys carry the host only when the static plugin serves different roots per host.
    const staticConfig = (context.config.static ?? {}) as { hosts?: unknown; precompressed?: unknown };
    this.keyByHost =
      typeof staticConfig.hosts === 'object' &&
      staticConfig.hosts !== null &&
      Object.keys(staticConfig.hosts).length > 0;
    this.negotiate = staticConfig.precompressed !== false;
    const base = options.state_file ?? join(tmpdir(), 'tamarin', 'cache-state.json');
    this.stateFile = workers > 1 ? `${base}.${context.workerId}` : base;
    const policies = routePolicies(context.config, options.max_object_size);
    if (ProxyCache.wanted(policies, options.purge_method)) {
      const proxyConfig = (context.config.proxy ?? {}) as { via?: unknown };
      this.http = new ProxyCache(
        this.store,
        this.stats,
        policies,
        {
          name: typeof proxyConfig.via === 'string' ? proxyConfig.via : 'tamarin',
          collapseTimeoutMs: options.collapse_timeout,
          purge: options.purge_method,
          tagHeaders: options.tag_headers,
          logger: context.logger,
          // Worker threads of one server share the process: a channel per process and port links them.
          channel:
            workers > 1
              ? `tamarin:http-cache:${process.pid}:${String((context.config.server as { port?: unknown } | undefined)?.port)}`
              : null,
        },
        () => context.getPlugin('proxy') as ProxyInstance | undefined,
        clock,
      );
    }
    this.sweeper = setInterval(() => {
      if (this.realClock) this.wallOffset = Date.now() - performance.now();
      this.store.sweep(this.clock());
    }, 1000);
    this.sweeper.unref();
    if (options.warm_restart) setImmediate(() => void this.warmUp());
  }

  /**
   * The store key: [host] + raw path + representation class. The raw (still percent-encoded) path is
   * used so the hit path never decodes: two spellings of one file get two entries, but two different
   * files never share a key (the static plugin maps one raw path to one file). The query is ignored,
   * as the static plugin ignores it.
   */
  keyOf(req: Request): string {
    let key = this.keyByHost ? req.host + req.path : req.path;
    if (this.negotiate) {
      const suffix = encodingSuffix(acceptedEncodings(req.headers.get('accept-encoding')));
      if (suffix !== '') key += suffix;
    }
    return key;
  }

  onRequest(req: Request, res: Response): boolean | Promise<boolean> {
    const method = req.method;
    const http = this.http;
    // Proxied routes with `cache` on are the HTTP cache's (src/http-cache/), unsafe methods included.
    if (method !== 'GET' && method !== 'HEAD') return http?.handle(req, res) === true;
    // The request's arrival (RFC 9111 §4.2.3 ages from the request time too); a request built without
    // the engine (startTime 0) or an injected clock reads the clock.
    const start = req.startTime;
    const now = start > 0 && this.realClock ? start + this.wallOffset : this.clock();
    if (http?.tryHit(req, res, now)) return true;
    const key = this.keyOf(req);
    if (this.responder.tryServe(key, req, res, now)) return true;
    if (http?.handle(req, res)) return true;
    if (method !== 'GET' || this.bypassed(key, now)) {
      this.stats.miss(now);
      return false;
    }
    res.captureBody(this.options.max_object_size);
    // Have the static plugin read a body we may keep into one buffer of its own size (no copy, no garbage).
    keepWholeBody(res, this.options.max_object_size);
    // A conditional or range miss never leads a flight (its answer may be a 304 or 206, not storable).
    const flight = HitResponder.hasValidators(req) ? undefined : this.inflight.get(key);
    if (flight === undefined) {
      if (!HitResponder.hasValidators(req)) this.inflight.set(key, { leader: res, waiters: [], timer: null });
      this.stats.miss(now);
      return false;
    }
    return this.wait(flight, key, req, res);
  }

  /** Whether `key` was refused recently (too large, excluded): no capture, no single flight, no store. */
  private bypassed(key: string, now: number): boolean {
    if (this.negative.size === 0) return false;
    const until = this.negative.get(key);
    if (until === undefined) return false;
    if (now < until) return true;
    this.negative.delete(key);
    return false;
  }

  /** Wait for the in-flight miss of `key`, then answer from the entry it stored (or go to the file). */
  private wait(flight: Flight, key: string, req: Request, res: Response): Promise<boolean> {
    this.stats.collapsed++;
    if (flight.timer === null) {
      flight.timer = setTimeout(() => this.release(key, flight), this.options.collapse_timeout);
      flight.timer.unref();
    }
    // Served from the entry the leader stored: a hit. Otherwise (not storable, timeout): a miss.
    return new Promise<void>((resolve) => flight.waiters.push(resolve)).then(() => {
      const now = this.clock();
      if (this.responder.tryServe(key, req, res, now)) return true;
      this.stats.miss(now);
      return false;
    });
  }

  private release(key: string, flight: Flight): void {
    if (this.inflight.get(key) === flight) this.inflight.delete(key);
    if (flight.timer !== null) clearTimeout(flight.timer);
    for (const wake of flight.waiters) wake();
    flight.waiters.length = 0;
  }

  onResponse(req: Request, res: Response): void {
    if (req.method !== 'GET') return;
    const file = res.file;
    let flight: Flight | undefined;
    let key: string | undefined;
    if (this.inflight.size !== 0) {
      key = this.keyOf(req);
      flight = this.inflight.get(key);
      if (flight !== undefined && flight.leader !== res) flight = undefined;
    }
    if (file !== null) {
      key ??= this.keyOf(req);
      this.stats.originFetches++;
      if (!this.bypassed(key, this.clock())) this.store_(key, req, res);
    } else if (res.capturedBody !== null) {
      // A miss answered without a file (an error, a proxied response): not ours to store; stop capturing
      // its body for a while. Hits capture nothing, so they never get here.
      key ??= this.keyOf(req);
      this.remember(key, this.clock());
    }
    if (flight !== undefined) this.release(key!, flight);
  }

  /** Decide and store a finished producer response. */
  private store_(key: string, req: Request, res: Response): void {
    const now = this.clock();
    const status = res.statusCode;
    const body = res.capturedBody;
    const path = decodePath(req.path);
    if (status === 200 && (body === null || res.aborted)) {
      const reason = res.bodyBytes > this.options.max_object_size ? 'too-large' : 'incomplete';
      this.stats.rejections[reason]++;
      if (reason === 'too-large') this.remember(key, now);
      return;
    }
    const fields = toStoredFields(res.headerEntries());
    let contentType: string | undefined;
    let cacheControl: string | undefined;
    for (const [name, value] of fields) {
      const lower = name.toLowerCase();
      if (lower === 'content-type') contentType = value;
      else if (lower === 'cache-control') cacheControl = value;
    }
    const decision = decideAdmission(this.rules, {
      path,
      status,
      size: body === null ? 0 : body.length,
      contentType,
      cacheControl,
    });
    if (!decision.admit) {
      this.stats.rejections[decision.reason]++;
      if (decision.reason !== 'status') this.remember(key, now);
      return;
    }
    const entry = new CacheEntry({
      key,
      path,
      host: req.host,
      status,
      reason: res.statusMessage,
      fields,
      body: body!,
      file: res.file,
      storedAt: now,
      expiresAt: now + decision.ttlMs,
    });
    entry.checkAt = now + this.options.revalidate_interval;
    // Keyed without the host, this entry would answer every host: flag it when a (host-restricted) route
    // takes its path elsewhere, so that a hit first asks the proxy.
    if (!this.keyByHost) entry.routed = this.proxy().claimsPathOnSomeHost(req);
    if (this.store.set(entry)) this.stats.insertions++;
    else this.stats.rejections['not-admitted']++;
  }

  /** The proxy plugin's routing, resolved on first use (the proxy is created after the cache). */
  private proxy(): RouteClaims {
    if (this.routeClaims === null) {
      const proxy = this.context.getPlugin('proxy') as ProxyInstance | undefined;
      this.routeClaims = proxy === undefined || typeof proxy.claims !== 'function' ? NO_PROXY : proxy;
    }
    return this.routeClaims;
  }

  private remember(key: string, now: number): void {
    if (this.negative.size >= NEGATIVE_MAX) this.negative.clear();
    this.negative.set(key, now + NEGATIVE_TTL_MS);
  }

  control(command: string, args: unknown): unknown {
    const now = this.clock();
    switch (command) {
      case 'stats':
        return this.stats.snapshot(now, this.store, this.options.policy);
      case 'entries': {
        const parsed = entriesArgs.safeParse(args ?? undefined);
        if (!parsed.success) throw new Error(`cache entries: ${z.prettifyError(parsed.error)}`);
        const { sort, limit, offset } = parsed.data;
        return this.store.list(sort, limit, offset, now);
      }
      case 'purge': {
        const parsed = purgeArgs.safeParse(args);
        if (!parsed.success) {
          throw new Error(
            'cache purge: expected { all: true }, { path: "/..." }, { prefix: "/..." } or { tag: "..." }',
          );
        }
        this.negative.clear();
        const none = { removed: 0, bytes: 0, keys: [] };
        const { soft: softly, ...what } = parsed.data;
        if ('tag' in what) {
          // Only proxied responses carry tags.
          const tags = splitTags(what.tag);
          return (softly ? this.http?.softPurgeTags(tags) : this.http?.purgeTags(tags)) ?? none;
        }
        const filter = what as PurgeFilter;
        if (softly === true) {
          // Only proxied responses can be revalidated (src/http-cache/soft-purge.ts).
          if ('path' in filter)
            return this.http?.softPurge({ ...filter, path: decodePath(filter.path) }) ?? none;
          if ('prefix' in filter)
            return this.http?.softPurge({ ...filter, prefix: decodePath(filter.prefix) }) ?? none;
          return this.http?.softPurge(filter) ?? none;
        }
        // Entries are matched on the decoded path: accept "/a%20b.txt" as well as "/a b.txt".
        if ('path' in filter) return this.store.purge({ ...filter, path: decodePath(filter.path) });
        if ('prefix' in filter) return this.store.purge({ ...filter, prefix: decodePath(filter.prefix) });
        return this.store.purge(filter);
      }
      case 'ban': {
        // Bans are over proxied responses (src/http-cache/bans.ts).
        if (this.http === null) throw new Error('cache ban: no proxy route is cached');
        this.negative.clear();
        return this.http.ban(banArgs.parse(args));
      }
      case 'bans':
        return this.http?.bans.list() ?? [];
      default:
        throw new Error(`cache: unknown command "${command}" (expected stats, entries, purge, ban or bans)`);
    }
  }

  /** Reload the hottest entries of the previous run (background; never throws). */
  private async warmUp(): Promise<void> {
    this.warmProxied();
    const records = loadState(this.stateFile, (m) => this.context.logger.warn(m));
    if (records.length === 0) return;
    const { added, stale } = await reloadEntries(
      records,
      this.store.maxBytes,
      (record, body) => this.addWarm(record, body),
      () => this.closed,
    );
    this.stats.warmLoaded += added;
    if (stale > 0) this.context.logger.warn(`warm restart: ${stale} entries skipped (file changed or gone)`);
    this.context.logger.info(`warm restart: ${added} entries reloaded from ${this.stateFile}`);
  }

  /** Proxied responses saved by the previous run, bodies included (src/http-cache/warm-proxy.ts). */
  private warmProxied(): void {
    const http = this.http;
    if (http === null) return;
    const file = `${this.stateFile}.proxy`;
    let added = 0;
    for (const entry of loadProxyEntries(file, this.clock(), (m) => this.context.logger.warn(m))) {
      if (http.restore(entry)) added++;
    }
    this.stats.warmLoaded += added;
    if (added > 0) this.context.logger.info(`warm restart: ${added} proxied responses reloaded from ${file}`);
  }

  private addWarm(record: WarmRecord, body: Buffer): boolean {
    const now = this.clock();
    if (this.store.peek(record.key) !== undefined) return false; // a live request got there first
    const expiresAt = record.expiresAt ?? Number.POSITIVE_INFINITY;
    if (now >= expiresAt) return false;
    const entry = new CacheEntry({ ...record, body, expiresAt });
    entry.checkAt = now + this.options.revalidate_interval;
    // The raw path the routes would see is not in the record: with any route, ask the proxy on each hit.
    if (!this.keyByHost) entry.routed = this.proxy() !== NO_PROXY;
    return this.store.set(entry);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.sweeper);
    this.reclaimer?.close();
    this.http?.close();
    for (const [key, flight] of this.inflight) this.release(key, flight);
    if (!this.options.warm_restart) return;
    const records: WarmRecord[] = [];
    for (const { entry, frequency } of this.store.hottest(this.store.count)) {
      const r = entry.record;
      // Only entries whose body is the file itself can be rebuilt from disk.
      if (r.file === null || r.file.size !== entry.bodyLength) continue;
      records.push({
        key: r.key,
        path: r.path,
        host: r.host,
        status: r.status,
        reason: r.reason,
        fields: r.fields.map(([n, v]) => [n, v] as [string, string]),
        file: { path: r.file.path, size: r.file.size, mtimeMs: r.file.mtimeMs, ino: r.file.ino },
        frequency,
        storedAt: r.storedAt,
        expiresAt: Number.isFinite(entry.expiresAt) ? entry.expiresAt : null,
      });
    }
    if (this.http !== null) {
      try {
        saveProxyEntries(`${this.stateFile}.proxy`, this.http.entriesToSave(), this.clock());
      } catch (error) {
        this.context.logger.warn(
          `warm restart: could not save proxied responses: ${(error as Error).message}`,
        );
      }
    }
    try {
      saveState(this.stateFile, records, this.clock());
    } catch (error) {
      this.context.logger.warn(`warm restart: could not save ${this.stateFile}: ${(error as Error).message}`);
    }
  }
}

/** The `cache` plugin definition (`plugins = ["cache", ...]`, configured by `[cache]`). */
export const cachePlugin = definePlugin({
  name: 'cache',
  options: cacheOptionsSchema,
  create(options, context): Plugin {
    if (!options.enabled) {
      return {
        name: 'cache',
        control() {
          throw new Error('the cache is disabled ([cache] enabled = false)');
        },
      };
    }
    return new ContentCache(options, context);
  },
});
