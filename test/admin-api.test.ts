/**
 * The admin JSON API against a real 2-worker server (worker threads, not in-process): every endpoint,
 * bad parameters (400 with a reason), and purges that take effect in every worker before the answer.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';
import { call, eventFrameReader, fetchFresh } from './admin-client.ts';

const FIXTURES = 'test/fixtures/static';
const TOKEN = 'test-token-0123456789abcdef';

let server: RunningServer;
let admin: string;
let backend: http.Server;
const auth = { authorization: `Bearer ${TOKEN}` };

/** Request `path` until the server's one (shared) cache holds it. */
async function cached(path: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    await fetchFresh(server.port, path);
    const list = await call(admin, 'GET', '/api/cache/entries?limit=1000', auth);
    if (list.json.entries.some((e: { path: string }) => e.path === path)) return;
  }
  assert.fail(`${path} never reached the cache`);
}

before(async () => {
  setLogSink(() => {});
  backend = http.createServer((_req, res) => res.end('backend\n'));
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  const backendPort = (backend.address() as { port: number }).port;
  server = await startServer({
    config: {
      plugins: ['cache', 'proxy', 'static'],
      server: { port: 0, workers: 2 },
      static: { root: FIXTURES },
      proxy: { routes: [{ match: '^/api-backend/', backends: [`http://127.0.0.1:${backendPort}`] }] },
      admin: { port: 0, token: TOKEN },
    },
  });
  admin = server.admin!.url;
});

after(async () => {
  await server?.close();
  backend?.close();
  setLogSink(null);
});

describe('GET /api/stats', () => {
  it('reports server and cache counters, totals and per worker', async () => {
    for (let i = 0; i < 10; i++) assert.equal(await fetchFresh(server.port, '/hello.txt'), 200);
    assert.equal(await fetchFresh(server.port, '/nope.txt'), 404);
    const { status, headers, json } = await call(admin, 'GET', '/api/stats', auth);
    assert.equal(status, 200);
    assert.equal(headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(headers['cache-control'], 'no-store');
    assert.equal(json.server.workers, 2);
    assert.ok(json.server.uptimeMs > 0);
    assert.ok(json.server.requests >= 11);
    assert.ok(json.server.statusClasses[1] >= 10, '2xx counted');
    assert.ok(json.server.statusClasses[3] >= 1, '4xx counted');
    assert.equal(json.server.perWorker.length, 2);
    assert.equal(json.server.rps.total.length, 300);
    assert.ok(json.server.rps.total.reduce((a: number, b: number) => a + b) >= 11, 'rps series counts them');
    assert.ok(json.cache.hits + json.cache.misses >= 10);
    assert.ok(json.cache.entries >= 1);
    assert.equal(json.cache.perWorker.length, 2);
    // One store for the whole server: its capacity and occupancy are counted once, not per worker.
    assert.equal(json.cache.maxBytes, json.cache.perWorker[0].maxBytes);
    assert.equal(json.cache.maxBytes, json.cache.perWorker[1].maxBytes);
    assert.equal(json.cache.entries, json.cache.perWorker[0].entries);
  });
});

describe('GET /api/cache/entries', () => {
  it('lists entries with key, size, hits, age and expiry, sorted and paged', async () => {
    for (const path of ['/hello.txt', '/index.html', '/app.js', '/bytes.bin'])
      await fetchFresh(server.port, path);
    for (let i = 0; i < 5; i++) await fetchFresh(server.port, '/index.html');
    const byHits = await call(admin, 'GET', '/api/cache/entries', auth);
    assert.equal(byHits.status, 200);
    assert.equal(byHits.json.sort, 'hits');
    const first = byHits.json.entries[0];
    for (const key of ['key', 'path', 'size', 'hits', 'ageMs', 'expiresInMs', 'workers'])
      assert.ok(key in first, key);
    const hits = byHits.json.entries.map((e: { hits: number }) => e.hits);
    assert.deepEqual(
      hits,
      [...hits].sort((a, b) => b - a),
    );

    const bySize = await call(admin, 'GET', '/api/cache/entries?sort=size', auth);
    const sizes = bySize.json.entries.map((e: { size: number }) => e.size);
    assert.deepEqual(
      sizes,
      [...sizes].sort((a, b) => b - a),
    );

    const page = await call(admin, 'GET', '/api/cache/entries?sort=size&limit=1&offset=1', auth);
    assert.equal(page.json.entries.length, 1);
    assert.equal(page.json.entries[0].key, bySize.json.entries[1].key);
  });

  it('answers bad parameters with 400 and the reason', async () => {
    const cases: Array<[string, RegExp]> = [
      ['sort=name', /sort must be one of hits, size, age; got "name"/],
      ['limit=0', /limit must be an integer from 1 to 1000, got "0"/],
      ['limit=ten', /limit must be an integer from 1 to 1000, got "ten"/],
      ['offset=-1', /offset must be an integer from 0 to 9000/],
      ['limit=5&limit=6', /parameter "limit" given twice/],
      ['order=hits', /unknown parameter "order" \(expected: sort, limit, offset, q\)/],
      [`q=${'x'.repeat(201)}`, /q is longer than 200 characters/],
    ];
    for (const [query, reason] of cases) {
      const { status, json } = await call(admin, 'GET', `/api/cache/entries?${query}`, auth);
      assert.equal(status, 400, query);
      assert.equal(json.error, 'bad_parameter');
      assert.match(json.message, reason);
    }
  });
});

describe('DELETE /api/cache', () => {
  it('purges one path from the shared store in one operation before answering', async () => {
    await cached('/hello.txt');
    const { status, json } = await call(admin, 'DELETE', '/api/cache?path=/hello.txt', auth);
    assert.equal(status, 200);
    assert.deepEqual(json.filter, { path: '/hello.txt' });
    assert.equal(json.removed, 1, 'one copy for the whole server');
    assert.deepEqual(
      json.workers.map((w: { worker: number; removed: number }) => [w.worker, w.removed]),
      [
        [0, 1],
        [1, 0],
      ],
    );
    // Already gone everywhere: each worker's own list says so.
    for (const result of await server.control('cache', 'entries', { limit: 10_000 })) {
      const paths = (result.result as { entries: Array<{ path: string }> }).entries.map((e) => e.path);
      assert.ok(!paths.includes('/hello.txt'), `worker ${result.worker} still has /hello.txt`);
    }
  });

  it('purges by prefix, and everything', async () => {
    await fetchFresh(server.port, '/sub/page.html');
    await fetchFresh(server.port, '/index.html');
    const prefix = await call(admin, 'DELETE', '/api/cache?prefix=/sub/', auth);
    assert.equal(prefix.status, 200);
    assert.ok(prefix.json.keys.every((k: string) => k.startsWith('/sub/')));
    assert.ok(prefix.json.removed >= 1);
    const all = await call(admin, 'DELETE', '/api/cache', auth);
    assert.equal(all.status, 200);
    assert.ok(all.json.removed >= 1);
    const stats = await call(admin, 'GET', '/api/stats', auth);
    assert.equal(stats.json.cache.entries, 0);
    assert.equal(stats.json.cache.bytes, 0);
  });

  it('answers bad parameters with 400 and the reason', async () => {
    const cases: Array<[string, RegExp]> = [
      ['path=hello.txt', /path must start with "\/", got "hello.txt"/],
      ['prefix=img', /prefix must start with "\/"/],
      ['path=/a&prefix=/b', /either path or prefix, not both/],
      ['host=example.com', /host needs a non-empty value and a path or prefix/],
      ['all=1', /unknown parameter "all"/],
    ];
    for (const [query, reason] of cases) {
      const { status, json } = await call(admin, 'DELETE', `/api/cache?${query}`, auth);
      assert.equal(status, 400, query);
      assert.match(json.message, reason);
    }
  });
});

describe('GET /api/config', () => {
  it('shows the effective configuration with secrets redacted', async () => {
    const { status, text, json, headers } = await call(admin, 'GET', '/api/config', auth);
    assert.equal(status, 200);
    // When it was loaded: at start-up, before this request.
    const loaded = Date.parse(headers['last-modified'] ?? '');
    assert.ok(loaded > 0 && loaded <= Date.now(), `Last-Modified: ${headers['last-modified']}`);
    assert.equal(json.server.workers, 2);
    assert.equal(json.cache.enabled, true);
    assert.equal(json.admin.token, '[redacted]');
    assert.ok(!text.includes(TOKEN), 'the token appears nowhere');
    assert.ok(json.proxy.routes[0].backends.length === 1);
  });
});

describe('GET /api/proxy/backends', () => {
  it('lists every route with its backends, summed and per worker', async () => {
    assert.equal(await fetchFresh(server.port, '/api-backend/x'), 200);
    const { status, json } = await call(admin, 'GET', '/api/proxy/backends', auth);
    assert.equal(status, 200);
    const backendRow = json.routes[0].backends[0];
    assert.match(backendRow.url, /^http:\/\/127\.0\.0\.1:\d+/);
    assert.equal(backendRow.state, 'up');
    assert.equal(backendRow.workers.length, 2);
    assert.ok(backendRow.requests >= 1);
  });
});

describe('GET /api/events', () => {
  it('streams the history, then one stats snapshot per second', async () => {
    // biome-ignore lint/suspicious/noExplicitAny: event payloads are checked field by field below
    const frames: Array<{ event: string; data: any; at: number }> = [];
    await new Promise<void>((resolve, reject) => {
      const req = http.get(new URL('/api/events', admin), { headers: auth, agent: false }, (res) => {
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
        res.setEncoding('utf8');
        const read = eventFrameReader(({ event, data }) => frames.push({ event, data, at: Date.now() }));
        res.on('data', (chunk: string) => {
          read(chunk);
          if (frames.filter((f) => f.event === 'stats').length >= 3) {
            req.destroy();
            resolve();
          }
        });
      });
      req.on('error', (error) => (frames.length >= 3 ? resolve() : reject(error)));
      req.setTimeout(8000, () => req.destroy(new Error('fewer than 3 stats events in 8 s')));
    });
    assert.equal(frames[0]!.event, 'history');
    assert.equal(frames[0]!.data.points.length, 300);
    const stats = frames.filter((f) => f.event === 'stats');
    // The first snapshot comes at once (the latest one), then one as each second turns.
    const gap = stats[2]!.at - stats[1]!.at;
    assert.ok(gap >= 700 && gap <= 1500, `snapshots ${gap} ms apart (one per second)`);
    const last = stats[2]!.data;
    assert.equal(last.server.workers, 2);
    assert.ok(last.cache.hits >= 0);
    assert.equal(last.points.length, 5);
    assert.ok(last.points[4].t > stats[0]!.data.points[4].t, 'each snapshot brings a newer second');
  });
});

describe('GET /metrics', () => {
  it('exposes counters, gauges and the latency histogram with a worker label', async () => {
    await fetchFresh(server.port, '/index.html');
    const { status, headers, text } = await call(admin, 'GET', '/metrics', auth);
    assert.equal(status, 200);
    assert.equal(headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    assert.match(text, /^# TYPE tamarin_http_requests_total counter$/m);
    assert.match(text, /^tamarin_http_requests_total\{worker="0",class="2xx"\} \d+$/m);
    assert.match(text, /^tamarin_http_requests_total\{worker="1",class="2xx"\} \d+$/m);
    assert.match(text, /^# TYPE tamarin_http_request_duration_seconds histogram$/m);
    assert.match(text, /^tamarin_http_request_duration_seconds_bucket\{le="\+Inf",worker="0"\} \d+$/m);
    assert.match(text, /^tamarin_http_request_duration_seconds_count\{worker="1"\} \d+$/m);
    for (const name of ['hits', 'misses', 'evictions']) {
      assert.match(text, new RegExp(`^tamarin_cache_${name}_total\\{worker="0"\\} \\d+$`, 'm'));
    }
    // The shared store's occupancy is the server's: exported once (worker 0), so sum() stays right.
    assert.match(text, /^tamarin_cache_bytes\{worker="0"\} \d+$/m);
    assert.doesNotMatch(text, /^tamarin_cache_bytes\{worker="1"\}/m);
    assert.match(text, /^tamarin_cache_entries\{worker="0"\} \d+$/m);
    assert.match(text, /^tamarin_cache_hits_total\{worker="1"\} \d+$/m);
    // The 2xx counters add up to what /api/stats reports (same source, two views).
    const sum = [...text.matchAll(/^tamarin_http_requests_total\{worker="\d",class="2xx"\} (\d+)$/gm)].reduce(
      (total, m) => total + Number(m[1]),
      0,
    );
    const stats = await call(admin, 'GET', '/api/stats', auth);
    assert.ok(sum <= stats.json.server.statusClasses[1] && sum > 0);
  });
});

describe('dashboard files and unknown routes', () => {
  it('serves the page and its scripts locally, with a CSP that forbids inline script', async () => {
    const page = await call(admin, 'GET', '/');
    assert.equal(page.status, 200);
    assert.match(page.headers['content-type']!, /^text\/html/);
    assert.match(String(page.headers['content-security-policy']), /script-src 'self';/);
    assert.equal(page.headers['x-frame-options'], 'DENY');
    assert.doesNotMatch(page.text, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
    assert.doesNotMatch(page.text, /https?:\/\//, 'nothing from another origin');
    for (const asset of [
      '/assets/dashboard.js',
      '/assets/tables.js',
      '/assets/uplot.js',
      '/assets/uplot.css',
      '/assets/dashboard.css',
    ]) {
      const res = await call(admin, 'GET', asset);
      assert.equal(res.status, 200, asset);
      const again = await call(admin, 'GET', asset, { 'if-none-match': res.headers.etag! });
      assert.equal(again.status, 304, `${asset} revalidates`);
    }
  });

  it('answers unknown paths with 404 and wrong methods with 405 and Allow', async () => {
    const missing = await call(admin, 'GET', '/api/nothing', auth);
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error, 'not_found');
    const wrong = await call(admin, 'POST', '/api/stats', { ...auth, origin: new URL(admin).origin });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.allow, 'GET, HEAD');
  });
});
