/**
 * Purge by tag over real sockets, on a 2-worker server: responses tagged by `Cache-Tag` / `Surrogate-Key`
 * (spaces or commas) are removed from both workers' stores by `PURGE` with `X-Purge-Tag` (allow list and
 * token enforced) and by the admin API's `DELETE /api/cache?tag=` (or marked stale with `soft=1`);
 * untagged and other-tag entries stay. Also the admin API's bans (`POST` / `GET /api/cache/bans`).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';
import { call } from './admin-client.ts';

const TOKEN = 'test-token-0123456789abcdef';
const PURGE_TOKEN = 'purge-secret-123';
const auth = { authorization: `Bearer ${TOKEN}` };

/** Tags by path: what the origin labels each response with. */
const TAGS: Record<string, [string, string] | undefined> = {
  '/p/1': ['cache-tag', 'product-1 list'],
  '/p/2': ['surrogate-key', 'product-2,list'],
  '/p/3': ['cache-tag', 'product-3'],
  '/p/plain': undefined,
};

let server: RunningServer;
let origin: http.Server;
let admin: string;
let originHits = 0;

function request(
  path: string,
  method = 'GET',
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: server.port, path, method, headers, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${path}: no answer in 10 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** Paths cached, per path the number of workers holding it. */
async function cached(): Promise<Map<string, number>> {
  const list = await call(admin, 'GET', '/api/cache/entries?limit=1000', auth);
  const out = new Map<string, number>();
  for (const e of list.json.entries as Array<{ path: string; workers: unknown[] }>)
    out.set(e.path, e.workers.length);
  return out;
}

/** Request every tagged path on fresh connections until the shared store (one for both workers) holds each. */
async function fillBothWorkers(): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const now = await cached();
    const missing = Object.keys(TAGS).filter((p) => now.get(p) !== 1);
    if (missing.length === 0) return;
    for (const path of missing) await request(path);
  }
  assert.fail('entries never reached both workers');
}

before(async () => {
  setLogSink(() => {});
  origin = http.createServer((req, res) => {
    originHits++;
    const tag = TAGS[req.url ?? ''];
    res.writeHead(200, {
      'cache-control': 'max-age=600',
      ...(tag === undefined ? {} : { [tag[0]]: tag[1] }),
    });
    res.end(`body of ${req.url}`);
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  const port = (origin.address() as { port: number }).port;
  server = await startServer({
    config: {
      plugins: ['cache', 'proxy'],
      server: { port: 0, workers: 2 },
      cache: { purge_method: { enabled: true, allow: ['127.0.0.1', '::1'], token: PURGE_TOKEN } },
      proxy: { routes: [{ match: '^/p/', backends: [`http://127.0.0.1:${port}`], cache: true }] },
      admin: { port: 0, token: TOKEN },
    },
  });
  admin = server.admin!.url;
});

after(async () => {
  await server?.close();
  origin?.close();
  setLogSink(null);
});

describe('purge by tag', () => {
  it('PURGE with X-Purge-Tag removes the tagged entries for every worker; the token is required', {
    timeout: 60_000,
  }, async () => {
    await fillBothWorkers();
    const denied = await request('/', 'PURGE', { 'x-purge-tag': 'list' });
    assert.equal(denied.status, 403, 'no token');
    assert.equal((await cached()).get('/p/1'), 1, 'nothing purged');

    const purged = await request('/', 'PURGE', { 'x-purge-tag': 'list', 'x-purge-token': PURGE_TOKEN });
    assert.equal(purged.status, 200);
    const count = JSON.parse(purged.body) as { purged: number; workers: number };
    assert.deepEqual([count.purged, count.workers], [2, 2], 'the whole server: one store, two entries');
    // One operation of the shared store's owner, done before the answer (bounded anyway).
    for (let i = 0; i < 50 && ((await cached()).has('/p/1') || (await cached()).has('/p/2')); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const left = await cached();
    assert.equal(left.has('/p/1'), false, 'Cache-Tag with spaces');
    assert.equal(left.has('/p/2'), false, 'Surrogate-Key with commas');
    assert.equal(left.get('/p/3'), 1, 'another tag stays');
    assert.equal(left.get('/p/plain'), 1, 'untagged stays');
    const empty = await request('/', 'PURGE', { 'x-purge-tag': ' , ', 'x-purge-token': PURGE_TOKEN });
    assert.equal(empty.status, 400);
  });

  it('DELETE /api/cache?tag= purges for every worker and says what', { timeout: 60_000 }, async () => {
    await fillBothWorkers();
    const before = originHits;
    const res = await call(admin, 'DELETE', '/api/cache?tag=product-3%20product-1', auth);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json.filter, { tag: 'product-3 product-1' });
    assert.equal(res.json.removed, 2, 'two entries of the one store');
    const left = await cached();
    assert.equal(left.has('/p/1'), false);
    assert.equal(left.has('/p/3'), false);
    assert.equal(left.get('/p/2'), 1);
    const again = await request('/p/3');
    assert.doesNotMatch(String(again.headers['cache-status']), /hit/);
    assert.equal(originHits, before + 1);

    // Soft: marked stale for both workers, still stored (src/http-cache/soft-purge.ts).
    const soft = await call(admin, 'DELETE', '/api/cache?tag=list&soft=1', auth);
    assert.equal(soft.status, 200);
    assert.deepEqual(soft.json.filter, { tag: 'list', soft: true });
    assert.equal(soft.json.removed, 1, '/p/2 marked stale');
    assert.equal((await cached()).get('/p/2'), 1, 'kept');
    assert.equal((await call(admin, 'DELETE', '/api/cache?tag=list&soft=yes', auth)).status, 400);
    assert.equal((await call(admin, 'DELETE', '/api/cache?tag=', auth)).status, 400);
    assert.equal((await call(admin, 'DELETE', '/api/cache?tag=a&path=/p/1', auth)).status, 400);
    assert.equal((await call(admin, 'DELETE', '/api/cache?tag=list')).status, 401);
  });

  it('POST /api/cache/bans bans in every worker; GET lists them; bad expressions are 400', {
    timeout: 60_000,
  }, async () => {
    await fillBothWorkers();
    const added = await call(admin, 'POST', '/api/cache/bans?url=%5E%2Fp%2Fplain%24', auth);
    assert.equal(added.status, 200);
    assert.deepEqual(added.json.ban, { url: '^/p/plain$' });
    assert.equal(added.json.workers.length, 2);
    const listed = await call(admin, 'GET', '/api/cache/bans', auth);
    assert.equal(listed.status, 200);
    for (const w of listed.json.workers)
      assert.equal(w.bans[0]?.url ?? 'retired', w.bans.length ? '^/p/plain$' : 'retired');
    const hits = originHits;
    const after = await request('/p/plain');
    assert.doesNotMatch(String(after.headers['cache-status']), /hit/, 'banned entry fetched again');
    assert.equal(originHits, hits + 1);
    const bad = await call(admin, 'POST', '/api/cache/bans?url=(', auth);
    assert.equal(bad.status, 400);
    assert.match(bad.json.message, /url: invalid regular expression/);
    assert.equal((await call(admin, 'POST', '/api/cache/bans', auth)).status, 400);
    assert.equal((await call(admin, 'POST', '/api/cache/bans?url=x')).status, 401);
  });
});
