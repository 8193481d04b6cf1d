/**
 * Purge by tag, micro: a store of 100,000 proxied entries, 10,000 of them tagged `hot`, the rest spread
 * over 1,000 other tags; time of one `purgeTags(['hot'])` (index lookup, store delete, index upkeep per
 * entry) until it resolves and until the call returns (marking), and meanwhile the longest stall and p99
 * gap between store lookups of untouched entries queued one after another with setImmediate (what hits
 * wait while the purge frees memory in slices). Indicative only on a shared machine: best of `--repeat`.
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

/**
 * One purge of `hot`, with a "hit" (a store lookup of an untouched entry) scheduled by setImmediate
 * after every callback meanwhile: the gaps between hits are what a worker's clients would wait.
 */
async function purgeOnce(): Promise<{ removed: number; sync: number; total: number; gaps: number[] }> {
  const { cache, store } = build();
  const gaps: number[] = [];
  let done = false;
  let last = performance.now();
  const hit = (): void => {
    const now = performance.now();
    gaps.push(now - last);
    last = now;
    store.get('http://h/item/1', 0);
    if (!done) setImmediate(hit);
  };
  // The build's garbage is collected before, not during, the purge (when run with --expose-gc).
  (globalThis as { gc?: () => void }).gc?.();
  const start = performance.now();
  last = start;
  setImmediate(hit);
  const pending = cache.purgeTags(['hot']);
  const sync = performance.now() - start;
  // A purge that ran synchronously stalled the hit queued before it for its whole duration.
  const { removed } = await pending;
  const total = performance.now() - start;
  done = true;
  await new Promise((r) => setImmediate(r));
  return { removed, sync, total, gaps };
}

let best: Awaited<ReturnType<typeof purgeOnce>> | null = null;
for (let r = 0; r < Number(values.repeat); r++) {
  const run = await purgeOnce();
  if (best === null || run.total < best.total) best = run;
}
if (best !== null) {
  const gaps = [...best.gaps].sort((a, b) => a - b);
  const p99 = gaps[Math.min(gaps.length - 1, Math.floor(gaps.length * 0.99))] ?? 0;
  console.log(
    `purgeTags(hot): ${best.removed} of ${entries} entries removed in ${best.total.toFixed(1)} ms ` +
      `(${best.sync.toFixed(1)} ms before the call returned; best of ${values.repeat})`,
  );
  console.log(
    `hits during the purge: ${gaps.length}, longest stall ${(gaps.at(-1) ?? 0).toFixed(1)} ms, ` +
      `p99 gap ${p99.toFixed(2)} ms`,
  );
}
