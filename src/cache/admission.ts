/**
 * `min_uses`: a file is stored only at its `min_uses`-th miss within a window of recent misses, as nginx's
 * `proxy_cache_min_uses` or TinyLFU's doorkeeper. Under churn (a working set larger than the cache) most
 * misses are of keys that will be evicted before they are asked for again, and storing one costs more than
 * serving it uncached (the commit to the owner, the copy, the eviction it causes); a key asked for again
 * soon is stored at its second miss.
 *
 * The counts are a table of 24-bit key tags and 8-bit counts, updated with `Atomics.compareExchange` (it
 * lives in the shared arena when the server runs one, so every worker counts for the same key). A key
 * whose cell another key took starts again from 1. The whole table is cleared after a window of misses
 * as large as the cache's entry count (at least 1024): a count is "recent" when the cache could not
 * have held every key missed since.
 */
import { ADMIT_CELLS } from './shared/layout.ts';

export { ADMIT_CELLS };

/** Smallest window, in misses. */
const MIN_WINDOW = 1024;

export class MissCounter {
  private readonly cells: Int32Array;
  private readonly state: Int32Array;
  private readonly window: () => number;

  /**
   * @param cells `ADMIT_CELLS` counters (shared memory or this worker's)
   * @param state one word: misses counted since the last clear
   * @param entries the cache's live entry count (the window)
   */
  constructor(cells: Int32Array, state: Int32Array, entries: () => number) {
    this.cells = cells;
    this.state = state;
    this.window = () => Math.max(MIN_WINDOW, entries());
  }

  /** Count a miss of the key hashed `hash`: its misses in the window, this one included (1–255). */
  count(hash: number): number {
    const cells = this.cells;
    const i = hash & (cells.length - 1);
    const tag = hash & ~0xff;
    let count = 1;
    for (;;) {
      const current = Atomics.load(cells, i);
      const same = (current & ~0xff) === tag && (current & 0xff) !== 0;
      count = same ? Math.min(0xff, (current & 0xff) + 1) : 1;
      if (Atomics.compareExchange(cells, i, current, tag | count) === current) break;
    }
    if (Atomics.add(this.state, 0, 1) + 1 >= this.window()) {
      Atomics.store(this.state, 0, 0);
      cells.fill(0);
    }
    return count;
  }
}
