/**
 * The contract suite every `CacheStore` must pass (the memory store with each eviction policy, and any
 * other store: a shared arena, a second tier). A store module's test calls `cacheStoreContract` with a
 * factory; `capacityContract` alone is what holds for every eviction policy, including the ones that may
 * decline an insert (an admission filter).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EntryRecord, ServableEntry } from './entry.ts';
import type { CacheStore, RemovalReason } from './store.ts';

/** A store under test, and how a producer hands it a record. */
export interface StoreUnderTest<I> {
  readonly store: CacheStore<ServableEntry, I>;
  /** What stores `record`; `checkAt`: for an entry without a file, the time it turns stale. */
  input(record: EntryRecord, checkAt: number): I;
}

/** Builds a fresh, empty store of the given capacity that reports every removal to `onRemove`. */
export type StoreFactory = (
  capacity: { maxBytes: number; maxEntries?: number },
  onRemove: (key: string, reason: RemovalReason) => void,
) => StoreUnderTest<unknown>;

/** A record as a producer would store it. */
function record(key: string, bodySize: number, extra: Partial<EntryRecord> = {}): EntryRecord {
  return {
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
  };
}

function harness(factory: StoreFactory, maxBytes: number, maxEntries?: number) {
  const removed: Array<[string, RemovalReason]> = [];
  const made = factory({ maxBytes, maxEntries }, (key, reason) => removed.push([key, reason]));
  const store = made.store;
  /** Store a record (awaiting a store whose writes settle later). */
  const put = (key: string, bodySize: number, extra: Partial<EntryRecord> = {}, checkAt = 0) =>
    Promise.resolve(store.set(made.input(record(key, bodySize, extra), checkAt)));
  return { store, removed, put };
}

/** Bounds, eviction and replacement: what every store and every eviction policy guarantees. */
export function capacityContract(label: string, factory: StoreFactory): void {
  describe(label, () => {
    test('capacity in bytes is never exceeded, and the charges listed add up to it', async () => {
      const { store, removed, put } = harness(factory, 12_000);
      let seed = 7;
      for (let i = 0; i < 2000; i++) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        const key = `/k${seed % 60}`;
        if (store.get(key, 0) === undefined) await put(key, 200 + (seed % 3000));
        assert.ok(store.bytes <= store.maxBytes, `bytes ${store.bytes} > ${store.maxBytes}`);
      }
      assert.ok(store.count > 0);
      assert.ok(removed.some(([, reason]) => reason === 'evicted'));
      // Every resident key is retrievable and the sum of charges matches what the store reports.
      const listed = await store.list('size', 10_000, 0, 0);
      assert.equal(listed.total, store.count);
      assert.equal(
        listed.entries.reduce((sum, e) => sum + e.size, 0),
        store.bytes,
      );
    });

    test('capacity in entries is never exceeded', async () => {
      const { store, put } = harness(factory, 10 * 1024 * 1024, 5);
      for (let i = 0; i < 50; i++) {
        await put(`/e${i}`, 10);
        assert.ok(store.count <= 5);
      }
    });

    test('an entry larger than the whole capacity is refused', async () => {
      const { store, put } = harness(factory, 4096);
      assert.equal(await put('/huge', 10_000), false);
      assert.equal(store.peek('/huge'), undefined);
      assert.equal(store.bytes, 0);
    });

    test('replacing a key keeps one entry and the new bytes', async () => {
      const { store, removed, put } = harness(factory, 1024 * 1024);
      await put('/a', 10);
      assert.equal(await put('/a', 20), true);
      assert.equal(store.count, 1);
      const second = store.peek('/a')!;
      assert.equal(second.bodyLength, 20);
      assert.equal(store.bytes, second.charge);
      assert.deepEqual(removed, [['/a', 'replaced']]);
    });
  });
}

/** Purge, expiry, listing, and what proxied responses need: tags, groups, staleness, their metadata. */
export function behaviourContract(label: string, factory: StoreFactory): void {
  describe(label, () => {
    test('purge by path, by prefix (with host) and all, returning what was removed', async () => {
      const { store, removed, put } = harness(factory, 1024 * 1024);
      for (const key of ['/img/a.png', '/img/b.png', '/img/sub/c.png', '/index.html', '/imgx.png']) {
        await put(key, 10);
      }
      await put('/img/a.png br', 10, { path: '/img/a.png' });
      await put('other/img/z.png', 10, { path: '/img/z.png', host: 'other' });

      const byPath = await store.purge({ path: '/img/a.png' });
      assert.equal(byPath.removed, 2, 'every variant of the path');
      assert.deepEqual(byPath.keys.sort(), ['/img/a.png', '/img/a.png br']);
      assert.ok(byPath.bytes > 20);

      const byHost = await store.purge({ prefix: '/img/', host: 'other' });
      assert.deepEqual(byHost.keys, ['other/img/z.png']);

      const byPrefix = await store.purge({ prefix: '/img/' });
      assert.deepEqual(byPrefix.keys.sort(), ['/img/b.png', '/img/sub/c.png']);
      assert.ok(store.peek('/imgx.png'), 'a prefix is a path prefix, not a glob');

      const all = await store.purge({ all: true });
      assert.equal(all.removed, 2);
      assert.equal(store.count, 0);
      assert.equal(store.bytes, 0);
      assert.ok(removed.every(([, reason]) => reason === 'purged'));
    });

    test('expiry with an injected clock: never served after expiresAt, reclaimed on access', async () => {
      const { store, removed, put } = harness(factory, 1024 * 1024);
      await put('/short', 10, { expiresAt: 1000 });
      await put('/forever', 10);
      assert.ok(store.get('/short', 999));
      assert.equal(store.get('/short', 1000), undefined);
      // The shared store's owner removes it just after the lookup reported it gone.
      for (let i = 0; i < 100 && store.peek('/short') !== undefined; i++)
        await new Promise((r) => setTimeout(r, 5));
      assert.equal(store.peek('/short'), undefined, 'reclaimed on access');
      assert.ok(store.get('/forever', 1e15));
      assert.deepEqual(removed, [['/short', 'expired']]);
    });

    test('list sorts by hits, size and age, with paging', async () => {
      const { store, put } = harness(factory, 1024 * 1024);
      await put('/old-small', 10, { storedAt: 1 });
      await put('/new-big', 500, { storedAt: 3 });
      await put('/mid', 100, { storedAt: 2 });
      for (let i = 0; i < 5; i++) store.get('/mid', 10);
      assert.deepEqual(
        (await store.list('hits', 1, 0, 10)).entries.map((e) => [e.key, e.hits]),
        [['/mid', 5]],
      );
      assert.deepEqual(
        (await store.list('size', 10, 0, 10)).entries.map((e) => e.key),
        ['/new-big', '/mid', '/old-small'],
      );
      const byAge = await store.list('age', 2, 1, 10);
      assert.equal(byAge.total, 3);
      assert.deepEqual(
        byAge.entries.map((e) => [e.key, e.ageMs]),
        [
          ['/mid', 8],
          ['/new-big', 7],
        ],
      );
    });

    test("a producer's metadata, group and tags come back with the entry", async () => {
      const { store, put } = harness(factory, 1024 * 1024);
      const extra = { proxy: { base: 'http://h/p', lifetimeMs: 60_000, vary: ['accept-language'] } };
      await put('http://h/p\naccept-language=de', 10, { group: 'http://h/p', tags: ['a', 'b'], extra });
      const entry = store.peek('http://h/p\naccept-language=de')!;
      assert.deepEqual(entry.record.extra, extra);
      assert.equal(entry.record.group, 'http://h/p');
      assert.deepEqual(entry.record.tags, ['a', 'b']);
    });

    test('purge by tag: removes exactly the tagged entries; soft: makes the fresh ones without a file stale', async () => {
      const { store, removed, put } = harness(factory, 1024 * 1024);
      await put('/p/1', 10, { tags: ['product', 'list'] }, 5000);
      await put('/p/2', 10, { tags: ['list'] }, 5000);
      await put('/p/3', 10, { tags: ['other'] }, 5000);
      await put('/p/old', 10, { tags: ['list'] }, 50);
      const file = { path: '/srv/f', size: 10, mtimeMs: 1, ino: 1 };
      await put('/f', 10, { tags: ['list'], file }, 5000);

      const soft = await store.purgeTags(['list'], true, 100);
      assert.deepEqual(soft.keys.sort(), ['/p/1', '/p/2'], 'fresh, without a file');
      assert.equal(store.peek('/p/1')!.checkAt, 100, 'stale from the purge on');
      assert.equal(store.peek('/p/old')!.checkAt, 50, 'already stale: left as it was');
      assert.equal(store.peek('/f')!.checkAt, 5000, 'a file is compared with disk, not made stale');
      assert.equal(store.count, 5, 'a soft purge removes nothing');

      const hard = await store.purgeTags(['product', 'list'], false, 100);
      assert.deepEqual(hard.keys.sort(), ['/f', '/p/1', '/p/2', '/p/old'], 'each entry once');
      assert.equal(hard.removed, 4);
      assert.deepEqual(removed.map(([key]) => key).sort(), hard.keys.sort());
      assert.ok(store.peek('/p/3'), 'another tag stays');
      assert.equal((await store.purgeTags(['list'], false, 100)).removed, 0, 'the index followed');
    });

    test('a soft purge by filter marks the matching entries without a file stale', async () => {
      const { store, put } = harness(factory, 1024 * 1024);
      await put('/a/1', 10, {}, 5000);
      await put('/b/1', 10, {}, 5000);
      const result = await store.markStale({ prefix: '/a/' }, 200);
      assert.deepEqual(result.keys, ['/a/1']);
      assert.equal(store.peek('/a/1')!.checkAt, 200);
      assert.equal(store.peek('/b/1')!.checkAt, 5000);
    });

    test('invalidate removes every entry of the groups (a URL and its variants), as invalidated', async () => {
      const { store, removed, put } = harness(factory, 1024 * 1024);
      await put('http://h/a', 10, { group: 'http://h/a' });
      await put('http://h/a\nx=1', 10, { group: 'http://h/a' });
      await put('http://h/a\nx=2', 10, { group: 'http://h/a' });
      await put('http://h/b', 10, { group: 'http://h/b' });
      assert.equal(await store.invalidate(['http://h/a', 'http://h/none']), 3);
      assert.equal(store.count, 1);
      assert.ok(removed.every(([, reason]) => reason === 'invalidated'));
      assert.equal(await store.invalidate(['http://h/a']), 0, 'the group index followed');
    });
  });
}

/** The whole contract: what a store must pass to stand behind `CacheStore`. */
export function cacheStoreContract(label: string, factory: StoreFactory): void {
  capacityContract(`${label}: capacity`, factory);
  behaviourContract(`${label}: behaviour`, factory);
}
