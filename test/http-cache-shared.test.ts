/**
 * The proxy's RFC 9111 cache in the shared store, through the real server with two worker threads and a
 * fresh connection per request (so the kernel spreads them over both workers): a response stored through
 * one worker is a hit on the other, Vary variants are stored and served per variant, a revalidation
 * refreshes the entry for both, and a PURGE, a tag purge or an invalidation through either worker empties
 * it for both — the origin counts every request that reached it.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CacheStatsSnapshot } from '../src/cache/stats.ts';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';
import { freshRequest, type RawAnswer } from './helpers/fresh-connection.ts';

type Answer = RawAnswer;

/** One request on a fresh connection (the kernel picks the worker), read to the end. */
const request = (port: number, method: string, target: string, fields: string[] = []) =>
  freshRequest(port, method, target, fields, 'shop');

const get = (port: number, target: string, fields: string[] = []) => request(port, 'GET', target, fields);
const cacheStatus = (head: string) => /\r\nCache-Status: ([^\r]*)/i.exec(head)?.[1] ?? '';
const isHit = (answer: Answer) => /tamarin; hit/.test(cacheStatus(answer.head));

describe('proxied responses in the shared store (workers = 2, fresh connections)', () => {
  let dir: string;
  let server: RunningServer;
  let origin: Server;
  /** Requests the origin saw, by path. */
  const seen = new Map<string, number>();
  /** A large body (written from shared memory under a pin) and its ETag. */
  const big = crypto.randomBytes(200_000);
  let handler: (req: IncomingMessage, res: ServerResponse) => void;

  async function stats(): Promise<CacheStatsSnapshot[]> {
    const results = await server.control('cache', 'stats');
    return results.map((r) => r.result as CacheStatsSnapshot);
  }

  const count = (target: string) => seen.get(target) ?? 0;

  /** Ask `n` times on fresh connections; every answer must be a hit with `expected` as its body. */
  async function hits(
    target: string,
    expected: Buffer | string,
    n = 20,
    fields: string[] = [],
  ): Promise<void> {
    for (let i = 0; i < n; i++) {
      const answer = await get(server.port, target, fields);
      assert.equal(answer.status, 200);
      assert.ok(isHit(answer), `${target} #${i}: a hit (${cacheStatus(answer.head)})`);
      assert.ok(answer.body.equals(Buffer.from(expected)), `${target} #${i}: the stored body`);
    }
  }

  before(async () => {
    setLogSink(() => {});
    handler = (req, res) => {
      const url = req.url ?? '/';
      if (url === '/big') {
        res.setHeader('Cache-Control', 'max-age=3600');
        res.end(big);
        return;
      }
      if (url.startsWith('/lang')) {
        const lang = String(req.headers['accept-language'] ?? 'none');
        res.setHeader('Cache-Control', 'max-age=3600');
        res.setHeader('Vary', 'Accept-Language');
        res.end(`page in ${lang}`);
        return;
      }
      if (url === '/swr') {
        // Stale on arrival (Age past max-age) but within stale-while-revalidate; the refresh (a
        // conditional request) answers 304 after a while, long enough for both workers to serve it stale.
        res.setHeader('ETag', '"s1"');
        if (req.headers['if-none-match'] === '"s1"') {
          setTimeout(() => {
            res.statusCode = 304;
            res.setHeader('Cache-Control', 'max-age=3600');
            res.end();
          }, 400);
          return;
        }
        res.setHeader('Cache-Control', 'max-age=10, stale-while-revalidate=600');
        res.setHeader('Age', '100');
        res.end('swr body');
        return;
      }
      if (url === '/validated') {
        // First a response that is stale at once; then 304s that make it fresh for an hour.
        res.setHeader('ETag', '"v1"');
        if (req.headers['if-none-match'] === '"v1"') {
          res.statusCode = 304;
          res.setHeader('Cache-Control', 'max-age=3600');
          res.end();
          return;
        }
        res.setHeader('Cache-Control', 'max-age=0');
        res.end('validated body');
        return;
      }
      res.setHeader('Cache-Control', 'max-age=3600');
      res.setHeader('Cache-Tag', `all ${url.slice(1).split('?')[0]}`);
      res.end(`body of ${url}`);
    };
    origin = createServer((req, res) => {
      const url = req.url ?? '/';
      if (req.method === 'GET') seen.set(url, (seen.get(url) ?? 0) + 1);
      req.resume();
      req.on('end', () => handler(req, res));
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    const originPort = (origin.address() as net.AddressInfo).port;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-shared-proxy-'));
    const config = {
      plugins: ['cache', 'proxy'],
      server: { port: 0, workers: 2, shutdown_timeout: '2s' },
      cache: { max_size: '8MiB', purge_method: { enabled: true, allow: ['127.0.0.1', '::1'] } },
      proxy: { routes: [{ match: '^/', backends: [`http://127.0.0.1:${originPort}`], cache: true }] },
    };
    server = await startServer({
      config,
      configPath: path.join(dir, 'tamarin.toml'),
      reloadConfig: async () => structuredClone(config),
      admin: false,
    });
  });

  after(async () => {
    await server?.close();
    await new Promise<void>((resolve) => origin?.close(() => resolve()));
    setLogSink(null);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a response stored through one worker is a hit on both: the origin sees one request', async () => {
    const first = await get(server.port, '/product/1');
    assert.equal(first.status, 200);
    assert.match(cacheStatus(first.head), /fwd=uri-miss; fwd-status=200; stored/);
    await hits('/product/1', 'body of /product/1');
    const first2 = await get(server.port, '/big');
    assert.ok(first2.body.equals(big));
    await hits('/big', big);
    assert.equal(count('/product/1'), 1);
    assert.equal(count('/big'), 1);
    const rows = await stats();
    assert.ok(rows[0]!.shared, 'the shared store runs with a caching route and PURGE on');
    assert.ok(
      rows.every((row) => row.hits > 0),
      `both workers answered hits from the one store (${rows.map((r) => r.hits).join(', ')})`,
    );
  });

  it('Vary: each variant stored once and served to its own requests on both workers', async () => {
    for (const lang of ['en', 'de']) {
      const first = await get(server.port, '/lang', [`Accept-Language: ${lang}`]);
      assert.equal(first.body.toString(), `page in ${lang}`);
    }
    for (let round = 0; round < 10; round++) {
      for (const lang of ['en', 'de'])
        await hits('/lang', `page in ${lang}`, 1, [`Accept-Language: ${lang}`]);
    }
    assert.equal(count('/lang'), 2, 'one origin request per variant');
    const other = await get(server.port, '/lang', ['Accept-Language: fr']);
    assert.equal(other.body.toString(), 'page in fr');
    assert.ok(!isHit(other), 'a third variant is a miss');
    assert.equal(count('/lang'), 3);
  });

  it('a revalidation (304 from the origin) refreshes the entry for both workers', async () => {
    const first = await get(server.port, '/validated');
    assert.equal(first.body.toString(), 'validated body');
    const second = await get(server.port, '/validated');
    assert.match(cacheStatus(second.head), /fwd=stale; fwd-status=304/);
    assert.equal(second.body.toString(), 'validated body');
    assert.equal(count('/validated'), 2);
    await hits('/validated', 'validated body');
    assert.equal(count('/validated'), 2, 'fresh again for every worker after one 304');
  });

  it('stale-while-revalidate: one background refresh for the whole server, not one per worker', async () => {
    assert.equal((await get(server.port, '/swr')).body.toString(), 'swr body');
    // Fresh connections spread over both workers while the refresh is on its way: all get the stale entry
    // (those that came before the owner had the first answer waited for it: a collapsed hit).
    const answers = await Promise.all(Array.from({ length: 20 }, () => get(server.port, '/swr')));
    for (const answer of answers) {
      assert.equal(answer.body.toString(), 'swr body');
      assert.match(cacheStatus(answer.head), /detail=stale-while-revalidate|^tamarin; hit; collapsed$/);
    }
    assert.ok(answers.some((answer) => /detail=stale-while-revalidate/.test(cacheStatus(answer.head))));
    let fresh = await get(server.port, '/swr');
    for (let i = 0; i < 200 && !/^tamarin; hit$/.test(cacheStatus(fresh.head)); i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      fresh = await get(server.port, '/swr');
    }
    assert.match(cacheStatus(fresh.head), /^tamarin; hit$/, 'fresh after the refresh, for whichever worker');
    assert.equal(count('/swr'), 2, 'the first fetch and one refresh');
  });

  it('a PURGE through any worker empties the entry for both', async () => {
    await get(server.port, '/product/2');
    await hits('/product/2', 'body of /product/2', 5);
    const purge = await request(server.port, 'PURGE', '/product/2');
    assert.equal(purge.status, 200);
    assert.equal(JSON.parse(purge.body.toString()).purged, 1, 'one entry, removed once for the server');
    const after = await get(server.port, '/product/2');
    assert.ok(!isHit(after), 'gone for whichever worker answers');
    assert.equal(count('/product/2'), 2);
    await hits('/product/2', 'body of /product/2', 5);
    assert.equal(count('/product/2'), 2);
  });

  it('a tag purge and an invalidation by an unsafe method are one operation on the shared store', async () => {
    await get(server.port, '/product/3');
    await get(server.port, '/product/4');
    await hits('/product/3', 'body of /product/3', 3);
    const purge = await request(server.port, 'PURGE', '/', ['X-Purge-Tag: product/3']);
    assert.equal(JSON.parse(purge.body.toString()).purged, 1);
    assert.ok(!isHit(await get(server.port, '/product/3')));
    await hits('/product/4', 'body of /product/4', 3);
    // §4.4: a successful POST to the URL invalidates it for every worker.
    const post = await request(server.port, 'POST', '/product/4', ['Content-Length: 0']);
    assert.equal(post.status, 200);
    let again = await get(server.port, '/product/4');
    // The owner applies the invalidation just after the POST's answer left.
    for (let i = 0; i < 50 && isHit(again); i++) again = await get(server.port, '/product/4');
    assert.ok(!isHit(again));
    assert.equal(count('/product/4'), 2);
    await hits('/product/4', 'body of /product/4', 5);
    const soft = await request(server.port, 'PURGE', '/product/4', ['X-Purge-Soft: 1']);
    assert.equal(JSON.parse(soft.body.toString()).stale, 1);
    const afterSoft = await get(server.port, '/product/4');
    assert.ok(!isHit(afterSoft), `stale for every worker after a soft purge: ${cacheStatus(afterSoft.head)}`);
  });
});
