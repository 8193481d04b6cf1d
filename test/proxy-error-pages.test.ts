/**
 * `[static.error_pages]` apply to the proxy's own answers too (nginx `error_page 502 504`): a dead backend's
 * 502, a slow one's 504, on a plain route and on a cached route, per host; a backend's own 502 passes
 * through untouched; without a page the built-in text stays.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';
import { type FakeBackend, startFakeBackend } from './helpers/fake-backend.ts';

/** A port with nothing listening on it. */
async function deadPort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('error pages for the proxy’s own answers', () => {
  let root: string;
  let slow: FakeBackend;
  let failing: FakeBackend;
  let server: RunningServer;
  before(async () => {
    setLogSink(() => {});
    root = mkdtempSync(join(tmpdir(), 'tamarin-error-pages-'));
    mkdirSync(join(root, 'other'));
    writeFileSync(join(root, '502.html'), '<h1>We are fixing it</h1>\n');
    writeFileSync(join(root, '504.html'), '<h1>Too slow</h1>\n');
    writeFileSync(join(root, 'other/502.html'), '<h1>Other host</h1>\n');
    slow = await startFakeBackend({ latencyMs: 2000 });
    failing = await startFakeBackend({
      handler: (_req, res) => {
        res.writeHead(502, { 'Content-Type': 'text/plain' });
        res.end('the backend’s own 502\n');
        return true;
      },
    });
    const dead = `http://127.0.0.1:${await deadPort()}`;
    server = await startServer({
      inProcess: true,
      config: {
        plugins: ['cache', 'proxy', 'static'],
        server: { host: '127.0.0.1', port: 0 },
        static: {
          root,
          hosts: { 'other.test': join(root, 'other') },
          error_pages: { '404': '404.html', '502': '502.html', '504': '504.html' },
        },
        proxy: {
          routes: [
            { match: '^/dead/', backends: [dead], attempts: 1 },
            { match: '^/cached/', backends: [dead], attempts: 1, cache: true },
            { match: '^/slow/', backends: [slow.url], response_timeout: '200ms' },
            { match: '^/own/', backends: [failing.url] },
          ],
        },
      },
    });
  });
  after(async () => {
    await server?.close();
    await slow?.stop();
    await failing?.stop();
    setLogSink(null);
    rmSync(root, { recursive: true, force: true });
  });

  it('serves the 502 page when no backend answers, on plain and cached routes', async () => {
    for (const path of ['/dead/x', '/cached/x']) {
      const res = await fetch(`${server.url}${path}`);
      assert.equal(res.status, 502, path);
      assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal(await res.text(), '<h1>We are fixing it</h1>\n');
    }
  });

  it('serves the 504 page on a backend timeout', async () => {
    const res = await fetch(`${server.url}/slow/x`);
    assert.equal(res.status, 504);
    assert.equal(await res.text(), '<h1>Too slow</h1>\n');
  });

  it('uses the page of the request’s host', async () => {
    const { request } = await import('node:http');
    const body = await new Promise<string>((resolve, reject) => {
      const r = request(`${server.url}/dead/x`, { headers: { host: 'other.test' } }, (res) => {
        let text = '';
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => resolve(text));
      });
      r.on('error', reject);
      r.end();
    });
    assert.equal(body, '<h1>Other host</h1>\n');
  });

  it('relays a backend’s own error unchanged', async () => {
    const res = await fetch(`${server.url}/own/x`);
    assert.equal(res.status, 502);
    assert.equal(await res.text(), 'the backend’s own 502\n');
  });

  it('dresses the host’s own 404 (no handler claimed the request) with the page too', async () => {
    writeFileSync(join(root, '404.html'), '<h1>Nothing here</h1>\n');
    const fallthrough = await startServer({
      inProcess: true,
      config: {
        plugins: ['static'],
        server: { host: '127.0.0.1', port: 0 },
        static: { root, fallthrough: true },
      },
    });
    try {
      const res = await fetch(`${fallthrough.url}/missing`);
      assert.equal(res.status, 404);
      assert.equal(await res.text(), '<h1>Nothing here</h1>\n');
    } finally {
      await fallthrough.close();
    }
  });
});
