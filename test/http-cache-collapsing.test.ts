/**
 * Request collapsing over real sockets: concurrent cold misses for one URL send one backend request when
 * the response is storable; when it is not, every waiter gets its own backend response (a private answer
 * is never handed to another client); a wait is bounded.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Clock, closeAgent, FakeOrigin, get, startRig } from './helpers/fake-origin.ts';

after(() => closeAgent());

/** An origin that answers after `delayMs`, with a per-request body. */
function slowOrigin(clock: Clock, cacheControl: string, delayMs: number): Promise<FakeOrigin> {
  return new FakeOrigin(clock, (_req, res, n) => {
    setTimeout(() => {
      res.writeHead(200, { 'Cache-Control': cacheControl });
      res.end(`answer ${n}`);
    }, delayMs);
  }).start();
}

test('100 concurrent requests for one cold URL → exactly 1 backend request', async () => {
  const clock = new Clock();
  // The origin is slow enough that the 100 requests (100 new connections) all arrive while the first is
  // in flight, even on a loaded machine; one arriving later would be a plain hit, which is fine too.
  const origin = await slowOrigin(clock, 'max-age=60', 500);
  const rig = await startRig(clock, [origin.url]);
  try {
    const all = await Promise.all(Array.from({ length: 100 }, () => get(rig.port, '/cold')));
    assert.equal(origin.hits, 1);
    assert.equal(rig.cache.stats.originFetches, 1);
    assert.ok(all.every((r) => r.status === 200 && r.body === 'answer 1'));
    const statuses = all.map((r) => String(r.headers['cache-status']));
    assert.equal(
      statuses.filter((s) => /fwd=uri-miss; fwd-status=200; stored$/.test(s)).length,
      1,
      'one leader',
    );
    const collapsed = statuses.filter((s) => /^tamarin; hit; collapsed$/.test(s)).length;
    const hits = statuses.filter((s) => s === 'tamarin; hit').length;
    assert.equal(collapsed + hits, 99, 'every other request was served from the stored response');
    assert.equal(rig.cache.stats.collapsed, collapsed);
    assert.ok(collapsed > 0);
  } finally {
    await rig.close();
    await origin.stop();
  }
});

test('a non-storable response: each waiter gets its own backend response', async () => {
  const clock = new Clock();
  const origin = await slowOrigin(clock, 'private', 80);
  const rig = await startRig(clock, [origin.url]);
  try {
    const all = await Promise.all(Array.from({ length: 10 }, () => get(rig.port, '/private')));
    assert.equal(origin.hits, 10);
    // No two clients saw the same private answer.
    assert.equal(new Set(all.map((r) => r.body)).size, 10);
  } finally {
    await rig.close();
    await origin.stop();
  }
});

test('the wait is bounded: past collapse_timeout a waiter goes to the backend itself', async () => {
  const clock = new Clock();
  const origin = await slowOrigin(clock, 'max-age=60', 400);
  const rig = await startRig(clock, [origin.url], { cache: true }, { collapse_timeout: '50ms' });
  try {
    const started = performance.now();
    const all = await Promise.all([get(rig.port, '/slow'), get(rig.port, '/slow')]);
    assert.equal(origin.hits, 2);
    assert.ok(all.every((r) => r.status === 200));
    assert.ok(performance.now() - started < 2000);
  } finally {
    await rig.close();
    await origin.stop();
  }
});

test('collapse = false on a route: every miss goes upstream', async () => {
  const clock = new Clock();
  const origin = await slowOrigin(clock, 'max-age=60', 50);
  const rig = await startRig(clock, [origin.url], { cache: { collapse: false } });
  try {
    await Promise.all(Array.from({ length: 5 }, () => get(rig.port, '/x')));
    assert.equal(origin.hits, 5);
  } finally {
    await rig.close();
    await origin.stop();
  }
});

test('concurrent requests for a stale entry share one validation', async () => {
  const clock = new Clock();
  const origin = await new FakeOrigin(clock, (req, res) => {
    if (req.headers['if-none-match'] === '"v"') {
      setTimeout(() => {
        res.writeHead(304, { 'Cache-Control': 'max-age=60', ETag: '"v"' });
        res.end();
      }, 300);
      return;
    }
    res.writeHead(200, { 'Cache-Control': 'max-age=5', ETag: '"v"' });
    res.end('stored body');
  }).start();
  const rig = await startRig(clock, [origin.url]);
  try {
    await get(rig.port, '/stale');
    clock.tick(10);
    const all = await Promise.all(Array.from({ length: 20 }, () => get(rig.port, '/stale')));
    assert.ok(all.every((r) => r.status === 200 && r.body === 'stored body'));
    assert.equal(origin.hits, 2, 'one fill, one validation');
  } finally {
    await rig.close();
    await origin.stop();
  }
});
