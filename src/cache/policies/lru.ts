/**
 * Least recently used: one list in access order; a hit moves the key to the newest end, eviction takes the
 * oldest. The yardstick the other policies are measured against.
 */
import type { EvictionPolicy, PolicyOptions } from '../policy.ts';
import { ArenaPolicy, checkSize } from './bounded-policy.ts';
import { SlotArena } from './slots.ts';

const LIST = 0;

/** Creates an LRU policy bounded by `options.maxBytes` and `options.maxEntries`. */
export function createLru(options: PolicyOptions): EvictionPolicy {
  return new LruPolicy(options);
}

export class LruPolicy extends ArenaPolicy implements EvictionPolicy {
  readonly name = 'lru' as const;
  readonly arena = new SlotArena(1);

  /** Its own copy of `ArenaPolicy.has`: one receiver class per call site (see the adaptive policy). */
  override has(key: string): boolean {
    return this.arena.find(key) >= 0;
  }

  /** Returns the key's slot, or -1 if it is not resident (the adaptive policy reads the slot's hash). */
  hit(key: string): number {
    const a = this.arena;
    const slot = a.find(key);
    if (slot < 0) return -1;
    a.hits[slot]!++;
    a.unlink(slot);
    a.pushBack(LIST, slot);
    return slot;
  }

  insert(key: string, size: number): boolean {
    checkSize(key, size);
    if (this.arena.find(key) >= 0) this.remove(key);
    if (size > this.maxBytes) {
      this.onEvict(key);
      return false;
    }
    while (this.count > 0 && (this.bytes + size > this.maxBytes || this.count + 1 > this.maxEntries)) {
      this.evictOldest();
    }
    const slot = this.arena.alloc(key, size);
    this.arena.pushBack(LIST, slot);
    this.bytes += size;
    this.count++;
    return true;
  }

  clear(): void {
    this.arena.clear(1);
    this.bytes = 0;
    this.count = 0;
  }

  /** Most recently used first; `frequency` is the number of hits since the key was inserted. */
  hottest(limit: number): Array<{ key: string; frequency: number }> {
    const a = this.arena;
    const out: Array<{ key: string; frequency: number }> = [];
    for (let slot = a.prev[LIST]!; slot !== LIST && out.length < limit; slot = a.prev[slot]!) {
      out.push({ key: a.keys[slot]!, frequency: a.hits[slot]! });
    }
    return out;
  }

  protected unlink(slot: number): void {
    this.arena.unlink(slot);
    this.bytes -= this.arena.size[slot]!;
    this.count--;
  }

  private evictOldest(): void {
    const slot = this.arena.first(LIST);
    this.unlink(slot);
    this.onEvict(this.arena.release(slot));
  }
}
