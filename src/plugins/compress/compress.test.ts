/**
 * The `compress` plugin over real sockets: each coding round-trips, q-values and refusals, what is never
 * encoded (images, small bodies, ranges, an origin's own encoding), HEAD, weak ETags, precompressed
 * siblings, cached variants served without encoding again (counted), large and streamed bodies, proxied
 * answers, absurd Accept-Encoding values, and config errors naming the key.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  brotliCompressSync,
  brotliDecompressSync,
  gunzipSync,
  gzipSync,
  zstdDecompressSync,
} from 'node:zlib';
import { type FakeBackend, startFakeBackend } from '../../../test/helpers/fake-backend.ts';
import {
  type RawAnswer as Answer,
  rawRequest as get,
  compressibleText as text,
} from '../../../test/helpers/raw-request.ts';
import { type RunningServer, startServer } from '../../main/compose.ts';
import { ConfigError, resolveConfig } from '../../server/config.ts';
import { setLogSink } from '../../server/logger.ts';

function decode(coding: string | undefined, body: Buffer): Buffer {
  if (coding === 'gzip') return gunzipSync(body);
  if (coding === 'br') return brotliDecompressSync(body);
  if (coding === 'zstd') return zstdDecompressSync(body);
  return body;
}

describe('compress plugin', () => {
  let root: string;
  let backend: FakeBackend;
  let server: RunningServer;
  const files: Record<string, string | Buffer> = {};

  const stats = async () => {
    const [s] = await server.control('compress', 'stats');
    return s!.result as { encoded: Record<string, number>; bytesIn: number; bytesOut: number };
  };

  before(async () => {
    setLogSink(() => {});
    root = mkdtempSync(join(tmpdir(), 'tamarin-compress-'));
    const put = (name: string, content: string | Buffer) => {
      files[name] = content;
      writeFileSync(join(root, name), content);
    };
    put('page.html', text('page', 20_000));
    for (const coding of ['gzip', 'br', 'zstd']) put(`${coding}.css`, text(coding, 8000));
    put('hit.js', text('hit', 12_000));
    put('tiny.txt', 'short\n');
    put('photo.png', Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47]), Buffer.from(text('png', 5000))]));
    put('range.txt', text('range', 5000));
    put('big.json', JSON.stringify({ rows: text('big', 300_000).split('\n') }));
    put('huge.txt', text('huge', 1_200_000));
    put('app.js', text('app', 9000));
    writeFileSync(join(root, 'app.js.br'), brotliCompressSync(Buffer.from(files['app.js'] as string)));
    put('old.js', text('old', 9000));
    writeFileSync(join(root, 'old.js.gz'), gzipSync('outdated'));
    utimesSync(join(root, 'old.js.gz'), 1_600_000_000, 1_600_000_000);
    put('etag.txt', text('etag', 4000));
    put('etag2.txt', text('etag2', 4000));
    put('head.txt', text('head', 4000));
    put('absurd.txt', text('absurd', 4000));
    backend = await startFakeBackend({
      handler: (req, res) => {
        if (req.url === '/api/json' || req.url === '/raw/json') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write(`{"a":"${text('api', 30_000).replace(/\n/g, ' ')}",`);
          res.end(`"b":"${text('api2', 30_000).replace(/\n/g, ' ')}"}`);
          return true;
        }
        if (req.url === '/api/encoded') {
          const body = gzipSync(text('origin', 5000));
          res.writeHead(200, {
            'content-type': 'text/plain',
            'content-encoding': 'gzip',
            'content-length': body.length,
          });
          res.end(body);
          return true;
        }
        return false;
      },
    });
    server = await startServer({
      inProcess: true,
      config: {
        server: { host: '127.0.0.1', port: 0 },
        static: { root },
        cache: { max_object_size: '1MiB' },
        proxy: {
          routes: [
            { match: '^/api/', backends: [backend.url] },
            { match: '^/raw/', backends: [backend.url], compress: false },
          ],
        },
        compress: { encodings: ['zstd', 'br', 'gzip'], proxied: true },
      },
    });
  });
  after(async () => {
    await server?.close();
    await backend?.stop();
    setLogSink(null);
    rmSync(root, { recursive: true, force: true });
  });

  for (const coding of ['gzip', 'br', 'zstd']) {
    it(`${coding}: the body decodes to the file, with Vary and a weak ETag`, async () => {
      const res = await get(`${server.url}/${coding}.css`, { 'accept-encoding': coding });
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-encoding'], coding);
      assert.equal(res.headers.vary, 'Accept-Encoding');
      assert.match(String(res.headers.etag), /^W\/"/);
      assert.equal(res.headers['accept-ranges'], undefined);
      assert.equal(Number(res.headers['content-length']), res.body.length);
      assert.ok(res.body.length < (files[`${coding}.css`] as string).length / 3);
      assert.equal(decode(coding, res.body).toString(), files[`${coding}.css`]);
    });
  }

  it('follows q-values; equal ones in the server order (zstd, br, gzip)', async () => {
    const url = `${server.url}/page.html`;
    const cases: Array<[string, string | undefined]> = [
      ['gzip, deflate, br, zstd', 'zstd'],
      ['gzip, deflate, br', 'br'],
      ['gzip;q=1, br;q=0.5', 'gzip'],
      ['br;q=0.2, gzip;q=0.1, zstd;q=0.3', 'zstd'],
      ['*', 'zstd'],
      ['*;q=0.5, gzip', 'gzip'],
      ['x-gzip', 'gzip'],
    ];
    for (const [header, expected] of cases) {
      const res = await get(url, { 'accept-encoding': header });
      assert.equal(res.headers['content-encoding'], expected, header);
      assert.equal(decode(expected, res.body).toString(), files['page.html'], header);
    }
  });

  it('q=0 refuses a coding; nothing acceptable (or no header) gets the identity, still with Vary', async () => {
    const url = `${server.url}/page.html`;
    for (const header of [undefined, '', 'identity', 'gzip;q=0, br;q=0, zstd;q=0', '*;q=0', 'deflate']) {
      const res = await get(url, header === undefined ? {} : { 'accept-encoding': header });
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-encoding'], undefined, String(header));
      assert.equal(res.headers.vary, 'Accept-Encoding');
      assert.equal(res.body.toString(), files['page.html']);
      assert.match(String(res.headers.etag), /^"/, 'the identity keeps its strong ETag');
    }
    const onlyBr = await get(url, { 'accept-encoding': 'zstd;q=0, gzip;q=0, br' });
    assert.equal(onlyBr.headers['content-encoding'], 'br');
  });

  it('leaves images, small bodies and ranges alone', async () => {
    const png = await get(`${server.url}/photo.png`, { 'accept-encoding': 'gzip' });
    assert.equal(png.headers['content-encoding'], undefined);
    assert.equal(png.headers.vary, undefined);
    assert.ok(png.body.equals(files['photo.png'] as Buffer));
    const tiny = await get(`${server.url}/tiny.txt`, { 'accept-encoding': 'gzip' });
    assert.equal(tiny.headers['content-encoding'], undefined);
    assert.equal(tiny.body.toString(), 'short\n');
    // A range of a cached, encoded entry too: the bytes are the file's.
    await get(`${server.url}/range.txt`, { 'accept-encoding': 'gzip' });
    const range = await get(`${server.url}/range.txt`, { 'accept-encoding': 'gzip', range: 'bytes=0-9' });
    assert.equal(range.status, 206);
    assert.equal(range.headers['content-encoding'], undefined);
    assert.equal(range.body.toString(), (files['range.txt'] as string).slice(0, 10));
  });

  it('a cached hit sends the stored encoded variant: each variant is encoded once', async () => {
    const url = `${server.url}/hit.js`;
    const before = await stats();
    const bodies: Buffer[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await get(url, { 'accept-encoding': 'gzip, br' });
      assert.equal(res.headers['content-encoding'], 'br');
      bodies.push(res.body);
    }
    for (let i = 0; i < 3; i++) {
      const res = await get(url, { 'accept-encoding': 'gzip' });
      assert.equal(res.headers['content-encoding'], 'gzip');
      assert.equal(gunzipSync(res.body).toString(), files['hit.js']);
    }
    const after = await stats();
    assert.equal(after.encoded.br! - before.encoded.br!, 1, 'br encoded once for four requests');
    assert.equal(after.encoded.gzip! - before.encoded.gzip!, 1, 'gzip encoded once for three requests');
    for (const body of bodies) assert.ok(body.equals(bodies[0]!));
    assert.equal(brotliDecompressSync(bodies[0]!).toString(), files['hit.js']);
    const [cache] = await server.control('cache', 'stats');
    assert.ok((cache!.result as { hits: number }).hits >= 5);
    // HEAD from the stored variant states what GET sends.
    const head = await get(url, { 'accept-encoding': 'gzip' }, 'HEAD');
    assert.equal(head.headers['content-encoding'], 'gzip');
    assert.equal(head.body.length, 0);
  });

  it('HEAD of an uncached answer carries the coding and no body', async () => {
    const res = await get(`${server.url}/head.txt`, { 'accept-encoding': 'br' }, 'HEAD');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-encoding'], 'br');
    assert.equal(res.headers.vary, 'Accept-Encoding');
    assert.equal(res.body.length, 0);
  });

  it('serves a fresh precompressed sibling as it is, and skips a stale one', async () => {
    const before = await stats();
    const res = await get(`${server.url}/app.js`, { 'accept-encoding': 'gzip, br, zstd' });
    assert.equal(res.headers['content-encoding'], 'br');
    assert.equal(brotliDecompressSync(res.body).toString(), files['app.js']);
    assert.match(String(res.headers.etag), /-br"$/, 'a sibling has its own strong ETag');
    const stale = await get(`${server.url}/old.js`, { 'accept-encoding': 'gzip' });
    assert.equal(stale.headers['content-encoding'], 'gzip');
    assert.equal(
      gunzipSync(stale.body).toString(),
      files['old.js'],
      'encoded from the file, not the old .gz',
    );
    const after = await stats();
    assert.equal(after.encoded.br, before.encoded.br, 'the sibling was not encoded again');
    assert.equal(after.encoded.gzip! - before.encoded.gzip!, 1);
  });

  it('gives each variant its own ETag; a conditional request with the weak one gets a 304', async () => {
    const url = `${server.url}/etag.txt`;
    const tags = new Set<string>();
    for (const header of ['identity', 'gzip', 'br', 'zstd']) {
      const res = await get(url, { 'accept-encoding': header });
      tags.add(String(res.headers.etag));
    }
    assert.equal(tags.size, 2, 'the identity and the (weak) encoded ETag');
    const gz = await get(url, { 'accept-encoding': 'gzip' });
    const again = await get(url, { 'accept-encoding': 'gzip', 'if-none-match': String(gz.headers.etag) });
    assert.equal(again.status, 304);
    assert.equal(again.headers.etag, gz.headers.etag, 'the 304 confirms the weak tag the client holds');
    // The same from the file (no stored gzip variant yet): the producer's 304, with the weak tag.
    const plain = await get(`${server.url}/etag2.txt`);
    const weak = `W/${String(plain.headers.etag)}`;
    const fromFile = await get(`${server.url}/etag2.txt`, {
      'accept-encoding': 'gzip',
      'if-none-match': weak,
    });
    assert.equal(fromFile.status, 304);
    assert.equal(fromFile.headers.etag, weak);
  });

  it('encodes large bodies whole on the thread pool and huge ones as a stream', async () => {
    const big = await get(`${server.url}/big.json`, { 'accept-encoding': 'gzip' });
    assert.equal(big.headers['content-encoding'], 'gzip');
    assert.equal(Number(big.headers['content-length']), big.body.length);
    assert.equal(gunzipSync(big.body).toString(), files['big.json']);
    const cached = await get(`${server.url}/big.json`, { 'accept-encoding': 'gzip' });
    assert.ok(cached.body.equals(big.body));
    const huge = await get(`${server.url}/huge.txt`, { 'accept-encoding': 'zstd' });
    assert.equal(huge.headers['content-encoding'], 'zstd');
    assert.equal(huge.headers['transfer-encoding'], 'chunked');
    assert.equal(zstdDecompressSync(huge.body).toString(), files['huge.txt']);
    // The file is over max_object_size, its encoding is not: the stream's output was kept as the entry.
    const stored = await get(`${server.url}/huge.txt`, { 'accept-encoding': 'zstd' });
    assert.equal(Number(stored.headers['content-length']), stored.body.length);
    assert.ok(stored.body.equals(huge.body));
  });

  it('keeps pipelined answers in order behind an encoding stream, and ends HTTP/1.0 bodies by closing', async () => {
    const raw = (bytes: string) =>
      new Promise<Buffer>((resolve, reject) => {
        const socket = connect(Number(new URL(server.url).port), '127.0.0.1');
        const parts: Buffer[] = [];
        socket.on('data', (c: Buffer) => parts.push(c));
        socket.on('end', () => resolve(Buffer.concat(parts)));
        socket.on('error', reject);
        socket.write(bytes);
      });
    const pipelined = await raw(
      'GET /huge.txt HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n' +
        'GET /tiny.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    );
    const text1 = pipelined.toString('latin1');
    const second = text1.lastIndexOf('HTTP/1.1 200');
    assert.ok(second > 0 && text1.endsWith('short\n'), 'the second answer comes last, whole');
    const head = text1.slice(0, text1.indexOf('\r\n\r\n'));
    assert.match(head, /content-encoding: gzip/i);
    assert.match(head, /transfer-encoding: chunked/i);
    // br: a variant nobody asked for yet (a stored one would go out with its length).
    const old = await raw('GET /huge.txt HTTP/1.0\r\nHost: a\r\nAccept-Encoding: br\r\n\r\n');
    const split = old.indexOf('\r\n\r\n');
    const oldHead = old.subarray(0, split).toString('latin1');
    assert.match(oldHead, /content-encoding: br/i);
    assert.doesNotMatch(oldHead, /content-length|transfer-encoding/i);
    assert.equal(brotliDecompressSync(old.subarray(split + 4)).toString(), files['huge.txt']);
  });

  it('encodes proxied answers (proxied = true) unless the route says compress = false, and keeps a backend’s own encoding', async () => {
    const json = await get(`${server.url}/api/json`, { 'accept-encoding': 'gzip' });
    assert.equal(json.status, 200);
    assert.equal(json.headers['content-encoding'], 'gzip');
    assert.equal(json.headers.vary, 'Accept-Encoding');
    const parsed = JSON.parse(gunzipSync(json.body).toString()) as { a: string; b: string };
    assert.ok(parsed.a.startsWith('api line 0'));
    const raw = await get(`${server.url}/raw/json`, { 'accept-encoding': 'gzip' });
    assert.equal(raw.headers['content-encoding'], undefined, 'a route with compress = false');
    assert.equal(JSON.parse(raw.body.toString()).a, parsed.a);
    const encoded = await get(`${server.url}/api/encoded`, { 'accept-encoding': 'br, gzip' });
    assert.equal(encoded.headers['content-encoding'], 'gzip');
    assert.equal(gunzipSync(encoded.body).toString(), text('origin', 5000), 'not encoded twice');
  });

  it('answers absurd Accept-Encoding values sanely', async () => {
    const url = `${server.url}/absurd.txt`;
    const cases: Array<[string, string | undefined]> = [
      ['gzip;q=2, br;q=-1, zstd;q=abc', undefined],
      [`${'x-unknown, '.repeat(700)}gzip;q=0.5`, undefined],
      [',,, ;;; , gzip ;q=0.5 ;foo=bar', 'gzip'],
      ['GZIP', 'gzip'],
      ['gzip;q=0.001, gzip;q=0', 'gzip'],
      ['\t br \t', 'br'],
    ];
    for (const [header, expected] of cases) {
      const res = await get(url, { 'accept-encoding': header });
      assert.equal(res.status, 200, header.slice(0, 40));
      assert.equal(res.headers['content-encoding'], expected, header.slice(0, 40));
      assert.equal(decode(expected, res.body).toString(), files['absurd.txt']);
    }
  });

  it('names the key in config errors', async () => {
    const bad = [
      [{ encodings: ['lzma'] }, /compress\.encodings/],
      [{ level: { gzip: 12 } }, /compress\.level\.gzip/],
      [{ types: ['not a type'] }, /compress\.types/],
      [{ min_length: 'lots' }, /compress\.min_length/],
      [{ encodings: ['gzip', 'gzip'] }, /compress\.encodings/],
      [{ bogus: 1 }, /compress/],
    ] as const;
    for (const [compress, pattern] of bad) {
      await assert.rejects(
        resolveConfig({ server: { port: 0 }, static: { root }, compress }),
        (error: unknown) => error instanceof ConfigError && pattern.test(error.message),
        JSON.stringify(compress),
      );
    }
  });
});

describe('compress plugin over HTTP/2', () => {
  let root: string;
  let server: RunningServer;
  before(async () => {
    setLogSink(() => {});
    root = mkdtempSync(join(tmpdir(), 'tamarin-compress-h2-'));
    writeFileSync(join(root, 'page.txt'), text('h2', 10_000));
    writeFileSync(join(root, 'big.txt'), text('h2big', 200_000));
    server = await startServer({
      inProcess: true,
      config: {
        plugins: ['compress', 'cache', 'static'],
        server: { listen: [{ host: '127.0.0.1', port: 0, http2: true }] },
        static: { root },
        compress: { encodings: ['gzip'] },
      },
    });
  });
  after(async () => {
    await server?.close();
    setLogSink(null);
    rmSync(root, { recursive: true, force: true });
  });

  const h2get = (path: string): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const session = http2.connect(server.url);
      session.on('error', reject);
      const stream = session.request({ ':path': path, 'accept-encoding': 'gzip' });
      const parts: Buffer[] = [];
      let headers: http2.IncomingHttpHeaders = {};
      stream.on('response', (h) => {
        headers = h;
      });
      stream.on('data', (c: Buffer) => parts.push(c));
      stream.on('end', () => {
        session.close();
        resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(parts) });
      });
      stream.on('error', reject);
      stream.end();
    });

  it('encodes whole bodies, and a hit sends the stored encoding', async () => {
    for (const [path, seed, bytes] of [
      ['/page.txt', 'h2', 10_000],
      ['/big.txt', 'h2big', 200_000],
    ] as const) {
      for (let i = 0; i < 2; i++) {
        const res = await h2get(path);
        assert.equal(res.status, 200);
        assert.equal(res.headers['content-encoding'], 'gzip', path);
        assert.equal(gunzipSync(res.body).toString(), text(seed, bytes));
      }
    }
    const [s] = await server.control('compress', 'stats');
    assert.equal((s!.result as { encoded: { gzip: number } }).encoded.gzip, 2, 'each file encoded once');
  });
});

describe('compress plugin across a reload', () => {
  let root: string;
  let server: RunningServer;
  let next: Record<string, unknown>;
  const configOf = (encodings: string[]) => ({
    server: { host: '127.0.0.1', port: 0 },
    static: { root },
    compress: { encodings },
  });
  before(async () => {
    setLogSink(() => {});
    root = mkdtempSync(join(tmpdir(), 'tamarin-compress-reload-'));
    writeFileSync(join(root, 'page.txt'), text('reload', 5000));
    next = configOf([]);
    server = await startServer({
      inProcess: true,
      config: configOf([]),
      reloadConfig: async () => structuredClone(next),
    });
  });
  after(async () => {
    await server?.close();
    setLogSink(null);
    rmSync(root, { recursive: true, force: true });
  });

  it('turns on and off with a reload; entries stored before are not served as the other variant', async () => {
    const url = `${server.url}/page.txt`;
    for (let i = 0; i < 2; i++) {
      const plain = await get(url, { 'accept-encoding': 'gzip' });
      assert.equal(plain.headers['content-encoding'], undefined, 'off: the identity (stored, then a hit)');
    }
    next = configOf(['gzip']);
    await server.reload();
    for (let i = 0; i < 2; i++) {
      const encoded = await get(url, { 'accept-encoding': 'gzip' });
      assert.equal(encoded.headers['content-encoding'], 'gzip', `on: encoded (request ${i + 1})`);
      assert.equal(gunzipSync(encoded.body).toString(), text('reload', 5000));
    }
    next = configOf([]);
    await server.reload();
    const off = await get(url, { 'accept-encoding': 'gzip' });
    assert.equal(off.headers['content-encoding'], undefined, 'off again: the identity');
  });
});
