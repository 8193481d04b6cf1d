/**
 * A worker's staging area (layout.ts, `staging`): where a miss reads the body of a file the cache will
 * keep. The response is written straight from it and the owner copies it into the entry's extent when it
 * stores the entry, so a miss allocates no body on the JS heap and sends none through the owner's port
 * (both measured as most of the churn cost: the copies, the garbage, and the collections they caused).
 *
 * Only this worker allocates and frees in its area, so there is no lock: blocks come from an
 * `ExtentAllocator` on this worker's heap. A block has two holders, the socket write of the response and
 * the commit (the owner's copy, or the decision not to store), and is freed when both let go, in either
 * order. A dead worker's area needs no cleaning: the next thread of that worker starts with an empty
 * allocator, and the owner refuses commits of the dead thread (its incarnation, see `StagedBody`).
 */
import { ExtentAllocator } from './extents.ts';
import { GRANULE } from './layout.ts';

/**
 * A block lent but neither committed nor dropped after this long is taken back: its response never
 * reached the cache's `onResponse` (a connection that died with the response queued behind another).
 * Far beyond any real fill: a commit is sent when the response is done.
 */
export const LENT_TIMEOUT_MS = 30_000;

/** One body in the staging area. */
export class StagedBlock {
  /** Offset in the worker's area. */
  readonly at: number;
  readonly length: number;
  /** The bytes, a view of shared memory. */
  readonly buffer: Buffer;
  readonly lentAt: number;
  /** The commit hold was given up (committed, dropped, or taken back after `LENT_TIMEOUT_MS`). */
  committed = false;
  /** The socket write let go of the bytes. */
  written = false;
  /** The commit was sent to the owner (it may read the bytes until it answers): never taken back. */
  sending = false;
  readonly area: StagingArea;

  constructor(area: StagingArea, at: number, length: number, buffer: Buffer, lentAt: number) {
    this.area = area;
    this.at = at;
    this.length = length;
    this.buffer = buffer;
    this.lentAt = lentAt;
  }

  /** The socket is done with the bytes (`endLent`'s release: called exactly once). */
  readonly release = (): void => {
    if (this.written) return;
    this.written = true;
    if (this.committed) this.area.free(this);
  };

  /** The commit is about to be sent; false when the block was taken back (do not store it then). */
  beginCommit(): boolean {
    if (this.committed) return false;
    this.sending = true;
    return true;
  }

  /** The commit is over: the owner copied the bytes, refused them, or they are not to be stored. */
  endCommit(): void {
    if (this.committed) return;
    this.committed = true;
    if (this.written) this.area.free(this);
  }
}

/** The staging area of one worker thread. */
export class StagingArea {
  private readonly region: Buffer;
  private readonly extents: ExtentAllocator;
  /** Blocks whose commit hold is still taken, oldest first (insertion order). */
  private readonly lent = new Set<StagedBlock>();
  /** Bytes in blocks not freed yet (tests, stats). */
  used = 0;

  /** @param region this worker's area (a view of shared memory, a multiple of `GRANULE` bytes) */
  constructor(region: Buffer) {
    this.region = region;
    this.extents = new ExtentAllocator(Math.floor(region.length / GRANULE));
  }

  /** A block of `length` bytes, or null when the area has no room now (the caller takes the heap path). */
  lend(length: number, now: number): StagedBlock | null {
    if (length <= 0 || length > this.region.length) return null;
    const granules = Math.ceil(length / GRANULE);
    let start = this.extents.alloc(granules);
    if (start < 0 && this.takeBackStale(now)) start = this.extents.alloc(granules);
    if (start < 0) return null;
    const at = start * GRANULE;
    const block = new StagedBlock(this, at, length, this.region.subarray(at, at + length), now);
    this.lent.add(block);
    this.used += granules * GRANULE;
    return block;
  }

  /** Both holders let go: the bytes may be reused. */
  free(block: StagedBlock): void {
    this.lent.delete(block);
    const granules = Math.ceil(block.length / GRANULE);
    this.extents.release(block.at / GRANULE, granules);
    this.used -= granules * GRANULE;
  }

  /** Give up the commit hold of blocks lent longer than `LENT_TIMEOUT_MS` ago; true when one was. */
  private takeBackStale(now: number): boolean {
    let any = false;
    for (const block of this.lent) {
      if (now - block.lentAt < LENT_TIMEOUT_MS) break;
      if (block.committed || block.sending) continue;
      block.endCommit();
      any = true;
    }
    return any;
  }
}
