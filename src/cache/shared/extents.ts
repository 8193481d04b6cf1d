/**
 * The owner's allocator for the data region: contiguous extents in granules, free space kept as extents in
 * power-of-two size classes (segregated fit, as TLSF) and merged with free neighbours when released, so
 * that free space does not crumble as entries of mixed sizes come and go. Alloc and free are O(1) apart
 * from a short scan (at most `SCAN` extents) of the one class that may hold a fit. Nothing is ever moved:
 * there is no compaction and no pause.
 *
 * Only the owner allocates, so this lives on the owner's heap, not in shared memory.
 */

const SCAN = 8;

export class ExtentAllocator {
  /** Free extents: start → length, and end → start (to merge with a following free extent). */
  private readonly byStart = new Map<number, number>();
  private readonly byEnd = new Map<number, number>();
  private readonly classes: Array<Set<number>> = [];
  /** Granules in free extents. */
  free = 0;
  readonly granules: number;

  constructor(granules: number) {
    this.granules = granules;
    for (let c = 0; c < 53; c++) this.classes.push(new Set());
    this.add(0, granules);
  }

  /** The start of a free extent of `n` granules, or -1 when no free extent is that long. */
  alloc(n: number): number {
    let c = Math.floor(Math.log2(n));
    // The class of n may hold extents shorter than n: scan a few of them.
    let scanned = 0;
    for (const start of this.classes[c]!) {
      if (this.byStart.get(start)! >= n) return this.take(start, n);
      if (++scanned === SCAN) break;
    }
    // Every extent of a higher class is long enough.
    for (c++; c < this.classes.length; c++) {
      const set = this.classes[c]!;
      if (set.size === 0) continue;
      const start = set.values().next().value!;
      return this.take(start, n);
    }
    return -1;
  }

  /** Return an extent; merged with free neighbours. */
  release(start: number, n: number): void {
    let from = start;
    let length = n;
    const before = this.byEnd.get(start);
    if (before !== undefined) {
      const beforeLength = this.byStart.get(before)!;
      this.remove(before, beforeLength);
      from = before;
      length += beforeLength;
    }
    const afterLength = this.byStart.get(start + n);
    if (afterLength !== undefined) {
      this.remove(start + n, afterLength);
      length += afterLength;
    }
    this.add(from, length);
  }

  /** Forget every allocation. */
  reset(): void {
    this.byStart.clear();
    this.byEnd.clear();
    for (const set of this.classes) set.clear();
    this.free = 0;
    this.add(0, this.granules);
  }

  private take(start: number, n: number): number {
    const length = this.byStart.get(start)!;
    this.remove(start, length);
    if (length > n) this.add(start + n, length - n);
    return start;
  }

  private add(start: number, length: number): void {
    this.byStart.set(start, length);
    this.byEnd.set(start + length, start);
    this.classes[Math.floor(Math.log2(length))]!.add(start);
    this.free += length;
  }

  private remove(start: number, length: number): void {
    this.byStart.delete(start);
    this.byEnd.delete(start + length);
    this.classes[Math.floor(Math.log2(length))]!.delete(start);
    this.free -= length;
  }
}
