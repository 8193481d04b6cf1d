/**
 * The cache plugin over real sockets: hits and misses, byte-identical answers (except Date) for 200, HEAD,
 * 304, 206, HTTP/1.0 and precompressed variants, freshness against disk, admission rules, TTL, purge and
 * single flight.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, mock, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import type { CacheStatsSnapshot } from '../src/cache/stats.ts';
import { rawRequest } from '../src/http/test-client.ts';
import { type RunningServer, startServer } from '../src/main/compose.ts';

const DATE = /\r\nDate: [^\r]*\r\n/;

let root: string;
let cached: RunningServer;
let plain: RunningServer;

function config(cache: Record<string, unknown> | null): Record<string, unknown> {
  return {
    plugins: cache === null ? ['static'] : ['cache', 'static'],
    server: { host: '127.0.0.1', port: 0 },
    static: { root },
    ...(cache === null ? {} : { cache }),
  };
}

async function get(server: RunningServer, head: string, timeoutMs = 1000): Promise<string> {
  const bytes = await rawRequest(server.port, head, { timeoutMs });
  return bytes.toString('latin1');
}

/** One request on a connection that closes after it (keep-alive would leave rawRequest waiting). */
function req(path: string, extra = '', method = 'GET'): string {
  return `${method} ${path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n${extra}\r\n`;
}

async function stats(server: RunningServer): Promise<CacheStatsSnapshot> {
  const [result] = await server.control('cache', 'stats');
  return result!.result as CacheStatsSnapshot;
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'tamarin-cache-'));
  writeFileSync(join(root, 'hello.txt'), 'hello, cache\n');
  writeFileSync(join(root, 'page.html'), '<!doctype html><title>t</title><p>page</p>\n');
  writeFileSync(join(root, 'app.js'), 'console.log("app");\n'.repeat(50));
  writeFileSync(join(root, 'app.js.gz'), gzipSync('console.log("app");\n'.repeat(50)));
  writeFileSync(join(root, 'big.bin'), Buffer.alloc(200 * 1024, 0x62));
  writeFileSync(join(root, 'debug.log'), 'not for the cache\n');
  cached = await startServer({
    config: config({ max_object_size: '100KiB', rules: [{ extension: 'log', cache: false }] }),
    inProcess: true,
  });
  plain = await startServer({ config: config(null), inProcess: true });
});

after(async () => {
  await cached?.close();
  await plain?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('hits and misses', () => {
  test('the first GET misses and fills, the next one hits', async () => {
    const before = await stats(cached);
    const first = await get(cached, req('/page.html'));
    const second = await get(cached, req('/page.html'));
    const now = await stats(cached);
    assert.match(first, /^HTTP\/1\.1 200 OK/);
    assert.equal(second.replace(DATE, ''), first.replace(DATE, ''));
    assert.equal(now.misses - before.misses, 1);
    assert.equal(now.hits - before.hits, 1);
    assert.equal(now.insertions - before.insertions, 1);
    assert.match(now.policy, /^(lru|lfu|s3fifo|w-tinylfu|arc|adaptive)$/);
    // The default adaptive policy says which candidate it runs (the dashboard can plot it over time).
    if (now.policy === 'adaptive')
      assert.match(now.policyState?.running ?? '', /^(lru|s3fifo|w-tinylfu|arc)$/);
    assert.equal(now.originFetches - before.originFetches, 1);
    assert.ok(now.rps.hits.at(-1)! + now.rps.hits.at(-2)! >= 1, 'the hit shows in the rps series');
  });
});

describe('cached answers are byte-identical to uncached ones (except Date)', () => {
  const etagOf = async (path: string) => /ETag: ([^\r]*)/.exec(await get(plain, req(path)))![1]!;
  const lastModifiedOf = async (path: string) =>
    /Last-Modified: ([^\r]*)/.exec(await get(plain, req(path)))![1]!;
  const table: Array<[string, (s: RunningServer) => Promise<string>]> = [
    ['GET 200', (s) => get(s, req('/hello.txt'))],
    ['HEAD', (s) => get(s, req('/hello.txt', '', 'HEAD'))],
    [
      'If-None-Match → 304',
      async (s) => get(s, req('/hello.txt', `If-None-Match: ${await etagOf('/hello.txt')}\r\n`)),
    ],
    [
      'If-Modified-Since → 304',
      async (s) => get(s, req('/hello.txt', `If-Modified-Since: ${await lastModifiedOf('/hello.txt')}\r\n`)),
    ],
    ['If-None-Match mismatch → 200', (s) => get(s, req('/hello.txt', 'If-None-Match: "nope"\r\n'))],
    ['Range → 206', (s) => get(s, req('/hello.txt', 'Range: bytes=2-6\r\n'))],
    ['suffix Range → 206', (s) => get(s, req('/hello.txt', 'Range: bytes=-4\r\n'))],
    [
      'If-Range mismatch → 200',
      (s) => get(s, req('/hello.txt', 'Range: bytes=0-1\r\nIf-Range: "other"\r\n')),
    ],
    ['unsatisfiable Range → 416', (s) => get(s, req('/hello.txt', 'Range: bytes=999-\r\n'))],
    ['If-Match failure → 412', (s) => get(s, req('/hello.txt', 'If-Match: "nope"\r\n'))],
    ['nearby ranges coalesced → 206', (s) => get(s, req('/hello.txt', 'Range: bytes=0-0,5-6\r\n'))],
    ['HTTP/1.0', (s) => get(s, 'GET /hello.txt HTTP/1.0\r\n\r\n')],
    ['HTTP/1.0 keep-alive', (s) => get(s, 'GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n', 300)],
    ['HTTP/1.1 keep-alive', (s) => get(s, 'GET /hello.txt HTTP/1.1\r\nHost: test\r\n\r\n', 300)],
    ['HEAD keep-alive', (s) => get(s, 'HEAD /hello.txt HTTP/1.1\r\nHost: test\r\n\r\n', 300)],
    ['gzip variant', (s) => get(s, req('/app.js', 'Accept-Encoding: gzip, br\r\n'))],
    ['identity of a file with a gzip sibling', (s) => get(s, req('/app.js'))],
  ];
  for (const [name, send] of table) {
    test(name, async () => {
      await send(cached); // fill (or not) the cache
      const before = await stats(cached);
      const fromCache = await send(cached);
      const after = await stats(cached);
      const fromDisk = await send(plain);
      assert.ok(fromDisk.length > 0);
      if (/→ (412|416)/.test(name)) assert.equal(after.hits, before.hits, 'answered by static');
      else assert.equal(after.hits - before.hits, 1, 'answered from the cache');
      assert.equal(fromCache.replace(DATE, '\r\nDate: X\r\n'), fromDisk.replace(DATE, '\r\nDate: X\r\n'));
      assert.match(fromCache, DATE);
    });
  }
});

test('multipart ranges are left to the static plugin', async () => {
  const ask = (s: RunningServer) => get(s, req('/app.js', 'Range: bytes=0-0,500-501\r\n'));
  await ask(cached);
  const before = await stats(cached);
  const answer = await ask(cached);
  assert.match(answer, /^HTTP\/1\.1 206 Partial Content\r\nContent-Type: multipart\/byteranges/);
  assert.equal((await stats(cached)).hits, before.hits);
});

describe('freshness against disk', () => {
  test('a file edited on disk is served fresh within revalidate_interval', async () => {
    const server = await startServer({ config: config({ revalidate_interval: '150ms' }), inProcess: true });
    try {
      writeFileSync(join(root, 'edit.txt'), 'version one\n');
      assert.match(await get(server, req('/edit.txt')), /version one/);
      assert.match(await get(server, req('/edit.txt')), /version one/);
      writeFileSync(join(root, 'edit.txt'), 'version two\n'); // same size: only mtime tells
      await sleep(200);
      assert.match(await get(server, req('/edit.txt')), /version two/);
      assert.equal((await stats(server)).invalidations, 1);
      assert.match(await get(server, req('/edit.txt')), /version two/);
    } finally {
      await server.close();
    }
  });

  test('a deleted file becomes 404', async () => {
    const server = await startServer({ config: config({ revalidate_interval: '100ms' }), inProcess: true });
    try {
      writeFileSync(join(root, 'gone.txt'), 'here\n');
      await get(server, req('/gone.txt'));
      assert.match(await get(server, req('/gone.txt')), /^HTTP\/1\.1 200/);
      unlinkSync(join(root, 'gone.txt'));
      await sleep(150);
      assert.match(await get(server, req('/gone.txt')), /^HTTP\/1\.1 404/);
      assert.equal((await stats(server)).entries, 0);
    } finally {
      await server.close();
    }
  });
});

describe('admission', () => {
  test('an oversize file is not cached', async () => {
    const before = await stats(cached);
    const first = await get(cached, req('/big.bin'));
    await get(cached, req('/big.bin'));
    const after = await stats(cached);
    assert.match(first, /Content-Length: 204800/);
    assert.equal(after.hits, before.hits);
    assert.equal(after.insertions, before.insertions);
    assert.equal(
      after.rejections['too-large'] - before.rejections['too-large'],
      1,
      'rejected once, then skipped',
    );
  });

  test('a file excluded by a rule is not cached', async () => {
    const before = await stats(cached);
    await get(cached, req('/debug.log'));
    await get(cached, req('/debug.log'));
    const after = await stats(cached);
    assert.equal(after.hits, before.hits);
    assert.equal(after.rejections.excluded - before.rejections.excluded, 1);
  });

  test('errors (404) are not cached', async () => {
    const before = await stats(cached);
    await get(cached, req('/missing.txt'));
    await get(cached, req('/missing.txt'));
    const after = await stats(cached);
    assert.equal(after.hits, before.hits);
    assert.equal(after.insertions, before.insertions);
  });
});

test('TTL: an expired entry is never served and is reclaimed', async (t) => {
  // The wall clock and the cache's once-a-second sweeper run on fake time (sockets stay real): the two
  // first requests fall inside the TTL however slow the machine, and it passes without waiting.
  mock.timers.enable({ apis: ['Date', 'setInterval'], now: Date.now() });
  t.after(() => mock.timers.reset());
  const server = await startServer({ config: config({ ttl: '1500ms' }), inProcess: true });
  try {
    await get(server, req('/hello.txt'));
    await get(server, req('/hello.txt'));
    assert.equal((await stats(server)).hits, 1);
    mock.timers.tick(1550);
    await get(server, req('/hello.txt'));
    const s = await stats(server);
    assert.equal(s.hits, 1);
    assert.equal(s.misses, 2);
    assert.equal(s.expirations, 1);
    const [listed] = await server.control('cache', 'entries', { sort: 'age' });
    const entry = (listed!.result as { entries: Array<{ expiresInMs: number | null }> }).entries[0]!;
    assert.ok(entry.expiresInMs !== null && entry.expiresInMs <= 1500);
  } finally {
    await server.close();
  }
});

test('purge via control(): path, prefix, all; bad arguments are a clear error', async () => {
  const server = await startServer({ config: config({}), inProcess: true });
  try {
    for (const path of ['/hello.txt', '/page.html', '/app.js']) await get(server, req(path));
    assert.equal((await stats(server)).entries, 3);
    const [byPath] = await server.control('cache', 'purge', { path: '/hello%2etxt' });
    assert.deepEqual((byPath!.result as { keys: string[] }).keys, ['/hello.txt']);
    await get(server, req('/hello.txt'));
    assert.equal((await stats(server)).misses, 4, 'the purged path is read again');
    const [byPrefix] = await server.control('cache', 'purge', { prefix: '/pa' });
    assert.equal((byPrefix!.result as { removed: number }).removed, 1);
    const [all] = await server.control('cache', 'purge', { all: true });
    assert.equal((all!.result as { removed: number }).removed, 2);
    assert.equal((await stats(server)).entries, 0);
    const [bad] = await server.control('cache', 'purge', { path: 'no-slash' });
    assert.match(bad!.error!, /cache purge: expected/);
    const [unknown] = await server.control('cache', 'flush');
    assert.match(unknown!.error!, /unknown command "flush"/);
  } finally {
    await server.close();
  }
});

test('virtual hosts: one path under two hosts never shares an entry', async () => {
  const other = mkdtempSync(join(tmpdir(), 'tamarin-cache-vhost-'));
  writeFileSync(join(other, 'hello.txt'), 'hello from the other host\n');
  const server = await startServer({
    config: { ...config({}), static: { root, hosts: { 'other.test': other } } },
    inProcess: true,
  });
  try {
    const ask = (host: string) =>
      get(server, `GET /hello.txt HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    for (let i = 0; i < 2; i++) {
      assert.match(await ask('test'), /hello, cache/);
      assert.match(await ask('other.test'), /hello from the other host/);
    }
    const s = await stats(server);
    assert.equal(s.entries, 2);
    assert.equal(s.hits, 2);
  } finally {
    await server.close();
    rmSync(other, { recursive: true, force: true });
  }
});

test('single flight: concurrent misses for one file read it once', async () => {
  // 80 KiB: above the static plugin's streaming threshold, so the first answer takes several event-loop
  // turns and the others arrive while it is in flight.
  writeFileSync(join(root, 'flight.bin'), Buffer.alloc(80 * 1024, 0x66));
  const server = await startServer({ config: config({}), inProcess: true });
  try {
    const answers = await Promise.all(
      Array.from({ length: 12 }, () => get(server, req('/flight.bin'), 3000)),
    );
    for (const answer of answers) {
      assert.match(answer, /^HTTP\/1\.1 200 OK/);
      assert.equal(answer.length - answer.indexOf('\r\n\r\n') - 4, 80 * 1024);
    }
    const s = await stats(server);
    assert.equal(s.originFetches, 1, 'the file was read for one request only');
    assert.equal(s.hits + s.misses, 12);
  } finally {
    await server.close();
  }
});

test('a large file filled whole is the same bytes on the miss and on the hits', async () => {
  // 90 KiB with a pattern: above the streaming threshold, so the miss reads it whole for the cache
  // (src/static/whole-body.ts) and the entry keeps that very buffer; any offset error would show.
  const body = Buffer.alloc(90 * 1024);
  for (let i = 0; i < body.length; i++) body[i] = (i * 13 + (i >> 8)) & 0xff;
  writeFileSync(join(root, 'pattern.bin'), body);
  const server = await startServer({ config: config({}), inProcess: true });
  try {
    const answers: Buffer[] = [];
    for (let i = 0; i < 3; i++) answers.push(await rawRequest(server.port, req('/pattern.bin'), {}));
    for (const answer of answers) {
      const start = answer.indexOf('\r\n\r\n') + 4;
      assert.ok(answer.subarray(start).equals(body));
    }
    const s = await stats(server);
    assert.equal(s.misses, 1);
    assert.equal(s.hits, 2);
  } finally {
    await server.close();
  }
});
