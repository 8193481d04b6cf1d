/**
 * The content cache store: one byte-bounded map from key to pre-serialised entry, shared by every producer
 * (static files now, proxied responses later). The store keeps values; an `EvictionPolicy` decides which
 * keys stay (src/cache/policy.ts). Capacity counts every stored byte: head + body + a per-entry overhead
 * estimate (`CacheEntry.charge`), so the process's memory really stays near the configured size.
 *
 * `CacheStore` is the seam: the hot path calls only `get`, synchronously. A second tier (Redis) would sit
 * behind it as a `SecondTier` consulted on a miss and written on `set`, with purges broadcast to every
 * instance; entries cross tiers as `EntryRecord` (plain data), never as pre-built buffers.
 */

import type { CacheEntry, EntryRecord, ServableEntry } from './entry.ts';
import { KeyIndex } from './key-index.ts';
import type { EvictionPolicy, PolicyOptions, PolicyState } from './policy.ts';

/** Why an entry left the store (the stats count each). */
export type RemovalReason = 'evicted' | 'expired' | 'invalidated' | 'purged' | 'replaced';

/** What a purge removes: everything, one path (every host and variant), or every path under a prefix. */
export type PurgeFilter = { all: true } | { path: string; host?: string } | { prefix: string; host?: string };

/** What a purge removed. */
export interface PurgeResult {
  removed: number;
  bytes: number;
  /** Keys removed (at most 1000 listed). */
  keys: string[];
}

/** Sort orders of `list`. */
export type EntrySort = 'hits' | 'size' | 'age';

/** One row of `list`, plain data for the admin API. */
export interface EntryInfo {
  key: string;
  host: string;
  path: string;
  status: number;
  contentType: string | null;
  /** Bytes charged (head + body + overhead). */
  size: number;
  bodySize: number;
  hits: number;
  ageMs: number;
  /** Milliseconds until expiry; `null` for none. */
  expiresInMs: number | null;
  file: string | null;
}

/** A result now (a store in this thread) or later (the shared store's owner, in the primary). */
export type Settled<T> = T | Promise<T>;

/**
 * The store contract: a worker's `MemoryStore` and the shared arena's client (`SharedStoreClient`) both
 * implement it, and pass one contract suite (test-store-contract.ts). Reads are synchronous and local
 * (the hot path); writes are `Settled`: applied at once by a store in this thread, by the shared store's
 * owner for every worker. `E` is the entry it hands out, `I` what a producer gives it to store (a built
 * `CacheEntry`, or the shared store's plain `SharedInput`).
 */
export interface CacheStore<E extends ServableEntry = ServableEntry, I = unknown> {
  /** Bytes charged to resident entries. */
  readonly bytes: number;
  readonly count: number;
  readonly maxBytes: number;
  /** `Infinity` when only bytes bound the store. */
  readonly maxEntries: number;
  /** Hot path: the entry for `key` if present and not expired at `now`; counts a hit for the policy. */
  get(key: string, now: number): E | undefined;
  /** The entry for `key` regardless of expiry, without touching the policy. */
  peek(key: string): E | undefined;
  /** Store (or replace) an entry. `false` when the policy declined it (too large, admission filter). */
  set(input: I): Settled<boolean>;
  delete(key: string, reason: RemovalReason): Settled<boolean>;
  purge(filter: PurgeFilter): Settled<PurgeResult>;
  /**
   * The entries stored with one of `tags` (`EntryRecord.tags`): removed, or with `soft` those without a
   * file that are fresh are made stale at `now` (their `checkAt`) and counted.
   */
  purgeTags(tags: readonly string[], soft: boolean, now: number): Settled<PurgeResult>;
  /** A soft purge: the entries without a file that `filter` matches and are fresh turn stale at `now`. */
  markStale(filter: PurgeFilter, now: number): Settled<PurgeResult>;
  /** Remove every entry of `groups` (`EntryRecord.group`), reason `invalidated`; how many. */
  invalidate(groups: readonly string[]): Settled<number>;
  list(
    sort: EntrySort,
    limit: number,
    offset: number,
    now: number,
  ): Settled<{ total: number; entries: EntryInfo[] }>;
  /** What the eviction policy currently chose (W-TinyLFU's window, the adaptive policy's candidate). */
  policyState?(): PolicyState | undefined;
}

/** A slower, shared tier behind the memory store (not built yet: the shape a Redis tier would fill). */
export interface SecondTier {
  get(key: string): Promise<EntryRecord | undefined>;
  set(record: EntryRecord): Promise<void>;
  delete(key: string): Promise<void>;
  purge(filter: PurgeFilter): Promise<void>;
}

export interface MemoryStoreOptions {
  maxBytes: number;
  /** @default Infinity */
  maxEntries?: number;
  /** Builds the eviction policy (e.g. `(o) => createPolicy('s3fifo', o)`). */
  createPolicy(options: PolicyOptions): EvictionPolicy;
  /** Called after an entry left the store, whatever the reason. */
  onRemove?(entry: CacheEntry, reason: RemovalReason): void;
}

function purgeMatches(entry: CacheEntry, filter: PurgeFilter): boolean {
  if ('all' in filter) return true;
  const record = entry.record;
  if (filter.host !== undefined && filter.host !== record.host) return false;
  if ('path' in filter) return record.path === filter.path;
  return record.path.startsWith(filter.prefix);
}

/** The in-memory tier: a Map for lookups, the policy for residency. */
export class MemoryStore implements CacheStore<CacheEntry, CacheEntry> {
  readonly maxBytes: number;
  readonly maxEntries: number;
  private readonly map = new Map<string, CacheEntry>();
  private readonly policy: EvictionPolicy;
  private readonly onRemove: ((entry: CacheEntry, reason: RemovalReason) => void) | null;
  /** Entries with a finite expiry in the store. */
  private expiring = 0;
  /**
   * Keys of entries with a finite expiry as a binary min-heap on their expiry time (two parallel arrays),
   * so that a sweep costs O(expired · log n) instead of a scan of every entry. A key whose entry left the
   * store stays until it surfaces (it is then skipped: only the key string is kept, never the entry and its
   * body); the heap is rebuilt from the live entries once such leftovers outnumber them.
   */
  private heapKeys: string[] = [];
  private heapTimes: number[] = [];
  /** Tag → keys stored with it; group → keys in it (see `EntryRecord.tags`, `.group`). */
  private readonly tagged = new KeyIndex();
  private readonly groups = new KeyIndex();

  constructor(options: MemoryStoreOptions) {
    this.maxBytes = options.maxBytes;
    this.maxEntries = options.maxEntries ?? Number.POSITIVE_INFINITY;
    this.onRemove = options.onRemove ?? null;
    this.policy = options.createPolicy({
      maxBytes: this.maxBytes,
      maxEntries: this.maxEntries,
      onEvict: (key) => this.dropEvicted(key),
    });
  }

  get bytes(): number {
    return this.policy.bytes;
  }

  get count(): number {
    return this.map.size;
  }

  policyState(): PolicyState | undefined {
    return this.policy.state?.();
  }

  get(key: string, now: number): CacheEntry | undefined {
    const entry = this.map.get(key);
    if (entry === undefined) return undefined;
    if (now >= entry.expiresAt) {
      this.delete(key, 'expired');
      return undefined;
    }
    this.policy.hit(key);
    entry.hits++;
    return entry;
  }

  peek(key: string): CacheEntry | undefined {
    return this.map.get(key);
  }

  set(entry: CacheEntry): boolean {
    const key = entry.record.key;
    if (this.map.has(key)) this.delete(key, 'replaced');
    if (entry.charge > this.maxBytes) return false;
    this.map.set(key, entry);
    const { group, tags } = entry.record;
    if (group !== undefined) this.groups.add(group, key);
    if (tags !== undefined) for (const tag of tags) this.tagged.add(tag, key);
    if (entry.expiresAt !== Number.POSITIVE_INFINITY) {
      this.expiring++;
      this.push(key, entry.expiresAt);
    }
    // The policy may evict others (dropEvicted) or decline this very key (dropEvicted(key) as well).
    const admitted = this.policy.insert(key, entry.charge);
    return admitted && this.map.get(key) === entry;
  }

  delete(key: string, reason: RemovalReason): boolean {
    const entry = this.map.get(key);
    if (entry === undefined) return false;
    this.map.delete(key);
    this.policy.remove(key);
    this.removed(entry, reason);
    return true;
  }

  /** The policy dropped `key` to make room (or declined to admit it). */
  private dropEvicted(key: string): void {
    const entry = this.map.get(key);
    if (entry === undefined) return;
    this.map.delete(key);
    this.removed(entry, 'evicted');
  }

  private removed(entry: CacheEntry, reason: RemovalReason): void {
    if (entry.expiresAt !== Number.POSITIVE_INFINITY) this.expiring--;
    const { key, group, tags } = entry.record;
    if (group !== undefined) this.groups.remove(group, key);
    if (tags !== undefined) for (const tag of tags) this.tagged.remove(tag, key);
    this.onRemove?.(entry, reason);
  }

  purge(filter: PurgeFilter): PurgeResult {
    const result: PurgeResult = { removed: 0, bytes: 0, keys: [] };
    for (const [key, entry] of this.map) {
      if (!purgeMatches(entry, filter)) continue;
      this.delete(key, 'purged');
      result.removed++;
      result.bytes += entry.charge;
      if (result.keys.length < 1000) result.keys.push(key);
    }
    return result;
  }

  purgeTags(tags: readonly string[], soft: boolean, now: number): PurgeResult {
    const result: PurgeResult = { removed: 0, bytes: 0, keys: [] };
    for (const tag of tags) {
      for (const key of this.tagged.keys(tag)) {
        const entry = this.map.get(key);
        if (entry !== undefined) this.purgeOne(entry, soft, now, result);
      }
    }
    return result;
  }

  markStale(filter: PurgeFilter, now: number): PurgeResult {
    const result: PurgeResult = { removed: 0, bytes: 0, keys: [] };
    for (const entry of this.map.values())
      if (purgeMatches(entry, filter)) this.purgeOne(entry, true, now, result);
    return result;
  }

  /** One entry of a purge: removed, or (soft) made stale from `now` when it has no file and is fresh. */
  private purgeOne(entry: CacheEntry, soft: boolean, now: number, result: PurgeResult): void {
    const key = entry.record.key;
    if (soft) {
      if (entry.record.file !== null || entry.checkAt <= now) return;
      entry.checkAt = now;
    } else this.delete(key, 'purged');
    result.removed++;
    result.bytes += entry.charge;
    if (result.keys.length < 1000) result.keys.push(key);
  }

  invalidate(groups: readonly string[]): number {
    let removed = 0;
    for (const group of groups) {
      for (const key of this.groups.keys(group)) if (this.delete(key, 'invalidated')) removed++;
    }
    return removed;
  }

  sweep(now: number): number {
    const times = this.heapTimes;
    let dropped = 0;
    while (times.length > 0 && now >= times[0]!) {
      const key = this.pop();
      const entry = this.map.get(key);
      // Gone already, or replaced by an entry that is still fresh: nothing to do for this leftover.
      if (entry === undefined || now < entry.expiresAt) continue;
      this.delete(key, 'expired');
      dropped++;
    }
    return dropped;
  }

  /** Add an expiring entry to the heap (or rebuild it, entry included, when leftovers dominate). */
  private push(key: string, time: number): void {
    const keys = this.heapKeys;
    const times = this.heapTimes;
    if (keys.length >= 1024 && keys.length > 2 * this.expiring) {
      this.rebuildHeap();
      return;
    }
    let i = keys.length;
    keys.push(key);
    times.push(time);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (times[parent]! <= time) break;
      keys[i] = keys[parent]!;
      times[i] = times[parent]!;
      i = parent;
    }
    keys[i] = key;
    times[i] = time;
  }

  /** Remove and return the key that expires first (the heap is not empty). */
  private pop(): string {
    const keys = this.heapKeys;
    const times = this.heapTimes;
    const top = keys[0]!;
    const lastKey = keys.pop()!;
    const lastTime = times.pop()!;
    if (keys.length > 0) this.siftDown(lastKey, lastTime, 0);
    return top;
  }

  private siftDown(key: string, time: number, from: number): void {
    const keys = this.heapKeys;
    const times = this.heapTimes;
    const n = keys.length;
    let i = from;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && times[child + 1]! < times[child]!) child++;
      if (times[child]! >= time) break;
      keys[i] = keys[child]!;
      times[i] = times[child]!;
      i = child;
    }
    keys[i] = key;
    times[i] = time;
  }

  /** The heap of the live expiring entries only (Floyd's bottom-up build: O(n)). */
  private rebuildHeap(): void {
    const keys: string[] = [];
    const times: number[] = [];
    for (const [key, entry] of this.map) {
      if (entry.expiresAt === Number.POSITIVE_INFINITY) continue;
      keys.push(key);
      times.push(entry.expiresAt);
    }
    this.heapKeys = keys;
    this.heapTimes = times;
    for (let i = (keys.length >> 1) - 1; i >= 0; i--) this.siftDown(keys[i]!, times[i]!, i);
  }

  list(sort: EntrySort, limit: number, offset: number, now: number): { total: number; entries: EntryInfo[] } {
    const all = [...this.map.values()];
    if (sort === 'hits') all.sort((a, b) => b.hits - a.hits);
    else if (sort === 'size') all.sort((a, b) => b.charge - a.charge);
    else all.sort((a, b) => a.record.storedAt - b.record.storedAt);
    const page = all.slice(offset, offset + limit).map((entry): EntryInfo => {
      const record = entry.record;
      const contentType = record.fields.find(([name]) => name.toLowerCase() === 'content-type');
      return {
        key: record.key,
        host: record.host,
        path: record.path,
        status: record.status,
        contentType: contentType ? contentType[1] : null,
        size: entry.charge,
        bodySize: entry.bodyLength,
        hits: entry.hits,
        ageMs: Math.max(0, now - record.storedAt),
        expiresInMs: Number.isFinite(entry.expiresAt) ? Math.max(0, entry.expiresAt - now) : null,
        file: record.file ? record.file.path : null,
      };
    });
    return { total: all.length, entries: page };
  }

  hottest(limit: number): Array<{ entry: CacheEntry; frequency: number }> {
    const result: Array<{ entry: CacheEntry; frequency: number }> = [];
    for (const { key, frequency } of this.policy.hottest(limit)) {
      const entry = this.map.get(key);
      if (entry !== undefined) result.push({ entry, frequency });
    }
    return result;
  }

  clear(): void {
    const entries = [...this.map.values()];
    this.map.clear();
    this.tagged.clear();
    this.groups.clear();
    this.policy.clear();
    this.expiring = 0;
    this.heapKeys = [];
    this.heapTimes = [];
    if (this.onRemove) for (const entry of entries) this.onRemove(entry, 'purged');
  }
}
