/**
 * Name → store keys (a tag's entries, a group's entries), kept in step with a store as entries enter and
 * leave it, so that a purge by name costs O(entries with the name), never a scan of the store. Used by
 * both stores (store.ts, shared/owner.ts).
 */
export class KeyIndex {
  private readonly map = new Map<string, Set<string>>();

  add(name: string, key: string): void {
    let keys = this.map.get(name);
    if (keys === undefined) this.map.set(name, (keys = new Set()));
    keys.add(key);
  }

  remove(name: string, key: string): void {
    const keys = this.map.get(name);
    if (keys === undefined) return;
    keys.delete(key);
    if (keys.size === 0) this.map.delete(name);
  }

  /** The keys under `name` (a copy: the caller may remove while iterating). */
  keys(name: string): string[] {
    const keys = this.map.get(name);
    return keys === undefined ? [] : [...keys];
  }

  /** Names with at least one key. */
  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
  }
}
