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
 * The cost is a full GC (a few ms at this heap size) per `threshold` bytes dropped, at most one per
 * `minIntervalMs`: when the cache does not churn, nothing happens; V8 still collects on its own as well.
 *
 * V8 has no public "collect now" call: the `gc` function exists only with `--expose-gc`. `exposedGc()` turns
 * the flag on at run time (`v8.setFlagsFromString`, documented as possibly doing nothing after start-up) and
 * takes `gc` from a fresh context; when that does not work, there is no reclaimer and V8 alone decides.
 */
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

/** Counts bytes of dropped entries and runs `gc` (off the request path) once enough were dropped. */
export class Reclaimer {
  /** Bytes dropped since the last collection. */
  private pending = 0;
  private timer: NodeJS.Timeout | null = null;
  private lastRun = Number.NEGATIVE_INFINITY;
  /** Forced collections so far (stats, tests). */
  runs = 0;
  private readonly threshold: number;
  private readonly gc: () => void;
  private readonly minIntervalMs: number;

  constructor(threshold: number, gc: () => void, minIntervalMs = RECLAIM_MIN_INTERVAL_MS) {
    this.threshold = threshold;
    this.gc = gc;
    this.minIntervalMs = minIntervalMs;
  }

  /** An entry holding `bytes` left the store. */
  dropped(bytes: number): void {
    this.pending += bytes;
    if (this.pending < this.threshold || this.timer !== null) return;
    const wait = Math.max(0, this.lastRun + this.minIntervalMs - performance.now());
    // Never inside the eviction itself (that runs while a response is being stored): a timer, unref'd.
    this.timer = setTimeout(() => this.run(), wait);
    this.timer.unref();
  }

  private run(): void {
    this.timer = null;
    this.pending = 0;
    this.lastRun = performance.now();
    this.runs++;
    this.gc();
  }

  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
