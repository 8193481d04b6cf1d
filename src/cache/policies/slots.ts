/**
 * A growable arena of entry slots shared by the LRU, S3-FIFO and W-TinyLFU policies: one `Map` from key to
 * slot number and parallel typed arrays for everything else, so that no object is allocated per entry or per
 * operation (the layout npm's lru-cache uses). Slots `0 .. lists-1` are list sentinels: every list is
 * circular and doubly linked through `prev`/`next`, so linking and unlinking never test for an empty list.
 */

/**
 * A resident key's index value is its slot in the low `SLOT_BITS` bits and a mark above them (0 until
 * set: see `setMark`), so that a mark costs no memory access beyond the lookup that found the slot. The
 * value stays below 2^30, a small integer that V8 never boxes.
 */
const SLOT_BITS = 28;
const SLOT_MASK = (1 << SLOT_BITS) - 1;

/** Slot numbers below this are sentinels. Entry slots start at `lists`. */
export class SlotArena {
  /**
   * Key → slot (and mark) for resident keys. A policy may also park a negative tag here for a key it
   * remembers but does not hold (S3-FIFO's ghost), which saves a second map: see `releaseAs` and `tagOf`.
   */
  readonly index = new Map<string, number>();
  keys: Array<string | undefined> = [];
  /** The charge of each slot in bytes. */
  size: Float64Array;
  prev: Int32Array;
  next: Int32Array;
  /** Which list (queue) the slot is in; the policy decides what the numbers mean. */
  queue: Uint8Array;
  /** A small per-slot counter (S3-FIFO's 0..3 frequency). */
  freq: Uint8Array;
  /** Reads since insertion, for `hottest()`. */
  hits: Uint32Array;
  /** The key's 32-bit hash (W-TinyLFU's sketch, the adaptive policy's sample), 0 until stored. */
  hash: Int32Array;
  /** Counts the slots visited by `unlink`/`pushBack`: the contract suite checks it per operation. */
  moves = 0;
  private free: Int32Array;
  private freeTop = 0;
  private nextUnused: number;
  private lastKey: string | undefined = undefined;
  private lastSlot = -1;
  /** The raw map value behind `lastSlot` (slot and mark, a tag < -1, or -1 for absent). */
  private lastValue = -1;

  constructor(lists: number, initial = 64) {
    const capacity = Math.max(initial, lists + 1);
    this.size = new Float64Array(capacity);
    this.prev = new Int32Array(capacity);
    this.next = new Int32Array(capacity);
    this.queue = new Uint8Array(capacity);
    this.freq = new Uint8Array(capacity);
    this.hits = new Uint32Array(capacity);
    this.hash = new Int32Array(capacity);
    this.free = new Int32Array(capacity);
    for (let list = 0; list < lists; list++) {
      this.prev[list] = list;
      this.next[list] = list;
    }
    this.nextUnused = lists;
  }

  /**
   * The slot of a resident key, or -1. Remembers the answer (found or not) so that the `has(k)` then
   * `hit(k)` or `insert(k)` pair the store makes on every request costs one hash lookup, not two.
   */
  find(key: string): number {
    if (key === this.lastKey) return this.lastSlot;
    const value = this.index.get(key) ?? -1;
    this.lastKey = key;
    this.lastValue = value;
    this.lastSlot = value < 0 ? -1 : value & SLOT_MASK;
    return this.lastSlot;
  }

  /**
   * The mark (0-3) stored with the slot the last `find` found (call it right after a `find` that returned
   * a slot): what the adaptive policy keeps there (whether the key is in its sample), read from the
   * arena's own fields, with no memory access beyond them.
   */
  get lastMark(): number {
    return this.lastValue >>> SLOT_BITS;
  }

  /** Stores `mark` (1-3) beside the slot of resident `key`; it stays until the key leaves. */
  setMark(key: string, slot: number, mark: number): void {
    const value = slot | (mark << SLOT_BITS);
    this.index.set(key, value);
    if (key === this.lastKey) this.lastValue = value;
  }

  /** The negative tag parked for a non-resident key (see `releaseAs`), or -1 if none. */
  tagOf(key: string): number {
    const value = key === this.lastKey ? this.lastValue : (this.index.get(key) ?? -1);
    return Math.min(value, -1);
  }

  /** Takes a free slot for `key` (not yet linked into any list). */
  alloc(key: string, size: number): number {
    let slot: number;
    if (this.freeTop > 0) slot = this.free[--this.freeTop]!;
    else {
      if (this.nextUnused === this.size.length) this.grow();
      slot = this.nextUnused++;
    }
    this.keys[slot] = key;
    this.size[slot] = size;
    this.freq[slot] = 0;
    this.hits[slot] = 0;
    // 0 until the policy stores one (the adaptive policy hashes lazily: 0 means "not yet").
    this.hash[slot] = 0;
    this.index.set(key, slot);
    this.lastKey = key;
    this.lastSlot = slot;
    this.lastValue = slot;
    return slot;
  }

  /** Returns an unlinked slot to the free stack and forgets its key. */
  release(slot: number): string {
    const key = this.keys[slot]!;
    this.index.delete(key);
    this.free[this.freeTop++] = slot;
    this.keys[slot] = undefined;
    if (this.lastKey === key) this.lastSlot = this.lastValue = -1;
    return key;
  }

  /** Like `release`, but leaves `tag` (< -1) in the index for the key: one map write instead of two. */
  releaseAs(slot: number, tag: number): string {
    const key = this.keys[slot]!;
    this.index.set(key, tag);
    this.free[this.freeTop++] = slot;
    this.keys[slot] = undefined;
    if (this.lastKey === key) {
      this.lastSlot = -1;
      this.lastValue = tag;
    }
    return key;
  }

  /** Drops a parked tag if it is still `tag` (a newer tag or a resident slot is left alone). */
  dropTag(key: string, tag: number): void {
    if (this.index.get(key) !== tag) return;
    this.index.delete(key);
    if (this.lastKey === key) this.lastSlot = this.lastValue = -1;
  }

  /** Links `slot` at the newest end of `list` (just before the sentinel). */
  pushBack(list: number, slot: number): void {
    const last = this.prev[list]!;
    this.next[last] = slot;
    this.prev[slot] = last;
    this.next[slot] = list;
    this.prev[list] = slot;
    this.queue[slot] = list;
    this.moves++;
  }

  unlink(slot: number): void {
    const p = this.prev[slot]!;
    const n = this.next[slot]!;
    this.next[p] = n;
    this.prev[n] = p;
    this.moves++;
  }

  /** The oldest slot of `list`, or the sentinel `list` itself when the list is empty. */
  first(list: number): number {
    return this.next[list]!;
  }

  /**
   * The keys of `lists` ranked by `frequency(slot)`, highest first; equal frequencies keep the order of
   * `lists`, each list newest first (the sort is stable). O(n log n): for warm restart only.
   */
  ranked(
    lists: readonly number[],
    frequency: (slot: number) => number,
    limit: number,
  ): Array<{ key: string; frequency: number }> {
    const rows: Array<{ key: string; frequency: number }> = [];
    for (const list of lists) {
      for (let slot = this.prev[list]!; slot !== list; slot = this.prev[slot]!) {
        rows.push({ key: this.keys[slot]!, frequency: frequency(slot) });
      }
    }
    rows.sort((x, y) => y.frequency - x.frequency);
    return rows.length > limit ? rows.slice(0, limit) : rows;
  }

  /** Forgets every key; sentinels become empty lists again. */
  clear(lists: number): void {
    this.index.clear();
    this.keys = [];
    this.freeTop = 0;
    this.nextUnused = lists;
    this.lastKey = undefined;
    this.lastSlot = this.lastValue = -1;
    for (let list = 0; list < lists; list++) {
      this.prev[list] = list;
      this.next[list] = list;
    }
  }

  /** Doubles every array (amortised O(1) per allocation). */
  private grow(): void {
    const capacity = this.size.length * 2;
    if (capacity > SLOT_MASK + 1) throw new RangeError(`cache policy: more than ${SLOT_MASK + 1} slots`);
    this.size = growF64(this.size, capacity);
    this.prev = growI32(this.prev, capacity);
    this.next = growI32(this.next, capacity);
    this.hash = growI32(this.hash, capacity);
    this.free = growI32(this.free, capacity);
    const queue = new Uint8Array(capacity);
    queue.set(this.queue);
    this.queue = queue;
    const freq = new Uint8Array(capacity);
    freq.set(this.freq);
    this.freq = freq;
    const hits = new Uint32Array(capacity);
    hits.set(this.hits);
    this.hits = hits;
  }
}

function growF64(old: Float64Array, capacity: number): Float64Array {
  const next = new Float64Array(capacity);
  next.set(old);
  return next;
}

function growI32(old: Int32Array, capacity: number): Int32Array {
  const next = new Int32Array(capacity);
  next.set(old);
  return next;
}
