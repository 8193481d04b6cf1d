/**
 * The content cache and host-restricted proxy routes over real sockets: a static file cached for one host
 * is never the answer for a host whose route sends the same path to a backend (the cache key has no host
 * without `[static.hosts]`, and the cache answers before routing).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { CacheStatsSnapshot } from '../src/cache/stats.ts';
import { rawRequest } from '../src/http/test-client.ts';
import { type RunningServer, startServer } from '../src/server/start.ts';
import { type FakeBackend, startFakeBackend } from './helpers/fake-backend.ts';

let root: string;
let backend: FakeBackend;
let server: RunningServer;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'tamarin-cache-routes-'));
  mkdirSync(join(root, 'api'));
  writeFileSync(join(root, 'api', 'x'), 'the static copy\n');
  writeFileSync(join(root, 'plain.txt'), 'plain\n');
  backend = await startFakeBackend({ name: 'api-backend' });
  server = await startServer({
    inProcess: true,
    config: {
      plugins: ['cache', 'proxy', 'static'],
      server: { host: '127.0.0.1', port: 0 },
      static: { root },
      proxy: { routes: [{ match: '^/api/', host: 'api.test', backends: [backend.url] }] },
    },
  });
});

after(async () => {
  await server?.close();
  await backend?.stop();
  rmSync(root, { recursive: true, force: true });
});

async function get(host: string, path: string, extra = ''): Promise<string> {
  const head = `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n${extra}\r\n`;
  return (await rawRequest(server.port, head, { timeoutMs: 2000 })).toString('latin1');
}

async function hits(): Promise<number> {
  const [result] = await server.control('cache', 'stats');
  return (result!.result as CacheStatsSnapshot).hits;
}

test('a static hit cached via one host never answers another host whose route proxies the path', async () => {
  const first = await get('www.test', '/api/x');
  assert.match(first, /\r\n\r\nthe static copy\n$/);
  const before = await hits();
  const second = await get('www.test', '/api/x');
  assert.match(second, /\r\n\r\nthe static copy\n$/);
  assert.equal((await hits()) - before, 1, 'www.test is served from the cache');

  const api = await get('api.test', '/api/x');
  assert.match(api, /^HTTP\/1\.1 200 /);
  assert.match(api, /X-Backend: api-backend/i);
  assert.doesNotMatch(api, /the static copy/);
  assert.equal(backend.hits, 1);
  // Spellings of the same host are the same route.
  const upper = await get('API.TEST:80', '/api/x');
  assert.match(upper, /X-Backend: api-backend/i);
  // An Upgrade request on the route is the proxy's too (a tunnel, never a cached file).
  const upgrade = await get('api.test', '/api/x', 'Upgrade: websocket\r\nConnection: upgrade\r\n');
  assert.doesNotMatch(upgrade, /the static copy/);
  assert.equal(backend.hits, 3);

  // The other host still hits, and a path no route takes is unaffected.
  const again = await hits();
  assert.match(await get('www.test', '/api/x'), /the static copy/);
  assert.equal((await hits()) - again, 1);
  await get('api.test', '/plain.txt');
  const plainBefore = await hits();
  assert.match(await get('api.test', '/plain.txt'), /\r\n\r\nplain\n$/);
  assert.equal((await hits()) - plainBefore, 1);
});
