/**
 * Vary (RFC 9111 §4.1): a stored response answers a request only when the request's values of the fields
 * named in the response's Vary match the ones of the request that produced it. Values are normalised
 * before they are compared (§4.1: "combining multiple field lines", removing whitespace, lower-casing the
 * fields known to be case-insensitive), so `gzip,br` and `gzip, br` select the same variant.
 *
 * Variants of one URL live in the store under `base + "\n" + name=value...`; the URL's current list of
 * Vary names sits in a small index (`VaryIndex`) that the store's removals keep in sync.
 */
import type { HeaderList } from '../http/types.ts';

/** Fields whose values compare case-insensitively (content-coding, language tags, charsets, media types). */
const CASE_INSENSITIVE: ReadonlySet<string> = new Set([
  'accept',
  'accept-encoding',
  'accept-language',
  'accept-charset',
]);

/**
 * Field names listed in a Vary value, lower-cased, de-duplicated and sorted (order does not change the
 * selection); `'*'` for `Vary: *` (never matches, §4.1); `null` when there is no Vary.
 */
export function parseVary(value: string | undefined): string[] | '*' | null {
  if (value === undefined) return null;
  const names = new Set<string>();
  for (const part of value.split(',')) {
    const name = part.trim().toLowerCase();
    if (name === '*') return '*';
    if (name !== '') names.add(name);
  }
  if (names.size === 0) return null;
  return [...names].sort();
}

/** A request's value of one field for matching: all lines joined, whitespace around commas removed. */
export function normaliseValue(name: string, headers: HeaderList): string {
  const joined = headers.getJoined(name);
  if (joined === undefined) return '';
  let value = joined
    .replace(/\s*,\s*/g, ',')
    .replace(/\s+/g, ' ')
    .trim();
  if (CASE_INSENSITIVE.has(name)) value = value.toLowerCase();
  return value;
}

/**
 * The store key of the variant that `headers` selects among responses varying on `names`. An absent field
 * and an empty one are the same variant (both mean "no preference" for the Accept-* family).
 */
export function variantKey(base: string, names: readonly string[], headers: HeaderList): string {
  let key = base;
  for (const name of names) key += '\n' + name + '=' + normaliseValue(name, headers);
  return key;
}

/** Vary names per URL and the variant keys stored under it. */
interface VaryRecord {
  names: readonly string[];
  keys: Set<string>;
}

/** URL → its current Vary list and stored variant keys. */
export class VaryIndex {
  private readonly map = new Map<string, VaryRecord>();

  get size(): number {
    return this.map.size;
  }

  /** Names the URL's stored responses vary on, or undefined (no Vary: the base key is the entry). */
  names(base: string): readonly string[] | undefined {
    return this.map.get(base)?.names;
  }

  /** The key a request selects: the base key, or its variant when the URL varies. */
  keyFor(base: string, headers: HeaderList): string {
    const record = this.map.get(base);
    return record === undefined ? base : variantKey(base, record.names, headers);
  }

  /**
   * Record a variant about to be stored. Returns the keys that must be dropped: all previous variants
   * when the Vary list changed (they were selected by other fields and can no longer be found).
   */
  add(base: string, names: readonly string[], key: string): string[] {
    const record = this.map.get(base);
    if (record === undefined) {
      this.map.set(base, { names, keys: new Set([key]) });
      return [];
    }
    if (sameNames(record.names, names)) {
      record.keys.add(key);
      return [];
    }
    const stale = [...record.keys];
    this.map.set(base, { names, keys: new Set([key]) });
    return stale;
  }

  /** Forget a variant (the store removed it). */
  remove(base: string, key: string): void {
    const record = this.map.get(base);
    if (record === undefined) return;
    record.keys.delete(key);
    if (record.keys.size === 0) this.map.delete(base);
  }

  /** Every variant key of a URL (for invalidation). */
  variants(base: string): string[] {
    const record = this.map.get(base);
    return record === undefined ? [] : [...record.keys];
  }

  clear(): void {
    this.map.clear();
  }
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
