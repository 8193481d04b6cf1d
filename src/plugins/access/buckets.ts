/**
 * Token buckets for rate limits in one SharedArrayBuffer that every worker maps, so a limit is the
 * server's budget, not one per worker. A fixed table of slots (open addressing over a key hash, four
 * probes, the stalest slot taken over when all four are busy with other keys); each slot has a spin
 * lock (`Atomics.compareExchange`), and the lock's acquire / release order the plain reads and writes of
 * its tokens and time (the JavaScript memory model: Atomics synchronise the other accesses).
 *
 * Layout: Int32 locks[slots] | Int32 keys[slots] | Float64 tokens[slots] | Float64 updatedMs[slots].
 */

/** Slots per limit: enough for the distinct clients active within a refill period on a busy server. */
export const SLOTS = 8192;
const PROBES = 4;

/** Bytes one limit's table takes. */
export const BYTES_PER_LIMIT = SLOTS * (4 + 4 + 8 + 8);

/** FNV-1a over the key's UTF-16 units; never 0 (0 marks an empty slot). */
function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h === 0 ? 1 : h;
}

/** The buckets of one limit. */
export class SharedBuckets {
  private readonly locks: Int32Array;
  private readonly keys: Int32Array;
  private readonly tokens: Float64Array;
  private readonly updated: Float64Array;
  private readonly burst: number;
  /** Tokens added per millisecond. */
  private readonly perMs: number;

  /**
   * @param buffer the shared memory; `offset` bytes in (a multiple of 8), {@link BYTES_PER_LIMIT} long
   * @param rate tokens per second
   * @param burst bucket size (requests allowed at once)
   */
  constructor(buffer: SharedArrayBuffer, offset: number, rate: number, burst: number) {
    this.locks = new Int32Array(buffer, offset, SLOTS);
    this.keys = new Int32Array(buffer, offset + SLOTS * 4, SLOTS);
    this.tokens = new Float64Array(buffer, offset + SLOTS * 8, SLOTS);
    this.updated = new Float64Array(buffer, offset + SLOTS * 16, SLOTS);
    this.burst = burst;
    this.perMs = rate / 1000;
  }

  /**
   * Take one token for `key` at `now` (epoch ms). Returns 0 when allowed, else the milliseconds until a
   * token will be there (for `Retry-After`).
   */
  take(key: string, now: number): number {
    const hash = hashKey(key);
    const slot = this.slotFor(hash);
    const locks = this.locks;
    while (Atomics.compareExchange(locks, slot, 0, 1) !== 0) {
      // Held by another worker for a few instructions: spin.
    }
    let wait = 0;
    try {
      let tokens: number;
      if (Atomics.load(this.keys, slot) !== hash) {
        Atomics.store(this.keys, slot, hash);
        tokens = this.burst;
      } else {
        const elapsed = now - this.updated[slot]!;
        tokens = Math.min(this.burst, this.tokens[slot]! + (elapsed > 0 ? elapsed * this.perMs : 0));
      }
      if (tokens >= 1) tokens -= 1;
      else wait = Math.ceil((1 - tokens) / this.perMs);
      this.tokens[slot] = tokens;
      this.updated[slot] = now;
    } finally {
      Atomics.store(locks, slot, 0);
    }
    return wait;
  }

  /** The slot holding `hash`, else an empty one, else the stalest of the probed ones. */
  private slotFor(hash: number): number {
    const start = (hash >>> 0) % SLOTS;
    let stalest = start;
    for (let i = 0; i < PROBES; i++) {
      const slot = (start + i) % SLOTS;
      const key = Atomics.load(this.keys, slot);
      if (key === hash || key === 0) return slot;
      if (this.updated[slot]! < this.updated[stalest]!) stalest = slot;
    }
    return stalest;
  }
}
