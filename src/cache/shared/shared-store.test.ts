import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Response } from '../../http/types.ts';
import { createPolicy, POLICY_NAMES } from '../policies/index.ts';
import type { PolicyName } from '../policy.ts';
import type { RemovalReason } from '../store.ts';
import { cacheStoreContract, capacityContract, type StoreFactory } from '../test-store-contract.ts';
import { directLink, SharedStoreClient } from './client.ts';
import { PIN_MIN } from './entry.ts';
import { toSharedInput } from './input.ts';
import { createSharedBuffer } from './layout.ts';
import { SharedStoreOwner } from './owner.ts';
import { bodyVersion, fakeResponse, patternRecord, splitAnswer } from './test-support.ts';

/** The shared store's client, its owner in this thread, as the `CacheStore` contract suite builds it. */
const sharedStore =
  (policy: PolicyName): StoreFactory =>
  ({ maxBytes, maxEntries }, onRemove) => {
    const sab = createSharedBuffer({ maxBytes, maxEntries: maxEntries ?? 1024, workers: 1 });
    const owner = new SharedStoreOwner(sab, { createPolicy: (o) => createPolicy(policy, o), onRemove });
    owner.close();
    return {
      store: new SharedStoreClient(sab, 0, directLink(owner)),
      input: (record, checkAt) => toSharedInput(record, checkAt),
    };
  };

cacheStoreContract('SharedStoreClient (lru)', sharedStore('lru'));
for (const policy of POLICY_NAMES)
  if (policy !== 'lru') capacityContract(`SharedStoreClient contract (${policy})`, sharedStore(policy));

function makeStore(policy: PolicyName, maxBytes: number, maxEntries = 1024) {
  const sab = createSharedBuffer({ maxBytes, maxEntries, workers: 2 });
  const removed: Array<[string, RemovalReason]> = [];
  const owner = new SharedStoreOwner(sab, {
    createPolicy: (o) => createPolicy(policy, o),
    onRemove: (key, reason) => removed.push([key, reason]),
  });
  const client = new SharedStoreClient(sab, 0, directLink(owner));
  return { sab, owner, client, removed };
}

function put(owner: SharedStoreOwner, key: string, version: number, size: number, extra = {}) {
  return owner.set(toSharedInput(patternRecord(key, version, size, extra), 0));
}

/** Serve `key` through a fake response; returns the body sent (or null for a miss). */
function serve(client: SharedStoreClient, key: string, now = 0): Buffer | null {
  const entry = client.get(key, now);
  if (entry === undefined) return null;
  const { res, sent } = fakeResponse();
  if (!entry.send(res as unknown as Response, true, 0)) return null;
  const one = sent[0]!;
  if (one.body === null) return splitAnswer(one.head).body;
  const body = Buffer.from(one.body);
  one.release?.();
  return body;
}

for (const policy of POLICY_NAMES) {
  describe(`shared store contract (${policy})`, () => {
    test('capacity in bytes is never exceeded and the totals match a recount', () => {
      const { owner, client, removed } = makeStore(policy, 16 * 1024);
      let seed = 7;
      for (let i = 0; i < 3000; i++) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        const key = `/k${seed % 80}`;
        const size = 100 + (seed % 3000);
        const body = serve(client, key);
        if (body === null) put(owner, key, i, size);
        else assert.notEqual(bodyVersion(key, body), -1, 'a hit sends one whole version of its body');
        assert.ok(owner.bytes <= owner.maxBytes, `bytes ${owner.bytes} > ${owner.maxBytes}`);
      }
      owner.maintain();
      assert.ok(owner.count > 0);
      assert.ok(removed.some(([, reason]) => reason === 'evicted'));
      assert.deepEqual(owner.recount(), { bytes: owner.bytes, count: owner.count });
      assert.equal(client.bytes, owner.bytes, 'the shared totals are the owner’s');
      assert.equal(client.count, owner.count);
      const listed = owner.list('size', 10_000, 0, 0);
      assert.equal(listed.total, owner.count);
      assert.equal(
        listed.entries.reduce((sum, e) => sum + e.size, 0),
        owner.bytes,
      );
      owner.close();
    });

    test('capacity in entries is never exceeded', () => {
      const { owner } = makeStore(policy, 10 * 1024 * 1024, 5);
      for (let i = 0; i < 50; i++) {
        put(owner, `/e${i}`, 0, 10);
        assert.ok(owner.count <= 5);
      }
      owner.close();
    });

    test('an entry larger than the whole capacity is refused', () => {
      const { owner, client } = makeStore(policy, 4096);
      assert.equal(put(owner, '/huge', 0, 10_000), false);
      assert.equal(client.peek('/huge'), undefined);
      assert.equal(owner.bytes, 0);
      owner.close();
    });

    test('replacing a key keeps one entry and the new bytes', () => {
      const { owner, client, removed } = makeStore(policy, 1024 * 1024);
      put(owner, '/a', 1, 10);
      assert.equal(put(owner, '/a', 2, 20), true);
      assert.equal(owner.count, 1);
      assert.equal(bodyVersion('/a', serve(client, '/a')!), 2);
      assert.deepEqual(removed, [['/a', 'replaced']]);
      assert.deepEqual(owner.recount(), { bytes: owner.bytes, count: 1 });
      owner.close();
    });
  });
}

describe('shared store', () => {
  test('a hit is byte-identical to the stored answer except Date, small and large bodies', () => {
    const { owner, client } = makeStore('lru', 4 * 1024 * 1024);
    for (const size of [0, 1, 1024, PIN_MIN - 1, PIN_MIN, 300_000]) {
      const key = `/f${size}`;
      put(owner, key, 3, size);
      const entry = client.get(key, 0)!;
      const { res, sent } = fakeResponse();
      assert.equal(entry.send(res as unknown as Response, true, 0), true);
      const { head, body } =
        sent[0]!.body === null
          ? splitAnswer(sent[0]!.head)
          : { head: sent[0]!.head.toString('latin1'), body: sent[0]!.body };
      assert.match(
        head,
        /^HTTP\/1\.1 200 OK\r\nContent-Type: text\/plain\r\nX-Version: 3\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n/,
      );
      assert.match(head, new RegExp(`Content-Length: ${size}\r\n\r\n$`));
      assert.equal(body.length, size);
      if (size > 100) assert.equal(bodyVersion(key, body), 3);
      assert.equal(sent[0]!.release !== null, size >= PIN_MIN, 'only large bodies are pinned');
      sent[0]!.release?.();
      // HEAD: the head alone.
      const head2 = fakeResponse();
      entry.send(head2.res as unknown as Response, false, 0);
      assert.equal(head2.sent[0]!.head.toString('latin1'), head);
    }
    owner.close();
  });

  test('a ban is one pass of the owner: proxied entries stored up to its time that match, counted', () => {
    const { owner, client, removed } = makeStore('lru', 1024 * 1024);
    const proxied = (target: string, storedAt: number, type = 'text/plain') => ({
      storedAt,
      host: 'shop.example',
      fields: [['Content-Type', type]],
      extra: { proxy: { target } },
    });
    put(owner, 'p1', 1, 10, proxied('/p/1?v=2', 5));
    put(owner, 'p2', 1, 10, proxied('/p/2', 5, 'image/png'));
    put(owner, 'p3', 1, 10, proxied('/p/3', 50));
    put(owner, 'q1', 1, 10, proxied('/q/1', 5));
    put(owner, '/p/static', 1, 10, { storedAt: 5 });
    const byUrl = owner.ban({ url: '^/p/', host: '^shop\\.' }, 10);
    assert.deepEqual(
      [byUrl.removed, byUrl.keys.sort()],
      [2, ['p1', 'p2']],
      'p3 came after it; a file entry is not proxied',
    );
    assert.equal(client.peek('p3') !== undefined, true);
    assert.equal(client.peek('/p/static') !== undefined, true);
    assert.equal(owner.ban({ url: '\\?v=' }, 100).removed, 0, 'the query counts (p1 is gone already)');
    put(owner, 'q2', 1, 10, proxied('/q/2', 5, 'image/gif'));
    assert.deepEqual(owner.ban({ field: 'content-type', value: '^image/' }, 100).keys, ['q2']);
    assert.deepEqual(owner.ban({ host: '^other$' }, 100).removed, 0);
    assert.deepEqual(
      removed.map(([, reason]) => reason),
      ['purged', 'purged', 'purged'],
    );
    owner.close();
  });

  test('an extent pinned by a write in flight is not reused until the write ends', () => {
    const { owner, client } = makeStore('lru', 256 * 1024);
    put(owner, '/big', 1, 100_000);
    const entry = client.get('/big', 0)!;
    const { res, sent } = fakeResponse();
    entry.send(res as unknown as Response, true, 0);
    const inFlight = sent[0]!;
    // Evict it (and churn the cache) while the "socket" still reads the view.
    for (let i = 0; i < 20; i++) put(owner, `/other${i}`, 9, 60_000);
    assert.equal(client.get('/big', 0), undefined, 'gone from the index');
    assert.equal(bodyVersion('/big', inFlight.body!), 1, 'bytes under the pin untouched');
    assert.ok(owner.bytes <= owner.maxBytes);
    inFlight.release!();
    owner.maintain();
    for (let i = 0; i < 20; i++) put(owner, `/again${i}`, 9, 60_000);
    assert.deepEqual(owner.recount(), { bytes: owner.bytes, count: owner.count });
    owner.close();
  });

  test('a dead worker’s pins are dropped by resetWorker', () => {
    const { sab, owner } = makeStore('lru', 256 * 1024);
    const other = new SharedStoreClient(sab, 1, directLink(owner));
    put(owner, '/big', 1, 100_000);
    const { res } = fakeResponse();
    other.get('/big', 0)!.send(res as unknown as Response, true, 0); // never released: the worker "died"
    owner.delete('/big', 'purged');
    const free = () => {
      let ok = 0;
      for (let i = 0; i < 3; i++) ok += put(owner, `/fill${i}`, 0, 70_000) ? 1 : 0;
      return ok;
    };
    owner.resetWorker(1);
    assert.equal(free(), 3, 'the extent came back');
    owner.close();
  });

  test('purge by path, by prefix (with host) and all is one operation on the shared store', async () => {
    const { owner, client } = makeStore('lru', 1024 * 1024);
    for (const key of ['/img/a.png', '/img/b.png', '/img/sub/c.png', '/index.html', '/imgx.png'])
      put(owner, key, 0, 10);
    put(owner, '/img/a.png br', 0, 10, { path: '/img/a.png' });
    put(owner, 'other/img/z.png', 0, 10, { path: '/img/z.png', host: 'other' });
    const byPath = await client.purge({ path: '/img/a.png' });
    assert.deepEqual(byPath.keys.sort(), ['/img/a.png', '/img/a.png br']);
    assert.deepEqual((await client.purge({ prefix: '/img/', host: 'other' })).keys, ['other/img/z.png']);
    assert.deepEqual((await client.purge({ prefix: '/img/' })).keys.sort(), ['/img/b.png', '/img/sub/c.png']);
    assert.ok(client.peek('/imgx.png'));
    assert.equal((await client.purge({ all: true })).removed, 2);
    assert.equal(client.count, 0);
    assert.equal(client.bytes, 0);
    owner.close();
  });

  test('the entry list shows responses, not the status-0 records a store above keeps (Vary markers)', async () => {
    const { owner, client } = makeStore('lru', 1024 * 1024);
    put(owner, '/page accept-language=en', 0, 10, { path: '/page' });
    owner.set({ ...toSharedInput(patternRecord('/page', 0, 0), 0), status: 0, head: '', dateOffset: -1 });
    assert.equal(client.count, 2);
    const { total, entries } = await client.list('age', 10, 0, 0);
    assert.equal(total, 1);
    assert.deepEqual(
      entries.map((e) => [e.key, e.status]),
      [['/page accept-language=en', 200]],
    );
    owner.close();
  });

  test('expiry: never served after expiresAt; reclaimed by get and sweep', async () => {
    const { owner, client, removed } = makeStore('lru', 1024 * 1024);
    put(owner, '/short', 0, 10, { expiresAt: 1000 });
    put(owner, '/long', 0, 10, { expiresAt: 5000 });
    assert.ok(client.get('/short', 999));
    assert.equal(client.get('/short', 1000), undefined);
    await new Promise((r) => setImmediate(r));
    assert.equal(client.peek('/short'), undefined);
    assert.equal(owner.sweep(4999), 0);
    assert.equal(owner.sweep(5000), 1);
    assert.deepEqual(removed, [
      ['/short', 'expired'],
      ['/long', 'expired'],
    ]);
    owner.close();
  });

  test('hits recorded by a reader reach the policy (LRU keeps the key that was read)', () => {
    const { owner, client } = makeStore('lru', 10 * 1024 * 1024, 3);
    put(owner, '/a', 0, 10);
    put(owner, '/b', 0, 10);
    put(owner, '/c', 0, 10);
    assert.ok(client.get('/a', 0));
    put(owner, '/d', 0, 10); // drains the ring first: /b is the least recently used
    assert.ok(client.peek('/a'));
    assert.equal(client.peek('/b'), undefined);
    assert.equal(owner.list('hits', 10, 0, 0).entries[0]!.key, '/a');
    owner.close();
  });

  test('a slot reused for another key between the index probe and the generation read is not served as this key', () => {
    for (const size of [100, PIN_MIN * 2]) {
      const { owner, client } = makeStore('lru', 10 * 1024 * 1024);
      put(owner, '/a', 1, size);
      const slot = owner.slot('/a');
      // The owner runs in another thread: between the reader's probe (which compared the key bytes) and its
      // generation read, it can delete /a and store /b in the very slot (free slots are reused last-in first).
      const arena = client.arena;
      const find = arena.find.bind(arena);
      arena.find = (key, hash) => {
        const found = find(key, hash);
        if (key === '/a') {
          owner.delete('/a', 'invalidated');
          put(owner, '/b', 2, size);
          assert.equal(owner.slot('/b'), slot, 'the fixture reuses the slot');
        }
        return found;
      };
      for (const lookup of [() => client.get('/a', 0), () => client.peek('/a')]) {
        const entry = lookup();
        assert.ok(entry === undefined || entry.record.key === '/a', `got ${entry?.record.key} for /a`);
        owner.delete('/b', 'invalidated');
        put(owner, '/a', 1, size);
      }
      arena.find = find;
      assert.equal(bodyVersion('/a', serve(client, '/a')!), 1);
      assert.equal(serve(client, '/b'), null, '/b is not there');
      owner.close();
    }
  });
});
