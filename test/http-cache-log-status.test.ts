/**
 * `$upstream_cache_status` on cached proxy routes, in nginx's words, over real sockets on a controlled
 * clock: MISS, HIT, EXPIRED (stale, fetched again), REVALIDATED (a 304 to the validation), BYPASS (the
 * request skipped a fresh entry, or an unsafe method), STALE (the client's max-stale, stale-if-error) and
 * UPDATING (stale-while-revalidate).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Clock, closeAgent, FakeOrigin, get, startRig } from './helpers/fake-origin.ts';

after(() => closeAgent());

test('every answer of a cached route logs the exact cache status', async () => {
  const clock = new Clock();
  // What the origin answers next, per path: a fresh 200 with a validator unless told otherwise.
  let next: 'ok' | 'not-modified' | 'error' = 'ok';
  const origin = await new FakeOrigin(clock, (req, res, n) => {
    const cacheControl =
      req.url === '/swr' ? 'max-age=10, stale-while-revalidate=60' : 'max-age=10, stale-if-error=60';
    if (next === 'not-modified' && req.headers['if-none-match'] !== undefined) {
      res.writeHead(304, { 'Cache-Control': cacheControl, ETag: '"v"' });
      res.end();
    } else if (next === 'error') {
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end('down');
    } else {
      res.writeHead(200, { 'Cache-Control': cacheControl, ETag: '"v"' });
      res.end(`answer ${n}`);
    }
  }).start();
  const logged: string[] = [];
  const rig = await startRig(clock, [origin.url], { cache: true }, {}, 1, (req, res) => {
    if (req.target.startsWith('/')) logged.push(`${req.method} ${req.target} ${res.cacheStatus}`);
  });
  const step = async (path: string, headers: Record<string, string> = {}, method = 'GET') => {
    const before = logged.length;
    const r = await get(rig.port, path, headers, method, method === 'POST' ? 'x' : undefined);
    for (let i = 0; i < 200 && logged.length === before; i++)
      await new Promise((resolve) => setImmediate(resolve));
    assert.equal(logged.length, before + 1);
    return { status: r.status, logged: logged.at(-1)!.split(' ')[2] };
  };
  try {
    assert.deepEqual(await step('/a'), { status: 200, logged: 'MISS' });
    assert.deepEqual(await step('/a'), { status: 200, logged: 'HIT' });
    // A fresh entry the request says not to use: nginx's proxy_cache_bypass.
    assert.deepEqual(await step('/a', { 'cache-control': 'no-cache' }), { status: 200, logged: 'BYPASS' });
    // An unsafe method goes through (and invalidates what it changes: another path here).
    assert.deepEqual(await step('/p', {}, 'POST'), { status: 200, logged: 'BYPASS' });
    clock.tick(20);
    next = 'not-modified';
    assert.deepEqual(await step('/a'), { status: 200, logged: 'REVALIDATED' });
    assert.deepEqual(await step('/a'), { status: 200, logged: 'HIT' });
    clock.tick(20);
    next = 'ok';
    assert.deepEqual(await step('/a'), { status: 200, logged: 'EXPIRED' });
    clock.tick(20);
    assert.deepEqual(await step('/a', { 'cache-control': 'max-stale=60' }), { status: 200, logged: 'STALE' });
    next = 'error';
    assert.deepEqual(await step('/a'), { status: 200, logged: 'STALE' });
    next = 'ok';
    assert.deepEqual(await step('/swr'), { status: 200, logged: 'MISS' });
    clock.tick(20);
    assert.deepEqual(await step('/swr'), { status: 200, logged: 'UPDATING' });
  } finally {
    await rig.close();
    await origin.stop();
  }
});
