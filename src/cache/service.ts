/**
 * What the content cache offers other plugins (`provides: [CACHE_STORE]`): its store, with the stats and
 * settings that go with it, and a place in front of its own hit path. The proxy keeps its RFC 9111 cache
 * in this store (one memory budget, one eviction policy, one set of stats) and attaches that cache here,
 * so that stored proxied responses are answered at the request stage like static ones.
 *
 * The seam another store plugs into is `CacheStore` (store.ts): a consumer sees only that interface.
 */
import type { Request, Response } from '../http/types.ts';
import type { BanInfo, BanSpec } from '../server/bans.ts';
import { type ServiceKey, serviceKey } from '../server/plugin.ts';
import type { CacheEntry } from './entry.ts';
import type { SharedStoreClient } from './shared/client.ts';
import type { CacheStats } from './stats.ts';
import type { MemoryStore, PurgeFilter, PurgeResult } from './store.ts';

/** A producer's own cache answering before the content cache's lookups (the proxy's RFC 9111 cache). */
export interface StoreFront {
  /** The fast path: a fresh stored answer to a GET or HEAD; false to let the content cache look. */
  tryHit(req: Request, res: Response, now: number): boolean;
  /** Requests the front owns besides its fast hits (its routes, unsafe methods); false when not its own. */
  handle(req: Request, res: Response): boolean;
  /** An entry left the store (for whatever reason): keep the front's indexes in step. */
  onRemove(entry: CacheEntry): void;
  /**
   * Purge the front's entries stored with one of `tags` (`soft`: mark them stale, to be revalidated).
   * A front whose entries carry no tags leaves it out (a tag purge then removes nothing). A large purge
   * resolves once its entries are freed or marked (in slices; lookups meanwhile see it already).
   */
  purgeByTags?(tags: readonly string[], soft: boolean): PurgeResult | Promise<PurgeResult>;
  /**
   * Mark the front's entries matching `filter` stale instead of removing them (they can be revalidated).
   * A large one resolves once every entry was checked (in slices; lookups meanwhile see it already).
   */
  softPurge?(filter: PurgeFilter): PurgeResult | Promise<PurgeResult>;
  /** Add a ban over the front's entries (`banSpecError` accepted `spec`); returns the listed ban itself. */
  ban?(spec: BanSpec): BanInfo;
  /** Add a ban and sweep every entry against it: resolves with the ban (its count) once it is cleared. */
  banAndSweep?(spec: BanSpec): Promise<BanInfo>;
  /** The bans pending. */
  listBans?(): BanInfo[];
  /**
   * Warm restart: write the front's entries (bodies included) to `file`; throws (or rejects) on failure.
   * With the shared store, called in worker 0 only, for every worker's entries.
   */
  saveWarm?(file: string): void | Promise<void>;
  /** Warm restart: put back the entries a previous run saved in `file`; how many came back. */
  loadWarm?(file: string, warn: (message: string) => void): number;
}

/** The content cache's store as one worker's plugins share it. */
export interface CacheStoreService {
  /** This worker's own store (synchronous); unused by producers while `shared` runs. */
  readonly store: MemoryStore;
  /**
   * The server's shared store (one for every worker) and the configuration stamp its entries are stored
   * with and served for; null when this worker keeps its own `store` (a server built without the share).
   */
  readonly shared: { readonly client: SharedStoreClient; readonly stamp: number } | null;
  /** Hits, misses, insertions and rejections of everything in the store (the admin's cache stats). */
  readonly stats: CacheStats;
  /** The cache's clock (injectable in tests). */
  readonly clock: () => number;
  /** `[cache] max_object_size`: the largest body the store takes. */
  readonly maxObjectSize: number;
  /** `[cache] collapse_timeout`: the longest a collapsed request waits for the one in flight. */
  readonly collapseTimeoutMs: number;
  /** `[cache] tag_headers`: the response fields (lower-case) that tag an entry for purge by tag. */
  readonly tagHeaders: readonly string[];
  /**
   * Name of a BroadcastChannel the server's worker threads share for `topic` (each worker's store is its
   * own: what one worker removes on purpose, the others must remove too); null with a single worker.
   */
  channel(topic: string): string | null;
  /** Put `front` before the content cache's own lookups (one front per store). */
  attach(front: StoreFront): void;
}

/** The content cache's store service. */
export const CACHE_STORE: ServiceKey<CacheStoreService> = serviceKey<CacheStoreService>('cache-store');
