/**
 * Monkey's LFU (its cache plugin's design), kept exactly as designed: a hash table from key to entry, plus a
 * doubly linked list of frequency nodes in increasing order, each heading a doubly linked list of the
 * entries read exactly that many times. A hit moves the entry to the next node (creating the node for
 * `count + 1` if it is missing, dropping the old node if it empties); eviction takes the least recently
 * arrived entry of the lowest node. Every step is O(1). No aging: counts only grow, which is why this policy
 * holds on to yesterday's hot keys (measured in docs/cache-policies.md); it stays as the honest baseline.
 *
 * Entries and nodes live in typed arrays linked by index (-1 ends a list), so nothing is allocated per
 * operation once the arrays have grown.
 */
import type { EvictionPolicy, PolicyOptions } from '../policy.ts';
import { BoundedPolicy, checkSize } from './bounded-policy.ts';

const NONE = -1;

/** Creates Monkey's LFU bounded by `options.maxBytes` and `options.maxEntries`. */
export function createLfu(options: PolicyOptions): EvictionPolicy {
  return new LfuPolicy(options);
}

export class LfuPolicy extends BoundedPolicy implements EvictionPolicy {
  readonly name = 'lfu' as const;
  /** Links followed or rewritten, for the contract suite's O(1) check. */
  moves = 0;
  private readonly index = new Map<string, number>();
  private keys: Array<string | undefined> = [];
  private size = new Float64Array(64);
  private ePrev = new Int32Array(64);
  private eNext = new Int32Array(64);
  private eNode = new Int32Array(64);
  private eFree: number[] = [];
  private eUnused = 0;
  /** Frequency nodes: the count they stand for, their neighbours, and their entry list's ends. */
  private nFreq = new Float64Array(64);
  private nPrev = new Int32Array(64);
  private nNext = new Int32Array(64);
  private nHead = new Int32Array(64);
  private nTail = new Int32Array(64);
  private nFree: number[] = [];
  private nUnused = 0;
  /** Lowest and highest frequency nodes. */
  private lowest = NONE;
  private highest = NONE;
  private lastKey: string | undefined = undefined;
  private lastSlot = NONE;

  has(key: string): boolean {
    return this.find(key) !== NONE;
  }

  hit(key: string): void {
    const slot = this.find(key);
    if (slot === NONE) return;
    const node = this.eNode[slot]!;
    const want = this.nFreq[node]! + 1;
    let target = this.nNext[node]!;
    if (target === NONE || this.nFreq[target] !== want) target = this.newNodeAfter(node, want);
    this.detach(slot);
    this.append(target, slot);
  }

  insert(key: string, size: number): boolean {
    checkSize(key, size);
    if (this.find(key) !== NONE) this.remove(key);
    if (size > this.maxBytes) {
      this.onEvict(key);
      return false;
    }
    while (this.count > 0 && (this.bytes + size > this.maxBytes || this.count + 1 > this.maxEntries)) {
      this.evictOne();
    }
    let slot: number;
    if (this.eFree.length > 0) slot = this.eFree.pop()!;
    else {
      if (this.eUnused === this.size.length) this.growEntries();
      slot = this.eUnused++;
    }
    this.keys[slot] = key;
    this.size[slot] = size;
    this.index.set(key, slot);
    this.lastKey = key;
    this.lastSlot = slot;
    // A new entry has been requested once: it belongs in the node for count 1, which is the lowest if any.
    let node = this.lowest;
    if (node === NONE || this.nFreq[node] !== 1) node = this.newNodeAfter(NONE, 1);
    this.append(node, slot);
    this.bytes += size;
    this.count++;
    return true;
  }

  remove(key: string): void {
    const slot = this.find(key);
    if (slot === NONE) return;
    this.drop(slot);
  }

  clear(): void {
    this.index.clear();
    this.keys = [];
    this.eFree = [];
    this.eUnused = 0;
    this.nFree = [];
    this.nUnused = 0;
    this.lowest = NONE;
    this.highest = NONE;
    this.lastKey = undefined;
    this.lastSlot = NONE;
    this.bytes = 0;
    this.count = 0;
  }

  /** Highest count first; within a count, most recent first. `frequency` is the access count. */
  hottest(limit: number): Array<{ key: string; frequency: number }> {
    const out: Array<{ key: string; frequency: number }> = [];
    for (let node = this.highest; node !== NONE && out.length < limit; node = this.nPrev[node]!) {
      for (let slot = this.nTail[node]!; slot !== NONE && out.length < limit; slot = this.ePrev[slot]!) {
        out.push({ key: this.keys[slot]!, frequency: this.nFreq[node]! });
      }
    }
    return out;
  }

  /**
   * The frequency list as `[count, keys oldest first]` pairs, lowest first: what the contract suite checks
   * (strictly increasing counts, no empty node, every entry in the node of its count).
   */
  frequencyList(): Array<[number, string[]]> {
    const out: Array<[number, string[]]> = [];
    for (let node = this.lowest; node !== NONE; node = this.nNext[node]!) {
      const keys: string[] = [];
      for (let slot = this.nHead[node]!; slot !== NONE; slot = this.eNext[slot]!) {
        if (this.eNode[slot] !== node) throw new Error(`entry ${this.keys[slot]} points at another node`);
        keys.push(this.keys[slot]!);
      }
      out.push([this.nFreq[node]!, keys]);
    }
    return out;
  }

  /** Like SlotArena.find: remembers the last answer, found or not, for the has-then-hit/insert pair. */
  private find(key: string): number {
    if (key === this.lastKey) return this.lastSlot;
    const slot = this.index.get(key) ?? NONE;
    this.lastKey = key;
    this.lastSlot = slot;
    return slot;
  }

  private evictOne(): void {
    const slot = this.nHead[this.lowest]!;
    const key = this.keys[slot]!;
    this.drop(slot);
    this.onEvict(key);
  }

  private drop(slot: number): void {
    this.detach(slot);
    this.bytes -= this.size[slot]!;
    this.count--;
    const key = this.keys[slot]!;
    this.index.delete(key);
    this.keys[slot] = undefined;
    if (this.lastKey === key) this.lastSlot = NONE;
    this.eFree.push(slot);
  }

  /** Appends an entry at the newest end of a node's list. */
  private append(node: number, slot: number): void {
    const tail = this.nTail[node]!;
    this.ePrev[slot] = tail;
    this.eNext[slot] = NONE;
    if (tail === NONE) this.nHead[node] = slot;
    else this.eNext[tail] = slot;
    this.nTail[node] = slot;
    this.eNode[slot] = node;
    this.moves++;
  }

  /** Unlinks an entry from its node, and the node from the frequency list if it is now empty. */
  private detach(slot: number): void {
    const node = this.eNode[slot]!;
    const p = this.ePrev[slot]!;
    const n = this.eNext[slot]!;
    if (p === NONE) this.nHead[node] = n;
    else this.eNext[p] = n;
    if (n === NONE) this.nTail[node] = p;
    else this.ePrev[n] = p;
    this.moves++;
    if (this.nHead[node] === NONE) {
      const np = this.nPrev[node]!;
      const nn = this.nNext[node]!;
      if (np === NONE) this.lowest = nn;
      else this.nNext[np] = nn;
      if (nn === NONE) this.highest = np;
      else this.nPrev[nn] = np;
      this.nFree.push(node);
      this.moves++;
    }
  }

  /** Creates an empty node for `freq` right after `after` (or at the front when `after` is NONE). */
  private newNodeAfter(after: number, freq: number): number {
    let node: number;
    if (this.nFree.length > 0) node = this.nFree.pop()!;
    else {
      if (this.nUnused === this.nFreq.length) this.growNodes();
      node = this.nUnused++;
    }
    const next = after === NONE ? this.lowest : this.nNext[after]!;
    this.nFreq[node] = freq;
    this.nHead[node] = NONE;
    this.nTail[node] = NONE;
    this.nPrev[node] = after;
    this.nNext[node] = next;
    if (after === NONE) this.lowest = node;
    else this.nNext[after] = node;
    if (next === NONE) this.highest = node;
    else this.nPrev[next] = node;
    this.moves++;
    return node;
  }

  private growEntries(): void {
    const capacity = this.size.length * 2;
    this.size = copy(new Float64Array(capacity), this.size);
    this.ePrev = copy(new Int32Array(capacity), this.ePrev);
    this.eNext = copy(new Int32Array(capacity), this.eNext);
    this.eNode = copy(new Int32Array(capacity), this.eNode);
  }

  private growNodes(): void {
    const capacity = this.nFreq.length * 2;
    this.nFreq = copy(new Float64Array(capacity), this.nFreq);
    this.nPrev = copy(new Int32Array(capacity), this.nPrev);
    this.nNext = copy(new Int32Array(capacity), this.nNext);
    this.nHead = copy(new Int32Array(capacity), this.nHead);
    this.nTail = copy(new Int32Array(capacity), this.nTail);
  }
}

function copy<T extends Float64Array | Int32Array>(into: T, from: T): T {
  into.set(from);
  return into;
}
