/**
 * Query normalisation of a cached route (`query_sort`, `query_drop`), Varnish's `std.querysort` and the
 * tracking-parameter stripping every CDN offers: `/p?utm_source=x&b=2&a=1` and `/p?a=1&b=2` become one
 * entry instead of two.
 *
 * The key and what the backend sees agree by construction: the request's target itself is rewritten
 * before the lookup, so the stored entry, the upstream request line and every later lookup use the same
 * normalised target. Dropping a parameter from the key therefore also drops it from the request: a
 * backend that changes its answer on a dropped parameter can never have that answer stored under the
 * address of another (the cache-poisoning risk of keys narrower than the request). The price is that the
 * backend never sees the dropped parameters: list only ones it ignores (analytics tags read in the
 * browser). Sorting keeps the order of repeated names (`a=1&a=2`), which some backends give meaning to.
 */
import { z } from 'zod';
import type { Request } from '../http/types.ts';

/** `query_drop`: parameter names, exact or with a trailing `*` (a prefix: `utm_*`). */
export const queryDropSchema = z
  .array(z.string().regex(/^[^&=*\s]+\*?$/, 'expected a parameter name, or a prefix ending in "*" (utm_*)'))
  .optional();

/** `key_headers`: request field names added to the key (lower-cased, RFC 9110 §5.1 tokens). */
export const keyHeadersSchema = z
  .array(
    z
      .string()
      .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected a header field name such as "accept-language"')
      .transform((name) => name.toLowerCase()),
  )
  .optional();

/**
 * The names a stored response varies on: its own `Vary` plus the route's `key_headers`, sorted as
 * `parseVary` sorts them. Keyed like Vary, the fields are matched on every lookup (the fast path too),
 * and they are fields the backend is sent as well: no key on anything the backend does not see.
 */
export function withKeyHeaders(vary: readonly string[] | null, keyHeaders: readonly string[] | null) {
  if (keyHeaders === null || keyHeaders.length === 0) return vary;
  return [...new Set([...(vary ?? []), ...keyHeaders])].sort();
}

/** A route's query rules, compiled once. */
export interface QueryRules {
  readonly sort: boolean;
  readonly exact: ReadonlySet<string>;
  readonly prefixes: readonly string[];
}

/** Compile `query_sort` and `query_drop`; null when the route normalises nothing. */
export function compileQueryRules(sort: boolean, drop: readonly string[] | undefined): QueryRules | null {
  if (!sort && (drop === undefined || drop.length === 0)) return null;
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const name of drop ?? []) {
    if (name.endsWith('*')) prefixes.push(name.slice(0, -1));
    else exact.add(name);
  }
  return { sort, exact, prefixes };
}

/** The parameter's name as written (still percent-encoded: `utm%5Fsource` is not `utm_source`). */
function nameOf(pair: string): string {
  const eq = pair.indexOf('=');
  return eq === -1 ? pair : pair.slice(0, eq);
}

function dropped(rules: QueryRules, name: string): boolean {
  if (rules.exact.has(name)) return true;
  for (const prefix of rules.prefixes) if (name.startsWith(prefix)) return true;
  return false;
}

/** `query` (without `?`) normalised by `rules`: listed parameters and empty pieces gone, sorted by name. */
export function normaliseQuery(rules: QueryRules, query: string): string {
  if (query === '') return query;
  const pairs: string[] = [];
  for (const pair of query.split('&')) {
    if (pair === '' || dropped(rules, nameOf(pair))) continue;
    pairs.push(pair);
  }
  // Array.prototype.sort is stable: repeated names keep their order.
  if (rules.sort && pairs.length > 1) pairs.sort((a, b) => compare(nameOf(a), nameOf(b)));
  return pairs.join('&');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Rewrite `req`'s query by `rules` (before its lookup and its forwarding). `Request` fields are readonly
 * to handlers; this is the one place that changes them, keeping the object's shape (same fields).
 */
export function applyQueryRules(rules: QueryRules, req: Request): void {
  const query = req.query;
  if (query === '') return;
  const normalised = normaliseQuery(rules, query);
  if (normalised === query) return;
  const writable = req as { target: string; query: string; rawTarget?: string };
  // A route forwarding the raw bytes (`normalize_path = false`) only gets here when they equal the
  // target: they change with it, so that the backend still gets the query the key was made of.
  const sameRaw = req.rawTarget === req.target;
  writable.query = normalised;
  writable.target = normalised === '' ? req.path : `${req.path}?${normalised}`;
  if (sameRaw) writable.rawTarget = writable.target;
}
