import assert from 'node:assert/strict';
import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { keepWholeBody } from '../http/body-keepers.ts';
import { MISS_TTL_MS } from './document-root.ts';
import { type StaticOptions, staticOptionsSchema } from './options.ts';
import { StaticHandler } from './static-handler.ts';
import { fakeRequest, fakeResponse } from './test-fakes.ts';
import { createTestSite, OUTSIDE_MARKER, type TestSite } from './test-site.ts';

let site: TestSite;
const handlers: StaticHandler[] = [];

before(() => {
  site = createTestSite();
});
after(() => {
  for (const handler of handlers) handler.close();
  site.remove();
});

function handler(options: Record<string, unknown> = {}): StaticHandler {
  const parsed: StaticOptions = staticOptionsSchema.parse({ root: site.root, ...options });
  const created = new StaticHandler(parsed);
  handlers.push(created);
  return created;
}

async function request(
  h: StaticHandler,
  method: string,
  target: string,
  headers: Record<string, string> = {},
) {
  const res = fakeResponse(method);
  const claimed = h.handle(fakeRequest(method, target, { host: 'localhost', ...headers }), res);
  if (claimed) await res.done;
  return { claimed, res, status: res.statusCode, headers: res.headersObject(), body: res.body };
}

describe('files', () => {
  test('GET a small file: body, type, validators in a fixed order, res.file', async () => {
    const { status, res, body } = await request(handler(), 'GET', '/hello.txt');
    assert.equal(status, 200);
    assert.equal(body.toString(), 'Hello, Tamarin!\n');
    assert.deepEqual(
      res.headerEntries().map(([name]) => name),
      ['Content-Type', 'Content-Length', 'Last-Modified', 'ETag', 'Accept-Ranges', 'Vary'],
    );
    const headers = res.headersObject();
    assert.equal(headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(headers['content-length'], '16');
    assert.match(headers.etag!, /^"10-[0-9a-f]+"$/);
    assert.equal(res.file?.path, join(site.root, 'hello.txt'));
    assert.equal(res.file?.size, 16);
  });

  test('HEAD sends the same headers and no body', async () => {
    const get = await request(handler(), 'GET', '/hello.txt');
    const head = await request(handler(), 'HEAD', '/hello.txt');
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.deepEqual(head.headers, get.headers);
  });

  test('unknown extension → application/octet-stream; unicode and spaces in names', async () => {
    const h = handler();
    assert.equal(
      (await request(h, 'GET', '/data.unknownext')).headers['content-type'],
      'application/octet-stream',
    );
    const unicode = await request(h, 'GET', '/' + encodeURIComponent('ünïcödé.txt'));
    assert.equal(unicode.body.toString(), 'unicode name\n');
    const japanese = await request(h, 'GET', '/' + encodeURIComponent('日本語.txt'));
    assert.equal(japanese.body.toString(), 'japanese name\n');
    const spaces = await request(h, 'GET', '/file%20with%20spaces.txt');
    assert.equal(spaces.body.toString(), 'a file with spaces in its name\n');
  });

  test('large files are streamed whole and by range', async () => {
    const h = handler();
    const full = await request(h, 'GET', '/large.bin');
    assert.equal(full.headers['content-length'], String(site.largeSize));
    assert.ok(full.body.equals(site.large));
    const part = await request(h, 'GET', '/large.bin', { range: 'bytes=70000-200000' });
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-range'], `bytes 70000-200000/${site.largeSize}`);
    assert.ok(part.body.equals(site.large.subarray(70000, 200001)));
  });

  test('a large body the cache keeps is read whole into one exact-size buffer; others are streamed', async () => {
    const h = handler();
    const kept = fakeResponse('GET');
    keepWholeBody(kept, site.largeSize);
    const writes: number[] = [];
    const ends: Array<Buffer | string | undefined> = [];
    const { write, end } = kept;
    kept.write = (chunk, onFlushed) => {
      writes.push(chunk.length);
      return write(chunk, onFlushed);
    };
    kept.end = (chunk) => {
      ends.push(chunk);
      end(chunk);
    };
    assert.equal(h.handle(fakeRequest('GET', '/large.bin', { host: 'localhost' }), kept), true);
    await kept.done;
    assert.deepEqual(writes, [site.largeSize], 'one end(body), no streamed chunks');
    const body = ends[0] as Buffer;
    assert.ok(body.equals(site.large));
    assert.equal(body.buffer.byteLength, site.largeSize, 'its own memory: the cache stores it as is');
    // Above the keeper's limit (the cache would not store it): streamed in chunks as usual.
    const big = fakeResponse('GET');
    keepWholeBody(big, site.largeSize - 1);
    let chunks = 0;
    const bigWrite = big.write;
    big.write = (chunk, onFlushed) => {
      chunks++;
      return bigWrite(chunk, onFlushed);
    };
    h.handle(fakeRequest('GET', '/large.bin', { host: 'localhost' }), big);
    await big.done;
    assert.ok(chunks > 1);
    assert.ok(big.body.equals(site.large));
    // A range of a kept response is streamed too (a 206 is never stored).
    const ranged = fakeResponse('GET');
    keepWholeBody(ranged, site.largeSize);
    h.handle(fakeRequest('GET', '/large.bin', { host: 'localhost', range: 'bytes=70000-200000' }), ranged);
    await ranged.done;
    assert.ok(ranged.body.equals(site.large.subarray(70000, 200001)));
  });

  test('max_age adds Cache-Control', async () => {
    const { headers } = await request(handler({ max_age: '1h' }), 'GET', '/hello.txt');
    assert.equal(headers['cache-control'], 'public, max-age=3600');
  });

  test('etag = false sends no ETag and If-None-Match is then never a match', async () => {
    const h = handler({ etag: false });
    const first = await request(h, 'GET', '/hello.txt');
    assert.equal(first.headers.etag, undefined);
    assert.equal((await request(h, 'GET', '/hello.txt', { 'if-none-match': '"x"' })).status, 200);
  });
});

describe('conditionals and ranges', () => {
  test('If-None-Match → 304 with validators only; If-Match mismatch → 412', async () => {
    const h = handler({ max_age: '10s' });
    const { headers } = await request(h, 'GET', '/app.js');
    const revalidated = await request(h, 'GET', '/app.js', { 'if-none-match': headers.etag! });
    assert.equal(revalidated.status, 304);
    assert.equal(revalidated.body.length, 0);
    assert.deepEqual(
      revalidated.res.headerEntries().map(([name]) => name),
      ['Last-Modified', 'ETag', 'Vary', 'Cache-Control'],
    );
    const modifiedSince = await request(h, 'GET', '/app.js', {
      'if-modified-since': headers['last-modified']!,
    });
    assert.equal(modifiedSince.status, 304);
    assert.equal((await request(h, 'GET', '/app.js', { 'if-match': '"nope"' })).status, 412);
  });

  test('a file touched on disk gets a new ETag and no longer matches', async () => {
    const h = handler();
    const path = join(site.root, 'touched.txt');
    writeFileSync(path, 'one\n');
    utimesSync(path, 1_700_000_000, 1_700_000_000);
    const first = await request(h, 'GET', '/touched.txt');
    writeFileSync(path, 'two!\n');
    const second = await request(h, 'GET', '/touched.txt', { 'if-none-match': first.headers.etag! });
    assert.equal(second.status, 200);
    assert.equal(second.body.toString(), 'two!\n');
    assert.notEqual(second.headers.etag, first.headers.etag);
  });

  test('single range → 206; unsatisfiable → 416 with bytes */size', async () => {
    const h = handler();
    const part = await request(h, 'GET', '/bytes.bin', { range: 'bytes=10-19' });
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-range'], 'bytes 10-19/256');
    assert.equal(part.headers['content-length'], '10');
    assert.deepEqual([...part.body], [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    const suffix = await request(h, 'GET', '/bytes.bin', { range: 'bytes=-2' });
    assert.deepEqual([...suffix.body], [254, 255]);
    const unsat = await request(h, 'GET', '/bytes.bin', { range: 'bytes=256-' });
    assert.equal(unsat.status, 416);
    assert.equal(unsat.headers['content-range'], 'bytes */256');
    const ignoredOnHead = await request(h, 'HEAD', '/bytes.bin', { range: 'bytes=10-19' });
    assert.equal(ignoredOnHead.status, 200);
  });

  test('multiple ranges → multipart/byteranges whose Content-Length is exact', async () => {
    const { status, headers, body } = await request(handler(), 'GET', '/bytes.bin', {
      range: 'bytes=0-1, 200-201',
    });
    assert.equal(status, 206);
    const boundary = /^multipart\/byteranges; boundary=(\w+)$/.exec(headers['content-type']!)![1]!;
    assert.equal(Number(headers['content-length']), body.length);
    const text = body.toString('latin1');
    assert.equal(
      text,
      `--${boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 0-1/256\r\n\r\n\x00\x01` +
        `\r\n--${boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 200-201/256\r\n\r\n` +
        `\xc8\xc9\r\n--${boundary}--\r\n`,
    );
  });

  test('If-Range with a stale ETag sends the whole file', async () => {
    const { status, body } = await request(handler(), 'GET', '/bytes.bin', {
      range: 'bytes=0-1',
      'if-range': '"stale"',
    });
    assert.equal(status, 200);
    assert.equal(body.length, 256);
  });
});

describe('precompressed siblings', () => {
  test('br preferred, gzip next, identity otherwise; always Vary, original Content-Type', async () => {
    const h = handler();
    const br = await request(h, 'GET', '/app.js', { 'accept-encoding': 'gzip, deflate, br' });
    assert.equal(br.headers['content-encoding'], 'br');
    assert.equal(br.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(br.headers.vary, 'Accept-Encoding');
    assert.ok(br.body.equals(readFileSync(join(site.root, 'app.js.br'))));
    assert.equal(br.res.file?.path, join(site.root, 'app.js.br'));
    const gzip = await request(h, 'GET', '/app.js', { 'accept-encoding': 'gzip' });
    assert.equal(gzip.headers['content-encoding'], 'gzip');
    assert.ok(gzip.body.equals(readFileSync(join(site.root, 'app.js.gz'))));
    const refused = await request(h, 'GET', '/app.js', { 'accept-encoding': 'br;q=0, gzip;q=0' });
    assert.equal(refused.headers['content-encoding'], undefined);
    const plain = await request(h, 'GET', '/app.js');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.headers.vary, 'Accept-Encoding');
    assert.ok(plain.body.equals(readFileSync(join(site.root, 'app.js'))));
    const etags = new Set([br.headers.etag, gzip.headers.etag, plain.headers.etag]);
    assert.equal(etags.size, 3, 'each representation has its own strong ETag');
    const onlyGzip = await request(h, 'GET', '/only-gzip.css', { 'accept-encoding': 'br, gzip' });
    assert.equal(onlyGzip.headers['content-encoding'], 'gzip');
  });

  test('a sibling older than its original is stale and skipped', async () => {
    writeFileSync(join(site.root, 'stale.js'), 'new();\n');
    writeFileSync(join(site.root, 'stale.js.br'), 'old compressed bytes');
    utimesSync(join(site.root, 'stale.js.br'), 1_600_000_000, 1_600_000_000);
    const { headers, body } = await request(handler(), 'GET', '/stale.js', { 'accept-encoding': 'br' });
    assert.equal(headers['content-encoding'], undefined);
    assert.equal(body.toString(), 'new();\n');
  });

  test('a sibling added later is found once the remembered miss expires', async () => {
    const h = handler();
    writeFileSync(join(site.root, 'later.js'), 'later();\n');
    utimesSync(join(site.root, 'later.js'), 1_600_000_000, 1_600_000_000);
    const first = await request(h, 'GET', '/later.js', { 'accept-encoding': 'gzip' });
    assert.equal(first.headers['content-encoding'], undefined);
    writeFileSync(join(site.root, 'later.js.gz'), gzipSync('later();\n'));
    await new Promise((resolve) => setTimeout(resolve, MISS_TTL_MS + 50));
    const second = await request(h, 'GET', '/later.js', { 'accept-encoding': 'gzip' });
    assert.equal(second.headers['content-encoding'], 'gzip');
  });

  test('precompressed = false ignores siblings and sends no Vary', async () => {
    const { headers } = await request(handler({ precompressed: false }), 'GET', '/app.js', {
      'accept-encoding': 'br',
    });
    assert.equal(headers['content-encoding'], undefined);
    assert.equal(headers.vary, undefined);
  });
});

describe('directories, methods, errors', () => {
  test('directory without slash → 301 keeping the query; with slash → index', async () => {
    const h = handler();
    const redirect = await request(h, 'GET', '/sub?x=1&y=2');
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.location, '/sub/?x=1&y=2');
    const index = await request(h, 'GET', '/sub/');
    assert.equal(index.status, 200);
    assert.match(index.body.toString(), /sub index/);
    assert.equal((await request(h, 'GET', '/')).status, 200);
    assert.equal(
      (await request(h, 'GET', '//sub')).headers.location,
      '/sub/',
      'no protocol-relative Location',
    );
  });

  test('directory without index: 404, or a listing with escaped names when enabled', async () => {
    writeFileSync(join(site.root, 'nolisting', '<b>&"x".txt'), 'x');
    assert.equal((await request(handler(), 'GET', '/nolisting/')).status, 404);
    const listed = await request(handler({ listing: true }), 'GET', '/nolisting/');
    assert.equal(listed.status, 200);
    const html = listed.body.toString();
    assert.match(html, /href="\.\/a\.txt"/);
    assert.ok(html.includes('&lt;b&gt;&amp;&quot;x&quot;.txt'));
    assert.ok(!html.includes('<b>&'));
    const root = (await request(handler({ listing: true }), 'GET', '/')).body.toString();
    assert.ok(root.includes('fixture index'), 'an index file wins over the listing');
  });

  test('other methods on a file → 405 with Allow; on nothing → 404', async () => {
    const h = handler();
    const post = await request(h, 'POST', '/hello.txt');
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
    assert.equal((await request(h, 'DELETE', '/sub/')).status, 405);
    assert.equal((await request(h, 'POST', '/missing.txt')).status, 404);
  });

  test('custom error page is served with the error status; {} turns it off', async () => {
    const missing = await request(handler(), 'GET', '/missing.txt');
    assert.equal(missing.status, 404);
    assert.equal(missing.headers['content-type'], 'text/html; charset=utf-8');
    assert.match(missing.body.toString(), /custom 404 page/);
    const plain = await request(handler({ error_pages: {} }), 'GET', '/missing.txt');
    assert.equal(plain.status, 404);
    assert.equal(plain.body.toString(), '404 Not Found\n');
    const custom = await request(handler({ error_pages: { '405': 'sub/page.html' } }), 'POST', '/hello.txt');
    assert.equal(custom.status, 405);
    assert.equal(custom.headers.allow, 'GET, HEAD');
    assert.match(custom.body.toString(), /sub page/);
    const otherHost = handler({ hosts: { 'other.example': site.otherRoot } });
    const noPage = await request(otherHost, 'GET', '/missing.txt', { host: 'other.example' });
    assert.equal(noPage.body.toString(), '404 Not Found\n', 'a root without 404.html gets the text body');
  });

  test('fallthrough = true leaves unmatched requests to the host', async () => {
    const { claimed, res } = await request(handler({ fallthrough: true }), 'GET', '/missing.txt');
    assert.equal(claimed, false);
    assert.equal(res.headerEntries().length, 0);
  });

  test('virtual hosts pick their own root; unknown hosts use the default', async () => {
    const h = handler({ hosts: { 'Other.Example': site.otherRoot } });
    const other = await request(h, 'GET', '/hello.txt', { host: 'other.example:8080' });
    assert.equal(other.body.toString(), 'Hello from the other host\n');
    const fallback = await request(h, 'GET', '/hello.txt', { host: 'unknown.example' });
    assert.equal(fallback.body.toString(), 'Hello, Tamarin!\n');
  });
});

describe('dotfiles and symlinks', () => {
  test('dotfiles: deny → 404 (but .well-known is served); allow → served', async () => {
    const deny = handler();
    assert.equal((await request(deny, 'GET', '/.env')).status, 404);
    assert.equal((await request(deny, 'GET', '/.git/config')).status, 404);
    assert.equal((await request(deny, 'GET', '/.well-known/security.txt')).status, 200);
    const allow = handler({ dotfiles: 'allow' });
    assert.match((await request(allow, 'GET', '/.env')).body.toString(), /dotfile/);
  });

  const outside = ['/link-out.txt', '/link-prefix.txt', '/dir-out/inner.txt'];
  test('symlinks = inside: links within the root work, links leaving it are 404', async () => {
    const h = handler();
    assert.equal((await request(h, 'GET', '/link-in.txt')).body.toString(), 'Hello, Tamarin!\n');
    assert.match((await request(h, 'GET', '/dir-in/page.html')).body.toString(), /sub page/);
    for (const path of outside) {
      const { status, body } = await request(h, 'GET', path);
      assert.equal(status, 404, path);
      assert.ok(!body.toString().includes(OUTSIDE_MARKER), path);
    }
    assert.equal((await request(h, 'GET', '/dangling.txt')).status, 404);
  });

  test('symlinks = deny refuses every link; follow follows every link', async () => {
    const deny = handler({ symlinks: 'deny' });
    assert.equal((await request(deny, 'GET', '/link-in.txt')).status, 404);
    assert.equal((await request(deny, 'GET', '/dir-in/page.html')).status, 404);
    const follow = handler({ symlinks: 'follow' });
    assert.match((await request(follow, 'GET', '/link-out.txt')).body.toString(), new RegExp(OUTSIDE_MARKER));
  });
});

describe('options', () => {
  test('unknown keys and bad values are rejected with the key named', () => {
    const unknown = staticOptionsSchema.safeParse({ rooot: '/x' });
    assert.equal(unknown.success, false);
    assert.match(JSON.stringify(unknown.error?.issues), /rooot/);
    const badPage = staticOptionsSchema.safeParse({ error_pages: { '200': 'x.html' } });
    assert.equal(badPage.success, false);
    assert.equal(staticOptionsSchema.safeParse({ symlinks: 'sometimes' }).success, false);
    assert.equal(staticOptionsSchema.safeParse({ index: ['../x.html'] }).success, false);
  });

  test('a missing root is a config error, and fails start-up naming the key', () => {
    const missing = join(site.base, 'nope');
    const root = staticOptionsSchema.safeParse({ root: missing });
    assert.deepEqual(root.error?.issues[0]?.path, ['root']);
    assert.match(root.error?.issues[0]?.message ?? '', /expected an existing directory/);
    const host = staticOptionsSchema.safeParse({ hosts: { 'a.example': join(site.root, 'hello.txt') } });
    assert.deepEqual(host.error?.issues[0]?.path, ['hosts', 'a.example']);
    const options = staticOptionsSchema.parse({ root: site.root, hosts: { 'a.example': site.otherRoot } });
    assert.throws(
      () => new StaticHandler({ ...options, root: missing }),
      /static\.root: directory .* does not exist/,
    );
    assert.throws(
      () => new StaticHandler({ ...options, hosts: { 'a.example': missing } }),
      /static\.hosts\."a\.example"/,
    );
  });

  test('the default root is the bundled site/ folder', () => {
    const parsed = staticOptionsSchema.parse({});
    assert.match(parsed.root, /\/site\/?$/);
  });
});
