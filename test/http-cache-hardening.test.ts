/**
 * The HTTP cache against two ways of getting a private or forbidden answer stored, over real sockets: web
 * cache deception (a personalised page with only `Last-Modified`, asked with `Cookie`) and a malformed
 * `CDN-Cache-Control` overriding `Cache-Control: no-store`.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  answer,
  Clock,
  closeAgent,
  FakeOrigin,
  get,
  type OriginHandler,
  startRig,
} from './helpers/fake-origin.ts';

after(() => closeAgent());

const LM = 'Wed, 31 Dec 2025 23:43:20 GMT'; // 1000 s before the clock's start: 100 s heuristic freshness

/**
 * Two requests for one URL, the first with `first` headers, the second (a few seconds later) from another
 * client; returns the first Cache-Status and how often the origin was asked in all.
 */
async function twice(
  origin: OriginHandler,
  route: Record<string, unknown>,
  first: Record<string, string>,
): Promise<{ cacheStatus: string; originHits: number; secondBody: string }> {
  const clock = new Clock();
  const server = await new FakeOrigin(clock, origin).start();
  const rig = await startRig(clock, [server.url], route);
  try {
    const one = await get(rig.port, '/account', first);
    assert.equal(one.status, 200);
    clock.tick(5);
    const two = await get(rig.port, '/account');
    return {
      cacheStatus: String(one.headers['cache-status']),
      originHits: server.hits,
      secondBody: two.body,
    };
  } finally {
    await rig.close();
    await server.stop();
  }
}

/** An origin that personalises its page from the Cookie and dates it. */
function personal(fields: Record<string, string>): OriginHandler {
  return (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html', ...fields });
    res.end(req.headers.cookie === undefined ? 'anonymous' : `private page of ${req.headers.cookie}`);
  };
}

describe('web cache deception: Cookie requests and implicit freshness', () => {
  const cookie = { Cookie: 'session=alice' };

  test('a Last-Modified-only answer to a Cookie request is not stored, and Cache-Status says why', async () => {
    const r = await twice(personal({ 'Last-Modified': LM }), { cache: true }, cookie);
    assert.match(r.cacheStatus, /fwd=uri-miss; fwd-status=200; detail=cookie-implicit-freshness$/);
    assert.equal(r.originHits, 2);
    assert.equal(r.secondBody, 'anonymous');
  });

  test('nor with default_ttl, nor kept for validation with a validator alone', async () => {
    const ttl = await twice(personal({ 'Last-Modified': LM }), { cache: { default_ttl: '1m' } }, cookie);
    assert.equal(ttl.originHits, 2);
    assert.equal(ttl.secondBody, 'anonymous');
    const etag = await twice(personal({ ETag: '"v1"' }), { cache: { heuristic: false } }, cookie);
    assert.match(etag.cacheStatus, /detail=cookie-implicit-freshness/);
    assert.equal(etag.originHits, 2);
  });

  test('explicit freshness from the origin still stores it', async () => {
    const r = await twice(
      personal({ 'Last-Modified': LM, 'Cache-Control': 'max-age=60' }),
      { cache: true },
      cookie,
    );
    assert.match(r.cacheStatus, /; stored/);
    assert.equal(r.originHits, 1);
  });

  test('cookie_implicit_freshness = true stores it as before', async () => {
    const r = await twice(
      personal({ 'Last-Modified': LM }),
      { cache: { cookie_implicit_freshness: true } },
      cookie,
    );
    assert.match(r.cacheStatus, /; stored/);
    assert.equal(r.originHits, 1);
  });

  test('a request without Cookie still gets heuristic freshness', async () => {
    const r = await twice(personal({ 'Last-Modified': LM }), { cache: true }, {});
    assert.match(r.cacheStatus, /; stored/);
    assert.equal(r.originHits, 1);
  });
});

describe('RFC 9213 CDN-Cache-Control is a strict Structured Field', () => {
  const route = { cache: { cdn_cache_control: true } };
  for (const cdn of ['max-age=10000, &&&&&', 'max-age="10000"', 'max-age=10000.0', 'max-age=10000,']) {
    test(`invalid ${JSON.stringify(cdn)} is ignored: Cache-Control: no-store wins`, async () => {
      const r = await twice(answer({ 'Cache-Control': 'no-store', 'CDN-Cache-Control': cdn }), route, {});
      assert.match(r.cacheStatus, /detail=no-store$/);
      assert.equal(r.originHits, 2);
    });
  }

  test('a valid one still overrides Cache-Control', async () => {
    const r = await twice(
      answer({ 'Cache-Control': 'no-store', 'CDN-Cache-Control': 'max-age=10000' }),
      route,
      {},
    );
    assert.match(r.cacheStatus, /; stored/);
    assert.equal(r.originHits, 1);
  });

  test('an invalid one never turns a cacheable answer uncacheable either', async () => {
    const r = await twice(
      answer({ 'Cache-Control': 'max-age=60', 'CDN-Cache-Control': 'no-store=yes' }),
      route,
      {},
    );
    assert.match(r.cacheStatus, /; stored/);
    assert.equal(r.originHits, 1);
  });
});
