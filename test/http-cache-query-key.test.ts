/**
 * Query normalisation on a cached route (`query_sort`, `query_drop`) over real sockets: URLs that differ
 * only in parameter order or in dropped tracking parameters share one entry, and the backend is sent
 * exactly the normalised target that keys it (never a parameter the key left out).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { compileQueryRules, normaliseQuery } from '../src/http-cache/cache-key.ts';
import { answer, Clock, closeAgent, FakeOrigin, get, startRig } from './helpers/fake-origin.ts';

after(() => closeAgent());

test('order and dropped parameters share one entry; the backend sees the normalised target', async () => {
  const clock = new Clock();
  const origin = await new FakeOrigin(clock, (req, res) => {
    res.writeHead(200, { 'Cache-Control': 'max-age=60' });
    res.end(`for ${req.url}`);
  }).start();
  const rig = await startRig(clock, [origin.url], {
    cache: { query_sort: true, query_drop: ['utm_*', 'fbclid'] },
  });
  try {
    const first = await get(rig.port, '/p?utm_source=mail&b=2&a=1&utm_medium=x');
    assert.equal(first.body, 'for /p?a=1&b=2');
    for (const target of ['/p?a=1&b=2', '/p?b=2&fbclid=abc&a=1', '/p?&a=1&&b=2']) {
      const again = await get(rig.port, target);
      assert.equal(again.body, 'for /p?a=1&b=2', target);
      assert.match(String(again.headers['cache-status']), /hit/, target);
    }
    assert.deepEqual(
      origin.seen.map((r) => r.url),
      ['/p?a=1&b=2'],
      'one backend request, without the dropped parameters',
    );
    // Only tracking parameters: the query goes away.
    assert.equal((await get(rig.port, '/q?utm_campaign=z')).body, 'for /q');
    // Repeated names keep their order: two entries, each sent as asked.
    assert.equal((await get(rig.port, '/r?a=2&a=1')).body, 'for /r?a=2&a=1');
    assert.equal((await get(rig.port, '/r?a=1&a=2')).body, 'for /r?a=1&a=2');
    // An encoded name is another name: not dropped (the backend would not read it as utm_source).
    assert.equal((await get(rig.port, '/s?utm%5Fsource=1')).body, 'for /s?utm%5Fsource=1');
  } finally {
    await rig.close();
    await origin.stop();
  }
});

test('a route without query rules forwards the query as sent', async () => {
  const clock = new Clock();
  const origin = await new FakeOrigin(clock, answer({ 'Cache-Control': 'max-age=60' })).start();
  const rig = await startRig(clock, [origin.url], { cache: true });
  try {
    await get(rig.port, '/p?utm_source=a&b=2&a=1');
    await get(rig.port, '/p?a=1&b=2');
    assert.deepEqual(
      origin.seen.map((r) => r.url),
      ['/p?utm_source=a&b=2&a=1', '/p?a=1&b=2'],
    );
  } finally {
    await rig.close();
    await origin.stop();
  }
});

test('normaliseQuery: table', () => {
  const rules = compileQueryRules(true, ['utm_*', 'gclid'])!;
  const table: Array<[string, string]> = [
    ['', ''],
    ['b=1&a=2', 'a=2&b=1'],
    ['gclid=1', ''],
    ['utm_=1&z&y=', 'y=&z'],
    ['a=1&&a=0', 'a=1&a=0'],
  ];
  for (const [input, expected] of table) assert.equal(normaliseQuery(rules, input), expected, input);
  assert.equal(compileQueryRules(false, []), null);
  assert.equal(normaliseQuery(compileQueryRules(false, ['x'])!, 'b=1&x=2&a=1'), 'b=1&a=1');
});

test('key_headers: one entry per value of a field the backend is sent, on the fast path too', async () => {
  const clock = new Clock();
  const origin = await new FakeOrigin(clock, (req, res) => {
    // The origin varies on X-Tenant without saying so (no Vary).
    res.writeHead(200, { 'Cache-Control': 'max-age=60' });
    res.end(`tenant ${req.headers['x-tenant'] ?? 'none'}`);
  }).start();
  const rig = await startRig(clock, [origin.url], { cache: { key_headers: ['X-Tenant'] } });
  try {
    const ask = (tenant?: string) => get(rig.port, '/t', tenant === undefined ? {} : { 'x-tenant': tenant });
    assert.equal((await ask('a')).body, 'tenant a');
    assert.equal((await ask('b')).body, 'tenant b');
    assert.equal((await ask()).body, 'tenant none');
    for (const tenant of ['a', 'b', undefined, 'a']) {
      const hit = await ask(tenant);
      assert.equal(hit.body, `tenant ${tenant ?? 'none'}`);
      assert.match(String(hit.headers['cache-status']), /hit/);
    }
    assert.equal(origin.hits, 3);
  } finally {
    await rig.close();
    await origin.stop();
  }
});
