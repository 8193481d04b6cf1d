/**
 * The plugin contract for per-request response fields, over real sockets: a field a plugin adds at the
 * request stage reaches static misses and hits, proxied misses and hits, HEAD, 304 and HTTP/1.0 answers,
 * and is never stored (each hit carries this request's value, not the one of the request that filled the
 * cache). A suppressed field is left out of one answer only.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rawRequest } from '../src/http/test-client.ts';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';
import { type FakeBackend, startFakeBackend } from './helpers/fake-backend.ts';

const PLUGIN = resolve('test/fixtures/plugins/request-id.ts');

async function raw(server: RunningServer, head: string): Promise<string> {
  return (await rawRequest(server.port, head, { timeoutMs: 2000 })).toString('latin1');
}

function ids(reply: string): string[] {
  return [...reply.matchAll(/\r\nX-Request-Id: (\d+)\r\n/g)].map((m) => m[1]!);
}

describe('transient response fields (addTransientHeader / suppressHeader)', () => {
  let root: string;
  let backend: FakeBackend;
  let server: RunningServer;
  let origin = 0;
  before(async () => {
    setLogSink(() => {});
    root = mkdtempSync(join(tmpdir(), 'tamarin-transient-'));
    writeFileSync(join(root, 'hello.txt'), 'hello\n');
    writeFileSync(join(root, 'big.bin'), Buffer.alloc(100 * 1024, 0x62));
    backend = await startFakeBackend({
      handler: (_req, res) => {
        origin++;
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'max-age=60' });
        res.end('from the backend\n');
        return true;
      },
    });
    server = await startServer({
      inProcess: true,
      config: {
        plugins: ['access_log', PLUGIN, 'cache', 'proxy', 'static'],
        server: { host: '127.0.0.1', port: 0 },
        access_log: { enabled: false },
        static: { root },
        proxy: { routes: [{ match: '^/api/', backends: [backend.url], cache: true }] },
      },
    });
  });
  after(async () => {
    await server?.close();
    await backend?.stop();
    setLogSink(null);
    rmSync(root, { recursive: true, force: true });
  });

  it('reaches a static miss and every later hit with that request’s own value', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${server.url}/hello.txt`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'hello\n');
      const id = res.headers.get('x-request-id');
      assert.ok(id !== null, 'every answer carries the field');
      seen.add(id);
    }
    assert.equal(seen.size, 4, 'no hit repeats the value stored with the entry');
    const [stats] = await server.control('cache', 'stats');
    assert.ok((stats!.result as { hits: number }).hits >= 3, 'the later requests were hits');
  });

  it('appears once, before the blank line, on keep-alive, Connection: close and HTTP/1.0 hits', async () => {
    await fetch(`${server.url}/hello.txt`).then((r) => r.text());
    const close = await raw(server, 'GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
    assert.equal(ids(close).length, 1);
    assert.match(close, /\r\nConnection: close\r\nX-Request-Id: \d+\r\n\r\nhello\n$/);
    const old = await raw(server, 'GET /hello.txt HTTP/1.0\r\nHost: t\r\n\r\n');
    assert.equal(ids(old).length, 1);
    assert.ok(old.endsWith('\r\n\r\nhello\n'));
  });

  it('reaches HEAD, 304 and large (separate-body) hits', async () => {
    await fetch(`${server.url}/big.bin`).then((r) => r.arrayBuffer());
    const big = await fetch(`${server.url}/big.bin`);
    assert.equal((await big.arrayBuffer()).byteLength, 100 * 1024);
    assert.ok(big.headers.get('x-request-id'));
    const head = await raw(server, 'HEAD /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
    assert.equal(ids(head).length, 1);
    assert.ok(head.endsWith('\r\n\r\n'), 'no body after a HEAD answer');
    const etag = (await fetch(`${server.url}/hello.txt`)).headers.get('etag')!;
    const notModified = await fetch(`${server.url}/hello.txt`, { headers: { 'if-none-match': etag } });
    assert.equal(notModified.status, 304);
    assert.ok(notModified.headers.get('x-request-id'));
  });

  it('reaches proxied misses and proxied cache hits, each with its own value', async () => {
    const before = origin;
    const values = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${server.url}/api/thing`);
      assert.equal(await res.text(), 'from the backend\n');
      values.add(res.headers.get('x-request-id') ?? 'missing');
    }
    assert.equal(origin - before, 1, 'two of the three were proxy-cache hits');
    assert.equal(values.size, 3);
    assert.ok(!values.has('missing'));
  });

  it('leaves a suppressed field out of one answer, hit or miss, and nothing else', async () => {
    const hidden = await fetch(`${server.url}/hello.txt`, { headers: { 'x-hide': 'Content-Type' } });
    assert.equal(hidden.headers.get('content-type'), null);
    assert.equal(await hidden.text(), 'hello\n');
    const proxied = await fetch(`${server.url}/api/thing`, { headers: { 'x-hide': 'cache-control' } });
    assert.equal(proxied.headers.get('cache-control'), null);
    const next = await fetch(`${server.url}/hello.txt`);
    assert.equal(next.headers.get('content-type'), 'text/plain; charset=utf-8');
    const fresh = await fetch(`${server.url}/hello.txt?x`, { headers: { 'x-hide': 'etag' } });
    assert.equal(fresh.headers.get('etag'), null);
  });
});
