/**
 * The content cache plugin. Stage 20 (`onRequest`) answers hits from memory before any file-system work;
 * stage 40 (`onResponse`) stores eligible static-file responses. `control()` serves the admin API.
 *
 * It provides its store to other plugins (`CACHE_STORE`, service.ts): the proxy keeps its RFC 9111 cache
 * there and attaches it as the store's front, which this plugin asks first at stage 20. It uses the static
 * plugin's `FILE_VARIANTS` to key file responses by what they depend on.
 *
 * Multi-worker: when the server runs the shared store (src/cache/shared/: one arena in shared memory for
 * every worker, made by the primary through this plugin's `share` and reached as `context.shared`),
 * static files are stored there, once for the whole server; a purge or an entry list is one call to its
 * owner (made by worker 0; the others answer empty). When another plugin takes this cache's store
 * (`CACHE_STORE`: the proxy's RFC 9111 cache) or the `PURGE` method is on, each worker keeps its own store
 * of `max_size / workers` instead, for static and proxied entries alike: the admin aggregates stats across
 * workers, a purge reaches every worker because the admin calls `control()` in each, and a `PURGE` request
 * is broadcast to the other workers.
 */

import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { type BodyLender, keepWholeBody } from '../http/body-keepers.ts';
import { lendScratch } from '../http/scratch-bodies.ts';
import { hasConditionalOrRange } from '../http/semantics/conditional.ts';
import { Negotiator } from '../http/semantics/encoding.ts';
import type { Request, Response } from '../http/types.ts';
import { type BanInfo, type BanSpec, banFromExpression, banFromQuery, banSpecError } from '../server/bans.ts';
import { errorMessage } from '../server/logger.ts';
import type { Plugin, PluginContext } from '../server/plugin.ts';
import { definePlugin } from '../server/plugin.ts';
import { CONTENT_CODINGS, FILE_VARIANTS, ROUTE_CLAIMS, type RouteClaims } from '../server/services.ts';
import { byteSize, duration } from '../server/units.ts';
import { cacheAdmin } from './admin.ts';
import { ADMIT_CELLS, MissCounter } from './admission.ts';
import { CacheEntry, toStoredFields } from './entry.ts';
import { HitResponder, type ServableEntry } from './hit.ts';
import { hashKey } from './policies/count-min-sketch.ts';
import { createPolicy, DEFAULT_POLICY, POLICY_NAMES } from './policies/index.ts';
import { PurgeGate, purgeMethodSchema, purgeOrderOf, splitTags } from './purge.ts';
import { type PurgeCount, type PurgeOrder, PurgePeers } from './purge-peers.ts';
import { exposedGc, Reclaimer, reclaimThreshold } from './reclaim.ts';
import { cacheRuleSchema, compileRules, decideAdmission } from './rules.ts';
import { CACHE_STORE, type CacheStoreService, type StoreFront } from './service.ts';
import { FILL_LEAD, FILL_WAIT } from './shared/arena.ts';
import type { SharedStoreClient } from './shared/client.ts';
import { toSharedInput } from './shared/input.ts';
import {
  SharedCacheHost,
  type SharedCacheSettings,
  settingsOf,
  sharedClientOf,
  usesSharedStore,
} from './shared/server.ts';
import type { StagedBlock } from './shared/staging.ts';
import { SingleFlight } from './single-flight.ts';
import { CacheStats, type CacheStatsSnapshot, FILES, outcomeOf } from './stats.ts';
import type { PurgeFilter, PurgeResult } from './store.ts';
import { MemoryStore } from './store.ts';
import { loadState, reloadEntries, saveState, type WarmRecord } from './warm-restart.ts';

const MiB = 1024 * 1024;

/** The `[cache]` config table. */
export const cacheOptionsSchema = z.strictObject({
  /** Whether the cache is used at all. @default true */
  enabled: z.boolean().default(true),
  /**
   * Memory budget for the whole server: the shared arena's capacity (every entry's extent: key, head,
   * body and metadata, rounded to 64 bytes); with proxied responses cached or the PURGE method on, split
   * evenly between the workers' own stores instead (headers + bodies + a per-entry overhead estimate).
   * A reload cannot change it while the shared store runs.
   * @default "256MiB"
   */
  max_size: byteSize()
    .refine((n) => n > 0, 'max_size must be larger than 0')
    .default(256 * MiB),
  /**
   * Most entries for the whole server (the shared arena's entry slots; split between workers' own
   * stores). @default one per KiB of `max_size` with the shared store; none (bytes alone bound it) for
   * per-worker stores
   */
  max_entries: z.number().int().positive().optional(),
  /** Eviction policy: "adaptive", "w-tinylfu", "s3fifo", "arc", "lru", "lfu" (Monkey's). @default the measured winner */
  policy: z.enum(POLICY_NAMES).default(DEFAULT_POLICY),
  /** Smallest body stored, in bytes. @default 0 */
  min_object_size: byteSize().default(0),
  /** Largest body stored (Monkey: `MaxFileSize`). @default "8MiB" */
  max_object_size: byteSize().default(8 * MiB),
  /**
   * Store a file only at its Nth miss within a window of recent misses (about the cache's entry count);
   * earlier misses are served without being stored (nginx's `proxy_cache_min_uses`). Under churn this
   * saves the cost of storing what is evicted before it is asked for again; `tamarin sim` replays the
   * policy alone, as with 1. @default 1 (every miss is stored)
   */
  min_uses: z.number().int().min(1).max(255).default(1),
  /**
   * How long an entry may be served (Monkey: `ExpiryTime`). Entries are also dropped as soon as the file
   * changes on disk (see `revalidate_interval`). @default none: until evicted or changed on disk
   */
  ttl: duration()
    .refine((ms) => ms > 0, 'ttl must be longer than 0 (set enabled = false to turn the cache off)')
    .optional(),
  /**
   * Admission rules, first match wins (Monkey: `MimeTypesList` → a `mime = [...]` rule then a catch-all
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
   * `allow` addresses and/or a `token` (purge.ts). Proxied responses are cached per route: `cache = true`
   * in a `[[proxy.routes]]` entry (src/http-cache/options.ts). @default { enabled = false }
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
   * Only for the per-worker stores used when proxied responses are cached or the PURGE method is on (the
   * shared arena keeps bodies off the JS heap and needs no collection): run a full garbage collection
   * once 1/16 of the capacity (4–48 MiB) was evicted or purged, so dropped
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

/** Routing without a proxy plugin: nothing is claimed. */
const NO_PROXY: RouteClaims = { claims: () => false, claimsPathOnSomeHost: () => false };

/** Rejected keys are not captured or collapsed again for this long (a big or excluded file stays so). */
const NEGATIVE_TTL_MS = 5000;
const NEGATIVE_MAX = 10_000;

/** How often a miss waiting for another worker's fill looks for the entry. */
const FILL_POLL_MS = 2;

/**
 * Tables that never shape a stored response (the host's own settings, the admin, the access log): a
 * reload that changes only these keeps the shared store's entries servable.
 */
const UNSTAMPED_TABLES: ReadonlySet<string> = new Set(['server', 'admin', 'access_log']);

/** A hash of what the stored responses depend on in `config` (see `SharedMeta.stamp`). */
function configStamp(config: Readonly<Record<string, unknown>>): number {
  const shaping = Object.keys(config)
    .filter((key) => !UNSTAMPED_TABLES.has(key))
    .sort()
    .map((key) => [key, config[key]]);
  return createHash('sha256').update(JSON.stringify(shaping)).digest().readInt32LE(0);
}

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
  /** Sweep every entry now and resolve with the ban once cleared (its `removed` count). */
  wait: z.boolean().optional(),
});

const soft = z.boolean().optional();
const purgeArgs = z.union([
  z.strictObject({ all: z.literal(true), soft }),
  z.strictObject({ path: z.string().startsWith('/'), host: z.string().optional(), soft }),
  z.strictObject({ prefix: z.string().startsWith('/'), host: z.string().optional(), soft }),
  z.strictObject({ tag: z.string().min(1), soft }),
]);

/** A short plain-text answer that no cache keeps (a refused purge or ban). */
function plainAnswer(res: Response, status: number, text: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(`${text}\n`);
}

/** What a purge that matched nothing answers (a fresh object: callers may keep its `keys`). */
function noneRemoved(): PurgeResult {
  return { removed: 0, bytes: 0, keys: [] };
}

function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/**
 * Whether stored fields describe a body encoded on the fly (src/plugins/compress marks its variants with a
 * weak ETag): warm restart rebuilds entries from the file, which is not that body.
 */
function encodedOnTheFly(fields: ReadonlyArray<readonly [string, string]>): boolean {
  for (const [name, value] of fields) if (name.toLowerCase() === 'etag') return value.startsWith('W/');
  return false;
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
  private readonly responder: HitResponder<ServableEntry>;
  private readonly keyByHost: boolean;
  private readonly negotiate: boolean;
  /** The negotiation the producers use (the `compress` plugin's preference, else the default). */
  private readonly negotiator: Negotiator;
  /** Concurrent misses for one key wait for the first (the store's one single-flight mechanism). */
  private readonly flights: SingleFlight;
  private readonly negative = new Map<string, number>();
  /**
   * Lookups of this cache that found nothing (misses, passes), counted when their answer is done: whether
   * one was a miss, a pass or an error depends on who answered it and with what status.
   */
  private readonly lookups = new WeakSet<Response>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly stateFile: string;
  private closed = false;
  private routeClaims: RouteClaims | null = null;
  /** The cache attached in front of this one (the proxy's RFC 9111 cache); null when none is. */
  private front: StoreFront | null = null;
  /** Who may use the `PURGE` and `BAN` methods; null when they are off. */
  private readonly purgeGate: PurgeGate | null;
  /** `BAN` (which llhttp does not know) is parsed only where this cache answers it: purge method on. */
  readonly methods: readonly string[];
  /** The other workers' caches, told of every `PURGE` and counting with it; null with one worker. */
  private readonly peers: PurgePeers | null = null;
  /** What this cache offers other plugins (`CACHE_STORE`). */
  readonly service: CacheStoreService;
  /** Collects dropped bodies while the cache churns (see reclaim.ts); null without a usable `gc`. */
  readonly reclaimer: Reclaimer | null = null;
  /** The server-wide store in shared memory, when the server runs one; static files then live there. */
  readonly shared: SharedStoreClient | null = null;
  /** The configuration stamp this instance stores shared entries with and serves them for. */
  private readonly stamp: number = 0;
  /** Keys whose cell in the shared fill table this worker holds, with the response that leads the fill. */
  private readonly fills = new Map<string, Response>();
  /** Miss counts for `min_uses` (null when every miss is stored). */
  private readonly admission: MissCounter | null = null;
  /** Misses whose body the static plugin read into this worker's staging area (shared store only). */
  private readonly staged = new WeakMap<Response, StagedBlock | null>();
  /** Lends a miss's body its place in the staging area (see `keepWholeBody`); null without a shared store. */
  private readonly lender: BodyLender | null = null;

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
    const part = sharedClientOf(context.shared, context.workerId);
    if (part !== null) {
      if (usesSharedStore(options)) {
        refuseChangedSettings(part.settings, options);
        this.shared = part.client;
        this.stamp = configStamp(context.config);
      } else if (context.workerId === 0) {
        // This configuration keeps per-worker stores: the shared one's entries must not come back later.
        void part.client.purge({ all: true }).catch(() => {});
      }
    }
    this.store = new MemoryStore({
      maxBytes: Math.max(1, Math.floor(options.max_size / workers)),
      maxEntries:
        options.max_entries === undefined
          ? Number.POSITIVE_INFINITY
          : Math.max(1, Math.floor(options.max_entries / workers)),
      createPolicy: (o) => createPolicy(options.policy, o),
      onRemove: (entry, reason) => {
        this.front?.onRemove(entry);
        this.reclaimer?.dropped(entry.headLength + entry.bodyLength);
        if (reason === 'evicted') this.stats.evictions++;
        else if (reason === 'expired') this.stats.expirations++;
        else if (reason === 'invalidated') this.stats.invalidations++;
        else if (reason === 'purged') this.stats.purged++;
      },
    });
    // The shared store keeps bodies off the JS heap: nothing for a forced collection to reclaim.
    const collect =
      this.shared !== null ? null : gc !== undefined ? gc : options.reclaim ? exposedGc() : null;
    if (collect !== null) this.reclaimer = new Reclaimer(reclaimThreshold(this.store.maxBytes), collect);
    this.rules = compileRules({
      minObjectSize: options.min_object_size,
      maxObjectSize: options.max_object_size,
      ttlMs: options.ttl,
      rules: options.rules,
    });
    const claimed = (req: Request) => this.proxy().claims(req);
    // One hit path over whichever store runs.
    this.responder = new HitResponder<ServableEntry>(
      this.shared ?? this.store,
      this.stats,
      options.revalidate_interval,
      claimed,
      this.shared === null ? undefined : this.stamp,
    );
    if (this.shared !== null) {
      const staging = this.shared.staging;
      this.lender = (res, length) => {
        const block = staging.lend(length, this.clock());
        if (block !== null) {
          this.staged.set(res, block);
          return block;
        }
        // No room in the staging area (commits in flight): this miss is served from scratch memory and
        // not stored, which costs one entry's chance and saves a body on the heap, copied to the owner.
        const scratch = lendScratch(res, length);
        if (scratch !== null) this.staged.set(res, null);
        return scratch;
      };
    }
    if (options.min_uses > 1) {
      const shared = this.shared;
      this.admission =
        shared === null
          ? new MissCounter(new Int32Array(ADMIT_CELLS), new Int32Array(1), () => this.store.count)
          : new MissCounter(shared.arena.admit, shared.arena.admitState, () => shared.count);
    }
    // No "pass" marks: a refused key is remembered by `negative`, which also stops its capture.
    this.flights = new SingleFlight(options.collapse_timeout, 0);
    // Keys carry the host only when the file producer serves different roots per host; without one,
    // representations are negotiated as the static plugin does by default.
    const variants = context.find(FILE_VARIANTS);
    this.keyByHost = variants?.byHost ?? false;
    // With on-the-fly compression every representation depends on Accept-Encoding: a hit of an encoded
    // variant is then as cheap as a plain one (the encoded bytes are the entry), never encoded again.
    const codings = context.find(CONTENT_CODINGS);
    this.negotiate = (variants?.byEncoding ?? true) || codings !== undefined;
    this.negotiator = codings?.negotiator ?? new Negotiator();
    const base = options.state_file ?? join(tmpdir(), 'tamarin', 'cache-state.json');
    this.stateFile = workers > 1 && this.shared === null ? `${base}.${context.workerId}` : base;
    // Worker threads of one server share the process: a channel per process and port links them.
    const port = String((context.config.server as { port?: unknown } | undefined)?.port);
    const channel = (topic: string) => (workers > 1 ? `tamarin:${topic}:${process.pid}:${port}` : null);
    this.purgeGate = options.purge_method.enabled ? new PurgeGate(options.purge_method) : null;
    this.methods = this.purgeGate === null ? [] : ['BAN'];
    // The shared store is one for every worker: a purge or a ban is one operation of its owner, told nobody.
    const purgeChannel = this.purgeGate === null || this.shared !== null ? null : channel('cache-purge');
    if (purgeChannel !== null) this.peers = new PurgePeers(purgeChannel, workers, (o) => this.purgeHere(o));
    this.service = {
      store: this.store,
      shared: this.shared === null ? null : { client: this.shared, stamp: this.stamp },
      stats: this.stats,
      clock,
      maxObjectSize: options.max_object_size,
      collapseTimeoutMs: options.collapse_timeout,
      tagHeaders: options.tag_headers,
      channel,
      attach: (front) => {
        if (this.front !== null) throw new Error('the cache store already has a front attached');
        this.front = front;
        // The front's own entries (proxied responses, bodies included) come back with it; into the shared
        // store once, by worker 0 at start-up (a reload finds them there).
        const warmFront = this.shared === null || (context.workerId === 0 && context.previous === undefined);
        if (options.warm_restart && warmFront && front.loadWarm !== undefined)
          setImmediate(() => this.warmFront(front));
      },
    };
    this.sweeper = setInterval(() => {
      if (this.realClock) this.wallOffset = Date.now() - performance.now();
      // The shared store's owner sweeps it; this worker only forgets its decoded views after a clear.
      if (this.shared !== null) this.shared.forgetIfCleared();
      else this.store.sweep(this.clock());
    }, 1000);
    this.sweeper.unref();
    // One worker reloads a shared store for all; a reload finds it filled already.
    const warm = this.shared === null || (context.workerId === 0 && context.previous === undefined);
    if (options.warm_restart && warm) setImmediate(() => void this.warmUp());
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
      const suffix = this.negotiator.accepted(req.headers.get('accept-encoding')).suffix;
      if (suffix !== '') key += suffix;
    }
    return key;
  }

  onRequest(req: Request, res: Response): boolean | Promise<boolean> {
    const method = req.method;
    const http = this.front;
    if (method !== 'GET' && method !== 'HEAD') {
      if ((method === 'PURGE' || method === 'BAN') && this.purgeGate !== null) {
        this.purge(req, res);
        return true;
      }
      // Proxied routes with `cache` on are the front's (the proxy's RFC 9111 cache), unsafe methods too.
      return http?.handle(req, res) === true;
    }
    // The request's arrival (RFC 9111 §4.2.3 ages from the request time too); a request built without
    // the engine (startTime 0) or an injected clock reads the clock.
    const start = req.startTime;
    const now = start > 0 && this.realClock ? start + this.wallOffset : this.clock();
    // Set before answering: a hit's response is done (and logged) inside the call.
    res.cacheStatus = 'HIT';
    if (http?.tryHit(req, res, now)) return true;
    const key = this.keyOf(req);
    if (this.serve(key, req, res, now)) return true;
    res.cacheStatus = 'MISS';
    if (http?.handle(req, res)) return true;
    this.lookups.add(res);
    if (method !== 'GET' || this.bypassed(key, now)) {
      res.cacheStatus = 'BYPASS';
      return false;
    }
    if (this.admission !== null && this.admission.count(hashKey(key)) < this.options.min_uses) {
      // Not stored before its min_uses-th recent miss: served as if the cache were off.
      this.stats.miss(now);
      return false;
    }
    res.captureBody(this.options.max_object_size);
    // Have the static plugin read a body we may keep into one buffer of its own size (no copy, no garbage).
    keepWholeBody(res, this.options.max_object_size, this.lender);
    // A conditional or range miss neither leads nor waits (its answer may be a 304 or 206, not storable).
    if (hasConditionalOrRange(req.headers)) return false;
    if (!this.flights.lead(key, now, res)) return this.wait(key, req, res);
    if (this.shared !== null && this.flights.leads(key, res)) {
      // Another worker reading this very file: wait for its entry instead of reading it again.
      const claim = this.shared.claimFill(key, now, this.options.collapse_timeout);
      if (claim === FILL_WAIT) {
        this.flights.finish(key, true, now, res);
        return this.waitForWorker(key, req, res, now);
      }
      if (claim === FILL_LEAD) this.fills.set(key, res);
    }
    return false;
  }

  /** A hit from this cache's store (the shared one when the server runs it). */
  private serve(key: string, req: Request, res: Response, now: number): boolean {
    return this.responder.tryServe(key, req, res, now);
  }

  /**
   * Wait (at most `collapse_timeout`) while another worker fills `key`, polling the shared store; answer
   * from the entry it stores, or go to the static plugin when it stored none.
   */
  private waitForWorker(key: string, req: Request, res: Response, start: number): Promise<boolean> {
    this.stats.collapsed++;
    const shared = this.shared!;
    const deadline = start + this.options.collapse_timeout;
    return new Promise<boolean>((resolve) => {
      const poll = () => {
        const now = this.clock();
        // Whether the fill is over is read before looking: an entry stored just before it ended is then
        // found (read after, a fill ending in between sent this request to the disk as well).
        const over = !shared.filling(key);
        if (this.serve(key, req, res, now)) {
          this.lookups.delete(res);
          resolve(true);
          return;
        }
        if (over || now >= deadline) {
          resolve(false);
          return;
        }
        setTimeout(poll, FILL_POLL_MS);
      };
      setTimeout(poll, FILL_POLL_MS);
    });
  }

  /** The flight `res` leads for `key` is over: wake its waiters, free the shared fill cell. */
  private finishFlight(key: string, res: Response): void {
    this.flights.finish(key, true, 0, res);
    if (this.fills.get(key) === res) {
      this.fills.delete(key);
      this.shared?.releaseFill(key);
    }
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
  private wait(key: string, req: Request, res: Response): Promise<boolean> {
    this.stats.collapsed++;
    // Served from the entry the leader stored: a hit. Otherwise (not storable, timeout): a miss.
    return this.flights.wait(key).then(() => {
      const now = this.clock();
      if (this.serve(key, req, res, now)) {
        this.lookups.delete(res);
        return true;
      }
      return false;
    });
  }

  onResponse(req: Request, res: Response): void {
    if (res.cacheStatus === 'HIT') return;
    if (this.lookups.has(res)) this.countLookup(res);
    if (req.method !== 'GET') return;
    const file = res.file;
    let leads = false;
    let key: string | undefined;
    if (this.flights.size !== 0) {
      key = this.keyOf(req);
      leads = this.flights.leads(key, res);
    }
    // A body in the staging area: committed by store_ (the owner copies it), or given back here.
    const block = this.lender === null ? undefined : this.staged.get(res);
    if (block !== undefined) this.staged.delete(res);
    if (file !== null) {
      key ??= this.keyOf(req);
      this.stats.originFetches++;
      let stored: Promise<unknown> | null = null;
      if (block === null) this.stats.rejections['not-admitted']++;
      else if (!this.bypassed(key, this.clock())) stored = this.store_(key, req, res, block);
      if (block != null && !block.sending) block.endCommit();
      if (stored !== null && leads) {
        // The waiters look in the shared store: wake them once the owner has the entry (or refused it).
        const k = key;
        void stored.finally(() => this.finishFlight(k, res));
        return;
      }
    } else {
      block?.endCommit();
      if (res.capturedBody !== null) {
        // A miss answered without a file (an error, a proxied response): not ours to store; stop capturing
        // its body for a while. Hits capture nothing, so they never get here.
        key ??= this.keyOf(req);
        this.remember(key, this.clock());
      }
    }
    if (leads) this.finishFlight(key!, res);
  }

  /**
   * What became of a lookup that found nothing: a file read is a miss (a pass when the key is refused for
   * now or the request is not cacheable, a HEAD), any other answer (a proxied one, an error page) a pass,
   * a 5xx an error. Aborted answers count as they stood.
   */
  private countLookup(res: Response): void {
    const passed = res.file === null || res.cacheStatus === 'BYPASS';
    this.stats.count(FILES + outcomeOf(res.statusCode, passed), this.clock(), res.bodyBytes);
  }

  /** Decide and store a finished producer response; a promise when the shared store's owner stores it. */
  private store_(
    key: string,
    req: Request,
    res: Response,
    block: StagedBlock | undefined,
  ): Promise<unknown> | null {
    const now = this.clock();
    const status = res.statusCode;
    const body = res.capturedBody;
    const path = decodePath(req.path);
    if (status === 200 && (body === null || res.aborted)) {
      const reason = res.bodyBytes > this.options.max_object_size ? 'too-large' : 'incomplete';
      this.stats.rejections[reason]++;
      if (reason === 'too-large') this.remember(key, now);
      return null;
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
      return null;
    }
    const record = {
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
    };
    const checkAt = now + this.options.revalidate_interval;
    // Keyed without the host, this entry would answer every host: flag it when a (host-restricted) route
    // takes its path elsewhere, so that a hit first asks the proxy.
    const routed = !this.keyByHost && this.proxy().claimsPathOnSomeHost(req);
    if (this.shared !== null) {
      const input = toSharedInput(record, checkAt, false, { routed, stamp: this.stamp });
      // A body read into the staging area goes by reference: the owner copies it from there.
      const write =
        block !== undefined && body === block.buffer
          ? this.shared.setStaged(input, block)
          : this.shared.set(input);
      return write.then(
        (stored) => {
          if (stored) this.stats.insertions++;
          else this.stats.rejections['not-admitted']++;
        },
        (error: unknown) => this.context.logger.warn(`shared cache: ${errorMessage(error)}`),
      );
    }
    const entry = new CacheEntry(record);
    entry.checkAt = checkAt;
    entry.routed = routed;
    if (this.store.set(entry)) this.stats.insertions++;
    else this.stats.rejections['not-admitted']++;
    return null;
  }

  /** The proxy plugin's routing, resolved on first use (the proxy is created after the cache). */
  private proxy(): RouteClaims {
    if (this.routeClaims === null) {
      // Looked up on first use, once every plugin exists: declaring it would order the proxy (which
      // needs this cache's store) before the cache.
      this.routeClaims = this.context.find(ROUTE_CLAIMS) ?? NO_PROXY;
    }
    return this.routeClaims;
  }

  private remember(key: string, now: number): void {
    if (this.negative.size >= NEGATIVE_MAX) this.negative.clear();
    this.negative.set(key, now + NEGATIVE_TTL_MS);
  }

  /**
   * `PURGE /url`, `PURGE /prefix*`, or with `X-Purge-Tag` (or `Surrogate-Key`) the entries with those tags;
   * `X-Purge-Soft: 1` (or `Fastly-Soft-Purge: 1`) marks them stale instead (purge.ts decides who may and
   * what it matches; tags and staleness are the front's: src/http-cache/). `BAN` (same gate) adds a ban
   * and sweeps it through every worker's entries.
   */
  private purge(req: Request, res: Response): void {
    const refusal = this.purgeGate!.check(req);
    if (refusal !== null) {
      plainAnswer(res, 403, `403 Forbidden (${refusal})`);
      return;
    }
    const order = req.method === 'BAN' ? this.banOrder(req, res) : purgeOrderOf(req, res);
    if (order === null) return;
    const soft = 'soft' in order && order.soft;
    const local = this.purgeHere(order);
    const answer = ({ removed, bytes, workers }: PurgeCount) => {
      res.statusCode = 200;
      res.setHeader('Content-Type', 'application/json');
      res.setHeader('Cache-Control', 'no-store');
      const count =
        'ban' in order
          ? { banned: removed, workers, ban: order.ban }
          : soft
            ? { stale: removed, workers }
            : { purged: removed, bytes, workers };
      res.end(JSON.stringify(count) + '\n');
    };
    // The answer counts the whole server. Per-worker stores: the other workers start it now, alongside
    // this one's slices (a large purge, a ban's sweep), and the answer waits for every count. The shared
    // store's purge or ban covered every worker at once, in its owner.
    const peers = this.peers;
    const workers = this.shared === null ? 1 : Math.max(1, this.context.workerCount);
    const failed = (error: unknown) => {
      res.statusCode = 503;
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.setHeader('Cache-Control', 'no-store');
      res.end(`503 Service Unavailable (purge: ${errorMessage(error)})\n`);
    };
    if (peers !== null) void peers.spread(order, local).then(answer, failed);
    else if (local instanceof Promise) void local.then((done) => answer({ ...done, workers }), failed);
    else answer({ ...local, workers });
  }

  /**
   * The ban a `BAN` request asks for (`X-Ban: <Varnish ban() expression>`, or the admin API's parameters
   * in the target's query); null when it was answered (400 naming what is wrong, 405 without a cached
   * proxy route: bans are over proxied responses).
   */
  private banOrder(req: Request, res: Response): PurgeOrder | null {
    if (this.front?.banAndSweep === undefined) {
      res.setHeader('Allow', 'GET, HEAD, PURGE');
      plainAnswer(res, 405, '405 Method Not Allowed (BAN: no proxy route is cached)');
      return null;
    }
    const expression = req.headers.getJoined('x-ban');
    const query = req.target.indexOf('?');
    const spec =
      expression !== undefined
        ? banFromExpression(expression)
        : query === -1
          ? 'BAN needs an expression: X-Ban: req.url ~ ^/path/ (or ?url=&host=&field=&value=)'
          : banFromQuery(new URLSearchParams(req.target.slice(query + 1)));
    if (typeof spec === 'string') {
      plainAnswer(res, 400, `400 Bad Request (ban: ${spec})`);
      return null;
    }
    return { ban: spec };
  }

  /**
   * One purge in this worker's store. Tags and soft purges concern the front's entries only (proxied
   * responses carry tags and can be revalidated; a static file's entry cannot): without a front, nothing.
   */
  private purgeHere(order: PurgeOrder): PurgeResult | Promise<PurgeResult> {
    const shared = this.shared;
    if ('ban' in order) {
      const front = this.front;
      if (front?.banAndSweep === undefined) return noneRemoved();
      this.negative.clear();
      if (shared === null)
        return front.banAndSweep(order.ban).then(({ removed }) => ({ removed, bytes: 0, keys: [] }));
      return this.banShared(front, order.ban, true).then(({ removed }) => ({ removed, bytes: 0, keys: [] }));
    }
    if (shared !== null) {
      // One operation of the shared store's owner, for every worker.
      const now = this.clock();
      if ('tags' in order) return shared.purgeTags(order.tags, order.soft, now);
      if (order.soft) return shared.markStale(order.filter, now);
      return shared.purge(order.filter);
    }
    if ('tags' in order) return this.front?.purgeByTags?.(order.tags, order.soft) ?? noneRemoved();
    if (order.soft) return this.front?.softPurge?.(order.filter) ?? noneRemoved();
    return this.store.purge(order.filter);
  }

  /**
   * A ban with the shared store: this worker's list takes it, so that a response whose fill was in flight
   * and is stored after the owner's pass is checked lazily; with `apply`, the owner removes every worker's
   * matching entries in one pass, counted in the listed ban. The list never retires a ban there (bans.ts):
   * once it is full, the owner's pass alone applies.
   */
  private banShared(front: StoreFront, spec: BanSpec, apply: boolean): Promise<BanInfo> {
    const error = banSpecError(spec);
    if (error !== null) throw new Error(`ban: ${error}`);
    let info: BanInfo;
    try {
      info = front.ban!(spec);
    } catch {
      info = { id: 0, created: this.clock(), removed: 0, ...spec };
    }
    if (!apply) return Promise.resolve({ ...info });
    return this.shared!.ban(spec, info.created).then(({ removed }) => {
      info.removed += removed;
      return { ...info };
    });
  }

  control(command: string, args: unknown): unknown {
    const now = this.clock();
    switch (command) {
      case 'stats':
        if (this.shared !== null) return this.sharedSnapshot(now);
        return this.stats.snapshot(now, this.store, this.options.policy);
      case 'entries': {
        const parsed = entriesArgs.safeParse(args ?? undefined);
        if (!parsed.success) throw new Error(`cache entries: ${z.prettifyError(parsed.error)}`);
        const { sort, limit, offset } = parsed.data;
        if (this.shared === null) return this.store.list(sort, limit, offset, now);
        // One store for the server: worker 0 lists it, the others add nothing.
        if (this.context.workerId !== 0) return { total: 0, entries: [] };
        return this.shared.list(sort, limit, offset, now);
      }
      case 'purge': {
        const parsed = purgeArgs.safeParse(args);
        if (!parsed.success) {
          throw new Error(
            'cache purge: expected { all: true }, { path: "/..." }, { prefix: "/..." } or { tag: "..." }',
          );
        }
        this.negative.clear();
        const { soft: softly, ...what } = parsed.data;
        const soft = softly === true;
        // One operation on the shared store, made by worker 0; the others only forgot their negatives.
        if (this.shared !== null && this.context.workerId !== 0) return noneRemoved();
        if ('tag' in what) return this.purgeHere({ tags: splitTags(what.tag), soft });
        // Entries are matched on the decoded path: accept "/a%20b.txt" as well as "/a b.txt".
        let filter = what as PurgeFilter;
        if ('path' in filter) filter = { ...filter, path: decodePath(filter.path) };
        else if ('prefix' in filter) filter = { ...filter, prefix: decodePath(filter.prefix) };
        return this.purgeHere({ filter, soft });
      }
      case 'ban': {
        // Bans are over proxied responses (src/http-cache/bans.ts), the front's.
        const front = this.front;
        if (front?.ban === undefined) throw new Error('cache ban: no proxy route is cached');
        this.negative.clear();
        const { wait, ...spec } = banArgs.parse(args);
        if (this.shared !== null && front.ban !== undefined) {
          // Every worker lists it; worker 0 has the owner apply it to every worker's entries at once.
          return this.banShared(front, spec, this.context.workerId === 0);
        }
        if (wait === true && front.banAndSweep !== undefined) return front.banAndSweep(spec);
        return front.ban(spec);
      }
      case 'bans':
        return this.front?.listBans?.() ?? [];
      default:
        throw new Error(`cache: unknown command "${command}" (expected stats, entries, purge, ban or bans)`);
    }
  }

  /**
   * Stats with the shared store: this worker's requests, and the store's occupancy and removals, which are
   * the server's (`shared`: the admin counts them once, not per worker).
   */
  private sharedSnapshot(now: number): CacheStatsSnapshot {
    const shared = this.shared!;
    const snapshot = this.stats.snapshot(now, shared, this.options.policy);
    const totals = shared.counters();
    snapshot.shared = true;
    snapshot.evictions = totals.evictions;
    snapshot.expirations = totals.expirations;
    snapshot.invalidations = totals.invalidations;
    snapshot.purged = totals.purged;
    return snapshot;
  }

  /** Reload the hottest entries of the previous run (background; never throws). */
  private async warmUp(): Promise<void> {
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

  /** The front's entries saved by the previous run, bodies included (proxied: src/http-cache/warm-proxy.ts). */
  private warmFront(front: StoreFront): void {
    if (this.closed) return;
    const file = `${this.stateFile}.proxy`;
    const added = front.loadWarm!(file, (m) => this.context.logger.warn(m));
    this.stats.warmLoaded += added;
    if (added > 0) this.context.logger.info(`warm restart: ${added} proxied responses reloaded from ${file}`);
  }

  private addWarm(record: WarmRecord, body: Buffer): boolean {
    const now = this.clock();
    if (this.shared !== null) {
      if (this.shared.peek(record.key) !== undefined) return false;
      const expiresAt = record.expiresAt ?? Number.POSITIVE_INFINITY;
      if (now >= expiresAt) return false;
      // The raw path the routes would see is not in the record: with any route, ask the proxy on each hit.
      const marks = { routed: !this.keyByHost && this.proxy() !== NO_PROXY, stamp: this.stamp };
      const input = toSharedInput({ ...record, body, expiresAt }, now + this.options.revalidate_interval);
      void this.shared.set({ ...input, ...marks }).catch(() => {});
      return true;
    }
    if (this.store.peek(record.key) !== undefined) return false; // a live request got there first
    const expiresAt = record.expiresAt ?? Number.POSITIVE_INFINITY;
    if (now >= expiresAt) return false;
    const entry = new CacheEntry({ ...record, body, expiresAt });
    entry.checkAt = now + this.options.revalidate_interval;
    // The raw path the routes would see is not in the record: with any route, ask the proxy on each hit.
    if (!this.keyByHost) entry.routed = this.proxy() !== NO_PROXY;
    return this.store.set(entry);
  }

  /** Worker 0 saves the shared store's index (its owner lists it) for warm restart. */
  private async saveShared(): Promise<void> {
    try {
      const rows = await this.shared!.link.hottest(this.shared!.maxEntries);
      const records: WarmRecord[] = [];
      for (const { meta, frequency, storedAt, expiresAt } of rows) {
        if (meta.file === null || encodedOnTheFly(meta.fields)) continue;
        records.push({
          key: meta.key,
          path: meta.path,
          host: meta.host,
          status: meta.status,
          reason: meta.reason,
          fields: meta.fields.map(([n, v]) => [n, v] as [string, string]),
          file: meta.file,
          frequency,
          storedAt,
          expiresAt: Number.isFinite(expiresAt) ? expiresAt : null,
        });
      }
      saveState(this.stateFile, records, this.clock());
    } catch (error) {
      this.context.logger.warn(`warm restart: could not save ${this.stateFile}: ${errorMessage(error)}`);
    }
  }

  close(): void | Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    this.reclaimer?.close();
    this.peers?.close();
    this.flights.clear();
    for (const key of this.fills.keys()) this.shared?.releaseFill(key);
    this.fills.clear();
    if (!this.options.warm_restart) return;
    let front: Promise<void> | undefined;
    // The shared store's proxied entries are saved once, by worker 0, as its index is.
    if (this.front?.saveWarm !== undefined && (this.shared === null || this.context.workerId === 0)) {
      const failed = (error: unknown) =>
        this.context.logger.warn(`warm restart: could not save proxied responses: ${errorMessage(error)}`);
      try {
        front = this.front.saveWarm(`${this.stateFile}.proxy`)?.catch(failed);
      } catch (error) {
        failed(error);
      }
    }
    if (this.shared !== null) {
      if (this.context.workerId !== 0) return;
      return Promise.all([front, this.saveShared()]).then(() => {});
    }
    const records: WarmRecord[] = [];
    for (const { entry, frequency } of this.store.hottest(this.store.count)) {
      const r = entry.record;
      // Only entries whose body is the file itself can be rebuilt from disk.
      if (r.file === null || r.file.size !== entry.bodyLength || encodedOnTheFly(r.fields)) continue;
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
    try {
      saveState(this.stateFile, records, this.clock());
    } catch (error) {
      this.context.logger.warn(`warm restart: could not save ${this.stateFile}: ${(error as Error).message}`);
    }
  }
}

/**
 * The shared arena is sized and its policy chosen at start-up: a reload that changes them is refused
 * (naming the key) rather than silently serving the old ones.
 */
function refuseChangedSettings(made: SharedCacheSettings, options: CacheOptions): void {
  const now = settingsOf(options);
  for (const key of ['max_size', 'max_entries', 'policy'] as const) {
    const field = key === 'max_size' ? 'maxSize' : key === 'max_entries' ? 'maxEntries' : 'policy';
    if (made[field] === now[field]) continue;
    throw new Error(
      `cache.${key} cannot change on reload while the shared store runs ` +
        `(${JSON.stringify(made[field])} → ${JSON.stringify(now[field])}): restart the server to apply it, or change it back`,
    );
  }
}

/** The `cache` plugin definition (`plugins = ["cache", ...]`, configured by `[cache]`). */
export const cachePlugin = definePlugin({
  name: 'cache',
  options: cacheOptionsSchema,
  provides: [CACHE_STORE],
  uses: [FILE_VARIANTS, CONTENT_CODINGS],
  admin: cacheAdmin,
  // One content cache for the whole server, made by the primary before any worker so that it outlives
  // every worker and every reload.
  share: (options, context) =>
    usesSharedStore(options) ? new SharedCacheHost(options, context.workers) : null,
  create(options, context): Plugin {
    if (!options.enabled) {
      return {
        name: 'cache',
        control() {
          throw new Error('the cache is disabled ([cache] enabled = false)');
        },
      };
    }
    const cache = new ContentCache(options, context);
    context.provide(CACHE_STORE, cache.service);
    return cache;
  },
});
