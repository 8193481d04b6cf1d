/**
 * Per-route lifetimes by status (`ttl`, `ttl_override`) over real sockets, on a fake clock: a rule gives
 * a lifetime to responses the origin gave none, replaces the origin's only with `ttl_override`, never
 * stores what the origin forbids, and Cache-Status says which rule decided.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { answer, Clock, closeAgent, FakeOrigin, get, startRig } from './helpers/fake-origin.ts';

after(() => closeAgent());

async function rig(handler: ConstructorParameters<typeof FakeOrigin>[1], cache: Record<string, unknown>) {
  const clock = new Clock();
  const origin = await new FakeOrigin(clock, handler).start();
  const r = await startRig(clock, [origin.url], { cache });
  return {
    clock,
    origin,
    get: (path: string) => get(r.port, path),
    async close() {
      await r.close();
      await origin.stop();
    },
  };
}

test('a ttl rule gives a lifetime to a status the origin gave none; other statuses keep theirs', async () => {
  const t = await rig(
    (req, res) => {
      if (req.url === '/missing') {
        res.writeHead(404);
        res.end('nope');
      } else {
        res.writeHead(200, { 'Cache-Control': 'max-age=5' });
        res.end('ok');
      }
    },
    { ttl: { '404': '1m' } },
  );
  try {
    const first = await t.get('/missing');
    assert.equal(first.status, 404);
    assert.match(String(first.headers['cache-status']), /fwd=uri-miss; fwd-status=404; stored; detail=ttl$/);
    t.clock.tick(50);
    const hit = await t.get('/missing');
    assert.equal(hit.status, 404);
    assert.match(String(hit.headers['cache-status']), /^tamarin; hit; detail=ttl$/);
    t.clock.tick(20);
    await t.get('/missing');
    assert.equal(t.origin.hits, 2, "fetched again after the rule's minute");
    // 200 has no rule: the origin's 5 s hold.
    await t.get('/ok');
    t.clock.tick(6);
    await t.get('/ok');
    assert.equal(t.origin.hits, 4);
  } finally {
    await t.close();
  }
});

test("the origin's own lifetime wins unless ttl_override; then the rule decides and says so", async () => {
  const origin = answer({ 'Cache-Control': 'max-age=5' });
  const plain = await rig(origin, { ttl: { '200': '10m' } });
  try {
    await plain.get('/a');
    plain.clock.tick(6);
    const again = await plain.get('/a');
    assert.doesNotMatch(String(again.headers['cache-status']), /hit/);
    assert.equal(plain.origin.hits, 2, 'max-age=5 held without an override');
  } finally {
    await plain.close();
  }
  const forced = await rig(origin, { ttl: { '200': '10m' }, ttl_override: true });
  try {
    const miss = await forced.get('/a');
    assert.match(String(miss.headers['cache-status']), /stored; detail=ttl-override$/);
    forced.clock.tick(300);
    const hit = await forced.get('/a');
    assert.match(String(hit.headers['cache-status']), /^tamarin; hit; detail=ttl-override$/);
    assert.equal(forced.origin.hits, 1, "the rule's 10 minutes, not the origin's 5 s");
  } finally {
    await forced.close();
  }
});

test('a rule never stores what the origin forbids (no-store, private), even with ttl_override', async () => {
  for (const cc of ['no-store', 'private, max-age=60']) {
    const t = await rig(answer({ 'Cache-Control': cc }), { ttl: { any: '10m' }, ttl_override: true });
    try {
      await t.get('/x');
      await t.get('/x');
      assert.equal(t.origin.hits, 2, `${cc}: not stored`);
    } finally {
      await t.close();
    }
  }
});

test('a bad status or duration in ttl is a config error naming the key', async () => {
  const { startServer } = await import('../src/server/start.ts');
  await assert.rejects(
    startServer({
      inProcess: true,
      config: {
        plugins: ['cache', 'proxy'],
        server: { host: '127.0.0.1', port: 0 },
        proxy: {
          routes: [
            { match: '^/', backends: ['http://127.0.0.1:9'], cache: { ttl: { '20x': '1m', '404': 'soon' } } },
          ],
        },
      },
    }),
    (error: Error) =>
      /proxy\.routes\[0\]\.cache\.ttl\.20x: expected a status code/.test(error.message) &&
      /proxy\.routes\[0\]\.cache\.ttl\.404: expected a duration/.test(error.message),
  );
});
