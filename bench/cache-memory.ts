/**
 * Memory of a full cache: fill a 256 MiB store (the default `max_size`) with 64 KiB objects through the
 * same code the plugin uses (CacheEntry + MemoryStore + the default policy), then report the process's RSS
 * growth against the configured capacity and the real overhead per entry.
 *
 *   node bench/cache-memory.ts [--size 256MiB] [--object 64KiB] [--policy s3fifo]
 *
 * Target: RSS growth ≤ 1.15 × capacity. Takes a few seconds.
 */
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { CacheEntry, ENTRY_OVERHEAD } from '../src/cache/entry.ts';
import { createPolicy, DEFAULT_POLICY, isPolicyName } from '../src/cache/policies/index.ts';
import { MemoryStore } from '../src/cache/store.ts';
import { parseByteSize } from '../src/server/units.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '256MiB' },
    object: { type: 'string', default: '64KiB' },
    policy: { type: 'string', default: DEFAULT_POLICY },
  },
});
const capacity = parseByteSize(values.size);
const objectSize = parseByteSize(values.object);
if (capacity === undefined || objectSize === undefined || !isPolicyName(values.policy)) {
  console.error('usage: node bench/cache-memory.ts [--size 256MiB] [--object 64KiB] [--policy s3fifo]');
  process.exit(2);
}
const policy = values.policy;

/** Full GCs with pauses, so V8 also gives back the heap pages it freed (it uncommits them lazily). */
async function settle(): Promise<NodeJS.MemoryUsage> {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return process.memoryUsage();
}

const shared = Buffer.alloc(objectSize);
const store = new MemoryStore({ maxBytes: capacity, createPolicy: (o) => createPolicy(policy, o) });
const before = await settle();
const started = performance.now();
let inserted = 0;
// Fill to capacity (OVERFILL=1.25 fills 25% more, to exercise eviction: RSS must track what stays, not
// what passed). The fill is one synchronous loop, so the plugin's reclaimer (src/cache/reclaim.ts), which
// runs between requests, is not modelled here: bench/lib/scenario-memory.ts measures the whole server.
const target = Math.ceil((capacity / objectSize) * Number(process.env.OVERFILL ?? 1));
for (let i = 0; i < target; i++) {
  const path = `/assets/file-${String(i).padStart(6, '0')}.bin`;
  // What the static plugin hands over for a fill: the body read whole into a buffer of its own
  // (src/static/whole-body.ts), which the entry keeps as its body, without a copy.
  const body = process.env.SHARED ? shared : Buffer.allocUnsafe(objectSize).fill(i & 0xff);
  const entry = new CacheEntry({
    key: path,
    path,
    host: '',
    status: 200,
    reason: '',
    fields: [
      ['Content-Type', 'application/octet-stream'],
      ['Content-Length', String(objectSize)],
      ['Last-Modified', 'Thu, 26 Nov 2026 08:00:00 GMT'],
      ['ETag', `"${objectSize.toString(16)}-19ac${i.toString(16)}"`],
      ['Accept-Ranges', 'bytes'],
    ],
    body,
    file: { path: `/srv/site${path}`, size: objectSize, mtimeMs: 1_764_144_000_000 + i, ino: 1000 + i },
    storedAt: Date.now(),
    expiresAt: Number.POSITIVE_INFINITY,
  });
  if (store.set(entry)) inserted++;
}
const elapsed = performance.now() - started;
const after = await settle();

const growth = after.rss - before.rss;
const heapGrowth = after.heapUsed - before.heapUsed;
const bufferGrowth = after.arrayBuffers - before.arrayBuffers;
const heapCommitted = after.heapTotal - before.heapTotal;
const bodyBytes = store.count * objectSize;
const perEntry = (growth - bodyBytes) / store.count;
const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
console.log(`policy ${policy}, capacity ${mib(capacity)}, objects ${objectSize} B`);
console.log(`inserted ${inserted}, resident ${store.count} entries, charged ${mib(store.bytes)}`);
console.log(`RSS growth ${mib(growth)} = ${(growth / capacity).toFixed(3)} × capacity (target ≤ 1.15)`);
console.log(
  `real overhead per entry (RSS growth − bodies) / entries: ${perEntry.toFixed(0)} B ` +
    `(estimate charged: ${ENTRY_OVERHEAD} B + head + key)`,
);
console.log(
  `of which JS heap ${mib(heapGrowth)} (${(heapGrowth / store.count).toFixed(0)} B/entry), ` +
    `V8 heap committed ${mib(heapCommitted)}, buffers ${mib(bufferGrowth)}, ` +
    `other (allocator) ${mib(growth - heapCommitted - bufferGrowth)}`,
);
console.log(`fill time ${elapsed.toFixed(0)} ms`);
process.exitCode = growth / capacity <= 1.15 ? 0 : 1;
