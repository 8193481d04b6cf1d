/**
 * The one writer of the shared cache. It runs in the primary thread (or, for a server in one thread, in
 * that thread) and owns what only a writer needs: the eviction policy (the same code `tamarin sim`
 * replays, unchanged), the key → slot map, the extent allocator and the metadata of each entry for lists
 * and purges. Workers read the shared buffer without locks and send it their writes (store, delete, purge)
 * as messages; their hits reach the policy through per-worker rings in shared memory, drained before every
 * write and every 10 ms (Caffeine's read buffer, in shared memory).
 *
 * One writer means no lock in shared memory at all: a worker that dies cannot leave one held. What a dead
 * worker can leave behind is pins (socket writes it had in flight): each worker pins in its own row, and
 * `resetWorker` drops a row when its thread is gone.
 */

import type { FileSource } from '../../http/types.ts';
import { type BanSpec, banMatcher } from '../../server/bans.ts';
import type { StoredField } from '../entry.ts';
import { KeyIndex } from '../key-index.ts';
import type { EvictionPolicy, PolicyOptions } from '../policy.ts';
import type { EntryInfo, EntrySort, PurgeFilter, PurgeResult, RemovalReason } from '../store.ts';
import { copyShared, hashKey, SharedArena } from './arena.ts';
import { ExtentAllocator } from './extents.ts';
import {
  D_CHECK_AT,
  D_EXPIRES_AT,
  D_LAST_MODIFIED,
  D_SIZE,
  D_START,
  D_STORED_AT,
  E_BODY_LEN,
  E_DATE_OFFSET,
  E_F64,
  E_GEN,
  E_HASH,
  E_HEAD_LEN,
  E_HITS,
  E_INT32,
  E_KEY_LEN,
  E_META_LEN,
  F_BYTES,
  F_COUNT,
  F_EVICTIONS,
  F_EXPIRATIONS,
  F_INSERTIONS,
  F_INVALIDATIONS,
  F_NOT_ADMITTED,
  F_PINNED_BYTES,
  F_PURGED,
  GRANULE,
  H_EPOCH,
  H_RUNNING,
  H_SWITCHES,
  RING_SLOTS,
  RUNNING_POLICIES,
} from './layout.ts';

/** What a worker hands the owner to store: plain data (structured-clonable), head already serialised. */
export interface SharedInput {
  key: string;
  path: string;
  host: string;
  status: number;
  reason: string;
  fields: StoredField[];
  file: FileSource | null;
  storedAt: number;
  /** `Infinity` for none. */
  expiresAt: number;
  checkAt: number;
  /** Last-Modified in epoch ms, or NaN. */
  lastModifiedMs: number;
  /** Status line + fields + blank line, latin1. */
  head: string;
  /** Offset of the 29 Date bytes in `head`, -1 for none. */
  dateOffset: number;
  /** The body, or null when it waits in the worker's staging area (`staged`). */
  body: Uint8Array | null;
  /** A body the worker read into its staging area: copied from there, never through a message. */
  staged?: StagedBody | undefined;
  /** See `SharedMeta.routed`. @default false */
  routed?: boolean;
  /** See `SharedMeta.stamp`. @default 0 */
  stamp?: number;
  /** See `SharedMeta.group`. */
  group?: string;
  /** See `SharedMeta.tags`. */
  tags?: string[];
  /** See `SharedMeta.extra`. */
  extra?: unknown;
}

/**
 * A store as it crosses the owner's port (`packInput`): strings and numbers, which the structured clone
 * copies flat, with the metadata already as the JSON the extent keeps. Cloning a `SharedInput` (its
 * fields as arrays of pairs, its file as an object) cost as much as the rest of the commit.
 */
export interface PackedInput {
  key: string;
  /** `SharedMeta` as JSON. */
  meta: string;
  head: string;
  dateOffset: number;
  storedAt: number;
  expiresAt: number;
  checkAt: number;
  lastModifiedMs: number;
  body: Uint8Array | null;
  staged?: StagedBody | undefined;
  /** `SharedMeta.group` and `.tags` again, for the owner's indexes (which then parse no metadata). */
  group?: string | undefined;
  tags?: string[] | undefined;
}

/** The packed form of `input` (what `SharedStoreOwner.setPacked` takes). */
export function packInput(input: SharedInput): PackedInput {
  const meta: SharedMeta = {
    key: input.key,
    path: input.path,
    host: input.host,
    status: input.status,
    reason: input.reason,
    fields: input.fields,
    file: input.file,
    routed: input.routed ?? false,
    stamp: input.stamp ?? 0,
  };
  if (input.group !== undefined) meta.group = input.group;
  if (input.tags !== undefined && input.tags.length > 0) meta.tags = input.tags;
  if (input.extra !== undefined) meta.extra = input.extra;
  return {
    key: input.key,
    group: input.group,
    tags: input.tags,
    meta: JSON.stringify(meta),
    head: input.head,
    dateOffset: input.dateOffset,
    storedAt: input.storedAt,
    expiresAt: input.expiresAt,
    checkAt: input.checkAt,
    lastModifiedMs: input.lastModifiedMs,
    body: input.body,
    staged: input.staged,
  };
}

/** Where a worker's staged body is (see layout.ts, `staging`). */
export interface StagedBody {
  worker: number;
  /** The worker thread's incarnation when it staged the body: a dead thread's commit is refused. */
  incarnation: number;
  /** Offset in the worker's staging area. */
  at: number;
  length: number;
}

/** The metadata kept with each entry (JSON in its extent, and on the owner's heap for lists). */
export interface SharedMeta {
  key: string;
  path: string;
  host: string;
  status: number;
  reason: string;
  fields: StoredField[];
  file: FileSource | null;
  /** A proxy route takes this path on some host: a hit first asks routing (as `CacheEntry.routed`). */
  routed: boolean;
  /**
   * The configuration the entry was produced under (a hash the cache plugin makes): an instance of another
   * configuration (after a reload) takes the entry for a miss.
   */
  stamp: number;
  /**
   * Entries removed together (`invalidate`): a proxied URL's variants and its Vary record share the URL's
   * base key. Absent for static files.
   */
  group?: string;
  /** Labels a purge by tag removes (or marks stale) the entry by. */
  tags?: string[];
  /**
   * The producer's own metadata, opaque here (JSON): a proxied response's RFC 9111 timing, directives and
   * Vary selection. An entry without a file keeps in `checkAt` the time it turns stale (a soft purge
   * brings it forward); with a file, `checkAt` is its next comparison with disk.
   */
  extra?: unknown;
}

export interface SharedOwnerOptions {
  createPolicy(options: PolicyOptions): EvictionPolicy;
  /** Called after an entry left, whatever the reason (tests). */
  onRemove?(key: string, reason: RemovalReason): void;
}

const REASON_COUNTER: Record<RemovalReason, number> = {
  evicted: F_EVICTIONS,
  expired: F_EXPIRATIONS,
  invalidated: F_INVALIDATIONS,
  purged: F_PURGED,
  replaced: -1,
};

/** The writer side of the shared store. */
export class SharedStoreOwner {
  readonly arena: SharedArena;
  readonly policy: EvictionPolicy;
  readonly maxBytes: number;
  readonly maxEntries: number;
  private readonly slotOf = new Map<string, number>();
  /** Each live slot's key, and its metadata as stored (JSON), parsed on first use (lists, purges). */
  private readonly keys: Array<string | undefined> = [];
  private readonly metaText: Array<string | undefined> = [];
  private readonly metas: Array<SharedMeta | undefined> = [];
  /** Each live slot's group and tags (see `SharedMeta`), kept apart so that indexing parses nothing. */
  private readonly groupOf: Array<string | undefined> = [];
  private readonly tagsOf: Array<readonly string[] | undefined> = [];
  private readonly freeSlots: Int32Array;
  private freeTop = 0;
  private readonly extents: ExtentAllocator;
  /** Slots whose entry left while a worker still had a write in flight from it. */
  private readonly limbo = new Set<number>();
  private readonly onRemove: ((key: string, reason: RemovalReason) => void) | null;
  private expiring = 0;
  /** The key `set` is inserting into the policy, and whether the policy dropped it meanwhile. */
  private inserting: string | null = null;
  private insertDropped = false;
  /** Tag → keys stored with it (purge by tag in O(entries with the tag)). */
  private readonly tagged = new KeyIndex();
  /** Group → keys in it (see `SharedMeta.group`). */
  private readonly groups = new KeyIndex();
  /** Reason of the removals the policy makes while `set` runs. */
  private readonly timer: NodeJS.Timeout;

  constructor(sab: SharedArrayBuffer, options: SharedOwnerOptions) {
    const arena = new SharedArena(sab);
    this.arena = arena;
    this.maxBytes = arena.layout.maxBytes;
    this.maxEntries = arena.entries;
    this.onRemove = options.onRemove ?? null;
    this.freeSlots = new Int32Array(arena.entries);
    for (let slot = arena.entries - 1; slot >= 0; slot--) this.freeSlots[this.freeTop++] = slot;
    this.extents = new ExtentAllocator(arena.layout.dataBytes / GRANULE);
    this.policy = options.createPolicy({
      maxBytes: this.maxBytes,
      maxEntries: this.maxEntries,
      onEvict: (key) => this.evicted(key),
    });
    // Hits recorded by workers reach the policy, and pinned extents are freed, even while nothing is stored.
    this.timer = setInterval(() => this.maintain(), 10);
    this.timer.unref();
  }

  get bytes(): number {
    return this.policy.bytes;
  }

  get count(): number {
    return this.slotOf.size;
  }

  /** The slot of a live key (owner's view), or -1. */
  slot(key: string): number {
    return this.slotOf.get(key) ?? -1;
  }

  /** Apply recorded hits and free extents whose last write finished. */
  maintain(): void {
    this.drain();
    if (this.limbo.size > 0) this.reapLimbo();
    this.publishPolicy();
  }

  /** What the policy runs now, where every worker's stats can read it. */
  private publishPolicy(): void {
    const state = this.policy.state?.();
    if (state === undefined) return;
    const header = this.arena.header;
    Atomics.store(header, H_RUNNING, RUNNING_POLICIES.indexOf(state.running) + 1);
    Atomics.store(header, H_SWITCHES, state.switches ?? 0);
  }

  /** Store (or replace) an entry. `false` when it is not admitted or there is no room for it now. */
  set(input: SharedInput): boolean {
    return this.setPacked(packInput(input));
  }

  /** `set` of a packed input (as a worker sends it). */
  setPacked(input: PackedInput): boolean {
    this.drain();
    const body = this.bodyOf(input);
    if (body === null) return this.notAdmitted();
    const key = input.key;
    if (this.slotOf.has(key)) this.delete(key, 'replaced');
    const keyLength = Buffer.byteLength(key, 'utf8');
    const metaLength = Buffer.byteLength(input.meta, 'utf8');
    const total = keyLength + input.head.length + body.length + metaLength;
    const granules = Math.ceil(total / GRANULE);
    const size = granules * GRANULE;
    if (size > this.maxBytes) return this.notAdmitted();
    // The policy may take the key and drop it again within the same insert (W-TinyLFU's window passing
    // it on to a filter that refuses it): it is then not stored, as when declined.
    this.inserting = key;
    this.insertDropped = false;
    const admitted = this.policy.insert(key, size);
    this.inserting = null;
    if (!admitted || this.insertDropped) return this.notAdmitted();
    let start = this.extents.alloc(granules);
    if (start < 0 && this.limbo.size > 0) {
      this.reapLimbo();
      start = this.extents.alloc(granules);
    }
    if (start < 0 || this.freeTop === 0) {
      // No contiguous room (extents still pinned by slow clients, or free space in pieces): skip this one.
      this.policy.remove(key);
      return this.notAdmitted();
    }
    const slot = this.freeSlots[--this.freeTop]!;
    const arena = this.arena;
    const e = slot * E_INT32;
    const f = slot * E_F64;
    const ent = arena.ent;
    const entF = arena.entF;
    const gen = ent[e + E_GEN]!; // odd: not live
    const hash = hashKey(key);
    const at = start * GRANULE;
    const data = arena.data;
    data.write(key, at, 'utf8');
    data.write(input.head, at + keyLength, 'latin1');
    copyShared(body, data, at + keyLength + input.head.length);
    data.write(input.meta, at + keyLength + input.head.length + body.length, 'utf8');
    ent[e + E_HASH] = hash;
    ent[e + E_KEY_LEN] = keyLength;
    ent[e + E_HEAD_LEN] = input.head.length;
    ent[e + E_BODY_LEN] = body.length;
    ent[e + E_META_LEN] = metaLength;
    ent[e + E_DATE_OFFSET] = input.dateOffset;
    Atomics.store(ent, e + E_HITS, 0);
    entF[f + D_START] = at;
    entF[f + D_SIZE] = size;
    entF[f + D_STORED_AT] = input.storedAt;
    entF[f + D_EXPIRES_AT] = input.expiresAt;
    entF[f + D_CHECK_AT] = input.checkAt;
    entF[f + D_LAST_MODIFIED] = input.lastModifiedMs;
    // Live from here: the generation turns even, then the index points at it.
    Atomics.store(ent, e + E_GEN, gen + 1);
    arena.indexInsert(slot, hash);
    this.slotOf.set(key, slot);
    this.keys[slot] = key;
    this.metaText[slot] = input.meta;
    if (input.group !== undefined) {
      this.groupOf[slot] = input.group;
      this.groups.add(input.group, key);
    }
    if (input.tags !== undefined && input.tags.length > 0) {
      this.tagsOf[slot] = input.tags;
      for (const tag of input.tags) this.tagged.add(tag, key);
    }
    if (input.expiresAt !== Number.POSITIVE_INFINITY) this.expiring++;
    arena.totals[F_INSERTIONS]!++;
    this.publishTotals();
    return true;
  }

  /**
   * The body of `input`: its own bytes, or a view of the worker's staging area. Null for a staged body
   * that cannot be trusted: outside the area, or sent by a thread that is gone (its area may be a new
   * thread's by now).
   */
  private bodyOf(input: PackedInput): Uint8Array | null {
    if (input.body !== null) return input.body;
    const staged = input.staged;
    if (staged === undefined) return null;
    const { worker, at, length } = staged;
    const size = this.arena.layout.stagingBytes;
    if (!Number.isInteger(worker) || worker < 0 || worker >= this.arena.layout.workers) return null;
    if (!Number.isInteger(at) || !Number.isInteger(length) || at < 0 || length < 0 || at + length > size)
      return null;
    if (Atomics.load(this.arena.incarnations, worker) !== staged.incarnation) return null;
    const from = worker * size + at;
    return this.arena.staging.subarray(from, from + length);
  }

  /** Remove `key`; false when it is not there. */
  delete(key: string, reason: RemovalReason): boolean {
    const slot = this.slotOf.get(key);
    if (slot === undefined) return false;
    this.policy.remove(key);
    this.unpublish(slot, reason);
    return true;
  }

  /** Purge by filter: one operation for the whole server. */
  purge(filter: PurgeFilter): PurgeResult {
    this.drain();
    const result: PurgeResult = { removed: 0, bytes: 0, keys: [] };
    for (const [key, slot] of [...this.slotOf]) {
      if (!purgeMatches(this.metaOf(slot), filter)) continue;
      result.bytes += this.arena.entF[slot * E_F64 + D_SIZE]!;
      this.delete(key, 'purged');
      result.removed++;
      if (result.keys.length < 1000) result.keys.push(key);
    }
    return result;
  }

  /** Remove every entry of the given groups (RFC 9111 §4.4 invalidation of URLs with their variants). */
  invalidate(groups: readonly string[]): number {
    let removed = 0;
    for (const group of groups) {
      for (const key of this.groups.keys(group)) if (this.delete(key, 'invalidated')) removed++;
    }
    return removed;
  }

  /**
   * Purge the entries stored with one of `tags` (`soft`: mark those without a file stale at `now`
   * instead): one operation for the whole server, in O(entries with the tags).
   */
  purgeTags(tags: readonly string[], soft: boolean, now: number): PurgeResult {
    this.drain();
    const result: PurgeResult = { removed: 0, bytes: 0, keys: [] };
    const seen = new Set<string>();
    for (const tag of tags) {
      for (const key of this.tagged.keys(tag)) {
        if (seen.has(key)) continue;
        seen.add(key);
        const slot = this.slotOf.get(key);
        if (slot !== undefined) this.purgeOne(key, slot, soft, now, result);
      }
    }
    return result;
  }

  /**
   * A ban, as one operation for the whole server: remove the proxied entries stored up to `before` whose
   * request-target, host and stored fields it matches (the producer's `extra.proxy.target` names a proxied
   * entry; other entries are not banned).
   */
  ban(spec: BanSpec, before: number): PurgeResult {
    this.drain();
    const matches = banMatcher(spec);
    const entF = this.arena.entF;
    const result: PurgeResult = { removed: 0, bytes: 0, keys: [] };
    for (const [key, slot] of [...this.slotOf]) {
      if (entF[slot * E_F64 + D_STORED_AT]! > before) continue;
      const meta = this.metaOf(slot);
      const target = (meta.extra as { proxy?: { target?: unknown } } | undefined)?.proxy?.target;
      if (typeof target !== 'string' || !matches(target, meta.host, meta.fields)) continue;
      result.bytes += entF[slot * E_F64 + D_SIZE]!;
      this.delete(key, 'purged');
      result.removed++;
      if (result.keys.length < 1000) result.keys.push(key);
    }
    return result;
  }

  /** Mark the entries without a file that `filter` matches stale at `now` (a soft purge). */
  markStale(filter: PurgeFilter, now: number): PurgeResult {
    this.drain();
    const result: PurgeResult = { removed: 0, bytes: 0, keys: [] };
    for (const [key, slot] of this.slotOf) {
      if (purgeMatches(this.metaOf(slot), filter)) this.purgeOne(key, slot, true, now, result);
    }
    return result;
  }

  /** One entry of a purge: removed, or (soft) made stale from `now` when it has no file and is fresh. */
  private purgeOne(key: string, slot: number, soft: boolean, now: number, result: PurgeResult): void {
    const f = slot * E_F64;
    const entF = this.arena.entF;
    const size = entF[f + D_SIZE]!;
    if (soft) {
      if (this.metaOf(slot).file !== null || entF[f + D_CHECK_AT]! <= now) return;
      entF[f + D_CHECK_AT] = now;
    } else this.delete(key, 'purged');
    result.removed++;
    result.bytes += size;
    if (result.keys.length < 1000) result.keys.push(key);
  }

  /** Drop expired entries. */
  sweep(now: number): number {
    if (this.expiring === 0) return 0;
    let dropped = 0;
    const entF = this.arena.entF;
    for (const [key, slot] of [...this.slotOf]) {
      if (now >= entF[slot * E_F64 + D_EXPIRES_AT]!) {
        this.delete(key, 'expired');
        dropped++;
      }
    }
    return dropped;
  }

  /**
   * Entries for the admin API: responses only. A record of status 0 is bookkeeping of a store above (the
   * proxy cache's Vary marker, which says which fields select a URL's variants), not an answer to list.
   */
  list(sort: EntrySort, limit: number, offset: number, now: number): { total: number; entries: EntryInfo[] } {
    this.drain();
    const { ent, entF } = this.arena;
    const rows: EntryInfo[] = [];
    for (const slot of this.slotOf.values()) {
      const meta = this.metaOf(slot);
      if (meta.status === 0) continue;
      const f = slot * E_F64;
      const e = slot * E_INT32;
      const expiresAt = entF[f + D_EXPIRES_AT]!;
      const contentType = meta.fields.find(([name]) => name.toLowerCase() === 'content-type');
      rows.push({
        key: meta.key,
        host: meta.host,
        path: meta.path,
        status: meta.status,
        contentType: contentType ? contentType[1] : null,
        size: entF[f + D_SIZE]!,
        bodySize: ent[e + E_BODY_LEN]!,
        hits: Atomics.load(ent, e + E_HITS),
        ageMs: Math.max(0, now - entF[f + D_STORED_AT]!),
        expiresInMs: Number.isFinite(expiresAt) ? Math.max(0, expiresAt - now) : null,
        file: meta.file ? meta.file.path : null,
      });
    }
    const storedAt = (row: EntryInfo) => now - row.ageMs;
    if (sort === 'hits') rows.sort((a, b) => b.hits - a.hits);
    else if (sort === 'size') rows.sort((a, b) => b.size - a.size);
    else rows.sort((a, b) => storedAt(a) - storedAt(b));
    return { total: rows.length, entries: rows.slice(offset, offset + limit) };
  }

  /** Resident entries, hottest first, with their metadata and times (warm restart). */
  hottest(
    limit: number,
  ): Array<{ meta: SharedMeta; frequency: number; storedAt: number; expiresAt: number }> {
    this.drain();
    const out: Array<{ meta: SharedMeta; frequency: number; storedAt: number; expiresAt: number }> = [];
    const entF = this.arena.entF;
    for (const { key, frequency } of this.policy.hottest(limit)) {
      const slot = this.slotOf.get(key);
      if (slot === undefined) continue;
      const f = slot * E_F64;
      const ent = this.arena.ent;
      // Only entries whose body is the whole file can be rebuilt from disk.
      const meta = this.metaOf(slot);
      if (meta.file !== null && meta.file.size !== ent[slot * E_INT32 + E_BODY_LEN]) continue;
      out.push({ meta, frequency, storedAt: entF[f + D_STORED_AT]!, expiresAt: entF[f + D_EXPIRES_AT]! });
    }
    return out;
  }

  /** Remove everything. */
  clear(): void {
    for (const key of [...this.slotOf.keys()]) this.delete(key, 'purged');
    Atomics.add(this.arena.header, H_EPOCH, 1);
  }

  /**
   * A worker thread is gone (crashed, terminated or restarted): its pins and hit ring are dropped, so the
   * extents its unfinished writes held are freed.
   */
  resetWorker(worker: number): void {
    const arena = this.arena;
    // Commits the dead thread sent and the owner has not read yet are refused from here on.
    Atomics.add(arena.incarnations, worker, 1);
    const entries = arena.entries;
    for (let slot = 0; slot < entries; slot++) Atomics.store(arena.pins, worker * entries + slot, 0);
    const base = worker * (RING_SLOTS + 2);
    Atomics.store(arena.rings, base + 1, Atomics.load(arena.rings, base));
    arena.releaseFills(worker);
    this.reapLimbo();
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** A recount from the entry table (tests: must equal `bytes` and `count`). */
  recount(): { bytes: number; count: number } {
    const { ent, entF } = this.arena;
    let bytes = 0;
    let count = 0;
    for (let slot = 0; slot < this.arena.entries; slot++) {
      const gen = Atomics.load(ent, slot * E_INT32 + E_GEN);
      if (gen % 2 === 0) {
        bytes += entF[slot * E_F64 + D_SIZE]!;
        count++;
      }
    }
    return { bytes, count };
  }

  private notAdmitted(): false {
    this.arena.totals[F_NOT_ADMITTED]!++;
    // Evictions made while the policy considered the key were published mid-insert: publish the end.
    this.publishTotals();
    return false;
  }

  /** The policy dropped `key` (to make room, or declined to admit it). */
  private evicted(key: string): void {
    if (key === this.inserting) this.insertDropped = true;
    const slot = this.slotOf.get(key);
    if (slot === undefined) return; // the key being inserted, declined: never published
    this.unpublish(slot, 'evicted');
  }

  private unpublish(slot: number, reason: RemovalReason): void {
    const arena = this.arena;
    const e = slot * E_INT32;
    const key = this.keys[slot]!;
    // Odd generation first: a reader that found the slot fails its validation from here on.
    Atomics.add(arena.ent, e + E_GEN, 1);
    arena.indexRemove(slot, arena.ent[e + E_HASH]!);
    this.slotOf.delete(key);
    this.keys[slot] = undefined;
    this.metaText[slot] = undefined;
    this.metas[slot] = undefined;
    const group = this.groupOf[slot];
    if (group !== undefined) {
      this.groups.remove(group, key);
      this.groupOf[slot] = undefined;
    }
    const tags = this.tagsOf[slot];
    if (tags !== undefined) {
      for (const tag of tags) this.tagged.remove(tag, key);
      this.tagsOf[slot] = undefined;
    }
    if (arena.entF[slot * E_F64 + D_EXPIRES_AT] !== Number.POSITIVE_INFINITY) this.expiring--;
    const counter = REASON_COUNTER[reason];
    if (counter >= 0) arena.totals[counter]!++;
    if (arena.pinned(slot) === 0) this.freeSlot(slot);
    else {
      this.limbo.add(slot);
      arena.totals[F_PINNED_BYTES]! += arena.entF[slot * E_F64 + D_SIZE]!;
    }
    this.publishTotals();
    this.onRemove?.(key, reason);
  }

  private freeSlot(slot: number): void {
    const f = slot * E_F64;
    const entF = this.arena.entF;
    this.extents.release(entF[f + D_START]! / GRANULE, entF[f + D_SIZE]! / GRANULE);
    this.freeSlots[this.freeTop++] = slot;
  }

  private reapLimbo(): void {
    const arena = this.arena;
    for (const slot of this.limbo) {
      if (arena.pinned(slot) !== 0) continue;
      this.limbo.delete(slot);
      arena.totals[F_PINNED_BYTES]! -= arena.entF[slot * E_F64 + D_SIZE]!;
      this.freeSlot(slot);
    }
  }

  /** The metadata of a live slot, parsed from its JSON on first use. */
  private metaOf(slot: number): SharedMeta {
    let meta = this.metas[slot];
    if (meta === undefined) {
      meta = JSON.parse(this.metaText[slot]!) as SharedMeta;
      this.metas[slot] = meta;
    }
    return meta;
  }

  /** Feed the hits workers recorded since the last drain to the policy. */
  private drain(): void {
    const rings = this.arena.rings;
    const ent = this.arena.ent;
    const workers = this.arena.layout.workers;
    for (let w = 0; w < workers; w++) {
      const base = w * (RING_SLOTS + 2);
      const head = Atomics.load(rings, base);
      let tail = rings[base + 1]!;
      if (head === tail) continue;
      for (; tail !== head; tail = (tail + 1) | 0) {
        const slot = rings[base + 2 + (tail & (RING_SLOTS - 1))]!;
        if (slot < 0 || slot >= this.arena.entries || ent[slot * E_INT32 + E_GEN]! % 2 !== 0) continue;
        const key = this.keys[slot];
        if (key === undefined) continue;
        this.policy.hit(key);
        ent[slot * E_INT32 + E_HITS]!++;
      }
      Atomics.store(rings, base + 1, tail);
    }
  }

  private publishTotals(): void {
    const totals = this.arena.totals;
    totals[F_BYTES] = this.policy.bytes;
    totals[F_COUNT] = this.slotOf.size;
  }
}

function purgeMatches(meta: SharedMeta, filter: PurgeFilter): boolean {
  if ('all' in filter) return true;
  if (filter.host !== undefined && filter.host !== meta.host) return false;
  if ('path' in filter) return meta.path === filter.path;
  return meta.path.startsWith(filter.prefix);
}
