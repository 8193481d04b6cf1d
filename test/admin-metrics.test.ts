/**
 * Proxy backends and the proxy response cache in the Prometheus metrics, over a real server: a Tamarin
 * with the cache and proxy plugins in front of fake backends on 127.0.0.1, its admin listener on port 0.
 * The values must move with the traffic: requests counted at the backend they went to, a stopped backend
 * shown as not up once passive health cools it, proxy cache hits counted with the cache's.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  createMetrics,
  createMetrics as createProxyMetrics,
  fetchMetricsInput,
  type MetricsInput,
} from '../src/admin/metrics.ts';
import { adminContributions, type RunningServer, startServer } from '../src/main/compose.ts';
import { proxyAdmin } from '../src/proxy/admin.ts';
import type { RouteSnapshot } from '../src/proxy/plugin.ts';
import { setLogSink } from '../src/server/logger.ts';
import { call, fetchFresh } from './admin-client.ts';
import { type FakeBackend, startFakeBackend } from './helpers/fake-backend.ts';

const TOKEN = 'test-token-0123456789abcdef';
const auth = { authorization: `Bearer ${TOKEN}` };

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Samples of a Prometheus text exposition (format 0.0.4); label values unescaped. */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** The one sample of `name` whose labels include `labels` (fails when there are none or several). */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  assert.equal(found.length, 1, `${name}${JSON.stringify(labels)}: ${found.length} samples`);
  return found[0]!.value;
}

let server: RunningServer;
let fast: FakeBackend;
let doomed: FakeBackend;
let spare: FakeBackend;

/** What `GET /metrics` renders for this server. */
async function scrapeRendered(): Promise<Sample[]> {
  const contributions = adminContributions(server.definitions);
  return parseExposition(
    await createMetrics(contributions).render(await fetchMetricsInput(server.control, contributions)),
  );
}

before(async () => {
  setLogSink(() => {});
  fast = await startFakeBackend({
    name: 'fast',
    handler: (req, res) => {
      // /cached/ answers are storable for a minute: the second request is a proxy cache hit.
      if (!req.url?.startsWith('/cached/')) return false;
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60' });
      res.end(`cached ${req.url}\n`);
      return true;
    },
  });
  doomed = await startFakeBackend({ name: 'doomed' });
  spare = await startFakeBackend({ name: 'spare', latencyMs: 20 });
  server = await startServer({
    inProcess: true,
    config: {
      plugins: ['cache', 'proxy'],
      server: { host: '127.0.0.1', port: 0 },
      proxy: {
        routes: [
          { match: '^/fast/', backends: [fast.url] },
          {
            match: ['^/pool/', '^/other-pool/'],
            host: 'pool.test',
            backends: [doomed.url, spare.url],
            balancer: 'first-alive',
            attempts: 2,
            max_fails: 2,
            cooldown: 60_000,
            connect_timeout: 500,
            // No pooled connection to the backend stopped mid-test: every failure is a refused connect.
            keepalive: 0,
          },
          { match: '^/cached/', backends: [fast.url], cache: true },
        ],
      },
      admin: { port: 0, token: TOKEN },
    },
  });
});

after(async () => {
  await server?.close();
  await Promise.all([fast?.stop(), doomed?.stop(), spare?.stop()]);
  setLogSink(null);
});

/** GET `path` with `Host: host` on a fresh connection; the status code. */
function get(path: string, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(server.port, '127.0.0.1');
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0)));
    socket.on('error', reject);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  });
}

describe('proxy backends in /metrics', () => {
  it('has one series per route, backend and worker, and requests_total rises with traffic', async () => {
    const before = await scrapeRendered();
    const labels = { route: '0', backend: fast.url, worker: '0' };
    const start = value(before, 'tamarin_proxy_backend_requests_total', labels);
    for (let i = 0; i < 5; i++) assert.equal(await fetchFresh(server.port, `/fast/${i}`), 200);
    const samples = await scrapeRendered();
    assert.equal(value(samples, 'tamarin_proxy_backend_requests_total', labels), start + 5);
    assert.equal(value(samples, 'tamarin_proxy_backend_failures_total', labels), 0);
    assert.equal(value(samples, 'tamarin_proxy_backend_up', labels), 1);
    assert.equal(value(samples, 'tamarin_proxy_backend_state', { ...labels, state: 'up' }), 1);
    assert.equal(value(samples, 'tamarin_proxy_backend_state', { ...labels, state: 'cooling' }), 0);
    assert.equal(value(samples, 'tamarin_proxy_backend_state', { ...labels, state: 'down' }), 0);
    assert.equal(value(samples, 'tamarin_proxy_backend_in_flight', labels), 0);
    const latency = value(samples, 'tamarin_proxy_backend_latency_seconds', labels);
    assert.ok(latency > 0 && latency < 1, `latency ${latency} s`);
    assert.ok(value(samples, 'tamarin_proxy_backend_latency_mean_seconds', labels) > 0);
    // Keep-alive upstream: the connections stay open in the pool.
    assert.ok(value(samples, 'tamarin_proxy_backend_connections', labels) >= 1);
    assert.ok(value(samples, 'tamarin_proxy_backend_idle_connections', labels) >= 1);
    // Every backend of every route has its series; the route's patterns and host are in the info series.
    for (const [route, url] of [
      ['0', fast.url],
      ['1', doomed.url],
      ['1', spare.url],
      ['2', fast.url],
    ] as const) {
      value(samples, 'tamarin_proxy_backend_up', { route, backend: url, worker: '0' });
    }
    assert.equal(value(samples, 'tamarin_proxy_route_info', { route: '1' }), 1);
    const info = samples.find((s) => s.name === 'tamarin_proxy_route_info' && s.labels.route === '1')!;
    // The patterns as /api/proxy/backends shows them (compiled RegExp sources), space-separated.
    assert.deepEqual(info.labels, {
      route: '1',
      match: String.raw`^\/pool\/ ^\/other-pool\/`,
      host: 'pool.test',
    });
  });

  it('has no latency series for a backend that never answered', async () => {
    const samples = await scrapeRendered();
    const labels = { route: '1', backend: spare.url, worker: '0' };
    assert.equal(value(samples, 'tamarin_proxy_backend_requests_total', labels), 0);
    assert.equal(
      samples.filter(
        (s) => s.name.startsWith('tamarin_proxy_backend_latency') && s.labels.backend === spare.url,
      ).length,
      0,
    );
  });

  it('shows a stopped backend as not up (cooling) after its failures, and the failover backend serving', async () => {
    const labels = { route: '1', backend: doomed.url, worker: '0' };
    assert.equal(await get('/pool/a', 'pool.test'), 200);
    let samples = await scrapeRendered();
    assert.equal(value(samples, 'tamarin_proxy_backend_up', labels), 1);
    assert.equal(value(samples, 'tamarin_proxy_backend_requests_total', labels), 1);

    await doomed.stop();
    // Connection refused twice (max_fails = 2): each request fails over to the spare backend.
    assert.equal(await get('/pool/b', 'pool.test'), 200);
    assert.equal(await get('/other-pool/c', 'pool.test'), 200);
    samples = await scrapeRendered();
    assert.equal(value(samples, 'tamarin_proxy_backend_up', labels), 0);
    assert.equal(value(samples, 'tamarin_proxy_backend_state', { ...labels, state: 'cooling' }), 1);
    assert.equal(value(samples, 'tamarin_proxy_backend_state', { ...labels, state: 'up' }), 0);
    assert.equal(value(samples, 'tamarin_proxy_backend_failures_total', labels), 2);
    const spareLabels = { route: '1', backend: spare.url, worker: '0' };
    assert.equal(value(samples, 'tamarin_proxy_backend_up', spareLabels), 1);
    assert.equal(value(samples, 'tamarin_proxy_backend_requests_total', spareLabels), 2);
    // The spare answers after 20 ms: its latency says so.
    assert.ok(value(samples, 'tamarin_proxy_backend_latency_seconds', spareLabels) >= 0.015);

    // While cooling the dead backend gets no traffic: its counters stay where they were.
    assert.equal(await get('/pool/d', 'pool.test'), 200);
    samples = await scrapeRendered();
    assert.equal(value(samples, 'tamarin_proxy_backend_requests_total', labels), 3);
    assert.equal(value(samples, 'tamarin_proxy_backend_requests_total', spareLabels), 3);
  });

  it('counts proxy cache hits and origin fetches with the cache series', async () => {
    const before = await scrapeRendered();
    const hits = value(before, 'tamarin_cache_hits_total', { worker: '0' });
    const fetches = value(before, 'tamarin_cache_origin_fetches_total', { worker: '0' });
    const backend = { route: '2', backend: fast.url, worker: '0' };
    for (let i = 0; i < 3; i++) assert.equal(await get('/cached/x'), 200);
    const samples = await scrapeRendered();
    assert.equal(value(samples, 'tamarin_cache_hits_total', { worker: '0' }), hits + 2);
    assert.equal(value(samples, 'tamarin_cache_origin_fetches_total', { worker: '0' }), fetches + 1);
    assert.equal(value(samples, 'tamarin_proxy_backend_requests_total', backend), 1, 'hits never reach it');
    assert.ok(value(samples, 'tamarin_cache_entries', { worker: '0' }) >= 1);
    assert.equal(value(samples, 'tamarin_cache_policy_info', { worker: '0' }), 1);
  });

  it('GET /metrics over the admin listener carries the proxy series', async () => {
    const reply = await call(server.admin!.url, 'GET', '/metrics', auth);
    assert.equal(reply.status, 200);
    assert.match(String(reply.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const samples = parseExposition(reply.text);
    assert.equal(
      value(samples, 'tamarin_proxy_backend_up', { route: '0', backend: fast.url, worker: '0' }),
      1,
    );
  });
});

describe('proxy series from per-worker snapshots', () => {
  const backend = (state: 'up' | 'down' | 'cooling', requests: number) => ({
    url: 'http://10.0.0.1:8080',
    weight: 1,
    state,
    health: state,
    admin: 'enabled' as const,
    inFlight: 1,
    requests,
    failures: 4,
    latencyMs: 12.5,
    latencyEwmaMs: 250,
    lastError: null,
    openConnections: 2,
    idleConnections: 1,
  });
  const input = (proxy: Array<{ worker: number; result: RouteSnapshot[] }> | null): MetricsInput => ({
    server: [],
    plugins: {
      proxy:
        proxy === null
          ? null
          : proxy.map(({ worker, result }) => ({
              worker,
              result: { backends: result, stats: { routes: [] } },
            })),
    },
  });
  const createMetrics = () => createProxyMetrics(new Map([['proxy', proxyAdmin]]));

  it('labels each worker with its own view of a backend (health is per worker)', async () => {
    const route = (state: 'up' | 'down' | 'cooling', requests: number) => [
      { route: 0, match: ['^/'], host: null, backends: [backend(state, requests)] },
    ];
    const samples = parseExposition(
      await createMetrics().render(
        input([
          { worker: 0, result: route('up', 10) },
          { worker: 1, result: route('down', 7) },
        ]),
      ),
    );
    const w0 = { route: '0', backend: 'http://10.0.0.1:8080', worker: '0' };
    const w1 = { ...w0, worker: '1' };
    assert.equal(value(samples, 'tamarin_proxy_backend_up', w0), 1);
    assert.equal(value(samples, 'tamarin_proxy_backend_up', w1), 0);
    assert.equal(value(samples, 'tamarin_proxy_backend_state', { ...w1, state: 'down' }), 1);
    assert.equal(value(samples, 'tamarin_proxy_backend_requests_total', w0), 10);
    assert.equal(value(samples, 'tamarin_proxy_backend_requests_total', w1), 7);
    assert.equal(value(samples, 'tamarin_proxy_backend_latency_seconds', w0), 0.25);
    assert.equal(value(samples, 'tamarin_proxy_backend_latency_mean_seconds', w0), 0.0125);
    assert.equal(value(samples, 'tamarin_proxy_route_info', { route: '0', match: '^/', host: '' }), 1);
  });

  it('drops the series of a previous scrape (a route gone after a restart shows no stale values)', async () => {
    const metrics = createMetrics();
    await metrics.render(
      input([{ worker: 0, result: [{ route: 0, match: ['^/'], host: null, backends: [backend('up', 1)] }] }]),
    );
    const samples = parseExposition(await metrics.render(input(null)));
    assert.equal(samples.filter((s) => s.name.startsWith('tamarin_proxy_')).length, 0);
  });
});
