/**
 * CPU per cache hit, store alone: lookup + the buffer a hit writes, for the per-worker `MemoryStore` and
 * the shared store (copy of a small answer with its Date, or pinned view of a large body). No sockets:
 * what the store adds to a request. `node bench/shared-store-hit.ts [--size 1024] [--keys 1000]`
 */
import { parseArgs } from 'node:util';
import { CacheEntry } from '../src/cache/entry.ts';
import { createPolicy } from '../src/cache/policies/index.ts';
import { directLink, SharedStoreClient } from '../src/cache/shared/client.ts';
import { toSharedInput } from '../src/cache/shared/input.ts';
import { createSharedBuffer } from '../src/cache/shared/layout.ts';
import { SharedStoreOwner } from '../src/cache/shared/owner.ts';
import { MemoryStore } from '../src/cache/store.ts';
import type { Response } from '../src/http/types.ts';

const { values } = parseArgs({
  options: { size: { type: 'string', default: '1024' }, keys: { type: 'string', default: '1000' } },
});
const size = Number(values.size);
const keys = Number(values.keys);
const ROUNDS = 5;
const OPS = 2_000_000;

function record(i: number) {
  return {
    key: `/static/file-${i}.txt`,
    path: `/static/file-${i}.txt`,
    host: '',
    status: 200,
    reason: '',
    fields: [
      ['Content-Type', 'text/plain; charset=utf-8'],
      ['Last-Modified', 'Mon, 07 Dec 2026 22:48:00 GMT'],
      ['ETag', `"${size}-1765147680000"`],
      ['Accept-Ranges', 'bytes'],
    ] as Array<[string, string]>,
    body: Buffer.alloc(size, 0x61),
    file: null,
    storedAt: 0,
    expiresAt: Number.POSITIVE_INFINITY,
  };
}

const names = Array.from({ length: keys }, (_, i) => `/static/file-${i}.txt`);
let sink = 0;
const res = {
  sendPrebuilt(a: Buffer, b?: Buffer | null, release?: (() => void) | null) {
    sink += a.length + (b ? b.length : 0);
    release?.();
  },
} as unknown as Response;

const memory = new MemoryStore({ maxBytes: 1e12, createPolicy: (o) => createPolicy('w-tinylfu', o) });
for (let i = 0; i < keys; i++) memory.set(new CacheEntry(record(i)));

const sab = createSharedBuffer({
  maxBytes: Math.max(64 << 20, keys * (size + 2048)),
  maxEntries: keys * 2,
  workers: 1,
});
const owner = new SharedStoreOwner(sab, { createPolicy: (o) => createPolicy('w-tinylfu', o) });
for (let i = 0; i < keys; i++) owner.set(toSharedInput(record(i), Number.POSITIVE_INFINITY));
const shared = new SharedStoreClient(sab, 0, directLink(owner));

function runMemory(): number {
  const start = process.hrtime.bigint();
  const now = Date.now();
  for (let i = 0; i < OPS; i++) {
    const entry = memory.get(names[i % keys]!, now)!;
    res.sendPrebuilt(entry.fullResponse(now), entry.separateBody);
    entry.hits++;
  }
  return Number(process.hrtime.bigint() - start) / OPS;
}

function runShared(): number {
  const start = process.hrtime.bigint();
  const now = Date.now();
  for (let i = 0; i < OPS; i++) {
    const entry = shared.get(names[i % keys]!, now)!;
    entry.send(res, true, now);
    if ((i & 1023) === 0) owner.maintain();
  }
  return Number(process.hrtime.bigint() - start) / OPS;
}

const results: Record<string, number[]> = { memory: [], shared: [] };
for (let round = 0; round < ROUNDS; round++) {
  results.memory!.push(runMemory());
  results.shared!.push(runShared());
}
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`hit of a ${size} B body, ${keys} keys, ${OPS} ops x ${ROUNDS} rounds (median ns/op):`);
console.log(
  `  MemoryStore (per worker): ${median(results.memory!).toFixed(0)} ns  [${results.memory!.map((x) => x.toFixed(0)).join(' ')}]`,
);
console.log(
  `  shared store:             ${median(results.shared!).toFixed(0)} ns  [${results.shared!.map((x) => x.toFixed(0)).join(' ')}]`,
);
owner.close();
if (sink === 0) console.log('');
