/**
 * The contract suite every `CacheStore` must pass (the memory store with each eviction policy, and any
 * other store: a shared arena, a second tier). A store module's test calls `cacheStoreContract` with a
 * factory; `capacityContract` alone is what holds for every eviction policy, including the ones that may
 * decline an insert (an admission filter).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CacheEntry, ENTRY_OVERHEAD, type EntryRecord } from './entry.ts';
import type { CacheStore, RemovalReason } from './store.ts';

/** Builds a fresh, empty store of the given capacity that reports every removal to `onRemove`. */
export type StoreFactory = (
  capacity: { maxBytes: number; maxEntries?: number },
  onRemove: (entry: CacheEntry, reason: RemovalReason) => void,
) => CacheStore;

function makeEntry(key: string, bodySize: number, extra: Partial<EntryRecord> = {}): CacheEntry {
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

/** An entry as a producer would store it. */
function entry(key: string, bodySize: number, extra: Partial<EntryRecord> = {}): CacheEntry {
  return makeEntry(key, bodySize, extra);
}

/** Bounds, eviction and replacement: what every store and every eviction policy guarantees. */
export function capacityContract(label: string, factory: StoreFactory): void {
  const makeStore = (maxBytes: number, maxEntries?: number) => {
    const removed: Array<[string, RemovalReason]> = [];
    const store = factory({ maxBytes, maxEntries }, (e, reason) => removed.push([e.record.key, reason]));
    return { store, removed };
  };
  describe(label, () => {
    test('capacity in bytes, counting head and overhead, is never exceeded', () => {
      const one = entry('/probe', 1000).charge;
      assert.ok(one > 1000 + ENTRY_OVERHEAD, 'charge includes head, body and overhead');
      const { store, removed } = makeStore(one * 10);
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
      const { store } = makeStore(10 * 1024 * 1024, 5);
      for (let i = 0; i < 50; i++) {
        store.set(entry(`/e${i}`, 10));
        assert.ok(store.count <= 5);
      }
    });

    test('an entry larger than the whole capacity is refused', () => {
      const { store } = makeStore(4096);
      assert.equal(store.set(entry('/huge', 10_000)), false);
      assert.equal(store.peek('/huge'), undefined);
      assert.equal(store.bytes, 0);
    });

    test('replacing a key keeps one entry and the new bytes', () => {
      const { store, removed } = makeStore(1024 * 1024);
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

/** Purge, expiry, listing and the hottest entries: the rest of the `CacheStore` interface. */
export function behaviourContract(label: string, factory: StoreFactory): void {
  const makeStore = (maxBytes: number, maxEntries?: number) => {
    const removed: Array<[string, RemovalReason]> = [];
    const store = factory({ maxBytes, maxEntries }, (e, reason) => removed.push([e.record.key, reason]));
    return { store, removed };
  };
  describe(label, () => {
    test('purge by path, by prefix (with host) and all, returning what was removed', () => {
      const { store, removed } = makeStore(1024 * 1024);
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
      const { store, removed } = makeStore(1024 * 1024);
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

    test('sweep drops exactly the expired entries, through replacements, deletions and purges', () => {
      const { store, removed } = makeStore(1024 * 1024 * 1024);
      let seed = 7;
      const random = () => {
        seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
        return seed / 2_147_483_648;
      };
      const live = new Map<string, number>();
      for (let i = 0; i < 3000; i++) {
        const key = `/k${Math.floor(random() * 2000)}`;
        const expiresAt = random() < 0.1 ? Number.POSITIVE_INFINITY : Math.floor(random() * 10_000);
        store.set(entry(key, 1, { expiresAt }));
        live.set(key, expiresAt);
        if (i % 7 === 0) {
          const gone = `/k${Math.floor(random() * 2000)}`;
          store.delete(gone, 'invalidated');
          live.delete(gone);
        }
      }
      removed.length = 0;
      for (let now = 0; now <= 10_000; now += 250) {
        const expected = [...live].filter(([, at]) => now >= at).map(([key]) => key);
        for (const key of expected) live.delete(key);
        assert.equal(store.sweep(now), expected.length, `at ${now}`);
        assert.deepEqual(
          removed
            .splice(0)
            .map(([key]) => key)
            .sort(),
          expected.sort(),
        );
        assert.equal(store.count, live.size);
      }
    });

    test('list sorts by hits, size and age, with paging', () => {
      const { store } = makeStore(1024 * 1024);
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
      const { store } = makeStore(1024 * 1024);
      store.set(entry('/a', 10));
      store.set(entry('/b', 10));
      for (let i = 0; i < 3; i++) store.get('/b', 0);
      const hottest = store.hottest(10);
      assert.equal(hottest.length, 2);
      assert.ok(hottest.every(({ entry: e }) => store.peek(e.record.key) === e));
    });
  });
}

/** The whole contract: what a store must pass to stand behind `CacheStore`. */
export function cacheStoreContract(label: string, factory: StoreFactory): void {
  capacityContract(`${label}: capacity`, factory);
  behaviourContract(`${label}: behaviour`, factory);
}
