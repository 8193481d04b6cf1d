/**
 * The HTTP cache's fast path: a fresh stored response for a GET/HEAD without request directives,
 * answered with one lookup by request-target and one `sendPrebuilt`. The first layer of `ProxyCache`, read
 * bottom-up: hit-path.ts (this: the fields every layer reads, `tryHit`) ← proxy-store.ts (storing, the
 * target index) ← peer-invalidation.ts (§4.4, other workers) ← proxy-cache.ts (the slow path).
 *
 * One class chain rather than objects calling each other, so a hit reads `this.byTarget` and `this.store`
 * with no extra hop, and every instance has one V8 shape. Nothing here is imported that the one-file
 * version did not already import (the parser split measured imported bindings in hot loops at 7-13%).
 */

import type { SharedStoreClient } from '../cache/shared/client.ts';
import { type CacheStats, HIT, PROXY } from '../cache/stats.ts';
import type { MemoryStore, PurgeFilter, PurgeResult, RemovalReason } from '../cache/store.ts';
import { connectionFor } from '../http/semantics/head.ts';
import type { HeaderList, Request, Response } from '../http/types.ts';
import { BanList } from './bans.ts';
import type { CacheStatusParts } from './cache-status.ts';
import { ProxyEntry } from './proxy-entry.ts';
import { answerFromEntry } from './respond.ts';
import { SharedProxyStore } from './shared-proxy-store.ts';
import { countStale, softPurgeMatches } from './soft-purge.ts';
import { VaryIndex } from './vary.ts';

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

/**
 * A soft purge still marking its entries stale in slices (proxy-store.ts): a lookup that finds an entry
 * it covers (stored at or before `upTo`, and with one of `tags`, else matching `filter`) marks it at
 * once, counted in `result`.
 */
export interface SoftPurging {
  readonly upTo: number;
  /** When the purge was made: the entries it marks are stale from then on. */
  readonly at: number;
  readonly tags: ReadonlySet<string> | null;
  readonly filter: PurgeFilter | null;
  readonly result: PurgeResult;
}

/** Cache-Status of a fresh hit (RFC 9211): the member the pre-built bytes carry. */
const FRESH_HIT: CacheStatusParts = { hit: true };

/** The state every layer of `ProxyCache` shares, and the fast path over it. */
export class HitPath {
  /** Which request fields select the variants of each URL that varies (§4.1). */
  readonly vary = new VaryIndex();
  /** Bans pending over the stored entries (bans.ts). */
  readonly bans = new BanList();
  /**
   * Every stored entry by request-target (entries of other hosts and variants of one URL chained through
   * `sameTarget`): the fast path finds an entry with one lookup of `req.target`, a string the parser just
   * made, instead of building and hashing `http://host/target` per request; the entry's own key (hashed
   * once, when stored) then checks it against the store. Kept in step with the store by `insert` and
   * `onRemove` (proxy-store.ts); a stale link can only cost a hit (the slow path looks again), never serve
   * a removed entry.
   */
  protected readonly byTarget = new Map<string, ProxyEntry>();
  readonly stats: CacheStats;
  /** This cache's name in Cache-Status. */
  readonly name: string;
  readonly clock: () => number;
  protected readonly store: MemoryStore;
  /**
   * Tags of hard purges still freeing their entries in slices (proxy-store.ts), each with the newest
   * `storedSeq` the purge covers: an entry stored with such a tag at or before it is purged already and
   * never served. Null when no such purge runs, so that hits pay one null check.
   */
  protected purging: Map<string, number> | null = null;
  /** Soft purges still marking their entries in slices; null when none runs (hits pay a null check). */
  protected softPurging: SoftPurging[] | null = null;
  /** Sequence number of the newest entry stored (`ProxyEntry.storedSeq`). */
  protected storedSeq = 0;
  /**
   * The server's shared store, when it runs one: entries live there for every worker, and `store`, the
   * target, Vary and tag indexes of this worker stay empty.
   */
  protected readonly shared: SharedProxyStore | null;

  /**
   * @param shared the shared store's client and the configuration stamp to store entries with; null: the
   *   entries live in `store`, this worker's own
   */
  constructor(
    store: MemoryStore,
    stats: CacheStats,
    name: string,
    clock: () => number,
    shared: { readonly client: SharedStoreClient; readonly stamp: number } | null = null,
  ) {
    this.store = store;
    this.stats = stats;
    this.name = name;
    this.clock = clock;
    this.shared = shared === null ? null : new SharedProxyStore(shared.client, shared.stamp, this.bans);
  }

  /** The stored response under `key` (a URL's or a variant's), or null. */
  protected entryOf(key: string, now: number): ProxyEntry | null {
    if (this.shared !== null) return this.shared.entry(key, now) ?? null;
    const found = this.store.get(key, now);
    return found instanceof ProxyEntry ? found : null;
  }

  /** The Vary names the stored responses of `base` vary on, or undefined. */
  protected varyNamesOf(base: string, now: number): readonly string[] | undefined {
    return this.shared !== null ? this.shared.varyNames(base, now) : this.vary.names(base);
  }

  /** Remove `key` from the store (the shared one: for every worker, applied by its owner). */
  protected remove(key: string, reason: RemovalReason): void {
    if (this.shared !== null) void this.shared.delete(key, reason);
    else this.store.delete(key, reason);
  }

  /**
   * Fast path: a fresh stored response for a GET/HEAD without request directives. One lookup by target,
   * one host compare, the store's lookup of the entry's own key (its hash cached), one compare with
   * `freshUntil` (§4.2), the Age slot brought up to date (§5.1), one `sendPrebuilt`. Conditionals and Range
   * (§4.3.2) are answered from the entry as `lookup` answers them (a 304 is pre-built too). False: not
   * answered here (nothing stored, stale, request Cache-Control or Pragma, If-Match, If-Unmodified-Since).
   */
  tryHit(req: Request, res: Response, now: number): boolean {
    // A target that was normalised goes by the slow path, which knows whether its route forwards the
    // normal form (what entries are keyed by) or the raw bytes (normalize_path = false: not cacheable).
    const raw = req.rawTarget;
    if (raw !== undefined && raw !== req.target) return false;
    const entry = this.shared !== null ? this.sharedCandidate(req, now) : this.localCandidate(req, now);
    if (entry === undefined) return false;
    if (now >= entry.freshUntil || entry.directives.noCache) return false;
    // A ban added since it was stored or last checked: the slow path checks (and removes it).
    if (entry.banChecked < this.bans.latest) return false;
    // Selected by a tag purge still in progress: the slow path drops it.
    if (this.purging !== null && this.purgedByTag(entry)) return false;
    // Covered by a soft purge still in progress: marked stale now, and the slow path revalidates it.
    if (this.softPurging !== null && this.softPurgedNow(entry, now)) return false;
    const kind = requestKind(req.headers);
    if (kind === SLOW) return false;
    const isGet = req.method === 'GET';
    if (kind === PLAIN && connectionFor(req) === null) {
      // False: a shared entry left the store meanwhile (nothing was sent): a miss.
      if (!entry.send(res, isGet, now)) return false;
      this.stats.count(PROXY + HIT, now, isGet ? entry.bodyLength : 0);
    } else {
      // 304, 206, 416, or the whole answer with a Connection field: exactly what `lookup` would send.
      answerFromEntry(entry, req, res, now, this.name, FRESH_HIT);
      this.stats.count(PROXY + HIT, now, res.bodyBytes);
    }
    // The entry's own hit count is the store's (counted by its lookup).
    return true;
  }

  /** This worker's entry for the request: one lookup of its target, then the host and the variant. */
  private localCandidate(req: Request, now: number): ProxyEntry | undefined {
    let candidate = this.byTarget.get(req.target);
    if (candidate === undefined) return undefined;
    const host = req.host;
    while (candidate.record.host !== host) {
      const next: ProxyEntry | null = candidate.sameTarget;
      if (next === null) return undefined;
      candidate = next;
    }
    const key = candidate.vary === null ? candidate.record.key : this.variantKey(candidate, req.headers);
    const entry = this.store.get(key, now);
    return entry instanceof ProxyEntry ? entry : undefined;
  }

  /** The shared store's entry for the request: its URL's key (the variant through the URL's marker). */
  private sharedCandidate(req: Request, now: number): ProxyEntry | undefined {
    return this.shared!.select('http://' + req.host + req.target, req.headers, now);
  }

  /** Whether `entry` is selected by a tag purge whose removal is still running in slices. */
  protected purgedByTag(entry: ProxyEntry): boolean {
    const purging = this.purging;
    const tags = entry.tags;
    if (purging === null || tags === null) return false;
    for (const tag of tags) {
      const upTo = purging.get(tag);
      if (upTo !== undefined && entry.storedSeq <= upTo) return true;
    }
    return false;
  }

  /** Mark `entry` stale if a soft purge still in progress covers it; whether it is stale now. */
  protected softPurgedNow(entry: ProxyEntry, now: number): boolean {
    const pending = this.softPurging;
    if (pending === null) return false;
    for (const purge of pending) {
      if (entry.storedSeq > purge.upTo) continue;
      const tags = purge.tags;
      const covered =
        tags !== null
          ? entry.tags?.some((tag) => tags.has(tag)) === true
          : softPurgeMatches(entry, purge.filter!);
      if (covered) countStale(entry, purge.at, purge.result);
    }
    return now >= entry.freshUntil;
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
}
