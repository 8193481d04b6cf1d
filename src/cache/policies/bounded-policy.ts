/**
 * What every eviction policy shares: its bounds (checked once, at construction), the resident totals and
 * the `onEvict` callback. Only this state lives here; the hot methods (`has`, `hit`, `insert`, `remove`)
 * stay in each policy so that their property accesses see one class and stay monomorphic.
 */
import type { PolicyOptions } from '../policy.ts';
import type { SlotArena } from './slots.ts';

export abstract class BoundedPolicy {
  /** Sum of the charges of resident keys, in bytes. */
  bytes = 0;
  /** Number of resident keys. */
  count = 0;
  protected readonly maxBytes: number;
  protected readonly maxEntries: number;
  protected readonly onEvict: (key: string) => void;

  constructor(options: PolicyOptions) {
    checkCapacity(options.maxBytes, options.maxEntries);
    this.maxBytes = options.maxBytes;
    this.maxEntries = options.maxEntries;
    this.onEvict = options.onEvict;
  }
}

/** Throws a `RangeError` unless `size` is a finite, non-negative number of bytes. */
export function checkSize(key: string, size: number): void {
  if (!(size >= 0) || !Number.isFinite(size)) {
    throw new RangeError(`cache policy: size of "${key}" must be a finite number >= 0, got ${size}`);
  }
}

/** Throws a `RangeError` for capacities that cannot bound anything. */
export function checkCapacity(maxBytes: number, maxEntries: number): void {
  if (!(maxBytes > 0)) throw new RangeError(`cache policy: maxBytes must be > 0, got ${maxBytes}`);
  if (!(maxEntries >= 1)) throw new RangeError(`cache policy: maxEntries must be >= 1, got ${maxEntries}`);
  if (maxBytes === Number.POSITIVE_INFINITY && maxEntries === Number.POSITIVE_INFINITY) {
    throw new RangeError('cache policy: at least one of maxBytes and maxEntries must be finite');
  }
}

/** A policy whose keys live in a SlotArena: `has` and `remove` are the same for all of them. */
export abstract class ArenaPolicy extends BoundedPolicy {
  abstract readonly arena: SlotArena;

  has(key: string): boolean {
    return this.arena.find(key) >= 0;
  }

  remove(key: string): void {
    const slot = this.arena.find(key);
    if (slot < 0) return;
    this.unlink(slot);
    this.arena.release(slot);
  }

  /** Takes `slot` out of its list and out of the totals (the slot stays allocated). */
  protected abstract unlink(slot: number): void;
}
