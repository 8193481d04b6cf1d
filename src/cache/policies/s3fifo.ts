/**
 * S3-FIFO (Yang et al., "FIFO queues are all you need for cache eviction", SOSP 2023): a small FIFO that
 * new keys enter (10% of the capacity), a main FIFO, and a ghost FIFO that remembers only the keys
 * recently evicted from the small queue (as many as main's 90% share of the resident keys). Each resident
 * key has a read counter capped at 3. Eviction from small moves a key read at least twice since it arrived
 * to main and sends the rest to the ghost; eviction from main gives a key with a non-zero counter another
 * lap (decrementing it). A miss whose key is in the ghost goes straight to main. One-hit wonders thus
 * leave after one short stay in small.
 *
 * Size-aware: the queues are bounded in bytes when `maxBytes` is finite (else in entries). An object larger
 * than the small queue's share is still admitted: it enters small like any other key, small overflows its
 * share for a while, and the object leaves (to main if it was read twice, else to the ghost) when it
 * reaches small's old end. This keeps the "prove yourself first" rule for every size instead of letting
 * big objects skip probation. Each eviction is amortised O(1): a key is re-queued in main at most once per
 * counted read, and moved from small to main once.
 */
import type { EvictionPolicy, PolicyOptions } from '../policy.ts';
import { ArenaPolicy, checkSize } from './bounded-policy.ts';
import { SlotArena } from './slots.ts';

const SMALL = 0;
const MAIN = 1;
const LISTS = 2;
const MAX_FREQ = 3;
/** Share of the capacity for the small queue (the paper's 10%). */
const SMALL_SHARE = 0.1;
/** The ghost remembers as many keys as main's share of the resident keys (the paper: "as many as M"). */
const MAIN_SHARE = 1 - SMALL_SHARE;

/**
 * The index value marking a ghost key: below -1, and distinct for the 2^29 most recent ghost entries
 * (the ring never holds that many), kept in the small-integer range so that it is never boxed.
 */
function ghostTag(seq: number): number {
  return -2 - (seq & 0x1fffffff);
}

/** Creates an S3-FIFO policy bounded by `options.maxBytes` and `options.maxEntries`. */
export function createS3Fifo(options: PolicyOptions): EvictionPolicy {
  return new S3FifoPolicy(options);
}

export class S3FifoPolicy extends ArenaPolicy implements EvictionPolicy {
  readonly name = 's3fifo' as const;
  readonly arena = new SlotArena(LISTS);
  /** Weight (bytes, or 1 per key when only the entry count is bounded) held by small and by main. */
  private smallWeight = 0;
  private mainWeight = 0;
  private mainCount = 0;
  private readonly smallLimit: number;
  private readonly byBytes: boolean;
  /**
   * The ghost: a ring of keys in the order they left, to expire the oldest. Membership lives in the arena's
   * index as a negative tag (`ghostTag(seq)`), so a key moving to the ghost costs one map write, not two.
   */
  private ghostRing: Array<string | undefined> = new Array(64);
  private ghostHead = 0;
  private ghostTail = 0;

  constructor(options: PolicyOptions) {
    super(options);
    this.byBytes = Number.isFinite(options.maxBytes);
    this.smallLimit = SMALL_SHARE * (this.byBytes ? options.maxBytes : options.maxEntries);
  }

  /** Its own copy of `ArenaPolicy.has`: one receiver class per call site (see the adaptive policy). */
  override has(key: string): boolean {
    return this.arena.find(key) >= 0;
  }

  /** Returns the key's slot, or -1 if it is not resident (the adaptive policy reads the slot's hash). */
  hit(key: string): number {
    const a = this.arena;
    const slot = a.find(key);
    if (slot < 0) return -1;
    a.hits[slot]!++;
    if (a.freq[slot]! < MAX_FREQ) a.freq[slot]!++;
    return slot;
  }

  insert(key: string, size: number): boolean {
    checkSize(key, size);
    const a = this.arena;
    if (a.find(key) >= 0) this.remove(key);
    if (size > this.maxBytes) {
      this.onEvict(key);
      return false;
    }
    while (this.count > 0 && (this.bytes + size > this.maxBytes || this.count + 1 > this.maxEntries)) {
      this.evict();
    }
    // Tested after evicting, as in the paper: the evictions may have expired this key from the ghost.
    const fromGhost = a.tagOf(key) < -1;
    const slot = a.alloc(key, size);
    const weight = this.byBytes ? size : 1;
    if (fromGhost) {
      a.pushBack(MAIN, slot);
      this.mainWeight += weight;
      this.mainCount++;
    } else {
      a.pushBack(SMALL, slot);
      this.smallWeight += weight;
    }
    this.bytes += size;
    this.count++;
    return true;
  }

  clear(): void {
    this.arena.clear(LISTS);
    this.ghostRing = new Array(64);
    this.ghostHead = 0;
    this.ghostTail = 0;
    this.bytes = 0;
    this.count = 0;
    this.smallWeight = 0;
    this.mainWeight = 0;
    this.mainCount = 0;
  }

  /** By read counter (0..3), main before small, newest first. O(n log n); for warm restart only. */
  hottest(limit: number): Array<{ key: string; frequency: number }> {
    const a = this.arena;
    return a.ranked([MAIN, SMALL], (slot) => a.freq[slot]!, limit);
  }

  /** Evicts exactly one key (the paper's `evict`). */
  private evict(): void {
    if (this.smallWeight >= this.smallLimit || this.mainCount === 0) {
      if (this.evictSmall()) return;
    }
    this.evictMain();
  }

  /** Moves read keys from small to main until one unread key leaves for the ghost; false if none did. */
  private evictSmall(): boolean {
    const a = this.arena;
    for (let slot = a.first(SMALL); slot !== SMALL; slot = a.first(SMALL)) {
      const weight = this.byBytes ? a.size[slot]! : 1;
      a.unlink(slot);
      this.smallWeight -= weight;
      // The paper's `t.freq > 1`: read at least twice while in small (its reference results match this).
      if (a.freq[slot]! > 1) {
        a.freq[slot] = 0;
        a.pushBack(MAIN, slot);
        this.mainWeight += weight;
        this.mainCount++;
        continue;
      }
      this.bytes -= a.size[slot]!;
      this.count--;
      this.onEvict(this.toGhost(slot));
      return true;
    }
    return false;
  }

  /** Gives keys read since their last lap another lap (counter - 1) until one with 0 leaves. */
  private evictMain(): void {
    const a = this.arena;
    for (let slot = a.first(MAIN); slot !== MAIN; slot = a.first(MAIN)) {
      a.unlink(slot);
      if (a.freq[slot]! > 0) {
        a.freq[slot]!--;
        a.pushBack(MAIN, slot);
        continue;
      }
      this.mainWeight -= this.byBytes ? a.size[slot]! : 1;
      this.mainCount--;
      this.bytes -= a.size[slot]!;
      this.count--;
      this.onEvict(a.release(slot));
      return;
    }
  }

  protected unlink(slot: number): void {
    const a = this.arena;
    const weight = this.byBytes ? a.size[slot]! : 1;
    if (a.queue[slot] === SMALL) this.smallWeight -= weight;
    else {
      this.mainWeight -= weight;
      this.mainCount--;
    }
    a.unlink(slot);
    this.bytes -= a.size[slot]!;
    this.count--;
  }

  /**
   * Releases an unlinked slot into the ghost, which keeps about as many keys as main's share of the
   * cache (at least one); returns the key.
   */
  private toGhost(slot: number): string {
    const ring = this.ghostRing;
    if (this.ghostTail - this.ghostHead === ring.length) this.growGhost();
    const seq = this.ghostTail++;
    const key = this.arena.releaseAs(slot, ghostTag(seq));
    this.ghostRing[seq & (this.ghostRing.length - 1)] = key;
    const limit = Math.max(1, Math.ceil(MAIN_SHARE * this.count));
    while (this.ghostTail - this.ghostHead > limit) {
      const old = this.ghostHead++;
      this.arena.moves++;
      const index = old & (this.ghostRing.length - 1);
      const oldKey = this.ghostRing[index]!;
      this.ghostRing[index] = undefined;
      // A key that came back (resident, or pushed to the ghost again) has another value and must stay.
      this.arena.dropTag(oldKey, ghostTag(old));
    }
    return key;
  }

  private growGhost(): void {
    const old = this.ghostRing;
    const ring: Array<string | undefined> = new Array(old.length * 2);
    for (let seq = this.ghostHead; seq < this.ghostTail; seq++)
      ring[seq & (ring.length - 1)] = old[seq & (old.length - 1)];
    this.ghostRing = ring;
  }
}
