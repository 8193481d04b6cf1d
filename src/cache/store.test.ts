import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CacheEntry, ENTRY_OVERHEAD, type EntryRecord } from './entry.ts';
import { createPolicy, POLICY_NAMES } from './policies/index.ts';
import { CacheStats } from './stats.ts';
import { MemoryStore, type RemovalReason } from './store.ts';

function entry(key: string, bodySize: number, extra: Partial<EntryRecord> = {}): CacheEntry {
  return new CacheEntry({
    key,
    path: key,
    host: '',
    status: 200,
    reason: '',
    fields: [
      ['Content-Type', 'text/plain'],
      ['Content-Length', String(bodySize)],
    ],
    body: Buffer.alloc(bodySize, 0x61),
    file: null,
    storedAt: 0,
    expiresAt: Number.POSITIVE_INFINITY,
    ...extra,
  });
}

function makeStore(policy: (typeof POLICY_NAMES)[number], maxBytes: number, maxEntries?: number) {
  const removed: Array<[string, RemovalReason]> = [];
  const store = new MemoryStore({
    maxBytes,
    maxEntries,
    createPolicy: (o) => createPolicy(policy, o),
    onRemove: (e, reason) => removed.push([e.record.key, reason]),
  });
  return { store, removed };
}

for (const policy of POLICY_NAMES) {
  describe(`MemoryStore contract (${policy})`, () => {
    test('capacity in bytes, counting head and overhead, is never exceeded', () => {
      const one = entry('/probe', 1000).charge;
      assert.ok(one > 1000 + ENTRY_OVERHEAD, 'charge includes head, body and overhead');
      const { store, removed } = makeStore(policy, one * 10);
      let seed = 7;
      for (let i = 0; i < 2000; i++) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        const key = `/k${seed % 60}`;
        if (store.get(key, 0) === undefined) store.set(entry(key, 200 + (seed % 3000)));
        assert.ok(store.bytes <= store.maxBytes, `bytes ${store.bytes} > ${store.maxBytes}`);
      }
      assert.ok(store.count > 0);
      assert.ok(removed.some(([, reason]) => reason === 'evicted'));
      // Every resident key is retrievable and the sum of charges matches what the store reports.
      const listed = store.list('size', 10_000, 0, 0);
      assert.equal(listed.total, store.count);
      assert.equal(
        listed.entries.reduce((sum, e) => sum + e.size, 0),
        store.bytes,
      );
    });

    test('capacity in entries is never exceeded', () => {
      const { store } = makeStore(policy, 10 * 1024 * 1024, 5);
      for (let i = 0; i < 50; i++) {
        store.set(entry(`/e${i}`, 10));
        assert.ok(store.count <= 5);
      }
    });

    test('an entry larger than the whole capacity is refused', () => {
      const { store } = makeStore(policy, 4096);
      assert.equal(store.set(entry('/huge', 10_000)), false);
      assert.equal(store.peek('/huge'), undefined);
      assert.equal(store.bytes, 0);
    });

    test('replacing a key keeps one entry and the new bytes', () => {
      const { store, removed } = makeStore(policy, 1024 * 1024);
      store.set(entry('/a', 10));
      const second = entry('/a', 20);
      assert.equal(store.set(second), true);
      assert.equal(store.count, 1);
      assert.equal(store.peek('/a'), second);
      assert.equal(store.bytes, second.charge);
      assert.deepEqual(removed, [['/a', 'replaced']]);
    });
  });
}

describe('MemoryStore (lru)', () => {
  test('purge by path, by prefix (with host) and all, returning what was removed', () => {
    const { store, removed } = makeStore('lru', 1024 * 1024);
    for (const key of ['/img/a.png', '/img/b.png', '/img/sub/c.png', '/index.html', '/imgx.png']) {
      store.set(entry(key, 10));
    }
    store.set(entry('/img/a.png br', 10, { path: '/img/a.png' }));
    store.set(entry('other/img/z.png', 10, { path: '/img/z.png', host: 'other' }));

    const byPath = store.purge({ path: '/img/a.png' });
    assert.equal(byPath.removed, 2, 'every variant of the path');
    assert.deepEqual(byPath.keys.sort(), ['/img/a.png', '/img/a.png br']);
    assert.ok(byPath.bytes > 20);

    const byHost = store.purge({ prefix: '/img/', host: 'other' });
    assert.deepEqual(byHost.keys, ['other/img/z.png']);

    const byPrefix = store.purge({ prefix: '/img/' });
    assert.deepEqual(byPrefix.keys.sort(), ['/img/b.png', '/img/sub/c.png']);
    assert.ok(store.peek('/imgx.png'), 'a prefix is a path prefix, not a glob');

    const all = store.purge({ all: true });
    assert.equal(all.removed, 2);
    assert.equal(store.count, 0);
    assert.equal(store.bytes, 0);
    assert.ok(removed.every(([, reason]) => reason === 'purged'));
  });

  test('expiry with an injected clock: never served after expiresAt, reclaimed by get and sweep', () => {
    const { store, removed } = makeStore('lru', 1024 * 1024);
    store.set(entry('/short', 10, { expiresAt: 1000 }));
    store.set(entry('/long', 10, { expiresAt: 5000 }));
    store.set(entry('/forever', 10));
    assert.ok(store.get('/short', 999));
    assert.equal(store.get('/short', 1000), undefined);
    assert.equal(store.peek('/short'), undefined, 'reclaimed on access');
    assert.equal(store.sweep(4999), 0);
    assert.equal(store.sweep(5000), 1);
    assert.equal(store.peek('/long'), undefined);
    assert.ok(store.get('/forever', 1e15));
    assert.deepEqual(removed, [
      ['/short', 'expired'],
      ['/long', 'expired'],
    ]);
  });

  test('list sorts by hits, size and age, with paging', () => {
    const { store } = makeStore('lru', 1024 * 1024);
    store.set(entry('/old-small', 10, { storedAt: 1 }));
    store.set(entry('/new-big', 500, { storedAt: 3 }));
    store.set(entry('/mid', 100, { storedAt: 2 }));
    store.peek('/mid')!.hits = 5;
    assert.deepEqual(
      store.list('hits', 1, 0, 10).entries.map((e) => e.key),
      ['/mid'],
    );
    assert.deepEqual(
      store.list('size', 10, 0, 10).entries.map((e) => e.key),
      ['/new-big', '/mid', '/old-small'],
    );
    const byAge = store.list('age', 2, 1, 10);
    assert.equal(byAge.total, 3);
    assert.deepEqual(
      byAge.entries.map((e) => [e.key, e.ageMs]),
      [
        ['/mid', 8],
        ['/new-big', 7],
      ],
    );
  });

  test('hottest returns resident entries with their frequency', () => {
    const { store } = makeStore('lru', 1024 * 1024);
    store.set(entry('/a', 10));
    store.set(entry('/b', 10));
    for (let i = 0; i < 3; i++) store.get('/b', 0);
    const hottest = store.hottest(10);
    assert.equal(hottest.length, 2);
    assert.ok(hottest.every(({ entry: e }) => store.peek(e.record.key) === e));
  });
});

describe('MemoryStore policy state (stats)', () => {
  test('reports what the adaptive policy runs and the W-TinyLFU window; null for policies that choose nothing', () => {
    const adaptive = makeStore('adaptive', 1_000_000, 100).store;
    for (let i = 0; i < 50; i++) adaptive.set(entry(`/a${i}`, 10));
    const snapshot = new CacheStats().snapshot(0, adaptive, 'adaptive');
    assert.equal(snapshot.policyState?.running, 's3fifo');
    assert.equal(snapshot.policyState?.switches, 0);
    assert.deepEqual(Object.keys(snapshot.policyState?.estimates ?? {}), [
      'lru',
      's3fifo',
      'w-tinylfu',
      'arc',
    ]);
    const w = makeStore('w-tinylfu', 1_000_000, 100).store;
    assert.equal(w.policyState()?.window, 0.01);
    const lru = makeStore('lru', 1_000_000, 100).store;
    assert.equal(new CacheStats().snapshot(0, lru, 'lru').policyState, null);
  });
});
