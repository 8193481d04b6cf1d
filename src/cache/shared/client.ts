/**
 * A worker's handle on the shared store: lock-free lookups in shared memory, a hit recorded in the
 * worker's ring for the policy, and every write sent to the owner (`OwnerLink`): a direct call when the
 * owner is in this thread, a message to the primary otherwise.
 */

import type { BanSpec } from '../../server/bans.ts';
import type { PolicyState } from '../policy.ts';
import type { CacheStore, EntryInfo, EntrySort, PurgeFilter, PurgeResult, RemovalReason } from '../store.ts';
import { hashKey, SharedArena } from './arena.ts';
import { PIN_MIN, SharedEntry } from './entry.ts';
import {
  D_EXPIRES_AT,
  E_F64,
  F_BYTES,
  F_COUNT,
  F_EVICTIONS,
  F_EXPIRATIONS,
  F_INSERTIONS,
  F_INVALIDATIONS,
  F_MAX_BYTES,
  F_NOT_ADMITTED,
  F_PURGED,
  H_EPOCH,
  H_RUNNING,
  H_SWITCHES,
  RING_SLOTS,
  RUNNING_POLICIES,
} from './layout.ts';
import {
  type PackedInput,
  packInput,
  type SharedInput,
  type SharedMeta,
  type SharedStoreOwner,
} from './owner.ts';
import { type StagedBlock, StagingArea } from './staging.ts';

/** The owner's operations as a worker reaches them. */
export interface OwnerLink {
  set(input: SharedInput): Promise<boolean>;
  delete(key: string, reason: RemovalReason): Promise<boolean>;
  purge(filter: PurgeFilter): Promise<PurgeResult>;
  list(
    sort: EntrySort,
    limit: number,
    offset: number,
    now: number,
  ): Promise<{ total: number; entries: EntryInfo[] }>;
  hottest(
    limit: number,
  ): Promise<Array<{ meta: SharedMeta; frequency: number; storedAt: number; expiresAt: number }>>;
  invalidate(groups: readonly string[]): Promise<number>;
  purgeTags(tags: readonly string[], soft: boolean, now: number): Promise<PurgeResult>;
  markStale(filter: PurgeFilter, now: number): Promise<PurgeResult>;
  ban(spec: BanSpec, before: number): Promise<PurgeResult>;
}

/** The owner in this very thread (a server without worker threads, tests). */
export function directLink(owner: SharedStoreOwner): OwnerLink {
  return {
    set: (input) => Promise.resolve(owner.set(input)),
    delete: (key, reason) => Promise.resolve(owner.delete(key, reason)),
    purge: (filter) => Promise.resolve(owner.purge(filter)),
    list: (sort, limit, offset, now) => Promise.resolve(owner.list(sort, limit, offset, now)),
    hottest: (limit) => Promise.resolve(owner.hottest(limit)),
    invalidate: (groups) => Promise.resolve(owner.invalidate(groups)),
    purgeTags: (tags, soft, now) => Promise.resolve(owner.purgeTags(tags, soft, now)),
    markStale: (filter, now) => Promise.resolve(owner.markStale(filter, now)),
    ban: (spec, before) => Promise.resolve(owner.ban(spec, before)),
  };
}

/**
 * Messages of the owner protocol (worker → primary). They cross the port in batches: an array of
 * requests, answered by one array of `{ id, result }` or `{ id, error }` (see `portLink`).
 */
export type OwnerCall =
  | { op: 'set'; input: PackedInput }
  | { op: 'delete'; key: string; reason: RemovalReason }
  | { op: 'purge'; filter: PurgeFilter }
  | { op: 'list'; sort: EntrySort; limit: number; offset: number; now: number }
  | { op: 'hottest'; limit: number }
  | { op: 'invalidate'; groups: readonly string[] }
  | { op: 'purgeTags'; tags: readonly string[]; soft: boolean; now: number }
  | { op: 'markStale'; filter: PurgeFilter; now: number }
  | { op: 'ban'; spec: BanSpec; before: number };

/** A call with its id, as it crosses the port. */
export type OwnerRequest = OwnerCall & { id: number };

/** The answer to one request. */
export interface OwnerReply {
  id: number;
  result?: unknown;
  error?: string;
}

/** Answer one request on the owner's side. */
export function serveOwnerRequest(owner: SharedStoreOwner, request: OwnerRequest): unknown {
  switch (request.op) {
    case 'set':
      return owner.setPacked(request.input);
    case 'delete':
      return owner.delete(request.key, request.reason);
    case 'purge':
      return owner.purge(request.filter);
    case 'list':
      return owner.list(request.sort, request.limit, request.offset, request.now);
    case 'hottest':
      return owner.hottest(request.limit);
    case 'invalidate':
      return owner.invalidate(request.groups);
    case 'purgeTags':
      return owner.purgeTags(request.tags, request.soft, request.now);
    case 'markStale':
      return owner.markStale(request.filter, request.now);
    case 'ban':
      return owner.ban(request.spec, request.before);
  }
}

/** Answer a batch of requests (one message from a worker), in order; one failing call fails alone. */
export function serveOwnerBatch(owner: SharedStoreOwner, requests: readonly OwnerRequest[]): OwnerReply[] {
  const replies: OwnerReply[] = [];
  for (const request of requests) {
    try {
      replies.push({ id: request.id, result: serveOwnerRequest(owner, request) });
    } catch (error) {
      replies.push({ id: request.id, error: (error as Error).message });
    }
  }
  return replies;
}

/** Minimal port shape (a `MessagePort` of node:worker_threads). */
export interface LinkPort {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (message: OwnerReply[]) => void): void;
  unref?(): void;
}

/**
 * The owner in another thread, over a message port; calls time out after `timeoutMs`.
 *
 * Calls made during one turn of the event loop leave together, as one message, at its end (setImmediate),
 * and come back as one: under churn every miss commits an entry, and a message per commit cost more than
 * the commit (each wakes the primary; on a loaded core that is two context switches per miss). One timer
 * checks the deadlines of all calls instead of one timer per call.
 */
export function portLink(port: LinkPort, timeoutMs = 5000): OwnerLink {
  let nextId = 1;
  const calls = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; op: string; deadline: number }
  >();
  let queue: OwnerRequest[] = [];
  let watchdog: NodeJS.Timeout | null = null;
  const flush = () => {
    const batch = queue;
    queue = [];
    port.postMessage(batch);
  };
  const expire = () => {
    const now = performance.now();
    for (const [id, call] of calls) {
      if (now < call.deadline) continue;
      calls.delete(id);
      call.reject(new Error(`shared cache: the owner did not answer "${call.op}" within ${timeoutMs} ms`));
    }
    if (calls.size === 0 && watchdog !== null) {
      clearInterval(watchdog);
      watchdog = null;
    }
  };
  port.on('message', (replies) => {
    for (const reply of replies) {
      const call = calls.get(reply.id);
      if (call === undefined) continue;
      calls.delete(reply.id);
      if (reply.error !== undefined) call.reject(new Error(reply.error));
      else call.resolve(reply.result);
    }
  });
  port.unref?.();
  const call = <T>(request: OwnerCall): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      const deadline = performance.now() + timeoutMs;
      calls.set(id, { resolve: resolve as (v: unknown) => void, reject, op: request.op, deadline });
      if (watchdog === null) {
        watchdog = setInterval(expire, Math.max(1, Math.min(1000, timeoutMs / 4)));
        watchdog.unref();
      }
      if (queue.push({ ...request, id }) === 1) setImmediate(flush);
    });
  return {
    set: (input) => call({ op: 'set', input: packInput(input) }),
    delete: (key, reason) => call({ op: 'delete', key, reason }),
    purge: (filter) => call({ op: 'purge', filter }),
    list: (sort, limit, offset, now) => call({ op: 'list', sort, limit, offset, now }),
    hottest: (limit) => call({ op: 'hottest', limit }),
    invalidate: (groups) => call({ op: 'invalidate', groups }),
    purgeTags: (tags, soft, now) => call({ op: 'purgeTags', tags, soft, now }),
    markStale: (filter, now) => call({ op: 'markStale', filter, now }),
    ban: (spec, before) => call({ op: 'ban', spec, before }),
  };
}

/**
 * Entries a worker keeps decoded (with its copy of small answers) before it drops them all: a bound on
 * the worker's own memory whatever the cache holds.
 */
const LOCAL_ENTRIES = 4096;
/** And before the copies it may make of them would pass this many bytes. */
const LOCAL_BYTES = 16 * 1024 * 1024;

/** The shared store as one worker uses it: the `CacheStore` seam over the arena and its owner. */
export class SharedStoreClient implements CacheStore<SharedEntry, SharedInput> {
  readonly arena: SharedArena;
  readonly link: OwnerLink;
  readonly worker: number;
  readonly maxBytes: number;
  readonly maxEntries: number;
  /** This worker's decoded entries by slot (valid while the slot's generation matches). */
  private readonly views: Array<SharedEntry | undefined> = [];
  /**
   * Key → decoded entry, so that a hit costs one Map lookup and one generation check, as a local store's
   * hit; dropped whole when it holds more than `LOCAL_ENTRIES` entries (a bound, not a second cache).
   */
  private readonly local = new Map<string, SharedEntry>();
  /** Bytes the entries in `local` may copy into this worker (small answers whole, large ones' heads). */
  private localBytes = 0;
  private readonly ringBase: number;
  private epoch: number;
  /** This worker's staging area: where a miss reads a body the owner then copies (staging.ts). */
  readonly staging: StagingArea;
  /** This thread's incarnation (the owner refuses commits of an earlier one). */
  private readonly incarnation: number;

  constructor(sab: SharedArrayBuffer, worker: number, link: OwnerLink) {
    this.arena = new SharedArena(sab);
    if (worker < 0 || worker >= this.arena.layout.workers) {
      throw new RangeError(
        `shared cache: worker ${worker} out of range (arena made for ${this.arena.layout.workers})`,
      );
    }
    this.link = link;
    this.worker = worker;
    this.maxBytes = this.arena.totals[F_MAX_BYTES]!;
    this.maxEntries = this.arena.entries;
    this.ringBase = worker * (RING_SLOTS + 2);
    this.epoch = Atomics.load(this.arena.header, H_EPOCH);
    const size = this.arena.layout.stagingBytes;
    this.staging = new StagingArea(this.arena.staging.subarray(worker * size, (worker + 1) * size));
    this.incarnation = Atomics.load(this.arena.incarnations, worker);
  }

  get bytes(): number {
    return this.arena.totals[F_BYTES]!;
  }

  get count(): number {
    return this.arena.totals[F_COUNT]!;
  }

  /** What the owner's policy runs now (the adaptive policy's candidate), as the owner last published it. */
  policyState(): PolicyState | undefined {
    const running = Atomics.load(this.arena.header, H_RUNNING);
    if (running === 0) return undefined;
    return {
      running: RUNNING_POLICIES[running - 1] ?? '',
      switches: Atomics.load(this.arena.header, H_SWITCHES),
    };
  }

  /**
   * Hot path: the live entry for `key` at `now`, or undefined. An expired entry is removed (through the
   * owner) and reported missing. Records the hit for the policy.
   */
  get(key: string, now: number): SharedEntry | undefined {
    const known = this.local.get(key);
    if (known !== undefined) {
      if (Atomics.load(this.arena.ent, known.genIndex) === known.gen) {
        if (now >= known.expiresAt) {
          void this.link.delete(key, 'expired').catch(() => {});
          return undefined;
        }
        this.recordHit(known.slot);
        return known;
      }
      this.local.delete(key);
    }
    const entry = this.lookup(key, now);
    if (entry !== undefined) {
      const bytes = entry.bodyLength < PIN_MIN ? entry.headLength + entry.bodyLength : entry.headLength;
      if (this.local.size >= LOCAL_ENTRIES || this.localBytes + bytes > LOCAL_BYTES) {
        this.local.clear();
        this.views.length = 0;
        this.localBytes = 0;
      }
      this.local.set(key, entry);
      this.localBytes += bytes;
    }
    return entry;
  }

  /** The lookup in shared memory (a key this worker has not seen live yet). */
  private lookup(key: string, now: number): SharedEntry | undefined {
    const arena = this.arena;
    const slot = arena.find(key, hashKey(key));
    if (slot < 0) return undefined;
    const gen = arena.liveGen(slot, key);
    if (gen < 0) return undefined;
    let entry = this.views[slot];
    if (entry === undefined || entry.gen !== gen) {
      entry = SharedEntry.read(arena, slot, gen, this.worker) ?? undefined;
      if (entry === undefined) return undefined;
      this.views[slot] = entry;
    }
    if (now >= arena.entF[slot * E_F64 + D_EXPIRES_AT]!) {
      void this.link.delete(key, 'expired').catch(() => {});
      return undefined;
    }
    this.recordHit(slot);
    return entry;
  }

  /** The live entry for `key` regardless of expiry, without recording a hit. */
  peek(key: string): SharedEntry | undefined {
    const arena = this.arena;
    const slot = arena.find(key, hashKey(key));
    if (slot < 0) return undefined;
    const gen = arena.liveGen(slot, key);
    if (gen < 0) return undefined;
    return SharedEntry.read(arena, slot, gen, this.worker) ?? undefined;
  }

  /** Append `slot` to this worker's hit ring; a full ring drops the hit (the policy's view is a sample). */
  private recordHit(slot: number): void {
    const rings = this.arena.rings;
    const base = this.ringBase;
    const head = rings[base]!;
    if (head - Atomics.load(rings, base + 1) >= RING_SLOTS) return;
    rings[base + 2 + (head & (RING_SLOTS - 1))] = slot;
    Atomics.store(rings, base, (head + 1) | 0);
  }

  set(input: SharedInput): Promise<boolean> {
    return this.link.set(input);
  }

  /**
   * Store an entry whose body this worker read into `block` of its staging area: the message carries
   * where it is, the owner copies it. The block's commit hold ends when the owner answered; not when the
   * call fails (the owner may still read it later: the block stays taken rather than be reused under it).
   */
  setStaged(input: SharedInput, block: StagedBlock): Promise<boolean> {
    if (!block.beginCommit()) return Promise.resolve(false);
    input.body = null;
    input.staged = { worker: this.worker, incarnation: this.incarnation, at: block.at, length: block.length };
    return this.link.set(input).then((stored) => {
      block.endCommit();
      return stored;
    });
  }

  delete(key: string, reason: RemovalReason): Promise<boolean> {
    return this.link.delete(key, reason);
  }

  purge(filter: PurgeFilter): Promise<PurgeResult> {
    return this.link.purge(filter);
  }

  purgeTags(tags: readonly string[], soft: boolean, now: number): Promise<PurgeResult> {
    return this.link.purgeTags(tags, soft, now);
  }

  markStale(filter: PurgeFilter, now: number): Promise<PurgeResult> {
    return this.link.markStale(filter, now);
  }

  /** Remove the proxied entries stored up to `before` that the ban matches, every worker's. */
  ban(spec: BanSpec, before: number): Promise<PurgeResult> {
    return this.link.ban(spec, before);
  }

  invalidate(groups: readonly string[]): Promise<number> {
    return this.link.invalidate(groups);
  }

  list(
    sort: EntrySort,
    limit: number,
    offset: number,
    now: number,
  ): Promise<{ total: number; entries: EntryInfo[] }> {
    return this.link.list(sort, limit, offset, now);
  }

  /** Claim the fill of `key` (see `SharedArena.claimFill`). */
  claimFill(key: string, now: number, staleMs: number): number {
    return this.arena.claimFill(hashKey(key), this.worker, now, staleMs);
  }

  /** Whether another worker is filling `key` now. */
  filling(key: string): boolean {
    return this.arena.filling(hashKey(key), this.worker);
  }

  releaseFill(key: string): void {
    this.arena.releaseFill(hashKey(key), this.worker);
  }

  /** Drop decoded views when the owner cleared everything (frees this worker's heap). */
  forgetIfCleared(): void {
    const epoch = Atomics.load(this.arena.header, H_EPOCH);
    if (epoch === this.epoch) return;
    this.epoch = epoch;
    this.views.length = 0;
    this.local.clear();
    this.localBytes = 0;
  }

  /** Whole-server counters the owner keeps. */
  counters(): {
    insertions: number;
    evictions: number;
    expirations: number;
    invalidations: number;
    purged: number;
    notAdmitted: number;
  } {
    const t = this.arena.totals;
    return {
      insertions: t[F_INSERTIONS]!,
      evictions: t[F_EVICTIONS]!,
      expirations: t[F_EXPIRATIONS]!,
      invalidations: t[F_INVALIDATIONS]!,
      purged: t[F_PURGED]!,
      notAdmitted: t[F_NOT_ADMITTED]!,
    };
  }
}
