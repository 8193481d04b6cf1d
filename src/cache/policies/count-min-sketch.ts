/**
 * The frequency sketch of TinyLFU (Einziger, Friedman, Manes, "TinyLFU: A Highly Efficient Cache Admission
 * Policy", ACM ToS 2017) as Caffeine builds it: a count-min sketch of 4 rows of 4-bit counters (saturating
 * at 15), packed eight to a 32-bit word. After `sampleSize` increments every counter is halved, so the
 * sketch forgets old popularity (the "reset" that makes the frequency decay). O(1) per operation; the reset
 * is O(width) once per `10 × width` increments, so amortised O(1).
 */

const ROWS = 4;
/** Counters per expected key in each row. */
const WIDTH_FACTOR = 4;
/** Odd multipliers giving each row its own index from one key hash (multiplicative hashing). */
const SEEDS = [0x9e3779b1, 0x85ebca77, 0xc2b2ae3d, 0x27d4eb2f];

/** FNV-1a over the UTF-16 code units of `key`: cheap, and computed once per key by the policy. */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  // Final avalanche so that keys differing in their last character spread over all bits.
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h | 0;
}

export class CountMinSketch {
  /** Number of counters per row (a power of two). */
  width = 0;
  /** Increments between halvings. */
  sampleSize = 0;
  private table = new Uint32Array(0);
  private shift = 32;
  private added = 0;
  /** Words rewritten by resets so far (the contract suite checks the amortised cost per operation). */
  work = 0;
  private wordsPerRow = 0;

  constructor(expectedEntries: number) {
    this.ensureCapacity(expectedEntries);
  }

  /**
   * Sizes the sketch for `expectedEntries` keys: `WIDTH_FACTOR` counters per key per row (Caffeine's table
   * has the same 16 counters per key, 2 bytes), rounded up to a power of two, at least 64; a sample of
   * 10 increments per key. Growing clears the counts (as Caffeine does); it never shrinks.
   */
  ensureCapacity(expectedEntries: number): void {
    const entries = Math.max(1, Math.min(Math.ceil(expectedEntries), 2 ** 24));
    const want = Math.max(64, 2 ** Math.ceil(Math.log2(entries * WIDTH_FACTOR)));
    if (want <= this.width) return;
    this.width = want;
    this.shift = 32 - Math.log2(want);
    this.wordsPerRow = want >>> 3;
    this.table = new Uint32Array(this.wordsPerRow * ROWS);
    this.sampleSize = 10 * entries;
    this.added = 0;
  }

  /** Estimated number of recent occurrences of the key with this hash (0..15). */
  frequency(hash: number): number {
    let min = 15;
    for (let row = 0; row < ROWS; row++) {
      const i = Math.imul(hash, SEEDS[row]!) >>> this.shift;
      const value = (this.table[row * this.wordsPerRow + (i >>> 3)]! >>> ((i & 7) << 2)) & 15;
      if (value < min) min = value;
    }
    return min;
  }

  /** Counts one occurrence; halves every counter after `sampleSize` counted occurrences. */
  increment(hash: number): void {
    let added = false;
    for (let row = 0; row < ROWS; row++) {
      const i = Math.imul(hash, SEEDS[row]!) >>> this.shift;
      const word = row * this.wordsPerRow + (i >>> 3);
      const shift = (i & 7) << 2;
      if (((this.table[word]! >>> shift) & 15) < 15) {
        this.table[word]! += 1 << shift;
        added = true;
      }
    }
    if (added && ++this.added >= this.sampleSize) this.reset();
  }

  /** Halves every counter (the decay), and the count of additions with it. */
  reset(): void {
    const table = this.table;
    for (let w = 0; w < table.length; w++) table[w] = (table[w]! >>> 1) & 0x77777777;
    this.work += table.length;
    this.added = this.added >>> 1;
  }

  clear(): void {
    this.table.fill(0);
    this.added = 0;
  }
}
