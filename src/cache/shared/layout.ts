/**
 * The memory layout of the shared content cache: one `SharedArrayBuffer` that the primary creates and
 * every worker thread maps. Everything a worker needs to answer a hit is in it: the key index, the entry
 * table (generation, lengths, times, hit counts), per-worker pin counts, per-worker hit rings (the
 * eviction policy's read buffer) and the data region holding each entry's key, pre-serialised head, body
 * and metadata. See docs/cache.md ("Shared store") for the picture.
 *
 * All sizes are fixed when the buffer is created (from `max_size`, `max_entries` and the worker count), so
 * the buffer never grows and nothing in it is ever moved.
 */

/** Bumped when the layout changes; a worker refuses a buffer of another version. */
export const LAYOUT_VERSION = 2;
const MAGIC = 0x54414d31; // "TAM1"

/** Allocation granule of the data region, in bytes: entry extents are multiples of it. */
export const GRANULE = 64;
/** Slots of each worker's hit ring (a power of two). A full ring drops hits, as Caffeine's read buffer. */
export const RING_SLOTS = 4096;
/** Cells of the `min_uses` miss counts (see src/cache/admission.ts), a power of two. */
export const ADMIT_CELLS = 65536;
/** Cells of the "being filled" table (single flight across workers), a power of two. */
export const FILL_CELLS = 4096;

/** Int32 header words. */
export const H_MAGIC = 0;
export const H_VERSION = 1;
export const H_ENTRIES = 2;
export const H_TABLE = 3;
export const H_WORKERS = 4;
/** Set by the owner when it has cleared everything (workers drop their local views). */
export const H_EPOCH = 5;
/** What the owner's policy runs now, for the stats: 1 + index in {@link RUNNING_POLICIES}, 0 for none. */
export const H_RUNNING = 6;
/** How many times the owner's policy changed what it runs (the adaptive policy's switches). */
export const H_SWITCHES = 7;
/** The policies a policy can report running (its `state().running`), as numbered in {@link H_RUNNING}. */
export const RUNNING_POLICIES: readonly string[] = ['lru', 'lfu', 's3fifo', 'w-tinylfu', 'arc', 'adaptive'];
const HEADER_INT32 = 16;
/** Float64 header words (written by the owner only). */
export const F_BYTES = 0;
export const F_COUNT = 1;
export const F_MAX_BYTES = 2;
export const F_MAX_ENTRIES = 3;
export const F_DATA_BYTES = 4;
/** Removal and insertion counters, kept by the owner for the whole server. */
export const F_INSERTIONS = 5;
export const F_EVICTIONS = 6;
export const F_EXPIRATIONS = 7;
export const F_INVALIDATIONS = 8;
export const F_PURGED = 9;
export const F_NOT_ADMITTED = 10;
/** Bytes of extents that left the cache while a socket write still read them (freed when it ends). */
export const F_PINNED_BYTES = 11;
const HEADER_F64 = 16;

/** Int32 fields per entry slot. */
export const E_GEN = 0; // odd: free or being written; even (> 0): live
export const E_HASH = 1;
export const E_KEY_LEN = 2;
export const E_HEAD_LEN = 3;
export const E_BODY_LEN = 4;
export const E_META_LEN = 5;
export const E_DATE_OFFSET = 6; // -1: no Date slot
export const E_HITS = 7;
export const E_INT32 = 8;
/** Float64 fields per entry slot. */
export const D_START = 0; // byte offset of the extent in the data region
export const D_SIZE = 1; // bytes of the extent (the entry's charge)
export const D_STORED_AT = 2;
export const D_EXPIRES_AT = 3;
export const D_CHECK_AT = 4; // next comparison with the file on disk
export const D_LAST_MODIFIED = 5; // NaN: none
export const E_F64 = 6;

/** What the buffer is sized from. */
export interface SharedLayoutOptions {
  /** Bytes the policy may fill (`max_size`). */
  maxBytes: number;
  /** Entry slots; also the policy's entry bound. */
  maxEntries: number;
  /** Worker threads that read the store (each gets a pin row and a hit ring). */
  workers: number;
}

/** Offsets (bytes) and counts of every region. */
export interface SharedLayout {
  readonly entries: number;
  readonly table: number;
  readonly workers: number;
  readonly dataBytes: number;
  readonly maxBytes: number;
  readonly headerI32: number;
  readonly headerF64: number;
  readonly entI32: number;
  readonly entF64: number;
  readonly pins: number;
  readonly index: number;
  readonly rings: number;
  /** Int32 per fill cell: key tag (high 24 bits of its hash) | filling worker + 1; 0 = free. */
  readonly fill: number;
  /** Float64 per fill cell: when it was taken (epoch ms), to take over a cell left by a dead worker. */
  readonly fillSince: number;
  /**
   * Int32 per worker: the incarnation of its thread, bumped by the owner when the thread is gone, so that a
   * commit the dead thread sent is refused (its staging bytes may be a new thread's by then).
   */
  readonly incarnations: number;
  /** Int32 `ADMIT_CELLS` miss counts for `min_uses`, then one word: misses counted since the last clear. */
  readonly admit: number;
  /** Per worker: `stagingBytes` where a miss reads its body before the owner copies it into an extent. */
  readonly staging: number;
  readonly stagingBytes: number;
  readonly data: number;
  readonly total: number;
}

/** The entry bound when `max_entries` is not configured: one slot per KiB of capacity. */
export function defaultEntrySlots(maxBytes: number): number {
  return Math.min(4 * 1024 * 1024, Math.max(1024, Math.ceil(maxBytes / 1024)));
}

/**
 * The data region is the policy's capacity plus 1/16 (at least 1 MiB): room for extents that a socket
 * write still pins after their entry left, and for the rounding of free space into contiguous extents.
 */
export function dataBytesFor(maxBytes: number): number {
  const slack = Math.max(1024 * 1024, Math.ceil(maxBytes / 16));
  return Math.ceil((maxBytes + slack) / GRANULE) * GRANULE;
}

/**
 * Each worker's staging area: a miss reads its body there (no buffer on the JS heap), the response is
 * written from it, and the owner copies it into the entry's extent. 1/16 of the capacity, between 1 and
 * 16 MiB: room for the bodies of the misses in flight at once; a miss that finds no room takes the heap path.
 */
export function stagingBytesFor(maxBytes: number): number {
  const bytes = Math.min(16 * 1024 * 1024, Math.max(1024 * 1024, Math.ceil(maxBytes / 16)));
  return Math.ceil(bytes / GRANULE) * GRANULE;
}

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** Compute the layout. */
export function computeLayout(options: SharedLayoutOptions): SharedLayout {
  const entries = Math.max(1, Math.floor(options.maxEntries));
  let table = 1;
  while (table < entries * 2) table *= 2;
  const workers = Math.max(1, options.workers);
  const dataBytes = dataBytesFor(options.maxBytes);
  let at = 0;
  const headerI32 = at;
  at += HEADER_INT32 * 4;
  const headerF64 = align(at, 8);
  at = headerF64 + HEADER_F64 * 8;
  const entF64 = align(at, 8);
  at = entF64 + entries * E_F64 * 8;
  const entI32 = at;
  at += entries * E_INT32 * 4;
  const pins = at;
  at += workers * entries * 4;
  const index = at;
  at += table * 4;
  const rings = at;
  at += workers * (RING_SLOTS + 2) * 4;
  const fill = at;
  at += FILL_CELLS * 4;
  const fillSince = align(at, 8);
  at = fillSince + FILL_CELLS * 8;
  const incarnations = at;
  at += workers * 4;
  const admit = at;
  at += (ADMIT_CELLS + 1) * 4;
  const stagingBytes = stagingBytesFor(options.maxBytes);
  const staging = align(at, GRANULE);
  at = staging + workers * stagingBytes;
  const data = align(at, GRANULE);
  at = data + dataBytes;
  return {
    entries,
    table,
    workers,
    dataBytes,
    maxBytes: options.maxBytes,
    headerI32,
    headerF64,
    entI32,
    entF64,
    pins,
    index,
    rings,
    fill,
    fillSince,
    incarnations,
    admit,
    staging,
    stagingBytes,
    data,
    total: at,
  };
}

/** Create and initialise the shared buffer (the primary does this once). */
export function createSharedBuffer(options: SharedLayoutOptions): SharedArrayBuffer {
  const layout = computeLayout(options);
  const sab = new SharedArrayBuffer(layout.total);
  const header = new Int32Array(sab, layout.headerI32, HEADER_INT32);
  header[H_MAGIC] = MAGIC;
  header[H_VERSION] = LAYOUT_VERSION;
  header[H_ENTRIES] = layout.entries;
  header[H_TABLE] = layout.table;
  header[H_WORKERS] = layout.workers;
  const f64 = new Float64Array(sab, layout.headerF64, HEADER_F64);
  f64[F_MAX_BYTES] = options.maxBytes;
  f64[F_MAX_ENTRIES] = layout.entries;
  f64[F_DATA_BYTES] = layout.dataBytes;
  const ent = new Int32Array(sab, layout.entI32, layout.entries * E_INT32);
  for (let slot = 0; slot < layout.entries; slot++) ent[slot * E_INT32 + E_GEN] = 1;
  return sab;
}

/** Read the layout back from a buffer made by `createSharedBuffer`; throws for anything else. */
export function layoutOf(sab: SharedArrayBuffer): SharedLayout {
  const header = new Int32Array(sab, 0, HEADER_INT32);
  if (header[H_MAGIC] !== MAGIC || header[H_VERSION] !== LAYOUT_VERSION) {
    throw new Error('shared cache: the buffer is not a Tamarin cache arena of this version');
  }
  const f64 = new Float64Array(sab, align(HEADER_INT32 * 4, 8), HEADER_F64);
  const layout = computeLayout({
    maxBytes: f64[F_MAX_BYTES]!,
    maxEntries: header[H_ENTRIES]!,
    workers: header[H_WORKERS]!,
  });
  if (layout.total !== sab.byteLength) throw new Error('shared cache: arena size does not match its header');
  return layout;
}
