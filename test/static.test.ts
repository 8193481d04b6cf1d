/**
 * The static plugin behind the real engine and plugin host, over sockets: what a browser or curl sees.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { brotliDecompressSync } from 'node:zlib';
import { parseResponses, rawRequest } from '../src/http/test-client.ts';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { createTestSite, type TestSite } from '../src/static/test-site.ts';

let site: TestSite;
let server: RunningServer;

before(async () => {
  site = createTestSite();
  server = await startServer({
    config: {
      plugins: ['static'],
      static: { root: site.root, hosts: { 'other.example': site.otherRoot }, max_age: '1m' },
      server: { port: 0 },
    },
    inProcess: true,
  });
});

after(async () => {
  await server?.close();
  site?.remove();
});

/** Sends one or more requests on one connection (pipelined) and parses every response. */
async function exchange(
  requests: Array<{ method?: string; target: string; headers?: Record<string, string> }>,
) {
  let bytes = '';
  requests.forEach((request, i) => {
    const headers: Record<string, string> = { host: 'localhost', ...request.headers };
    if (i === requests.length - 1) headers.connection = 'close';
    const fields = Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    bytes += `${request.method ?? 'GET'} ${request.target} HTTP/1.1\r\n${fields}\r\n`;
  });
  const raw = await rawRequest(server.port, bytes, { timeoutMs: 5000 });
  return parseResponses(raw, { methods: requests.map((request) => request.method ?? 'GET') });
}

async function one(target: string, headers: Record<string, string> = {}, method = 'GET') {
  const [response] = await exchange([{ method, target, headers }]);
  assert.ok(response);
  return response;
}

describe('static files over a socket', () => {
  test('200 with type, length, validators and Cache-Control in a fixed order', async () => {
    const response = await one('/hello.txt');
    assert.equal(response.status, 200);
    assert.equal(response.body.toString(), 'Hello, Tamarin!\n');
    const names = response.head
      .split('\r\n')
      .slice(1)
      .map((line) => line.slice(0, line.indexOf(':')));
    const ours = names.filter((name) => name !== 'Date' && name !== 'Connection');
    assert.deepEqual(ours, [
      'Content-Type',
      'Content-Length',
      'Last-Modified',
      'ETag',
      'Accept-Ranges',
      'Vary',
      'Cache-Control',
    ]);
    assert.equal(response.headers['cache-control'], 'public, max-age=60');
  });

  test('HEAD: same Content-Length, no body; then a pipelined GET on the same connection', async () => {
    const [head, get] = await exchange([{ method: 'HEAD', target: '/large.bin' }, { target: '/hello.txt' }]);
    assert.equal(head?.status, 200);
    assert.equal(head?.headers['content-length'], String(site.largeSize));
    assert.equal(head?.body.length, 0);
    assert.equal(get?.body.toString(), 'Hello, Tamarin!\n');
  });

  test('revalidation: If-None-Match and If-Modified-Since → 304 without a body', async () => {
    const first = await one('/app.js');
    const byTag = await one('/app.js', { 'if-none-match': first.headers.etag! });
    assert.equal(byTag.status, 304);
    assert.equal(byTag.body.length, 0);
    assert.equal(byTag.headers.etag, first.headers.etag);
    const byDate = await one('/app.js', { 'if-modified-since': first.headers['last-modified']! });
    assert.equal(byDate.status, 304);
    assert.equal((await one('/app.js', { 'if-match': '"other"' })).status, 412);
  });

  test('ranges: 206, multipart, 416, If-Range', async () => {
    const part = await one('/bytes.bin', { range: 'bytes=100-103' });
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-range'], 'bytes 100-103/256');
    assert.deepEqual([...part.body], [100, 101, 102, 103]);
    const multi = await one('/bytes.bin', { range: 'bytes=0-0,255-255' });
    assert.equal(multi.status, 206);
    assert.match(multi.headers['content-type']!, /^multipart\/byteranges; boundary=/);
    assert.equal(multi.body.length, Number(multi.headers['content-length']));
    const unsat = await one('/bytes.bin', { range: 'bytes=300-400' });
    assert.equal(unsat.status, 416);
    assert.equal(unsat.headers['content-range'], 'bytes */256');
    const stale = await one('/bytes.bin', { range: 'bytes=0-9', 'if-range': '"old"' });
    assert.equal(stale.status, 200);
    assert.equal(stale.body.length, 256);
  });

  test('a large file streams intact, whole and in a range', async () => {
    const whole = await fetch(`${server.url}/large.bin`);
    assert.equal(whole.status, 200);
    assert.ok(Buffer.from(await whole.arrayBuffer()).equals(site.large));
    const tail = await one('/large.bin', { range: 'bytes=-100000' });
    assert.equal(tail.status, 206);
    assert.ok(tail.body.equals(site.large.subarray(site.largeSize - 100000)));
  });

  test('precompressed sibling: Content-Encoding br, original type, decodes to the original', async () => {
    const response = await one('/app.js', { 'accept-encoding': 'gzip, br' });
    assert.equal(response.headers['content-encoding'], 'br');
    assert.equal(response.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(response.headers.vary, 'Accept-Encoding');
    assert.ok(brotliDecompressSync(response.body).equals(readFileSync(join(site.root, 'app.js'))));
  });

  test('directories: 301 to the slash form keeping the query, index file, 404 without one', async () => {
    const redirect = await one('/sub?a=1');
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.location, '/sub/?a=1');
    assert.match((await one('/sub/')).body.toString(), /sub index/);
    assert.equal((await one('/nolisting/')).status, 404);
  });

  test('405 with Allow for other methods; custom 404 page', async () => {
    const post = await one('/hello.txt', { 'content-length': '0' }, 'POST');
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
    const missing = await one('/no/such/file.txt');
    assert.equal(missing.status, 404);
    assert.match(missing.body.toString(), /custom 404 page/);
  });

  test('virtual hosts by Host header, port and trailing dot ignored; unknown hosts get the default root', async () => {
    assert.equal(
      (await one('/hello.txt', { host: 'other.example:8080' })).body.toString(),
      'Hello from the other host\n',
    );
    assert.equal((await one('/hello.txt', { host: 'nobody.example' })).body.toString(), 'Hello, Tamarin!\n');
    // The fully qualified form (trailing dot) names the same host.
    assert.equal(
      (await one('/hello.txt', { host: 'Other.Example.:8080' })).body.toString(),
      'Hello from the other host\n',
    );
  });

  test('clients that drop a large download mid-way do not disturb the next ones', async () => {
    await Promise.all(
      Array.from(
        { length: 5 },
        () =>
          new Promise<void>((resolve) => {
            const socket = connect(server.port, '127.0.0.1', () => {
              socket.write('GET /large.bin HTTP/1.1\r\nHost: localhost\r\n\r\n');
            });
            socket.once('data', () => {
              socket.destroy();
              resolve();
            });
            socket.on('error', () => resolve());
          }),
      ),
    );
    const response = await fetch(`${server.url}/large.bin`);
    assert.ok(Buffer.from(await response.arrayBuffer()).equals(site.large));
  });

  test('many concurrent downloads of the large file all complete intact', async () => {
    const bodies = await Promise.all(
      Array.from({ length: 8 }, async () =>
        Buffer.from(await (await fetch(`${server.url}/large.bin`)).arrayBuffer()),
      ),
    );
    for (const body of bodies) assert.ok(body.equals(site.large));
  });
});

describe('the bundled demo site', () => {
  let demo: RunningServer;
  before(async () => {
    demo = await startServer({ config: { plugins: ['static'], server: { port: 0 } }, inProcess: true });
  });
  after(async () => {
    await demo?.close();
  });

  test('is served by default: pages, stylesheet, image, large file, precompressed script, 404 page', async () => {
    for (const [path, type] of [
      ['/', 'text/html; charset=utf-8'],
      ['/about.html', 'text/html; charset=utf-8'],
      ['/gallery.html', 'text/html; charset=utf-8'],
      ['/style.css', 'text/css; charset=utf-8'],
      ['/images/sunset.png', 'image/png'],
      ['/images/tamarin.svg', 'image/svg+xml'],
      ['/downloads/field-notes.txt', 'text/plain; charset=utf-8'],
    ]) {
      const response = await fetch(`${demo.url}${path}`);
      assert.equal(response.status, 200, path);
      assert.equal(response.headers.get('content-type'), type, path);
      await response.arrayBuffer();
    }
    const gzip = await fetch(`${demo.url}/app.js`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(gzip.headers.get('content-encoding'), 'gzip');
    assert.match(await gzip.text(), /Tamarin demo script/); // fetch decodes it
    const missing = await fetch(`${demo.url}/no-such-page`);
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /404: nothing here/);
  });

  test('every local link on the demo pages resolves', async () => {
    for (const page of ['/', '/about.html', '/gallery.html', '/404.html']) {
      const html = await (await fetch(`${demo.url}${page}`)).text();
      for (const [, href] of html.matchAll(/(?:href|src)="(\/[^"]*)"/g)) {
        if (href === '/no-such-page' || href === '/missing') continue;
        const response = await fetch(`${demo.url}${href}`, { redirect: 'manual' });
        await response.arrayBuffer();
        assert.ok(
          response.status === 200 || response.status === 301,
          `${page} → ${href}: ${response.status}`,
        );
      }
    }
  });
});
