/**
 * `compress` on a proxy route with `cache = true`, over real sockets: the RFC 9111 cache stores each
 * encoded variant as sent (Vary on Accept-Encoding), so hits go out encoded without encoding again
 * (counted by the plugin's `stats`), a client without Accept-Encoding gets its own identity variant, the
 * origin sees one request per variant, and a conditional request and the origin's 304 still work with
 * the weak ETag of the encoded variant.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { type FakeBackend, startFakeBackend } from '../../../test/helpers/fake-backend.ts';
import { rawRequest as get, compressibleText as text } from '../../../test/helpers/raw-request.ts';
import { type RunningServer, startServer } from '../../main/compose.ts';
import { setLogSink } from '../../server/logger.ts';

const PAGE = text('page', 40_000);
const CHECKED = text('checked', 20_000);

describe('compress on a cached proxy route', () => {
  let backend: FakeBackend;
  let server: RunningServer;
  /** Requests the origin saw, per path and Accept-Encoding; 304s it answered. */
  const seen = new Map<string, number>();
  let notModified = 0;

  const encodedCount = async (): Promise<number> => {
    const [s] = await server.control('compress', 'stats');
    return (s!.result as { encoded: { gzip: number } }).encoded.gzip;
  };

  before(async () => {
    setLogSink(() => {});
    backend = await startFakeBackend({
      handler: (req, res) => {
        const key = `${req.url} ${req.headers['accept-encoding'] ?? ''}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
        if (req.url === '/c/page') {
          res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=600', etag: '"p1"' });
          // Two writes: a streamed answer, encoded through a zlib stream on its way out.
          res.write(PAGE.slice(0, 20_000));
          res.end(PAGE.slice(20_000));
          return true;
        }
        if (req.url === '/c/checked') {
          // Stored, but validated on every use: each request is a conditional request to the origin.
          const inm = String(req.headers['if-none-match'] ?? '');
          const fields = {
            'cache-control': 'no-cache',
            etag: '"k1"',
            'x-origin-seen': String(seen.get(key)),
          };
          // RFC 9110 §13.1.2: If-None-Match compares weakly.
          if (inm.replace(/^W\//, '') === '"k1"') {
            notModified++;
            res.writeHead(304, fields);
            res.end();
            return true;
          }
          res.writeHead(200, { ...fields, 'content-type': 'text/plain' });
          res.end(CHECKED);
          return true;
        }
        return false;
      },
    });
    server = await startServer({
      inProcess: true,
      config: {
        server: { host: '127.0.0.1', port: 0 },
        cache: { max_object_size: '1MiB' },
        proxy: { routes: [{ match: '^/c/', backends: [backend.url], cache: true, compress: true }] },
        compress: { encodings: ['gzip'] },
      },
    });
  });
  after(async () => {
    await server?.close();
    await backend?.stop();
    setLogSink(null);
  });

  it('stores the encoded variant: the hit is encoded, decodes to the origin body, and encodes nothing', async () => {
    const url = `${server.url}/c/page`;
    const miss = await get(url, { 'accept-encoding': 'gzip' });
    assert.equal(miss.status, 200);
    assert.equal(miss.headers['content-encoding'], 'gzip');
    assert.equal(gunzipSync(miss.body).toString(), PAGE);
    const encodedAfterMiss = await encodedCount();
    for (let i = 0; i < 3; i++) {
      const hit = await get(url, { 'accept-encoding': 'gzip' });
      assert.equal(hit.status, 200);
      assert.match(String(hit.headers['cache-status']), /hit/);
      assert.equal(hit.headers['content-encoding'], 'gzip');
      assert.match(String(hit.headers.vary), /accept-encoding/i);
      assert.equal(hit.headers.etag, 'W/"p1"');
      assert.equal(Number(hit.headers['content-length']), hit.body.length);
      assert.equal(gunzipSync(hit.body).toString(), PAGE);
    }
    assert.equal(await encodedCount(), encodedAfterMiss, 'hits are not encoded again');
    assert.equal(seen.get('/c/page gzip'), 1, 'the origin saw the gzip variant once');
  });

  it('a client without Accept-Encoding gets the identity from its own variant', async () => {
    const url = `${server.url}/c/page`;
    const first = await get(url);
    const second = await get(url);
    for (const res of [first, second]) {
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-encoding'], undefined);
      assert.match(String(res.headers.vary), /accept-encoding/i);
      assert.equal(res.body.toString(), PAGE);
    }
    assert.match(String(second.headers['cache-status']), /hit/);
    assert.equal(seen.get('/c/page '), 1, 'the origin saw the identity variant once');
    // The encoded variant is still there.
    const gz = await get(url, { 'accept-encoding': 'gzip' });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.equal(seen.get('/c/page gzip'), 1);
  });

  it('a conditional request with the weak ETag gets its 304 from the stored variant', async () => {
    const res = await get(`${server.url}/c/page`, { 'accept-encoding': 'gzip', 'if-none-match': 'W/"p1"' });
    assert.equal(res.status, 304);
    assert.equal(res.headers.etag, 'W/"p1"');
    assert.equal(seen.get('/c/page gzip'), 1);
  });

  it('the origin’s 304 freshens the encoded variant, which keeps its weak ETag and stays encoded', async () => {
    const url = `${server.url}/c/checked`;
    const miss = await get(url, { 'accept-encoding': 'gzip' });
    assert.equal(miss.headers['content-encoding'], 'gzip');
    assert.equal(gunzipSync(miss.body).toString(), CHECKED);
    const encoded = await encodedCount();
    for (let i = 0; i < 2; i++) {
      const again = await get(url, { 'accept-encoding': 'gzip' });
      assert.equal(again.status, 200);
      assert.match(String(again.headers['cache-status']), /fwd=stale;\s*fwd-status=304/);
      assert.equal(again.headers['content-encoding'], 'gzip');
      assert.equal(again.headers.etag, 'W/"k1"');
      assert.match(String(again.headers.vary), /accept-encoding/i);
      assert.equal(gunzipSync(again.body).toString(), CHECKED);
    }
    assert.equal(notModified, 2, 'each use was a revalidation answered 304');
    assert.equal(seen.get('/c/checked gzip'), 3);
    assert.equal(await encodedCount(), encoded, 'a revalidated variant is not encoded again');
  });
});

describe('compress on a cached proxy route, entries in the shared store (workers = 2)', () => {
  let backend: FakeBackend;
  let server: RunningServer;
  let dir: string;
  let requests = 0;

  before(async () => {
    setLogSink(() => {});
    backend = await startFakeBackend({
      handler: (_req, res) => {
        requests++;
        res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=600', etag: '"s1"' });
        res.write(PAGE.slice(0, 20_000));
        res.end(PAGE.slice(20_000));
        return true;
      },
    });
    dir = mkdtempSync(join(tmpdir(), 'tamarin-compress-shared-'));
    const config = {
      plugins: ['compress', 'cache', 'proxy'],
      server: { host: '127.0.0.1', port: 0, workers: 2, shutdown_timeout: '2s' },
      cache: { max_size: '8MiB', purge_method: { enabled: true, allow: ['127.0.0.1'] } },
      proxy: { routes: [{ match: '^/', backends: [backend.url], cache: true, compress: true }] },
      compress: { encodings: ['gzip'] },
    };
    server = await startServer({
      config,
      configPath: join(dir, 'tamarin.toml'),
      reloadConfig: async () => structuredClone(config),
      admin: false,
    });
  });
  after(async () => {
    await server?.close();
    await backend?.stop();
    setLogSink(null);
    rmSync(dir, { recursive: true, force: true });
  });

  it('one encoding and one origin request for hits on both workers', async () => {
    const url = `${server.url}/shared/page`;
    const miss = await get(url, { 'accept-encoding': 'gzip' });
    assert.equal(gunzipSync(miss.body).toString(), PAGE);
    for (let i = 0; i < 8; i++) {
      // A fresh connection each: the kernel spreads them over both workers.
      const hit = await get(url, { 'accept-encoding': 'gzip' });
      assert.match(String(hit.headers['cache-status']), /hit/);
      assert.equal(hit.headers['content-encoding'], 'gzip');
      assert.equal(hit.headers.etag, 'W/"s1"');
      assert.equal(gunzipSync(hit.body).toString(), PAGE);
    }
    const rows = await server.control('compress', 'stats');
    const encoded = rows.reduce(
      (n, row) => n + (row.result as { encoded: { gzip: number } }).encoded.gzip,
      0,
    );
    assert.equal(rows.length, 2);
    assert.equal(encoded, 1, 'encoded once, by the miss');
    const [cache] = await server.control('cache', 'stats');
    assert.ok((cache!.result as { shared?: unknown }).shared, 'the entries are in the shared store');
    assert.equal(requests, 1);
  });
});
