/**
 * Typed views over the shared cache buffer (layout.ts), used by the owner (the one writer) and by every
 * reader. Readers never lock: they find a slot through the open-addressing index, read its generation,
 * read what they need, and read the generation again; a changed generation means the entry left (or the
 * slot was reused) meanwhile and the read is discarded. The owner changes an entry only while its
 * generation is odd.
 *
 * Each entry occupies one contiguous extent of the data region: key (UTF-8), pre-serialised head, body,
 * metadata (JSON: fields, file identity, host, path). One extent means a hit writes at most two buffers
 * (a fresh head with the current `Date` and a view of the body), never a list of blocks.
 */
import { hashKey } from '../policies/count-min-sketch.ts';
import {
  ADMIT_CELLS,
  D_START,
  E_F64,
  E_GEN,
  E_HASH,
  E_INT32,
  E_KEY_LEN,
  F_BYTES,
  F_COUNT,
  FILL_CELLS,
  layoutOf,
  RING_SLOTS,
  type SharedLayout,
} from './layout.ts';

export { hashKey };

/**
 * Copy `source` into `target` at `at` when either is shared memory. `Buffer#copy` and `set` move shared
 * memory with V8's relaxed word-by-word copy (7.5 % of all CPU under churn, `perf`: the owner's copy of
 * each staged body); `fill` with a buffer of exactly the range's length is one native memcpy, 4.3 against
 * 6.7 µs for 64 KiB into a cold extent. Every reader of the bytes checks the entry's generation after
 * reading, so a copy racing with the owner is never served (see `SharedEntry.valid`).
 */
export function copyShared(source: Uint8Array, target: Buffer, at: number): void {
  if (source.length === 0) return;
  target.fill(source, at, at + source.length);
}

/** `claimFill` answers. */
export const FILL_LEAD = 1;
export const FILL_WAIT = 2;
export const FILL_NONE = 0;

/** Views over one shared cache buffer. Cheap to construct once per thread. */
export class SharedArena {
  readonly sab: SharedArrayBuffer;
  readonly layout: SharedLayout;
  readonly header: Int32Array;
  readonly totals: Float64Array;
  /** `E_INT32` words per slot. */
  readonly ent: Int32Array;
  /** `E_F64` words per slot. */
  readonly entF: Float64Array;
  /** `workers` rows of one pin count per slot. */
  readonly pins: Int32Array;
  /** Slot + 1 per table cell; 0 = empty. */
  readonly index: Int32Array;
  /** Per worker: [head, tail, RING_SLOTS slot numbers]. */
  readonly rings: Int32Array;
  /** The fill table (see layout.ts) and when each cell was taken. */
  readonly fill: Int32Array;
  readonly fillSince: Float64Array;
  /** Per worker: the incarnation of its thread (see layout.ts). */
  readonly incarnations: Int32Array;
  /** The `min_uses` miss counts and their counter (src/cache/admission.ts). */
  readonly admit: Int32Array;
  readonly admitState: Int32Array;
  /** Every worker's staging area, one after the other (`layout.stagingBytes` each). */
  readonly staging: Buffer;
  /** The data region as one Buffer (subarray-free copies: `data.copy(target, 0, from, to)`). */
  readonly data: Buffer;
  readonly mask: number;
  readonly entries: number;

  constructor(sab: SharedArrayBuffer) {
    const layout = layoutOf(sab);
    this.sab = sab;
    this.layout = layout;
    this.header = new Int32Array(sab, layout.headerI32, 16);
    this.totals = new Float64Array(sab, layout.headerF64, 16);
    this.ent = new Int32Array(sab, layout.entI32, layout.entries * E_INT32);
    this.entF = new Float64Array(sab, layout.entF64, layout.entries * E_F64);
    this.pins = new Int32Array(sab, layout.pins, layout.workers * layout.entries);
    this.index = new Int32Array(sab, layout.index, layout.table);
    this.rings = new Int32Array(sab, layout.rings, layout.workers * (RING_SLOTS + 2));
    this.fill = new Int32Array(sab, layout.fill, FILL_CELLS);
    this.fillSince = new Float64Array(sab, layout.fillSince, FILL_CELLS);
    this.incarnations = new Int32Array(sab, layout.incarnations, layout.workers);
    this.admit = new Int32Array(sab, layout.admit, ADMIT_CELLS);
    this.admitState = new Int32Array(sab, layout.admit + ADMIT_CELLS * 4, 1);
    this.staging = Buffer.from(sab, layout.staging, layout.workers * layout.stagingBytes);
    this.data = Buffer.from(sab, layout.data, layout.dataBytes);
    this.mask = layout.table - 1;
    this.entries = layout.entries;
  }

  /** Bytes charged to live entries (the owner's count). */
  get bytes(): number {
    return this.totals[F_BYTES]!;
  }

  get count(): number {
    return this.totals[F_COUNT]!;
  }

  /** The generation of `slot` (odd: not live). */
  gen(slot: number): number {
    return Atomics.load(this.ent, slot * E_INT32 + E_GEN);
  }

  /**
   * The slot holding `key`, or -1. Lock-free: a concurrent change can make this miss an entry that is
   * there (a false miss, served by the producer). The slot may hold another key by the time the caller
   * reads it (the owner reuses freed slots): callers tie key and generation with `liveGen`.
   */
  find(key: string, hash: number): number {
    const index = this.index;
    const ent = this.ent;
    const mask = this.mask;
    let i = hash & mask;
    for (let n = 0; n <= mask; n++) {
      const v = index[i]!;
      if (v === 0) return -1;
      const slot = v - 1;
      if (ent[slot * E_INT32 + E_HASH] === hash && this.keyEquals(slot, key)) return slot;
      i = (i + 1) & mask;
    }
    return -1;
  }

  /**
   * The generation under which `slot` holds `key`, or -1 (not live, or another key's now). `find` compares
   * the key outside any generation window: the owner, in another thread, may free the slot and store
   * another key in it right after. Reading the generation first, comparing the key, then reading the
   * generation again ties the key to that generation; whatever the caller reads and validates against it
   * is then this key's.
   */
  liveGen(slot: number, key: string): number {
    const gen = Atomics.load(this.ent, slot * E_INT32 + E_GEN);
    if ((gen & 1) !== 0 || !this.keyEquals(slot, key)) return -1;
    return Atomics.load(this.ent, slot * E_INT32 + E_GEN) === gen ? gen : -1;
  }

  /** Whether the key bytes of `slot` are `key` (ASCII compared in place; other keys through UTF-8). */
  keyEquals(slot: number, key: string): boolean {
    const length = this.ent[slot * E_INT32 + E_KEY_LEN]!;
    const start = this.entF[slot * E_F64 + D_START]!;
    const data = this.data;
    if (length === key.length) {
      let i = 0;
      for (; i < length; i++) {
        const c = key.charCodeAt(i);
        if (c > 0x7f || data[start + i] !== c) break;
      }
      if (i === length) return true;
      if (key.charCodeAt(i) <= 0x7f) return false;
    }
    // Lengths and offsets read while the owner rewrites the slot may not belong together.
    if (start + length > data.length) return false;
    const bytes = Buffer.from(key, 'utf8');
    return bytes.length === length && data.compare(bytes, 0, length, start, start + length) === 0;
  }

  /** The key of `slot` (decoded: for lists and purges, not the hit path). */
  keyOf(slot: number): string {
    const start = this.entF[slot * E_F64 + D_START]!;
    return this.data.toString('utf8', start, start + this.ent[slot * E_INT32 + E_KEY_LEN]!);
  }

  /** Sum of every worker's pins on `slot`. */
  pinned(slot: number): number {
    const pins = this.pins;
    const entries = this.entries;
    let sum = 0;
    for (let w = 0; w < this.layout.workers; w++) sum += Atomics.load(pins, w * entries + slot);
    return sum;
  }

  // ---- single flight across workers ----

  /**
   * Claim the right to fill `hash`'s key: `FILL_LEAD` (this worker fills it: read the file, store, then
   * `releaseFill`), `FILL_WAIT` (another worker is filling it: wait for the entry) or `FILL_NONE` (the
   * cell is taken by another key: go ahead without single flight). A cell older than `staleMs` is taken
   * over (its worker died, or its fill never ended).
   */
  claimFill(hash: number, worker: number, now: number, staleMs: number): number {
    // A cell names its worker in 8 bits: beyond 254 workers, single flight stays per worker.
    if (worker >= 0xff) return FILL_NONE;
    const fill = this.fill;
    const i = hash & (FILL_CELLS - 1);
    const tag = hash & ~0xff;
    const mine = tag | (worker + 1);
    let current = Atomics.compareExchange(fill, i, 0, mine);
    if (current === 0) {
      this.fillSince[i] = now;
      return FILL_LEAD;
    }
    if (now - this.fillSince[i]! > staleMs) {
      if (Atomics.compareExchange(fill, i, current, mine) === current) {
        this.fillSince[i] = now;
        return FILL_LEAD;
      }
      current = Atomics.load(fill, i);
    }
    return (current & ~0xff) === tag && (current & 0xff) !== worker + 1 ? FILL_WAIT : FILL_NONE;
  }

  /** Whether a worker other than `worker` is filling `hash`'s key right now. */
  filling(hash: number, worker: number): boolean {
    const current = Atomics.load(this.fill, hash & (FILL_CELLS - 1));
    return current !== 0 && (current & ~0xff) === (hash & ~0xff) && (current & 0xff) !== worker + 1;
  }

  /** End this worker's fill of `hash`'s key (no-op when the cell was taken over). */
  releaseFill(hash: number, worker: number): void {
    Atomics.compareExchange(this.fill, hash & (FILL_CELLS - 1), (hash & ~0xff) | (worker + 1), 0);
  }

  /** Free every cell `worker` holds (its thread is gone). */
  releaseFills(worker: number): void {
    const fill = this.fill;
    for (let i = 0; i < FILL_CELLS; i++) {
      const current = Atomics.load(fill, i);
      if (current !== 0 && (current & 0xff) === worker + 1) Atomics.compareExchange(fill, i, current, 0);
    }
  }

  // ---- writer side (the owner only) ----

  /** Put `slot` into the index under `hash` (the key is not there: the owner checked). */
  indexInsert(slot: number, hash: number): void {
    const index = this.index;
    const mask = this.mask;
    let i = hash & mask;
    while (index[i] !== 0) i = (i + 1) & mask;
    Atomics.store(index, i, slot + 1);
  }

  /**
   * Take `slot` out of the index by backward-shift deletion (no tombstones, so probes stay short however
   * the cache churns). A reader probing meanwhile may miss a shifted key: a false miss, never a wrong hit.
   */
  indexRemove(slot: number, hash: number): void {
    const index = this.index;
    const ent = this.ent;
    const mask = this.mask;
    let i = hash & mask;
    while (index[i] !== slot + 1) {
      if (index[i] === 0) return;
      i = (i + 1) & mask;
    }
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const v = index[j]!;
      if (v === 0) break;
      const home = ent[(v - 1) * E_INT32 + E_HASH]! & mask;
      // Move v into the hole unless its home lies cyclically in (hole, j].
      const between = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!between) {
        Atomics.store(index, hole, v);
        hole = j;
      }
    }
    Atomics.store(index, hole, 0);
  }

  /** Clear the whole index (the owner's `clear`). */
  indexClear(): void {
    this.index.fill(0);
  }
}
