/**
 * Returning the memory of dropped entries while the cache churns, so that the process's RSS stays near the
 * configured capacity instead of capacity + 64 MiB.
 *
 * An evicted entry's body is an ArrayBuffer outside the JS heap: V8 frees it only in a full GC, and it
 * starts one for external memory only after ~64 MiB more of it was allocated since the last one (V8's
 * fixed external-memory soft limit, whatever the heap size). A full cache replacing entries therefore
 * carries up to 64 MiB of dead bodies, and malloc keeps the freed chunks resident for reuse: measured with
 * a 256 MiB cache of 64 KiB files (bench/lib/scenario-memory.ts), dead bodies peaked at 55-65 MiB over the
 * live ones. The cache knows how many bytes it dropped; once that reaches a fraction of its capacity it asks
 * V8 for a full GC, so dead bodies stay below that fraction (and freed chunks are reused by the next fills).
 *
 * The cost is a full, non-incremental GC (10-60 ms in a loaded worker) per `threshold` bytes dropped since
 * the last full GC of any kind, at most one per `minIntervalMs`: V8 still collects on its own (for heap
 * growth), and each of its full GCs restarts the count, so under the benchmark's fill only 2-3 of ~20 full
 * GCs are forced. When the cache does not churn, nothing happens.
 *
 * V8 has no public "collect now" call: the `gc` function exists only with `--expose-gc`. `exposedGc()` turns
 * the flag on at run time (`v8.setFlagsFromString`, documented as possibly doing nothing after start-up) and
 * takes `gc` from a fresh context; when that does not work, there is no reclaimer and V8 alone decides.
 */
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Bytes dropped between forced collections, as a fraction of the store's capacity (1/16: ~6%). */
export const RECLAIM_FRACTION = 1 / 16;
/** Never force a collection for less than this (a small cache would collect on every eviction). */
export const RECLAIM_MIN_BYTES = 4 * 1024 * 1024;
/** Beyond this V8's own external-memory trigger (64 MiB) comes first anyway. */
export const RECLAIM_MAX_BYTES = 48 * 1024 * 1024;
/** At most one forced collection per this many ms (bounds the CPU cost under heavy churn). */
export const RECLAIM_MIN_INTERVAL_MS = 100;

let cachedGc: (() => void) | null | undefined;

/**
 * V8's `gc()` (a synchronous full collection), or `null` when it cannot be had. An already exposed
 * `globalThis.gc` is used as is; otherwise `--expose-gc` is set and `gc` read from a new context (contexts
 * created after the flag get it). Decided once per thread.
 */
export function exposedGc(): (() => void) | null {
  cachedGc ??= findGc((globalThis as { gc?: unknown }).gc, () => {
    setFlagsFromString('--expose-gc');
    return runInNewContext('typeof gc === "function" ? gc : null');
  });
  return cachedGc;
}

/** The feature detection of `exposedGc`, with the two sources injected (tests). */
export function findGc(existing: unknown, expose: () => unknown): (() => void) | null {
  if (typeof existing === 'function') return existing as () => void;
  try {
    const gc = expose();
    return typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    return null;
  }
}

/** How many dropped bytes trigger a collection for a store of `capacity` bytes. */
export function reclaimThreshold(capacity: number): number {
  return Math.min(RECLAIM_MAX_BYTES, Math.max(RECLAIM_MIN_BYTES, Math.floor(capacity * RECLAIM_FRACTION)));
}

/** Full GCs of this thread so far (V8's own and forced ones), counted once the first reclaimer exists. */
let majorGcs = 0;
let gcObserver: PerformanceObserver | null = null;

/** Starts counting this thread's full GCs (once): a reclaimer skips a collection V8 already made. */
function observeMajorGcs(): void {
  if (gcObserver !== null) return;
  gcObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const detail = (entry as { detail?: { kind?: number } | null }).detail;
      if (detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majorGcs++;
    }
  });
  gcObserver.observe({ entryTypes: ['gc'] });
}

/**
 * Counts bytes of dropped entries and runs `gc` (off the request path) once enough were dropped since the
 * last full GC: a full GC V8 makes on its own (it still does, for heap growth) frees the bodies dropped
 * before it too, and restarts the count, so no collection is forced that V8 already made.
 */
export class Reclaimer {
  /** Bytes dropped since the last collection. */
  private pending = 0;
  private timer: NodeJS.Timeout | null = null;
  private lastRun = Number.NEGATIVE_INFINITY;
  /** Full GCs so far (this thread's, observed; tests inject their own). */
  private readonly gcCount: () => number;
  /** `gcCount()` when the count last restarted. */
  private seenGcs: number;
  /** Forced collections so far (stats, tests). */
  runs = 0;
  private readonly threshold: number;
  private readonly gc: () => void;
  private readonly minIntervalMs: number;

  /**
   * @param minIntervalMs @default RECLAIM_MIN_INTERVAL_MS
   * @param gcCount full GCs so far @default this thread's, counted by a PerformanceObserver
   */
  constructor(
    threshold: number,
    gc: () => void,
    minIntervalMs = RECLAIM_MIN_INTERVAL_MS,
    gcCount: (() => number) | null = null,
  ) {
    this.threshold = threshold;
    this.gc = gc;
    this.minIntervalMs = minIntervalMs;
    if (gcCount === null) observeMajorGcs();
    this.gcCount = gcCount ?? (() => majorGcs);
    this.seenGcs = this.gcCount();
  }

  /** Restarts the count when a full GC happened since it last did; true then. */
  private collectedMeanwhile(): boolean {
    const count = this.gcCount();
    if (count === this.seenGcs) return false;
    this.seenGcs = count;
    this.pending = 0;
    return true;
  }

  /** An entry holding `bytes` left the store. */
  dropped(bytes: number): void {
    this.collectedMeanwhile();
    this.pending += bytes;
    if (this.pending < this.threshold || this.timer !== null) return;
    const wait = Math.max(0, this.lastRun + this.minIntervalMs - performance.now());
    // Never inside the eviction itself (that runs while a response is being stored): a timer, unref'd.
    this.timer = setTimeout(() => this.run(), wait);
    this.timer.unref();
  }

  private run(): void {
    this.timer = null;
    // V8 collected since the count reached the threshold: nothing left to force.
    if (this.collectedMeanwhile()) return;
    this.pending = 0;
    this.lastRun = performance.now();
    this.runs++;
    // Observed a moment later, this collection restarts the count once more: harmless.
    this.gc();
  }

  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
