/**
 * ARC (Megiddo and Modha, "ARC: A Self-Tuning, Low Overhead Replacement Cache", FAST 2003): two resident
 * LRU lists, T1 (keys seen once recently) and T2 (keys seen at least twice), and two ghost lists of keys
 * only, B1 and B2, remembering what left T1 and T2. A miss that finds its key in B1 means T1 was too small:
 * the target size `p` of T1 grows; a miss found in B2 shrinks it. Eviction takes T1's oldest while T1 is
 * over `p`, else T2's oldest, and sends it to the matching ghost list.
 *
 * Size-aware: sizes of lists and the target are measured in bytes when `maxBytes` is finite (else in
 * entries), the entry bound is enforced beside it, and ghost keys keep the size they had so that the
 * ghost lists are bounded in the same unit (T1 + B1 ≤ c, T1 + T2 + B1 + B2 ≤ 2c, the paper's invariants).
 * Ghosts are slots of the same arena parked in lists B1/B2, so a ghost hit costs the one map lookup a miss
 * costs anyway. Every operation is amortised O(1): each key enters and leaves each list at most once per
 * request that moved it there.
 */
import type { EvictionPolicy, PolicyOptions } from '../policy.ts';
import { ArenaPolicy, checkSize } from './bounded-policy.ts';
import { SlotArena } from './slots.ts';

const T1 = 0;
const T2 = 1;
const B1 = 2;
const B2 = 3;
const LISTS = 4;

/** Creates an ARC policy bounded by `options.maxBytes` and `options.maxEntries`. */
export function createArc(options: PolicyOptions): EvictionPolicy {
  return new ArcPolicy(options);
}

export class ArcPolicy extends ArenaPolicy implements EvictionPolicy {
  readonly name = 'arc' as const;
  readonly arena = new SlotArena(LISTS);
  /** Capacity `c` in the unit the lists are measured in (bytes, or entries when only the count is bounded). */
  private readonly capacity: number;
  private readonly byBytes: boolean;
  /** Target weight of T1 (the paper's `p`), 0..c. */
  target = 0;
  /** Weight held by T1, T2, B1, B2. */
  private readonly weights = new Float64Array(LISTS);
  /** Keys in B1 and B2, capped beside the weights so that zero-size keys cannot grow the ghosts forever. */
  private ghosts = 0;

  constructor(options: PolicyOptions) {
    super(options);
    this.byBytes = Number.isFinite(options.maxBytes);
    this.capacity = this.byBytes ? options.maxBytes : options.maxEntries;
  }

  /** Starts from another ARC's target share of T1 (the adaptive policy hands over its miniature's). */
  tuneLike(other: ArcPolicy): void {
    this.target = (other.target / other.capacity) * this.capacity;
  }

  override has(key: string): boolean {
    const slot = this.arena.find(key);
    return slot >= 0 && this.arena.queue[slot]! < B1;
  }

  /** Returns the key's slot, or -1 if it is not resident (the adaptive policy reads the slot's hash). */
  hit(key: string): number {
    const a = this.arena;
    const slot = a.find(key);
    if (slot < 0) return -1;
    const queue = a.queue[slot]!;
    if (queue >= B1) return -1;
    a.hits[slot]!++;
    if (queue === T2 && a.next[slot] === T2) return slot; // already T2's newest
    const weight = this.weight(slot);
    this.weights[queue]! -= weight;
    a.unlink(slot);
    a.pushBack(T2, slot);
    this.weights[T2]! += weight;
    return slot;
  }

  insert(key: string, size: number): boolean {
    checkSize(key, size);
    const a = this.arena;
    let slot = a.find(key);
    if (slot >= 0 && a.queue[slot]! < B1) {
      this.remove(key);
      slot = -1;
    }
    if (size > this.maxBytes) {
      if (slot >= 0) this.dropGhost(slot);
      this.onEvict(key);
      return false;
    }
    const weight = this.byBytes ? size : 1;
    const c = this.capacity;
    const w = this.weights;
    let ghost = -1;
    if (slot >= 0) {
      // A ghost hit: adapt the target toward the list that would have kept the key.
      ghost = a.queue[slot]!;
      if (ghost === B1) this.target = Math.min(c, this.target + Math.max(w[B2]! / w[B1]!, 1) * weight);
      else this.target = Math.max(0, this.target - Math.max(w[B1]! / w[B2]!, 1) * weight);
      this.dropGhost(slot);
    }
    while (this.count > 0 && (this.bytes + size > this.maxBytes || this.count + 1 > this.maxEntries)) {
      this.replace(ghost === B2);
    }
    slot = a.alloc(key, size);
    const list = ghost >= 0 ? T2 : T1;
    a.pushBack(list, slot);
    w[list]! += weight;
    this.bytes += size;
    this.count++;
    this.trimGhosts();
    return true;
  }

  clear(): void {
    this.arena.clear(LISTS);
    this.weights.fill(0);
    this.ghosts = 0;
    this.target = 0;
    this.bytes = 0;
    this.count = 0;
  }

  /** By hits since insertion, T2 before T1, newest first. O(n log n); for warm restart only. */
  hottest(limit: number): Array<{ key: string; frequency: number }> {
    const a = this.arena;
    return a.ranked([T2, T1], (slot) => a.hits[slot]!, limit);
  }

  override remove(key: string): void {
    const slot = this.arena.find(key);
    if (slot < 0) return;
    if (this.arena.queue[slot]! >= B1) this.dropGhost(slot);
    else {
      this.unlink(slot);
      this.arena.release(slot);
    }
  }

  private weight(slot: number): number {
    return this.byBytes ? this.arena.size[slot]! : 1;
  }

  /** The paper's REPLACE: T1's oldest goes to B1 while T1 is over target, else T2's oldest to B2. */
  private replace(ghostInB2: boolean): void {
    const a = this.arena;
    const t1 = this.weights[T1]!;
    const fromT1 =
      a.first(T1) !== T1 && (t1 > this.target || (ghostInB2 && t1 >= this.target) || a.first(T2) === T2);
    const list = fromT1 ? T1 : T2;
    const slot = a.first(list);
    const weight = this.weight(slot);
    this.unlink(slot);
    a.pushBack(list + 2, slot);
    this.weights[list + 2]! += weight;
    this.ghosts++;
    this.onEvict(a.keys[slot]!);
  }

  /** Keeps T1 + B1 ≤ c and T1 + T2 + B1 + B2 ≤ 2c by forgetting the oldest ghosts. */
  private trimGhosts(): void {
    const a = this.arena;
    const w = this.weights;
    const c = this.capacity;
    while (w[T1]! + w[B1]! > c && a.first(B1) !== B1) this.dropGhost(a.first(B1));
    while (w[T1]! + w[T2]! + w[B1]! + w[B2]! > 2 * c || this.ghosts > 2 * this.count + 1) {
      const list = a.first(B2) !== B2 ? B2 : B1;
      if (a.first(list) === list) break;
      this.dropGhost(a.first(list));
    }
  }

  private dropGhost(slot: number): void {
    const a = this.arena;
    this.weights[a.queue[slot]!]! -= this.weight(slot);
    this.ghosts--;
    a.unlink(slot);
    a.release(slot);
  }

  protected unlink(slot: number): void {
    const a = this.arena;
    this.weights[a.queue[slot]!]! -= this.weight(slot);
    a.unlink(slot);
    this.bytes -= a.size[slot]!;
    this.count--;
  }
}
