/**
 * Soft purge (Fastly's name; Varnish 6's `purge.soft`): matching proxied entries are marked stale instead
 * of removed. The next request for one revalidates it (a 304 if it did not change: no body transferred)
 * or, within the response's `stale-while-revalidate`, is served stale while one request refreshes; with
 * collapsing on, concurrent requests wait for that one. So a purge does not send every client to the
 * origin at once, and a stale copy stays for `stale-if-error` / `serve_stale_when_down` if the origin is
 * down. Only proxied entries can be revalidated: static-file entries are left as they are.
 */
import type { PurgeFilter, PurgeResult } from '../cache/store.ts';
import type { ProxyEntry } from './proxy-entry.ts';

/** Whether `entry` matches `filter`, as the store's hard purge matches (decoded path, optional host). */
export function softPurgeMatches(entry: ProxyEntry, filter: PurgeFilter): boolean {
  if ('all' in filter) return true;
  const record = entry.record;
  if (filter.host !== undefined && filter.host !== record.host) return false;
  if ('path' in filter) return record.path === filter.path;
  return record.path.startsWith(filter.prefix);
}

/** Mark `entry` stale at `now`, counted in `result` when it was fresh. */
export function countStale(entry: ProxyEntry, now: number, result: PurgeResult): void {
  if (!entry.markStale(now)) return;
  result.removed++;
  result.bytes += entry.charge;
  if (result.keys.length < 1000) result.keys.push(entry.record.key);
}
