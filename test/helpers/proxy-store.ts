/**
 * A `ProxyStore` over a real `MemoryStore`, filled with synthetic proxied entries, and a fast-path lookup:
 * for the tests (and the benchmark) of purges, soft purges and ban sweeps that run in slices.
 */
import { createPolicy } from '../../src/cache/policies/index.ts';
import { CacheStats } from '../../src/cache/stats.ts';
import { MemoryStore } from '../../src/cache/store.ts';
import type { Request, Response } from '../../src/http/types.ts';
import { emptyDirectives } from '../../src/http-cache/cache-control.ts';
import { ProxyEntry } from '../../src/http-cache/proxy-entry.ts';
import { ProxyStore } from '../../src/http-cache/proxy-store.ts';

/** A fresh (for 1e14 ms) 200 for `http://h<target>`, tagged `tags` (Cache-Tag). */
export function proxyEntry(target: string, tags: string, body = Buffer.alloc(32, 'x')): ProxyEntry {
  const record = {
    key: `http://h${target}`,
    path: target,
    host: 'h',
    status: 200,
    reason: 'OK',
    fields: [['Cache-Tag', tags] as [string, string]],
    body,
    file: null,
    storedAt: 0,
    expiresAt: 1e15,
  };
  return new ProxyEntry(record, {
    base: record.key,
    target,
    requestTime: 0,
    responseTime: 0,
    initialAgeMs: 0,
    lifetimeMs: 1e14,
    directives: emptyDirectives(),
    vary: null,
    varyValues: null,
    ownFields: 0,
  });
}

/** An empty cache on the clock `clock`, and how to store an entry in it. */
export function proxyStore(clock: () => number = () => 0): {
  cache: ProxyStore;
  store: MemoryStore;
  insert: (entry: ProxyEntry) => ProxyEntry | null;
} {
  let cache: ProxyStore | null = null;
  const store = new MemoryStore({
    maxBytes: 2 ** 40,
    createPolicy: (o) => createPolicy('lru', o),
    onRemove: (e) => cache?.onRemove(e),
  });
  cache = new ProxyStore(store, new CacheStats(), 'tamarin', clock);
  const insert = (cache as unknown as { insert(e: ProxyEntry): ProxyEntry | null }).insert.bind(cache);
  return { cache, store, insert };
}

const res = { sendPrebuilt: () => {} } as unknown as Response;

/** Whether the fast path answers a plain GET of `target` (host `h`) from the store at `now`. */
export function fastHit(cache: ProxyStore, target: string, now = 0): boolean {
  const req = {
    rawTarget: undefined,
    target,
    host: 'h',
    method: 'GET',
    headers: { length: 0 },
    keepAlive: true,
    versionMinor: 1,
  } as unknown as Request;
  return cache.tryHit(req, res, now);
}
