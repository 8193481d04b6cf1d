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
  const origin = await slowOrigin(clock, 'max-age=60', 100);
  const rig = await startRig(clock, [origin.url]);
  try {
    const all = await Promise.all(Array.from({ length: 100 }, () => get(rig.port, '/cold')));
    assert.equal(origin.hits, 1);
    assert.ok(all.every((r) => r.status === 200 && r.body === 'answer 1'));
    const collapsed = all.filter((r) => /collapsed/.test(String(r.headers['cache-status']))).length;
    assert.equal(collapsed, 99, 'every waiter says it was collapsed');
    const stats = rig.cache.stats;
    assert.equal(stats.collapsed, 99);
    assert.equal(stats.originFetches, 1);
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
