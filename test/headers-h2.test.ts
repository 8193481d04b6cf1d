/**
 * `headers` rules on HTTP/2: the same fields as on HTTP/1.1 for static files and cached proxy routes,
 * misses and hits alike (h2 hits are sent from the pre-built HTTP/1.1 head, which the rules must edit).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';
import { type FakeBackend, fetchText, startFakeBackend } from './helpers/fake-backend.ts';

/** The fields a rule touches, as a client sees them (lower-case names, repeated ones joined). */
function fields(headers: Record<string, unknown>): Record<string, string | undefined> {
  const pick = (name: string) => {
    const v = headers[name];
    return v === undefined ? undefined : Array.isArray(v) ? v.join(', ') : String(v);
  };
  return {
    'x-frame-options': pick('x-frame-options'),
    'cache-control': pick('cache-control'),
    'x-backend': pick('x-backend'),
    'x-tag': pick('x-tag'),
  };
}

function h2Get(session: http2.ClientHttp2Session, path: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path });
    let headers: Record<string, unknown> = {};
    stream.on('response', (h) => {
      headers = h;
    });
    stream.on('error', reject);
    stream.on('end', () => resolve(headers));
    stream.resume();
  });
}

describe('headers rules on HTTP/2', () => {
  let root: string;
  let backend: FakeBackend;
  let server: RunningServer;
  let session: http2.ClientHttp2Session;
  let origin = 0;

  before(async () => {
    setLogSink(() => {});
    root = mkdtempSync(join(tmpdir(), 'tamarin-headers-h2-'));
    writeFileSync(join(root, 'hello.txt'), 'hello\n');
    backend = await startFakeBackend({
      handler: (_req, res) => {
        origin++;
        res.writeHead(200, {
          'Content-Type': 'text/plain',
          'Cache-Control': 'max-age=60',
          'X-Backend': 'secret',
          'X-Tag': 'origin',
        });
        res.end('from the backend\n');
        return true;
      },
    });
    server = await startServer({
      inProcess: true,
      config: {
        plugins: ['headers', 'cache', 'proxy', 'static'],
        server: { listen: [{ port: 0, http2: true }] },
        static: { root },
        proxy: { routes: [{ match: '^/api/', backends: [backend.url], cache: true }] },
        headers: {
          rules: [
            {
              response: {
                add: { 'X-Frame-Options': 'DENY', 'X-Tag': 'rule' },
                set: { 'Cache-Control': 'public, max-age=5' },
                remove: ['X-Backend'],
              },
            },
          ],
        },
      },
    });
    session = http2.connect(server.urls[0]!);
  });

  after(async () => {
    session?.close();
    await server?.close();
    await backend?.stop();
    setLogSink(null);
    rmSync(root, { recursive: true, force: true });
  });

  for (const path of ['/hello.txt', '/api/thing']) {
    it(`${path}: h2 misses and hits carry the rules' fields exactly as h1 answers do`, async () => {
      const before = origin;
      const h2Miss = fields(await h2Get(session, path));
      const h2Hit = fields(await h2Get(session, path));
      const h1Hit = fields((await fetchText(`${server.urls[0]!}${path}`)).headers);
      if (path.startsWith('/api/'))
        assert.equal(origin - before, 1, 'answered from the cache after the first');
      const expected = {
        'x-frame-options': 'DENY',
        'cache-control': 'public, max-age=5',
        'x-backend': undefined,
        'x-tag': path.startsWith('/api/') ? 'origin, rule' : 'rule',
      };
      assert.deepEqual(h2Miss, expected, 'h2 miss');
      assert.deepEqual(h2Hit, expected, 'h2 hit');
      assert.deepEqual(h1Hit, expected, 'h1 hit');
    });
  }
});
