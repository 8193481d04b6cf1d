/**
 * Reusable memory for bodies nobody keeps: a file read whole and sent with `endLent`, the buffer handed
 * back when the socket is done with it. Buffers come in three sizes (64, 128 and 256 KiB), each size a
 * free list, allocated on first need up to `SCRATCH_BYTES` in all and then reused for the life of the
 * thread: a medium file costs one synchronous pread and one write, no buffer for the GC and no trip
 * through the thread pool (the streamed path costs two hand-offs per chunk, measured at ~3x the CPU of
 * nginx's sendfile for 64 KiB files; this path is within ~1.3x of it, the copy into user memory being
 * the difference).
 *
 * Bodies someone keeps (the content cache) never come from here: their bytes must outlive the response.
 */
import type { BodyLoan } from './body-keepers.ts';

const SIZES = [64 * 1024, 128 * 1024, 256 * 1024] as const;

/** The largest body served from scratch memory. */
export const SCRATCH_MAX = SIZES[SIZES.length - 1]!;

/** At most this many bytes of scratch buffers per thread; past it a body takes the streamed path. */
export const SCRATCH_BYTES = 8 * 1024 * 1024;

class ScratchPool {
  private readonly free: Buffer[][] = SIZES.map(() => []);
  /** Bytes in buffers made so far (lent or free). */
  made = 0;
  /** Bytes in buffers lent and not given back yet. */
  lent = 0;

  /** `length` bytes of scratch memory (0 < length ≤ `SCRATCH_MAX`), or null when the pool is used up. */
  lend(length: number): BodyLoan | null {
    let size = 0;
    while (SIZES[size]! < length) if (++size === SIZES.length) return null;
    const list = this.free[size]!;
    let buffer = list.pop();
    if (buffer === undefined) {
      if (this.made + SIZES[size]! > SCRATCH_BYTES) return null;
      this.made += SIZES[size]!;
      buffer = Buffer.allocUnsafeSlow(SIZES[size]!);
    }
    const whole = buffer;
    let released = false;
    this.lent += whole.length;
    return {
      buffer: whole.subarray(0, length),
      release: () => {
        if (released) return;
        released = true;
        this.lent -= whole.length;
        list.push(whole);
      },
    };
  }
}

const pool = new ScratchPool();

/**
 * Scratch memory for a body of `length` bytes that `res` sends with `endLent` and nobody keeps; null when
 * the response cannot send lent memory, the body is too large, or the thread's pool is in use.
 */
export function lendScratch(res: { endLent?: unknown }, length: number): BodyLoan | null {
  if (res.endLent === undefined || length <= 0 || length > SCRATCH_MAX) return null;
  return pool.lend(length);
}

/** Bytes of this thread's scratch memory lent and not given back yet (tests: nothing may stay lent). */
export function scratchLent(): number {
  return pool.lent;
}
