/**
 * Bans, micro: the per-lookup cost that bans add on the hit path. 100,000 stored entries, looked up by
 * key as a hit does (`store.get`, then the ban check the fast path makes), with no ban, and with 100 bans
 * pending that match nothing: the first pass checks each entry against the 100 expressions, later passes
 * cost one comparison per hit until the sweep retires the bans. Indicative only (shared machine): best of
 * `--repeat` passes.
 *
 *   node bench/ban-hit.ts [--entries 100000] [--bans 100] [--repeat 5]
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
    bans: { type: 'string', default: '100' },
    repeat: { type: 'string', default: '5' },
  },
});
const n = Number(values.entries);
const body = Buffer.alloc(64, 'x');
let cache: ProxyStore | null = null;
const store = new MemoryStore({
  maxBytes: 2 ** 40,
  createPolicy: (o) => createPolicy('lru', o),
  onRemove: (entry) => cache?.onRemove(entry),
});
cache = new ProxyStore(store, new CacheStats(), 'tamarin', () => 0);
const insert = (cache as unknown as { insert(e: ProxyEntry): ProxyEntry | null }).insert.bind(cache);
const keys: string[] = [];
for (let i = 0; i < n; i++) {
  const target = `/item/${i}?q=${i % 7}`;
  const key = `http://h${target}`;
  keys.push(key);
  const record = {
    key,
    path: target,
    host: 'h',
    status: 200,
    reason: 'OK',
    fields: [['Content-Type', 'text/html'] as [string, string]],
    body,
    file: null,
    storedAt: 0,
    expiresAt: 1e15,
  };
  insert(
    new ProxyEntry(record, {
      base: key,
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
const bans = cache.bans;
const check = (cache as unknown as { banned(e: ProxyEntry): boolean }).banned.bind(cache);

/** One pass of lookups as a hit makes them; ns per lookup. */
function pass(): number {
  const start = process.hrtime.bigint();
  let found = 0;
  for (let i = 0; i < n; i++) {
    const entry = store.get(keys[i]!, 0) as ProxyEntry;
    if (entry.banChecked < bans.latest && check(entry)) continue;
    found++;
  }
  if (found !== n) throw new Error('a ban matched');
  return Number(process.hrtime.bigint() - start) / n;
}
const best = () => Math.min(...Array.from({ length: Number(values.repeat) }, pass));

const none = best();
for (let b = 0; b < Number(values.bans); b++) cache.ban({ url: `^/nothing-${b}/`, host: '^h$' });
const first = pass();
const pending = best();
console.log(
  `lookup: ${none.toFixed(0)} ns with no ban; ${first.toFixed(0)} ns on the first pass with ${values.bans} bans ` +
    `pending (each entry checked once), then ${pending.toFixed(0)} ns (+${(((pending - none) / none) * 100).toFixed(1)}%)`,
);
cache.banSweeper.stop();
