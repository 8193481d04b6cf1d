/**
 * Soft purge over real sockets, on a fake clock: `PURGE` with `X-Purge-Soft: 1` (URL, prefix, tag) and
 * the admin control with `soft: true` mark entries stale instead of removing them. The next request
 * revalidates (a 304 keeps the stored body), or within stale-while-revalidate is answered at once while
 * one request refreshes; concurrent requests after a soft purge send one request to the origin.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Clock, closeAgent, FakeOrigin, get, startRig } from './helpers/fake-origin.ts';

after(() => closeAgent());

const PURGE = { 'x-purge-soft': '1' };

test('soft PURGE of a URL: the entry stays, the next request revalidates it with a 304', async () => {
  const clock = new Clock();
  const origin = await new FakeOrigin(clock, (req, res) => {
    if (req.headers['if-none-match'] === '"v1"') {
      res.writeHead(304, { ETag: '"v1"', 'Cache-Control': 'max-age=600' });
      res.end();
      return;
    }
    res.writeHead(200, { ETag: '"v1"', 'Cache-Control': 'max-age=600', 'Cache-Tag': 'doc' });
    res.end('the body');
  }).start();
  const rig = await startRig(clock, [origin.url], { cache: true }, { purge_method: { enabled: true } });
  try {
    await get(rig.port, '/s/a');
    await get(rig.port, '/s/b');
    const purged = await get(rig.port, '/s/a', PURGE, 'PURGE');
    assert.equal(purged.status, 200);
    assert.deepEqual(JSON.parse(purged.body), { stale: 1, workers: 1 });
    const next = await get(rig.port, '/s/a');
    assert.equal(next.status, 200);
    assert.equal(next.body, 'the body');
    assert.match(String(next.headers['cache-status']), /fwd=stale; fwd-status=304/);
    assert.equal(origin.seen.at(-1)!.headers['if-none-match'], '"v1"', 'revalidated, not refetched');
    const hit = await get(rig.port, '/s/a');
    assert.match(String(hit.headers['cache-status']), /^tamarin; hit$/, 'fresh again after the 304');
    assert.match(
      String((await get(rig.port, '/s/b')).headers['cache-status']),
      /^tamarin; hit$/,
      'untouched',
    );

    // Prefix and tag, soft: both stale (a second soft purge finds them already stale).
    assert.deepEqual(JSON.parse((await get(rig.port, '/s/*', PURGE, 'PURGE')).body), {
      stale: 2,
      workers: 1,
    });
    assert.deepEqual(
      JSON.parse((await get(rig.port, '/', { ...PURGE, 'x-purge-tag': 'doc' }, 'PURGE')).body),
      { stale: 0, workers: 1 },
    );
    await get(rig.port, '/s/a');
    await get(rig.port, '/s/b');
    assert.deepEqual(
      JSON.parse((await get(rig.port, '/', { ...PURGE, 'x-purge-tag': 'doc' }, 'PURGE')).body),
      { stale: 2, workers: 1 },
    );
    // The admin control: soft by tag keeps the entries (a hard purge would count them as removed too).
    const [soft] = [await rig.cache.control('purge', { tag: 'doc', soft: true })];
    assert.equal((soft as { removed: number }).removed, 0, 'already stale');
    const hard = (await rig.cache.control('purge', { tag: 'doc' })) as { removed: number };
    assert.equal(hard.removed, 2, 'still stored after the soft purges');
  } finally {
    await rig.close();
    await origin.stop();
  }
});

test('after a soft purge, stale-while-revalidate answers at once and one request refreshes', async () => {
  const clock = new Clock();
  let version = 1;
  const origin = await new FakeOrigin(clock, (_req, res) => {
    const body = `v${version}`;
    // The refresh takes a while: every request meanwhile is answered from the stale entry.
    setTimeout(
      () => {
        res.writeHead(200, { 'Cache-Control': 'max-age=600, stale-while-revalidate=60' });
        res.end(body);
      },
      version === 1 ? 0 : 300,
    );
  }).start();
  const rig = await startRig(clock, [origin.url], { cache: true }, { purge_method: { enabled: true } });
  try {
    await get(rig.port, '/w');
    version = 2;
    await get(rig.port, '/w', PURGE, 'PURGE');
    const answers = await Promise.all([1, 2, 3, 4, 5].map(() => get(rig.port, '/w')));
    for (const a of answers) {
      assert.equal(a.body, 'v1', 'served stale at once');
      assert.match(String(a.headers['cache-status']), /hit; ttl=0; detail=stale-while-revalidate/);
    }
    for (let i = 0; i < 50 && origin.hits < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(origin.hits, 2, 'one background refresh for five requests');
    for (let i = 0; i < 50 && (await get(rig.port, '/w')).body !== 'v2'; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal((await get(rig.port, '/w')).body, 'v2');
  } finally {
    await rig.close();
    await origin.stop();
  }
});

test('concurrent requests after a soft purge of an entry with a validator: one revalidation', async () => {
  const clock = new Clock();
  const origin = await new FakeOrigin(clock, (req, res) => {
    const answer = () => {
      if (req.headers['if-none-match'] === '"e"') {
        res.writeHead(304, { ETag: '"e"', 'Cache-Control': 'max-age=600' });
        res.end();
      } else {
        res.writeHead(200, { ETag: '"e"', 'Cache-Control': 'max-age=600' });
        res.end('body');
      }
    };
    setTimeout(answer, 50);
  }).start();
  const rig = await startRig(clock, [origin.url], { cache: true }, { purge_method: { enabled: true } });
  try {
    await get(rig.port, '/c');
    await get(rig.port, '/c', PURGE, 'PURGE');
    const answers = await Promise.all([1, 2, 3, 4, 5, 6].map(() => get(rig.port, '/c')));
    for (const a of answers) assert.equal(a.body, 'body');
    assert.equal(origin.hits, 2, 'the first fetch and one revalidation');
  } finally {
    await rig.close();
    await origin.stop();
  }
});
