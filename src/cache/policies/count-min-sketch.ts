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
const SEED0 = 0x9e3779b1 | 0;
const SEED1 = 0x85ebca77 | 0;
const SEED2 = 0xc2b2ae3d | 0;
const SEED3 = 0x27d4eb2f;

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
    const t = this.table;
    const shift = this.shift;
    const row = this.wordsPerRow;
    const i0 = Math.imul(hash, SEED0) >>> shift;
    const i1 = Math.imul(hash, SEED1) >>> shift;
    const i2 = Math.imul(hash, SEED2) >>> shift;
    const i3 = Math.imul(hash, SEED3) >>> shift;
    const c0 = (t[i0 >>> 3]! >>> ((i0 & 7) << 2)) & 15;
    const c1 = (t[row + (i1 >>> 3)]! >>> ((i1 & 7) << 2)) & 15;
    const c2 = (t[2 * row + (i2 >>> 3)]! >>> ((i2 & 7) << 2)) & 15;
    const c3 = (t[3 * row + (i3 >>> 3)]! >>> ((i3 & 7) << 2)) & 15;
    return Math.min(c0, c1, c2, c3);
  }

  /** Counts one occurrence; halves every counter after `sampleSize` counted occurrences. */
  increment(hash: number): void {
    const shift = this.shift;
    const row = this.wordsPerRow;
    // Unrolled over the 4 rows: `bump` returns 1 if the counter was below 15 (and adds to it).
    const added =
      this.bump(Math.imul(hash, SEED0) >>> shift, 0) |
      this.bump(Math.imul(hash, SEED1) >>> shift, row) |
      this.bump(Math.imul(hash, SEED2) >>> shift, 2 * row) |
      this.bump(Math.imul(hash, SEED3) >>> shift, 3 * row);
    if (added !== 0 && ++this.added >= this.sampleSize) this.reset();
  }

  private bump(i: number, base: number): number {
    const word = base + (i >>> 3);
    const shift = (i & 7) << 2;
    const value = this.table[word]!;
    if (((value >>> shift) & 15) === 15) return 0;
    this.table[word] = value + (1 << shift);
    return 1;
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
