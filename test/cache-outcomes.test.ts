/**
 * Cache outcomes over real sockets, as an operator reads them in `/api/stats`: hits, misses, passes,
 * stale answers, revalidations and errors kept apart for the static-file cache and the proxy's RFC 9111
 * cache; a 404 is not a miss, 502s on an uncached route do not lower the hit ratio; bytes served from the
 * cache against bytes from the origin; the server's bytes and the proxy's per-route counters.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';
import { call, fetchFresh } from './admin-client.ts';
import { type FakeBackend, startFakeBackend } from './helpers/fake-backend.ts';

const TOKEN = 'test-token-0123456789abcdef';
const auth = { authorization: `Bearer ${TOKEN}` };
const BODY = 'x'.repeat(1000);

let server: RunningServer;
let origin: FakeBackend;

function answer(req: IncomingMessage, res: ServerResponse): boolean {
  const url = req.url ?? '';
  if (url.startsWith('/cached/ok')) {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60' });
    res.end(BODY);
  } else if (url.startsWith('/cached/private')) {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'private' });
    res.end('mine');
  } else if (url.startsWith('/cached/etag')) {
    // Stale at once, with a validator: the second request is revalidated (304) and answered from the store.
    if (req.headers['if-none-match'] === '"v1"') {
      res.writeHead(304, { etag: '"v1"', 'cache-control': 'max-age=0' });
      res.end();
    } else {
      res.writeHead(200, { 'content-type': 'text/plain', etag: '"v1"', 'cache-control': 'max-age=0' });
      res.end(BODY);
    }
  } else if (url.startsWith('/cached/fail') || url.startsWith('/live/fail')) {
    res.writeHead(502, { 'content-type': 'text/plain' });
    res.end('down');
  } else return false;
  return true;
}

async function stats() {
  const reply = await call(server.admin!.url, 'GET', '/api/stats', auth);
  assert.equal(reply.status, 200);
  return reply.json;
}

before(async () => {
  setLogSink(() => {});
  origin = await startFakeBackend({ name: 'origin', handler: answer });
  server = await startServer({
    inProcess: true,
    config: {
      plugins: ['cache', 'proxy', 'static'],
      server: { host: '127.0.0.1', port: 0 },
      static: { root: 'test/fixtures/static' },
      proxy: {
        routes: [
          { match: '^/live/', backends: [origin.url] },
          { match: '^/cached/', backends: [origin.url], cache: true },
        ],
      },
      admin: { port: 0, token: TOKEN },
    },
  });
});

after(async () => {
  await server?.close();
  await origin?.stop();
  setLogSink(null);
});

describe('cache outcomes in /api/stats', () => {
  it('keeps hit, miss, pass, revalidated and error apart, by cache', async () => {
    for (let i = 0; i < 3; i++) assert.equal(await fetchFresh(server.port, '/hello.txt'), 200);
    assert.equal(await fetchFresh(server.port, '/nope.txt'), 404);
    for (let i = 0; i < 4; i++) assert.equal(await fetchFresh(server.port, '/live/fail'), 502);
    for (let i = 0; i < 3; i++) assert.equal(await fetchFresh(server.port, '/cached/ok'), 200);
    for (let i = 0; i < 2; i++) assert.equal(await fetchFresh(server.port, '/cached/private'), 200);
    assert.equal(await fetchFresh(server.port, '/cached/fail'), 502);
    for (let i = 0; i < 2; i++) assert.equal(await fetchFresh(server.port, '/cached/etag'), 200);

    const { cache } = await stats();
    assert.deepEqual(cache.bySource.files, { hit: 2, miss: 1, pass: 1, stale: 0, revalidated: 0, error: 4 });
    assert.deepEqual(cache.bySource.proxy, { hit: 2, miss: 2, pass: 2, stale: 0, revalidated: 1, error: 1 });
    assert.deepEqual(cache.outcomes, { hit: 4, miss: 3, pass: 3, stale: 0, revalidated: 1, error: 5 });
    // The 404, the private answers and every 502 stay out of the ratio: 4 hits of 8 cacheable lookups.
    assert.equal(cache.hits, 4);
    assert.equal(cache.misses, 4);
    assert.equal(cache.hitRatio, 0.5);
  });

  it('counts body bytes served from the cache against bytes from the origin', async () => {
    const before = (await stats()).cache;
    for (let i = 0; i < 4; i++) assert.equal(await fetchFresh(server.port, '/cached/ok'), 200);
    const now = (await stats()).cache;
    assert.equal(now.bytesFromCache - before.bytesFromCache, 4 * BODY.length);
    assert.equal(now.bytesFromOrigin, before.bytesFromOrigin, 'nothing fetched for hits');
    assert.ok(now.offloadRatio > before.offloadRatio);
    assert.equal(now.rps.hits.reduce((a: number, b: number) => a + b, 0) >= 4, true);
  });

  it('shows server bytes and 5xx per second, and the proxy per route', async () => {
    const { server: s, proxy } = await stats();
    assert.ok(s.bytesOut >= 8 * BODY.length, `bytesOut ${s.bytesOut}`);
    assert.ok(s.rps.serverErrors.reduce((a: number, b: number) => a + b, 0) >= 5);
    assert.ok(s.rps.clientErrors.reduce((a: number, b: number) => a + b, 0) >= 1);
    const [live, cached] = proxy.routes;
    assert.equal(live.route, 0);
    assert.equal(live.requests, 4);
    assert.deepEqual(live.statusClasses, [0, 0, 0, 0, 4]);
    assert.equal(live.errors, 0, "the backend's 502s are its own, not the proxy's");
    // Forwarded by the cache: 1 miss of ok, 2 private, 1 fail, the etag miss and its validation.
    assert.equal(cached.requests, 6);
    assert.equal(cached.backends[0].requests, 6);
    assert.equal(
      cached.upstreamLatency.counts.reduce((a: number, b: number) => a + b, 0),
      6,
    );
  });

  it("counts the proxy's own errors per route", async () => {
    const port = origin.port;
    await origin.stop();
    try {
      assert.equal(await fetchFresh(server.port, '/live/x'), 502);
      const { proxy, cache } = await stats();
      assert.equal(proxy.routes[0].errors, 1);
      assert.equal(cache.outcomes.error, 6);
    } finally {
      await origin.start(port);
    }
  });

  it('shows the same outcomes as labels in /metrics, and routes by index (never by path)', async () => {
    const reply = await call(server.admin!.url, 'GET', '/metrics', auth);
    assert.equal(reply.status, 200);
    const sample = (name: string, labels: string) => {
      const line = reply.text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
      assert.ok(line, `${name}{${labels}}`);
      return Number(line.split(' ').pop());
    };
    const { cache } = await stats();
    for (const source of ['files', 'proxy']) {
      for (const outcome of ['hit', 'miss', 'pass', 'stale', 'revalidated', 'error']) {
        assert.equal(
          sample('tamarin_cache_requests_total', `worker="0",cache="${source}",outcome="${outcome}"`),
          cache.bySource[source][outcome],
          `${source} ${outcome}`,
        );
      }
    }
    assert.equal(sample('tamarin_cache_body_bytes_total', 'worker="0",from="cache"'), cache.bytesFromCache);
    assert.equal(sample('tamarin_proxy_route_responses_total', 'route="0",worker="0",class="5xx"'), 5);
    assert.equal(sample('tamarin_proxy_upstream_duration_seconds_count', 'route="1",worker="0"'), 6);
    assert.ok(sample('tamarin_http_sent_bytes_total', 'worker="0"') >= 8 * BODY.length);
    const panels = await call(server.admin!.url, 'GET', '/api/panels', auth);
    assert.deepEqual(
      panels.json.panels.map((p: { plugin: string; title: string }) => `${p.plugin}: ${p.title}`),
      ['cache: Cache', 'proxy: Proxy routes'],
    );
    // Label values come from the configuration only: no request path appears in any series.
    assert.doesNotMatch(reply.text, /\/cached\/ok|\/live\/fail|hello\.txt/);
  });
});
