/**
 * The HTTP cache's time- and failure-dependent behaviour over real sockets: stale-while-revalidate (one
 * background refresh), serving stale when every backend is down (but never must-revalidate), abnormal
 * ends never stored, HEAD and HTTP/1.0 answered from the store, purges (admin control and the PURGE
 * method) and the shared store and stats.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { rawRequest } from '../src/http/test-client.ts';
import { answer, Clock, closeAgent, FakeOrigin, get, startRig } from './helpers/fake-origin.ts';

after(() => closeAgent());

test('stale-while-revalidate: stale served at once, one background refresh, then the new response', async () => {
  const clock = new Clock();
  // The refresh takes a while, so that the stale requests below all come before it is done.
  const origin = await new FakeOrigin(clock, (_req, res, n) => {
    setTimeout(
      () => {
        res.writeHead(200, { 'Cache-Control': 'max-age=10, stale-while-revalidate=60', ETag: `"v${n}"` });
        res.end(`version ${n}`);
      },
      n === 1 ? 0 : 500,
    );
  }).start();
  const rig = await startRig(clock, [origin.url]);
  try {
    assert.equal((await get(rig.port, '/swr')).body, 'version 1');
    clock.tick(20);
    for (let i = 0; i < 3; i++) {
      const r = await get(rig.port, '/swr');
      assert.equal(r.body, 'version 1');
      assert.match(String(r.headers['cache-status']), /hit; ttl=-10; detail=stale-while-revalidate/);
    }
    // Until the refresh lands, requests get the stale entry and start no other refresh.
    let fresh = await get(rig.port, '/swr');
    for (let i = 0; i < 300 && fresh.body === 'version 1'; i++) {
      await sleep(10);
      fresh = await get(rig.port, '/swr');
    }
    assert.equal(origin.hits, 2, 'exactly one background refresh');
    assert.equal(origin.seen[1]!.headers['if-none-match'], '"v1"');
    assert.equal(fresh.body, 'version 2');
    assert.match(String(fresh.headers['cache-status']), /^tamarin; hit$/);
  } finally {
    await rig.close();
    await origin.stop();
  }
});

test('serve_stale_when_down: stale served when no backend answers, never a must-revalidate response', async () => {
  const clock = new Clock();
  const origin = await new FakeOrigin(clock, (req, res) => {
    const strict = req.url === '/strict';
    res.writeHead(200, { 'Cache-Control': strict ? 'max-age=5, must-revalidate' : 'max-age=5', ETag: '"v"' });
    res.end(`from ${req.url}`);
  }).start();
  const rig = await startRig(clock, [origin.url], { cache: { serve_stale_when_down: '1h' }, attempts: 1 });
  try {
    await get(rig.port, '/soft');
    await get(rig.port, '/strict');
    await origin.stop();
    clock.tick(60);
    const soft = await get(rig.port, '/soft');
    assert.equal(soft.status, 200);
    assert.equal(soft.body, 'from /soft');
    assert.match(
      String(soft.headers['cache-status']),
      /fwd=stale; fwd-status=502; ttl=-55; detail=stale-if-error/,
    );
    const strict = await get(rig.port, '/strict');
    assert.equal(strict.status, 502);
  } finally {
    await rig.close();
  }
});

test('without serve_stale_when_down a dead backend is a 502 even with a stale entry', async () => {
  const clock = new Clock();
  const origin = await new FakeOrigin(clock, answer({ 'Cache-Control': 'max-age=5', ETag: '"v"' })).start();
  const rig = await startRig(clock, [origin.url], { cache: true, attempts: 1 });
  try {
    await get(rig.port, '/x');
    await origin.stop();
    clock.tick(60);
    assert.equal((await get(rig.port, '/x')).status, 502);
  } finally {
    await rig.close();
  }
});

test('a response that ends abnormally is never stored', async () => {
  const clock = new Clock();
  const origin = await new FakeOrigin(clock, (_req, res, n) => {
    res.writeHead(200, { 'Cache-Control': 'max-age=60', 'Content-Length': '10' });
    if (n === 1) {
      res.write('01234');
      setTimeout(() => res.destroy(), 20);
    } else res.end('0123456789');
  }).start();
  const rig = await startRig(clock, [origin.url]);
  try {
    await assert.rejects(get(rig.port, '/broken'));
    assert.equal(rig.cache.stats.rejections.incomplete, 1);
    const second = await get(rig.port, '/broken');
    assert.equal(second.body, '0123456789');
    assert.equal(origin.hits, 2);
    assert.equal((await get(rig.port, '/broken')).body, '0123456789');
    assert.equal(origin.hits, 2);
  } finally {
    await rig.close();
    await origin.stop();
  }
});

test('HEAD and HTTP/1.0 / Connection: close requests are answered from the stored GET', async () => {
  const clock = new Clock();
  const origin = await new FakeOrigin(
    clock,
    answer({ 'Cache-Control': 'max-age=60' }, 'twelve bytes'),
  ).start();
  const rig = await startRig(clock, [origin.url]);
  try {
    await get(rig.port, '/h');
    const head = (
      await rawRequest(rig.port, 'HEAD /h HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')
    ).toString();
    assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(head, /\r\nContent-Length: 12\r\n/);
    assert.match(head, /\r\nConnection: close\r\n\r\n$/);
    const old = (await rawRequest(rig.port, 'GET /h HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n')).toString();
    assert.match(old, /\r\nCache-Status: tamarin; hit\r\n/);
    assert.match(old, /\r\n\r\ntwelve bytes$/);
    assert.equal(origin.hits, 1);
  } finally {
    await rig.close();
    await origin.stop();
  }
});

test('one store and one set of stats with static entries; admin purge by URL, prefix and all', {
  skip: process.env.TAMARIN_RIG_SHARED === '1' && 'what a per-worker store has',
}, async () => {
  const clock = new Clock();
  const origin = await new FakeOrigin(clock, answer({ 'Cache-Control': 'max-age=60' })).start();
  const rig = await startRig(clock, [origin.url]);
  try {
    for (const path of ['/a/1', '/a/2', '/b?q=1']) await get(rig.port, path);
    await get(rig.port, '/a/1');
    const stats = (await rig.host.control('cache', 'stats', undefined)) as { hits: number; entries: number };
    assert.equal(stats.hits, 1);
    assert.equal(stats.entries, 3);
    // The fast path's index holds exactly the stored entries, before and after each purge.
    const indexed = () => rig.http!.indexedEntries();
    assert.equal(indexed(), 3);
    const listed = (await rig.host.control('cache', 'entries', {})) as { entries: Array<{ path: string }> };
    assert.deepEqual(listed.entries.map((e) => e.path).sort(), ['/a/1', '/a/2', '/b?q=1']);
    const byUrl = (await rig.host.control('cache', 'purge', { path: '/b?q=1' })) as { removed: number };
    assert.equal(byUrl.removed, 1);
    const byPrefix = (await rig.host.control('cache', 'purge', { prefix: '/a/' })) as { removed: number };
    assert.equal(byPrefix.removed, 2);
    assert.equal(indexed(), 0);
    await get(rig.port, '/a/1');
    assert.equal(origin.hits, 4, 'purged URLs are fetched again');
    assert.equal(indexed(), 1);
    const all = (await rig.host.control('cache', 'purge', { all: true })) as { removed: number };
    assert.equal(all.removed, 1);
    assert.equal(indexed(), 0);
  } finally {
    await rig.close();
    await origin.stop();
  }
});

test('PURGE method: off by default (forwarded), allowed addresses and token when on', async () => {
  const clock = new Clock();
  const origin = await new FakeOrigin(clock, (req, res) => {
    res.writeHead(req.method === 'PURGE' ? 405 : 200, { 'Cache-Control': 'max-age=60' });
    res.end();
  }).start();
  const off = await startRig(clock, [origin.url]);
  try {
    assert.equal((await get(off.port, '/p', {}, 'PURGE')).status, 405, 'the origin answered');
  } finally {
    await off.close();
  }
  const on = await startRig(
    clock,
    [origin.url],
    { cache: true },
    { purge_method: { enabled: true, token: 'let-me-purge' } },
  );
  try {
    await get(on.port, '/p/1');
    await get(on.port, '/p/2');
    const hits = origin.hits;
    assert.equal((await get(on.port, '/p/1', {}, 'PURGE')).status, 403);
    // Wrong tokens shorter, as long as and longer than the real one get the same answer.
    const wrong = await Promise.all(
      ['x', 'let-me-purgX', 'let-me-purge-please'].map((token) =>
        get(on.port, '/p/1', { 'x-purge-token': token }, 'PURGE'),
      ),
    );
    assert.deepEqual(
      wrong.map((r) => `${r.status} ${r.body}`),
      Array(3).fill(`403 ${wrong[0]!.body}`),
    );
    assert.match(wrong[0]!.body, /token does not match/);
    const one = await get(on.port, '/p/1', { 'x-purge-token': 'let-me-purge' }, 'PURGE');
    assert.equal(one.status, 200);
    assert.deepEqual(JSON.parse(one.body).purged, 1);
    const prefix = await get(on.port, '/p/*', { 'x-purge-token': 'let-me-purge' }, 'PURGE');
    assert.equal(JSON.parse(prefix.body).purged, 1);
    assert.equal(origin.hits, hits, 'PURGE never reaches the origin');
    await get(on.port, '/p/2');
    assert.equal(origin.hits, hits + 1);
  } finally {
    await on.close();
    await origin.stop();
  }
  const refused = await startRig(
    clock,
    [origin.url],
    { cache: true },
    { purge_method: { enabled: true, allow: ['10.0.0.0/8'] } },
  );
  try {
    const r = await get(refused.port, '/p/1', {}, 'PURGE');
    assert.equal(r.status, 403);
    assert.match(r.body, /not allowed from this address/);
  } finally {
    await refused.close();
  }
});

test('workers: a PURGE or an invalidation in one worker reaches the stores of the others', {
  skip: process.env.TAMARIN_RIG_SHARED === '1' && 'what a per-worker store has',
}, async () => {
  const clock = new Clock();
  const origin = await new FakeOrigin(clock, (req, res) => {
    res.writeHead(req.method === 'POST' ? 204 : 200, { 'Cache-Control': 'max-age=60' });
    res.end();
  }).start();
  const purge = { purge_method: { enabled: true } };
  try {
    await purgeInWorkers(clock, origin.url, purge);
  } finally {
    await origin.stop();
  }
});

/** Two rigs on one channel act as two workers; then one whose peer never answers. */
async function purgeInWorkers(clock: Clock, url: string, purge: Record<string, unknown>): Promise<void> {
  const a = await startRig(clock, [url], { cache: true }, purge, 2);
  const b = await startRig(clock, [url], { cache: true }, purge, 2);
  try {
    for (const rig of [a, b]) for (const path of ['/w/1', '/w/2']) await get(rig.port, path);
    assert.equal(b.cache.store.count, 2);
    await get(a.port, '/w/1', {}, 'POST', 'x');
    const purged = await get(a.port, '/w/2', {}, 'PURGE');
    // The answer counts what every worker removed, not only the one that took the request.
    assert.deepEqual(JSON.parse(purged.body), {
      purged: 2,
      bytes: JSON.parse(purged.body).bytes,
      workers: 2,
    });
    assert.ok(JSON.parse(purged.body).bytes > 0);
    assert.equal(b.cache.store.count, 0, 'done in every worker before the answer');
    assert.equal(a.cache.store.count, 0);
  } finally {
    await a.close();
    await b.close();
  }
  // A worker that does not answer (restarting) delays the answer by at most a second, which says so.
  const alone = await startRig(clock, [url], { cache: true }, purge, 2);
  try {
    await get(alone.port, '/w/3');
    const started = Date.now();
    const purged = await get(alone.port, '/w/3', {}, 'PURGE');
    assert.equal(JSON.parse(purged.body).purged, 1);
    assert.equal(JSON.parse(purged.body).workers, 1);
    assert.ok(Date.now() - started >= 900, `answered after ${Date.now() - started} ms`);
  } finally {
    await alone.close();
  }
}

test('a large body streams to the client with backpressure while it is stored, then is served whole', async () => {
  const clock = new Clock();
  const big = Buffer.alloc(3 * 1024 * 1024, 'abcdefghij');
  const origin = await new FakeOrigin(clock, (_req, res) => {
    res.writeHead(200, { 'Cache-Control': 'max-age=60', 'Content-Length': String(big.length) });
    res.end(big);
  }).start();
  const rig = await startRig(clock, [origin.url], { cache: true }, { max_object_size: '4MiB' });
  try {
    const first = await get(rig.port, '/big');
    assert.equal(first.body.length, big.length);
    const second = await get(rig.port, '/big');
    assert.equal(second.body, big.toString());
    assert.match(String(second.headers['cache-status']), /^tamarin; hit$/);
    assert.equal(origin.hits, 1);
  } finally {
    await rig.close();
    await origin.stop();
  }
});
