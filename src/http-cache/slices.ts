/**
 * Long store operations in slices between I/O: a hard or soft purge of many entries, a ban sweep. Each
 * takes effect for lookups at once (the caller records it where the hit paths look: hit-path.ts), then
 * does its work a slice at a time, at most {@link SLICE_ENTRIES} entries or {@link SLICE_MS}, so that a
 * worker keeps answering hits while it runs; the caller answers once it is done.
 */

/** Most entries one slice handles before yielding to I/O. */
export const SLICE_ENTRIES = 1000;
/** Longest one slice runs, in ms (checked every 64 entries). */
export const SLICE_MS = 2;

/**
 * Run `slice` on later turns of the event loop until it returns true (done); it is given the
 * `performance.now()` deadline of its turn. Resolves when done.
 */
export function inSlices(slice: (deadline: number) => boolean): Promise<void> {
  return new Promise((resolve) => {
    const step = (): void => {
      if (slice(performance.now() + SLICE_MS)) resolve();
      else setImmediate(step);
    };
    setImmediate(step);
  });
}
