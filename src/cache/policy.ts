/**
 * The seam between the cache store and its eviction policies.
 *
 * A policy decides *which keys stay*; the store keeps the values. Every policy is size-aware (it is given
 * each key's charge in bytes and keeps the total within `maxBytes`, and the count within `maxEntries`) and
 * does O(1) work per operation (amortised; an insert may evict several small keys to make room for a big
 * one, each eviction O(1)). The same policies drive `tamarin sim` and the live cache, so what the
 * simulator measures is what the server does.
 */
import type { POLICIES } from './policies/index.ts';

/** Names accepted by `[cache] policy`: the keys of the policy registry. */
export type PolicyName = keyof typeof POLICIES;

/** What a policy has chosen for itself, for the stats and the dashboard (plain data). */
export interface PolicyState {
  /** The policy the cache runs now: the adaptive policy's current candidate, else the policy itself. */
  running: string;
  /** W-TinyLFU's window, as a share of the capacity (its hill climber's choice), when it runs. */
  window?: number;
  /** Adaptive: the share of requests sampled into the miniature caches. */
  sampleRate?: number;
  /** Adaptive: each candidate's recent hit ratio (0..1) in its miniature cache. */
  estimates?: Record<string, number>;
  /** Adaptive: how many times the cache changed policy. */
  switches?: number;
}

export interface PolicyOptions {
  /** Capacity in bytes (sum of the charges of resident keys). */
  maxBytes: number;
  /** Capacity in keys; `Infinity` for none. */
  maxEntries: number;
  /**
   * Called for every key the policy drops to make room (never for keys removed through `remove`). The
   * store frees the value here. Also called with the inserted key itself when the policy declines to admit
   * it (W-TinyLFU's admission filter, or a key larger than the whole capacity).
   */
  onEvict(key: string): void;
}

export interface EvictionPolicy {
  readonly name: PolicyName;
  /** Sum of the charges of resident keys, in bytes. */
  readonly bytes: number;
  /** Number of resident keys. */
  readonly count: number;
  /** Whether `key` is resident. */
  has(key: string): boolean;
  /** Record a read of a resident key (a hit). No-op for keys that are not resident. */
  hit(key: string): void;
  /**
   * Make a non-resident key resident with the given charge, evicting others as needed (through
   * `onEvict`). Returns `true` if the key is resident afterwards, `false` if it was not admitted.
   * Inserting a key that is already resident updates its charge (and may evict).
   */
  insert(key: string, size: number): boolean;
  /** Forget a key the store removed itself (purge, expiry, invalidation). No `onEvict` call. */
  remove(key: string): void;
  /** Forget every key. No `onEvict` calls. */
  clear(): void;
  /** Resident keys with their access frequency as the policy counts it, hottest first (for warm restart). */
  hottest(limit: number): Array<{ key: string; frequency: number }>;
  /** What the policy currently chose, for policies that choose something (W-TinyLFU, adaptive). */
  state?(): PolicyState;
}

/** Builds a policy; one constructor per name lives in `src/cache/policies/`. */
export type PolicyFactory = (options: PolicyOptions) => EvictionPolicy;
