/**
 * Purges, soft purges and ban sweeps, micro: a store of 100,000 proxied entries, 10,000 of them tagged
 * `hot`, the rest spread over 1,000 other tags. Per operation, the time until it resolves and until the
 * call returns, and meanwhile the longest stall and p99 gap between store lookups of an untouched entry
 * queued one after another with setImmediate (what hits wait while it runs in slices):
 *
 * - `hard`: `purgeTags(['hot'])` (index lookup, store delete, index upkeep per entry);
 * - `soft-tag`: `softPurgeTags(['hot'])` (10,000 marked stale);
 * - `soft-prefix`: `softPurge({ prefix: '/item/1' })` (every URL checked, 11,111 marked);
 * - `ban`: one ban `^/item/1` added, then a sweep of every entry (11,111 removed);
 * - `ban100`: 100 bans (99 matching nothing) swept at once: 100 expressions per entry.
 *
 * Times are wall clock minus the time the thread waited for a CPU (Linux's schedstat; the thread's CPU-time
 * counters tick every 4 ms, too coarse for a gap), so other processes' turns on a loaded machine are not
 * counted; each figure is the best (lowest) of `--repeat` runs. Compare A/B in one session.
 *
 *   node --expose-gc bench/tag-purge.ts [--entries 100000] [--tagged 10000] [--repeat 5] [--op hard,ban]
 */
import { existsSync, readFileSync } from 'node:fs';
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
    op: { type: 'string', default: 'hard,soft-tag,soft-prefix,ban,ban100' },
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

type Op = 'hard' | 'soft-tag' | 'soft-prefix' | 'ban' | 'ban100';

/** Start `op`; resolves with how many entries it removed or marked. */
async function run(op: Op, cache: ProxyStore): Promise<number> {
  switch (op) {
    case 'hard':
      return (await cache.purgeTags(['hot'])).removed;
    case 'soft-tag':
      return (await cache.softPurgeTags(['hot'])).removed;
    case 'soft-prefix':
      return (await cache.softPurge({ prefix: '/item/1', host: 'h' })).removed;
    case 'ban':
    case 'ban100': {
      const extra = op === 'ban100' ? 99 : 0;
      for (let i = 0; i < extra; i++) cache.ban({ url: `^/nothing/${i}/`, host: '^h$' });
      const ban = cache.ban({ url: '^/item/1' });
      await cache.banSweeper.sweep();
      return ban.removed;
    }
  }
}

/**
 * ms this thread has spent waiting for a CPU, from Linux's scheduler statistics (0 elsewhere). It is
 * brought up to date whenever the thread is put back on a CPU, so read while running it is exact: a gap's
 * wall time minus the wait within it is the time the worker itself spent (a loaded machine otherwise adds
 * other processes' turns to every stall).
 */
const waited: () => number = existsSync('/proc/thread-self/schedstat')
  ? () => Number(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ')[1]) / 1e6
  : () => 0;

interface Run {
  removed: number;
  /** ms until the call returned (what it did synchronously), and until it resolved (waits for a CPU not counted). */
  sync: number;
  total: number;
  /** Gaps between consecutive hits, in ms (waits for a CPU not counted), and as the wall clock saw them. */
  gaps: number[];
  wallGaps: number[];
}

/**
 * One `op`, with a "hit" (a store lookup of an untouched entry) scheduled by setImmediate after every
 * callback meanwhile: the gaps between hits are what a worker's clients would wait.
 */
async function once(op: Op): Promise<Run> {
  const { cache, store } = build();
  const gaps: number[] = [];
  const wallGaps: number[] = [];
  let done = false;
  let last = performance.now();
  let lastWaited = waited();
  const hit = (): void => {
    const now = performance.now();
    const wait = waited();
    gaps.push(now - last - (wait - lastWaited));
    wallGaps.push(now - last);
    last = now;
    lastWaited = wait;
    store.get('http://h/item/2', 0);
    if (!done) setImmediate(hit);
  };
  // The build's garbage is collected before, not during, the operation (when run with --expose-gc).
  (globalThis as { gc?: () => void }).gc?.();
  const start = performance.now();
  const startWaited = waited();
  last = start;
  lastWaited = startWaited;
  setImmediate(hit);
  const pending = run(op, cache);
  const sync = performance.now() - start - (waited() - startWaited);
  // An operation that ran synchronously stalled the hit queued before it for its whole duration.
  const removed = await pending;
  const total = performance.now() - start - (waited() - startWaited);
  done = true;
  await new Promise((r) => setImmediate(r));
  // The kernel sometimes books a wait at a neighbouring reading (the gap it belongs to then looks long,
  // its neighbour negative): a negative gap gives its excess back to the longer of its neighbours.
  for (let i = 0; i < gaps.length; i++) {
    const gap = gaps[i]!;
    if (gap >= 0) continue;
    const before = i > 0 ? gaps[i - 1]! : Number.NEGATIVE_INFINITY;
    const after = i + 1 < gaps.length ? gaps[i + 1]! : Number.NEGATIVE_INFINITY;
    if (before >= after && i > 0) gaps[i - 1] = before + gap;
    else if (i + 1 < gaps.length) gaps[i + 1] = after + gap;
    gaps[i] = 0;
  }
  for (let i = 0; i < gaps.length; i++) gaps[i] = Math.max(0, gaps[i]!);
  return { removed, sync: Math.max(0, sync), total, gaps, wallGaps };
}

const best = (values: number[]): number => Math.min(...values);

/** The longest and the 99th-percentile gap. */
function worst(gaps: readonly number[]): { stall: number; p99: number } {
  const sorted = [...gaps].sort((a, b) => a - b);
  return {
    stall: sorted.at(-1) ?? 0,
    p99: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0,
  };
}

for (const op of values.op.split(',') as Op[]) {
  const runs: Run[] = [];
  for (let r = 0; r < Number(values.repeat); r++) runs.push(await once(op));
  const m = (pick: (run: Run) => number) => best(runs.map(pick)).toFixed(1);
  console.log(
    `${op.padEnd(11)} ${String(runs[0]?.removed ?? 0).padStart(6)} of ${entries}: ${m((r) => r.total)} ms ` +
      `(${m((r) => r.sync)} before the call returned); longest stall ${m((r) => worst(r.gaps).stall)} ms ` +
      `(wall ${m((r) => worst(r.wallGaps).stall)}), p99 gap ${m((r) => worst(r.gaps).p99)} ms ` +
      `(wall ${m((r) => worst(r.wallGaps).p99)}); ${Math.max(...runs.map((r) => r.gaps.length))} hits ` +
      `meanwhile; best of ${values.repeat}`,
  );
}
