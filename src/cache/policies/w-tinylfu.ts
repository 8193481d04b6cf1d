/**
 * W-TinyLFU (Einziger, Eytan, Friedman, Manes, "Adaptive Software Cache Management", Middleware 2018), as
 * Caffeine implements it: new keys enter a small LRU window (1% of the capacity at first); keys leaving the
 * window become candidates for the main area, a segmented LRU (probation 20% / protected 80%). A candidate
 * is admitted only if the count-min sketch says it is more popular than main's victim (the probation
 * queue's oldest key). A hill climber resizes the window every sample period from the change in hit ratio,
 * so recency-heavy traffic gets a big window and frequency-heavy traffic a small one.
 *
 * Size-aware the way Caffeine handles weighted entries: the queues are bounded in bytes (in entries when
 * only the count is bounded), and while the cache is over capacity the candidate duels victim after victim,
 * each duel evicting the loser, so a large candidate must out-score as many victims as it displaces.
 * Operations are O(1), amortised: each duel evicts one key, and the window resize moves at most
 * `TRANSFER_LIMIT` keys once per sample period.
 */
import type { EvictionPolicy, PolicyOptions, PolicyState } from '../policy.ts';
import { ArenaPolicy, checkSize } from './bounded-policy.ts';
import { CountMinSketch, hashKey } from './count-min-sketch.ts';
import { SlotArena } from './slots.ts';

const WINDOW = 0;
const PROBATION = 1;
const PROTECTED = 2;
const LISTS = 3;
const NONE = -1;
/** Caffeine's constants. */
const PERCENT_MAIN = 0.99;
const PERCENT_MAIN_PROTECTED = 0.8;
const STEP_PERCENT = 0.0625;
const STEP_DECAY = 0.98;
const RESTART_THRESHOLD = 0.05;
const TRANSFER_LIMIT = 1000;
/**
 * Requests per hill-climbing sample, per cached key. Caffeine uses 10 (its sketch's reset period); on the
 * shared traces, which are only 30-50 times longer than a 10% cache, that leaves the climber 3 or 4 steps
 * and it lost to LRU at 10%; 3 gives it time to converge (docs/cache-policies.md has the numbers).
 */
const SAMPLE_FACTOR = 3;
/** A candidate this popular that loses the duel is still admitted 1 time in 128 (hash-flooding guard). */
const ADMIT_HASHDOS_THRESHOLD = 6;

/** Creates a W-TinyLFU policy bounded by `options.maxBytes` and `options.maxEntries`. */
export function createWTinyLfu(options: PolicyOptions): EvictionPolicy {
  return new WTinyLfuPolicy(options);
}

export class WTinyLfuPolicy extends ArenaPolicy implements EvictionPolicy {
  readonly name = 'w-tinylfu' as const;
  readonly arena = new SlotArena(LISTS);
  readonly sketch: CountMinSketch;
  /** Capacity in the unit the queues are sized in (bytes, or entries when only the count is bounded). */
  private readonly maximum: number;
  private readonly byBytes: boolean;
  windowMaximum: number;
  protectedMaximum: number;
  private windowWeight = 0;
  private protectedWeight = 0;
  private hitsInSample = 0;
  private missesInSample = 0;
  private previousHitRate = 0;
  private stepSize: number;
  private random = 0x2545f491;
  private sketchEntries: number;
  private warm = false;
  /** Requests left before `climb` has anything to do (saves its checks on every request). */
  private untilClimb = 0;

  constructor(options: PolicyOptions) {
    super(options);
    this.byBytes = Number.isFinite(options.maxBytes);
    const max = this.byBytes ? options.maxBytes : options.maxEntries;
    this.maximum = max;
    this.windowMaximum = max - Math.floor(PERCENT_MAIN * max);
    this.protectedMaximum = Math.floor(PERCENT_MAIN_PROTECTED * (max - this.windowMaximum));
    this.stepSize = -STEP_PERCENT * max;
    // Sized by entries: known when counted, else grown as the cache fills (see insert).
    this.sketchEntries = this.byBytes ? Math.min(options.maxEntries, 1024) : max;
    this.sketch = new CountMinSketch(this.sketchEntries);
  }

  /** Byte-bounded caches learn their entry count as they fill: double the sketch when it is passed. */
  private growSketch(): void {
    this.sketchEntries = Math.min(this.maxEntries, this.sketchEntries * 2);
    this.sketch.ensureCapacity(this.sketchEntries);
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
    this.sketch.increment(a.hash[slot]!);
    const queue = a.queue[slot]!;
    if (queue === PROBATION && this.weight(slot) <= this.protectedMaximum) {
      a.unlink(slot);
      a.pushBack(PROTECTED, slot);
      this.protectedWeight += this.weight(slot);
      this.demoteFromProtected();
    } else if (a.next[slot] !== queue) {
      // Already the newest of its queue (common for the hottest keys): nothing to move.
      a.unlink(slot);
      a.pushBack(queue, slot);
    }
    this.hitsInSample++;
    if (--this.untilClimb <= 0) this.climb();
    return slot;
  }

  insert(key: string, size: number): boolean {
    checkSize(key, size);
    const a = this.arena;
    if (a.find(key) >= 0) this.remove(key);
    const hash = hashKey(key);
    this.sketch.increment(hash);
    if (size > this.maxBytes) {
      this.onEvict(key);
      return false;
    }
    const slot = a.alloc(key, size);
    a.hash[slot] = hash;
    a.pushBack(WINDOW, slot);
    this.windowWeight += this.weight(slot);
    this.bytes += size;
    this.count++;
    const candidate = this.evictFromWindow();
    this.evictFromMain(candidate);
    if (this.count > this.sketchEntries) this.growSketch();
    this.missesInSample++;
    if (--this.untilClimb <= 0) this.climb();
    // The candidate may have lost its duel; its slot is not reused within this call.
    return a.keys[slot] === key;
  }

  clear(): void {
    this.arena.clear(LISTS);
    this.sketch.clear();
    this.bytes = 0;
    this.count = 0;
    this.windowWeight = 0;
    this.protectedWeight = 0;
  }

  /** By sketch frequency, then protected, probation, window, newest first. O(n log n); for warm restart. */
  hottest(limit: number): Array<{ key: string; frequency: number }> {
    const a = this.arena;
    return a.ranked([PROTECTED, PROBATION, WINDOW], (slot) => this.sketch.frequency(a.hash[slot]!), limit);
  }

  /** The window's current share of the capacity (the hill climber's choice). */
  state(): PolicyState {
    return { running: 'w-tinylfu', window: this.windowMaximum / this.maximum };
  }

  /**
   * Starts from another W-TinyLFU's tuning: its window share of the capacity and its hill climber's step,
   * scaled to this capacity (the adaptive policy hands over what its miniature learned). Call on an
   * empty policy.
   */
  tuneLike(other: WTinyLfuPolicy): void {
    const scale = this.maximum / other.maximum;
    this.windowMaximum = Math.min(this.maximum, Math.max(1, Math.round(other.windowMaximum * scale)));
    this.protectedMaximum = Math.floor(PERCENT_MAIN_PROTECTED * (this.maximum - this.windowMaximum));
    this.stepSize = other.stepSize * scale;
    this.previousHitRate = other.previousHitRate;
  }

  /** Reads of a resident slot as the sketch remembers them (its insert counts once). */
  readsOf(slot: number): number {
    return Math.max(0, this.sketch.frequency(this.arena.hash[slot]!) - 1);
  }

  private weight(slot: number): number {
    return this.byBytes ? this.arena.size[slot]! : 1;
  }

  private over(): boolean {
    return this.bytes > this.maxBytes || this.count > this.maxEntries;
  }

  /** Moves keys from the window's old end to probation until the window fits; returns the first moved. */
  private evictFromWindow(): number {
    const a = this.arena;
    let first = NONE;
    let slot = a.first(WINDOW);
    while (this.windowWeight > this.windowMaximum && slot !== WINDOW) {
      const next = a.next[slot]!;
      a.unlink(slot);
      a.pushBack(PROBATION, slot);
      this.windowWeight -= this.weight(slot);
      if (first === NONE) first = slot;
      slot = next;
    }
    return first;
  }

  /**
   * Caffeine's `evictFromMain`: while over capacity, the next candidate (moved from the window, else the
   * window's oldest) duels the next victim (probation's oldest, else protected's, else the window's); the
   * loser is evicted.
   */
  private evictFromMain(first: number): void {
    const a = this.arena;
    let candidate = first;
    let candidateQueue = PROBATION;
    let victimQueue = PROBATION;
    let victim = a.first(PROBATION);
    if (victim === PROBATION) victim = NONE;
    while (this.over()) {
      if (candidate === NONE && candidateQueue === PROBATION) {
        candidateQueue = WINDOW;
        candidate = a.first(WINDOW);
        if (candidate === WINDOW) candidate = NONE;
      }
      if (candidate === NONE && victim === NONE) {
        if (victimQueue === PROBATION) {
          victimQueue = PROTECTED;
          victim = this.firstOf(PROTECTED);
          continue;
        }
        if (victimQueue === PROTECTED) {
          victimQueue = WINDOW;
          victim = this.firstOf(WINDOW);
          continue;
        }
        break;
      }
      if (victim === NONE) {
        const next = this.nextOf(candidate);
        this.evict(candidate);
        candidate = next;
        continue;
      }
      if (candidate === NONE) {
        const next = this.nextOf(victim);
        this.evict(victim);
        victim = next;
        continue;
      }
      if (candidate === victim) {
        victim = this.nextOf(victim);
        this.evict(candidate);
        candidate = NONE;
        continue;
      }
      if (this.admit(a.hash[candidate]!, a.hash[victim]!)) {
        const next = this.nextOf(victim);
        this.evict(victim);
        victim = next;
        candidate = this.nextOf(candidate);
      } else {
        const next = this.nextOf(candidate);
        this.evict(candidate);
        candidate = next;
      }
    }
  }

  /** TinyLFU's admission test, with Caffeine's guard against an attacker flooding one hash. */
  private admit(candidateHash: number, victimHash: number): boolean {
    const victimFreq = this.sketch.frequency(victimHash);
    const candidateFreq = this.sketch.frequency(candidateHash);
    if (candidateFreq > victimFreq) return true;
    if (candidateFreq < ADMIT_HASHDOS_THRESHOLD) return false;
    // xorshift32: cheap, allocation-free randomness.
    let x = this.random;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.random = x;
    return (x & 127) === 0;
  }

  private firstOf(list: number): number {
    const slot = this.arena.first(list);
    return slot === list ? NONE : slot;
  }

  private nextOf(slot: number): number {
    const next = this.arena.next[slot]!;
    return next < LISTS ? NONE : next;
  }

  private evict(slot: number): void {
    this.unlink(slot);
    this.onEvict(this.arena.release(slot));
  }

  protected unlink(slot: number): void {
    const a = this.arena;
    const queue = a.queue[slot];
    if (queue === WINDOW) this.windowWeight -= this.weight(slot);
    else if (queue === PROTECTED) this.protectedWeight -= this.weight(slot);
    a.unlink(slot);
    this.bytes -= a.size[slot]!;
    this.count--;
  }

  /** Moves protected's oldest keys back to probation while protected is over its share. */
  private demoteFromProtected(): void {
    const a = this.arena;
    while (this.protectedWeight > this.protectedMaximum) {
      const slot = a.first(PROTECTED);
      if (slot === PROTECTED) break;
      a.unlink(slot);
      a.pushBack(PROBATION, slot);
      this.protectedWeight -= this.weight(slot);
    }
  }

  /** Caffeine's hill climber: once per sample, step the window size toward a better hit ratio. */
  private climb(): void {
    // As Caffeine: no sampling until the cache is half full, so warm-up does not read as improvement.
    if (!this.warm) {
      if ((this.byBytes ? this.bytes : this.count) < this.maximum / 2) return;
      this.warm = true;
      this.hitsInSample = 0;
      this.missesInSample = 0;
      return;
    }
    const requests = this.hitsInSample + this.missesInSample;
    const sample = SAMPLE_FACTOR * (this.byBytes ? this.count : this.maximum);
    this.untilClimb = sample - requests;
    if (requests < sample) return;
    this.untilClimb = sample;
    const hitRate = this.hitsInSample / requests;
    const change = hitRate - this.previousHitRate;
    const amount = change >= 0 ? this.stepSize : -this.stepSize;
    this.stepSize =
      Math.abs(change) >= RESTART_THRESHOLD
        ? STEP_PERCENT * this.maximum * (amount >= 0 ? 1 : -1)
        : STEP_DECAY * amount;
    this.previousHitRate = hitRate;
    this.hitsInSample = 0;
    this.missesInSample = 0;
    const adjustment = Math.trunc(amount);
    if (adjustment > 0) this.increaseWindow(adjustment);
    else if (adjustment < 0) this.decreaseWindow(-adjustment);
  }

  private increaseWindow(adjustment: number): void {
    if (this.protectedMaximum === 0) return;
    const a = this.arena;
    let quota = Math.min(adjustment, this.protectedMaximum);
    this.protectedMaximum -= quota;
    this.windowMaximum += quota;
    this.demoteFromProtected();
    for (let i = 0; i < TRANSFER_LIMIT; i++) {
      let slot = this.firstOf(PROBATION);
      if (slot === NONE || quota < this.weight(slot)) slot = this.firstOf(PROTECTED);
      if (slot === NONE) break;
      const weight = this.weight(slot);
      if (quota < weight) break;
      quota -= weight;
      if (a.queue[slot] === PROTECTED) this.protectedWeight -= weight;
      a.unlink(slot);
      a.pushBack(WINDOW, slot);
      this.windowWeight += weight;
    }
    // Quota not spent on moved keys goes back to protected.
    this.protectedMaximum += quota;
    this.windowMaximum -= quota;
  }

  private decreaseWindow(adjustment: number): void {
    if (this.windowMaximum <= 1) return;
    const a = this.arena;
    let quota = Math.min(adjustment, Math.max(0, this.windowMaximum - 1));
    this.protectedMaximum += quota;
    this.windowMaximum -= quota;
    for (let i = 0; i < TRANSFER_LIMIT; i++) {
      const slot = this.firstOf(WINDOW);
      if (slot === NONE) break;
      const weight = this.weight(slot);
      if (quota < weight) break;
      quota -= weight;
      this.windowWeight -= weight;
      a.unlink(slot);
      a.pushBack(PROBATION, slot);
    }
    this.protectedMaximum -= quota;
    this.windowMaximum += quota;
  }
}
