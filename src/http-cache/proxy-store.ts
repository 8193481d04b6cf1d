/**
 * The HTTP cache's writes (second layer of `ProxyCache`, after hit-path.ts): storing a response a `Fetch`
 * relayed, freshening an entry after a 304 (§4.3.4), and keeping the Vary and request-target indexes in
 * step with the store (its `onRemove` hook). What to store and for how long is decided in storing.ts;
 * this layer puts the result into the shared store and counts what was not stored.
 */

import type { CacheEntry, StoredField } from '../cache/entry.ts';
import type { RejectionReason } from '../cache/stats.ts';
import type { PurgeFilter, PurgeResult } from '../cache/store.ts';
import type { HeaderValue, Request } from '../http/types.ts';
import { type BanInfo, type BanSpec, BanSweeper, banSpecError } from './bans.ts';
import type { ResponseTiming } from './freshness.ts';
import { HitPath, type SoftPurging } from './hit-path.ts';
import { fieldsToHeaders, withMethod } from './messages.ts';
import type { RouteCachePolicy } from './options.ts';
import { ProxyEntry } from './proxy-entry.ts';
import { inSlices, SLICE_ENTRIES } from './slices.ts';
import { countStale, softPurgeMatches } from './soft-purge.ts';
import type { NotStoredReason } from './storability.ts';
import { buildEntry, planStorage, type StoragePlan, storedFields } from './storing.ts';
import { MemoryTagIndex, type TagIndex, tagsOf } from './tags.ts';

const DEFAULT_TAG_FIELDS: ReadonlySet<string> = new Set(['cache-tag', 'surrogate-key']);

/** The store key of a URL: never collides with a static key (those start with `/` or a host name). */
export function baseKey(host: string, target: string): string {
  return 'http://' + host + target;
}

/** Why a response was not stored, as the shared cache stats count it. */
const REJECTION: Record<NotStoredReason, RejectionReason> = {
  method: 'status',
  status: 'status',
  partial: 'status',
  'content-location': 'status',
  'no-store': 'no-store',
  private: 'excluded',
  authorization: 'excluded',
  'set-cookie': 'excluded',
  'cookie-implicit-freshness': 'excluded',
  'vary-star': 'excluded',
  'no-freshness': 'excluded',
};

/** A purge's count before it ran (a fresh object: callers may keep its `keys`). */
function noneMarked(): PurgeResult {
  return { removed: 0, bytes: 0, keys: [] };
}

/** Storing and freshening entries, and the indexes that follow the store. */
export class ProxyStore extends HitPath {
  /** Tag → keys of the entries stored with it (purge by tag). */
  protected readonly tags: TagIndex = new MemoryTagIndex();
  /** Response fields read for tags. */
  protected tagFields: ReadonlySet<string> = DEFAULT_TAG_FIELDS;
  /** Checks every entry against pending bans in the background, then retires them. */
  readonly banSweeper = new BanSweeper<ProxyEntry>(
    this.bans,
    () => this.eachEntry(),
    (entry) => this.removeBanned(entry),
    1000,
    // A worker sees only the shared store's entries it decoded: bans are checked as entries are looked up.
    this.shared === null,
  );
  /** The shared store's answer to the last write (`takeWrite`), so that a flight ends once it is visible. */
  private written: Promise<unknown> | null = null;

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

  /**
   * The shared store's pending write of the last entry stored or freshened (then taken), or null: a
   * collapsed flight ends when it resolves, so that its waiters, in any worker, find the entry.
   */
  takeWrite(): Promise<unknown> | null {
    const written = this.written;
    this.written = null;
    return written;
  }

  /** Put an entry into the store under its (variant) key, keeping the Vary index consistent. */
  private insert(entry: ProxyEntry | null): ProxyEntry | null {
    if (entry === null) {
      this.rejected('no-freshness');
      return null;
    }
    const shared = this.shared;
    if (shared !== null) {
      // One store for every worker: its owner keeps the URL's variants (by group) and tags together.
      entry.banChecked = this.bans.latest;
      entry.tags = tagsOf(entry.record.fields, this.tagFields);
      const count = (stored: boolean): void => {
        if (stored) this.stats.insertions++;
        else this.stats.rejections['not-admitted']++;
      };
      // The owner out of reach (a timeout): not stored, as when it has no room.
      this.written = shared.store(entry).then(count, () => count(false));
      return entry;
    }
    if (!this.store.set(entry)) {
      this.stats.rejections['not-admitted']++;
      return null;
    }
    this.stats.insertions++;
    entry.storedSeq = ++this.storedSeq;
    // Bans already pending are about responses stored before them.
    entry.banChecked = this.bans.latest;
    this.link(entry);
    const tags = tagsOf(entry.record.fields, this.tagFields);
    if (tags !== null) {
      entry.tags = tags;
      this.tags.add(entry.record.key, tags);
    }
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
      this.remove(entry.record.key, 'invalidated');
      return null;
    }
    plan.vary = entry.vary;
    const { status, reason } = entry.record;
    const body = entry.readBody();
    // A shared entry that left the store meanwhile: nothing to freshen, the client gets the one it had.
    if (body === null) return null;
    return this.insert(buildEntry(req, status, reason, merged, body, plan, policy, this.name, this.clock()));
  }

  /** Keep the Vary and target indexes in sync with the store (its onRemove hook). */
  onRemove(entry: CacheEntry): void {
    if (!(entry instanceof ProxyEntry)) return;
    if (entry.vary !== null) this.vary.remove(entry.base, entry.record.key);
    if (entry.tags !== null) this.tags.remove(entry.record.key, entry.tags);
    this.unlink(entry);
  }

  /** Stored proxied entries, for warm restart (warm-proxy.ts). */
  entriesToSave(): ProxyEntry[] {
    return this.allEntries();
  }

  /** Put back an entry saved by warm restart; false when a live request already stored that key. */
  restore(entry: ProxyEntry): boolean {
    const key = entry.record.key;
    if (
      this.shared !== null ? this.shared.client.peek(key) !== undefined : this.store.peek(key) !== undefined
    )
      return false;
    return this.insert(entry) !== null;
  }

  /** Add a ban (bans.ts): stored entries matching it are removed when next looked up, or by the sweep. */
  ban(spec: BanSpec): BanInfo {
    const error = banSpecError(spec);
    if (error !== null) throw new Error(`ban: ${error}`);
    const info = this.bans.add(spec, this.clock());
    this.banSweeper.wake();
    return info;
  }

  /**
   * `entry` (found by a lookup) is banned: removed, true. Else marked checked, false. Only called when
   * `entry.banChecked < bans.latest`.
   */
  protected banned(entry: ProxyEntry): boolean {
    if (!this.bans.check(entry)) return false;
    this.remove(entry.record.key, 'purged');
    return true;
  }

  private removeBanned(entry: ProxyEntry): void {
    const key = entry.record.key;
    if (this.shared !== null) {
      if (entry.shared?.valid()) this.remove(key, 'purged');
    } else if (this.store.peek(key) === entry) this.store.delete(key, 'purged');
  }

  /** Every proxied entry in the store (through the target index). */
  private allEntries(): ProxyEntry[] {
    return [...this.eachEntry()];
  }

  /**
   * Every proxied entry, lazily, for walks spread over slices: the index's live iterator (URLs stored
   * meanwhile come after), each URL's chain copied when reached (an entry removed meanwhile does not cut
   * the walk short).
   */
  private *eachEntry(): Generator<ProxyEntry> {
    for (const head of this.byTarget.values()) {
      if (head.sameTarget === null) {
        yield head;
        continue;
      }
      const chain: ProxyEntry[] = [];
      for (let entry: ProxyEntry | null = head; entry !== null; entry = entry.sameTarget) chain.push(entry);
      yield* chain;
    }
  }

  /**
   * Add a ban and sweep every stored entry against it; resolves with the ban once it is cleared (`removed`:
   * the entries it removed, lookups meanwhile included). What the `BAN` method and the admin API answer.
   */
  async banAndSweep(spec: BanSpec): Promise<BanInfo> {
    const info = this.ban(spec);
    await this.banSweeper.sweep();
    return { ...info };
  }

  /**
   * Soft purge (soft-purge.ts): mark the proxied entries `filter` matches stale; O(proxied entries). With
   * more than {@link SLICE_ENTRIES} proxied URLs it takes effect at once (recorded in `softPurging`: a
   * lookup marks an entry it covers before answering) and marks the rest in slices between I/O
   * (slices.ts); resolves with the count once every entry was checked.
   */
  softPurge(filter: PurgeFilter): PurgeResult | Promise<PurgeResult> {
    const result = noneMarked();
    const now = this.clock();
    if (this.byTarget.size <= SLICE_ENTRIES) {
      for (const head of this.byTarget.values()) {
        for (let entry: ProxyEntry | null = head; entry !== null; entry = entry.sameTarget) {
          if (softPurgeMatches(entry, filter)) countStale(entry, now, result);
        }
      }
      return result;
    }
    const purge: SoftPurging = { upTo: this.storedSeq, at: now, tags: null, filter, result };
    // A live iterator: URLs stored meanwhile come after (and are skipped: stored after the purge).
    const heads = this.byTarget.values();
    return this.softInSlices(purge, (deadline) => {
      for (let n = 0; n < SLICE_ENTRIES; n++) {
        if ((n & 63) === 63 && performance.now() >= deadline) return false;
        const next = heads.next();
        if (next.done === true) return true;
        for (let entry: ProxyEntry | null = next.value; entry !== null; entry = entry.sameTarget) {
          if (entry.storedSeq <= purge.upTo && softPurgeMatches(entry, filter))
            countStale(entry, now, result);
        }
      }
      return false;
    });
  }

  /** Soft purge by tag: mark the entries stored with one of `tags` stale (in slices when many). */
  softPurgeTags(tags: readonly string[]): PurgeResult | Promise<PurgeResult> {
    const result = noneMarked();
    const now = this.clock();
    const keys = this.keysTagged(tags);
    const upTo = this.storedSeq;
    const mark = (from: number, deadline: number): number => {
      let i = from;
      const end = Math.min(keys.length, from + SLICE_ENTRIES);
      while (i < end) {
        const entry = this.store.peek(keys[i++] as string);
        if (entry instanceof ProxyEntry && entry.storedSeq <= upTo) countStale(entry, now, result);
        if ((i & 63) === 0 && performance.now() >= deadline) break;
      }
      return i;
    };
    if (keys.length <= SLICE_ENTRIES) {
      mark(0, Number.POSITIVE_INFINITY);
      return result;
    }
    const purge: SoftPurging = { upTo, at: now, tags: new Set(tags), filter: null, result };
    let next = 0;
    return this.softInSlices(purge, (deadline) => {
      next = mark(next, deadline);
      return next >= keys.length;
    });
  }

  /** Run a soft purge's `slice`s with the purge recorded for lookups meanwhile; resolves with its count. */
  private async softInSlices(purge: SoftPurging, slice: (deadline: number) => boolean): Promise<PurgeResult> {
    (this.softPurging ??= []).push(purge);
    await inSlices(slice);
    const left = this.softPurging?.filter((p) => p !== purge) ?? [];
    this.softPurging = left.length === 0 ? null : left;
    return purge.result;
  }

  /** The keys stored with one of `tags` (an entry with two of them twice). */
  private keysTagged(tags: readonly string[]): string[] {
    const keys: string[] = [];
    for (const tag of tags) for (const key of this.tags.keysOf(tag)) keys.push(key);
    return keys;
  }

  /**
   * Remove every entry stored with one of `tags`: O(entries with those tags). A purge of more than
   * {@link SLICE_ENTRIES} entries takes effect at once in O(tags) (the tags are recorded in `purging`:
   * the hit paths no longer serve the entries it covers), then frees them in slices between I/O
   * (slices.ts), so that it does not stall the worker's hits. Resolves (a small purge: returns) with the
   * count once all are freed; an entry a lookup dropped meanwhile is not in the count.
   */
  purgeTags(tags: readonly string[]): PurgeResult | Promise<PurgeResult> {
    const result = noneMarked();
    const keys = this.keysTagged(tags);
    const upTo = this.storedSeq;
    if (keys.length <= SLICE_ENTRIES) {
      this.freePurged(keys, 0, upTo, result, Number.POSITIVE_INFINITY);
      return result;
    }
    const purging = (this.purging ??= new Map());
    for (const tag of tags) purging.set(tag, upTo);
    let next = 0;
    return inSlices((deadline) => {
      next = this.freePurged(keys, next, upTo, result, deadline);
      return next >= keys.length;
    }).then(() => {
      const now = this.purging;
      if (now !== null) {
        // A later purge of the same tag covers more: it is left to that one.
        for (const tag of tags) if (now.get(tag) === upTo) now.delete(tag);
        if (now.size === 0) this.purging = null;
      }
      return result;
    });
  }

  /**
   * Remove the entries under `keys` from `from` on, stored at or before `upTo` (one stored since is a new
   * response: it stays), for one slice; returns where the next slice starts.
   */
  private freePurged(
    keys: readonly string[],
    from: number,
    upTo: number,
    result: PurgeResult,
    deadline: number,
  ): number {
    const end = Math.min(keys.length, from + SLICE_ENTRIES);
    let i = from;
    while (i < end) {
      const key = keys[i++] as string;
      const entry = this.store.peek(key);
      // Absent: a lookup dropped it, or another of the purge's tags already removed it.
      if (!(entry instanceof ProxyEntry) || entry.storedSeq > upTo) continue;
      if (!this.store.delete(key, 'purged')) continue;
      result.removed++;
      result.bytes += entry.charge;
      if (result.keys.length < 1000) result.keys.push(key);
      if ((i & 63) === 0 && performance.now() >= deadline) break;
    }
    return i;
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
}
