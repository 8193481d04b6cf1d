/**
 * The `BAN` method over real sockets, on a 2-worker server whose entries live in the shared store: a ban
 * sent to whichever worker accepts the connection removes the matching entries, whichever worker stored
 * them, before it is answered, with the whole server's count (each entry once: the store's owner applies
 * the ban for every worker); Varnish `ban()` expressions
 * and the admin API's parameters; 400 with the reason for a bad expression, 403 without the purge token,
 * 405 without a cached proxy route, 501 where the purge method is off (BAN is then an unknown method,
 * as any other is). The admin API's ban answers with the same count.
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
const PATHS = ['/p/1', '/p/2', '/p/img.png', '/q/1'];

let server: RunningServer;
let origin: http.Server;
let main: string;
let admin: string;
let originHits = 0;

/** Paths cached (one entry each in the shared store). */
async function cached(): Promise<Set<string>> {
  const list = await call(admin, 'GET', '/api/cache/entries?limit=1000', auth);
  return new Set((list.json.entries as Array<{ path: string }>).map((e) => e.path));
}

/** Request every missing path (on fresh connections: either worker stores it) until each is cached. */
async function fillStore(): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const now = await cached();
    const missing = PATHS.filter((p) => !now.has(p));
    if (missing.length === 0) return;
    for (const path of missing) await call(main, 'GET', path);
  }
  assert.fail('entries never reached the store');
}

const ban = (headers: Record<string, string>, target = '/') =>
  call(main, 'BAN', target, { 'x-purge-token': PURGE_TOKEN, ...headers });

before(async () => {
  setLogSink(() => {});
  origin = http.createServer((req, res) => {
    originHits++;
    res.writeHead(200, {
      'cache-control': 'max-age=600',
      'content-type': req.url?.endsWith('.png') ? 'image/png' : 'text/plain',
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
      proxy: { routes: [{ match: '^/[pq]/', backends: [`http://127.0.0.1:${port}`], cache: true }] },
      admin: { port: 0, token: TOKEN },
    },
  });
  main = `http://127.0.0.1:${server.port}/`;
  admin = server.admin!.url;
});

after(async () => {
  await server?.close();
  origin?.close();
  setLogSink(null);
});

describe('BAN method', () => {
  it('a ban through either worker removes the matching entries before the answer, counted once', {
    timeout: 60_000,
  }, async () => {
    await fillStore();
    const res = await ban({ 'x-ban': 'req.http.host ~ "^127\\.0\\.0\\.1$" && req.url ~ ^/p/[0-9]' });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, {
      banned: 2,
      workers: 2,
      ban: { host: '^127\\.0\\.0\\.1$', url: '^/p/[0-9]' },
    });
    // Answered once the owner removed them: nothing to wait for.
    const left = await cached();
    assert.equal(left.has('/p/1'), false, 'gone for both workers');
    assert.equal(left.has('/p/2'), false);
    assert.equal(left.has('/p/img.png'), true, 'not matching: kept');
    assert.equal(left.has('/q/1'), true);
    const before = originHits;
    const again = await call(main, 'GET', '/p/1');
    assert.doesNotMatch(String(again.headers['cache-status']), /hit/, 'whichever worker answers');
    assert.equal(originHits, before + 1);
  });

  it("the admin API's syntax in the query, and a field; == is the exact text", {
    timeout: 60_000,
  }, async () => {
    await fillStore();
    const byField = await ban({}, '/?field=Content-Type&value=%5Eimage%2F');
    assert.equal(byField.status, 200, byField.text);
    assert.deepEqual([byField.json.banned, byField.json.workers], [1, 2]);
    const exact = await ban({ 'x-ban': 'req.url == /q/1' });
    assert.deepEqual([exact.json.banned, exact.json.ban.url], [1, '^\\/q\\/1$']);
    const left = await cached();
    assert.equal(left.has('/p/img.png'), false);
    assert.equal(left.has('/q/1'), false);
    assert.equal(left.has('/p/1'), true);
  });

  it('bad expressions are 400 with the reason; no token is 403', async () => {
    const cases: Array<[Record<string, string>, string, RegExp]> = [
      [{ 'x-ban': 'req.url ~ (' }, '/', /url: invalid regular expression/],
      [{ 'x-ban': 'req.url != /a' }, '/', /operator != is not supported/],
      [{ 'x-ban': 'obj.status == 200' }, '/', /cannot read "obj.status == 200"/],
      [{ 'x-ban': 'obj.http.a ~ x && obj.http.b ~ y' }, '/', /one obj.http field/],
      [{ 'x-ban': 'req.url ~' }, '/', /needs a value|cannot read/],
      [{}, '/', /BAN needs an expression/],
      [{}, '/?path=/x', /unknown parameter "path"/],
      [{}, '/?field=content-type', /field and value go together/],
    ];
    for (const [headers, target, reason] of cases) {
      const res = await ban(headers, target);
      assert.equal(res.status, 400, `${JSON.stringify(headers)} ${target}`);
      assert.match(res.text, reason);
    }
    const denied = await call(main, 'BAN', '/', { 'x-ban': 'req.url ~ ^/' });
    assert.equal(denied.status, 403);
    assert.match(denied.text, /BAN needs a token/);
    const wrong = await call(main, 'BAN', '/', { 'x-ban': 'req.url ~ ^/', 'x-purge-token': 'nope-nope' });
    assert.equal(wrong.status, 403);
    assert.equal((await call(main, 'BREW', '/p/1')).status, 501, 'an unknown method is still 501');
  });

  it("POST /api/cache/bans answers with the whole server's count", { timeout: 60_000 }, async () => {
    await fillStore();
    const res = await call(admin, 'POST', '/api/cache/bans?url=%5E%2Fp%2F1%24', auth);
    assert.equal(res.status, 200);
    assert.equal(res.json.banned, 1, 'one entry, for both workers');
    assert.deepEqual(
      (res.json.workers as Array<{ removed: number }>).map((w) => w.removed),
      [1, 0],
      "worker 0 has the store's owner apply it; worker 1 lists it",
    );
    assert.equal((await cached()).has('/p/1'), false);
  });
});

describe('soft PURGE through one worker', () => {
  it('marks the entries stale for both workers before the answer, counted once', {
    timeout: 60_000,
  }, async () => {
    await fillStore();
    const res = await call(main, 'PURGE', '/q/*', { 'x-purge-soft': '1', 'x-purge-token': PURGE_TOKEN });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { stale: 1, workers: 2 });
    assert.equal((await cached()).has('/q/1'), true, 'kept, to be revalidated');
    const before = originHits;
    const again = await call(main, 'GET', '/q/1');
    assert.doesNotMatch(String(again.headers['cache-status']), /tamarin; hit$/, 'not a fresh hit');
    assert.equal(originHits, before + 1, 'revalidated (or fetched) by whichever worker answers');
  });
});

describe('BAN where the purge method is off, or nothing is proxied', () => {
  it('501 with the purge method off; 405 with it on and no cached proxy route', async () => {
    for (const [cache, plugins, status] of [
      [{}, ['cache', 'proxy'], 501],
      [{ purge_method: { enabled: true } }, ['cache'], 405],
    ] as const) {
      const one = await startServer({
        config: {
          plugins: [...plugins],
          server: { port: 0 },
          cache,
          ...(plugins.length === 2
            ? { proxy: { routes: [{ match: '^/', backends: ['http://127.0.0.1:9'], cache: true }] } }
            : {}),
        },
      });
      try {
        const res = await call(`http://127.0.0.1:${one.port}/`, 'BAN', '/', { 'x-ban': 'req.url ~ ^/' });
        assert.equal(res.status, status, res.text);
        if (status === 405) assert.equal(res.headers.allow, 'GET, HEAD, PURGE');
        // PURGE, which llhttp knows, is not answered 501 either way.
        assert.notEqual((await call(`http://127.0.0.1:${one.port}/`, 'PURGE', '/x')).status, 501);
      } finally {
        await one.close();
      }
    }
  });
});
