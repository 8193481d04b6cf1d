/**
 * Request methods over HTTP/2 are the ones HTTP/1.1's parser accepts: a method neither Node's llhttp
 * knows nor a plugin declared is answered 501 before any plugin sees it; `BAN`, which the cache declares
 * when its purge method is on, works over HTTP/2 as over HTTP/1.1 (and is 501 where it is off).
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';
import { type FakeBackend, startFakeBackend } from './helpers/fake-backend.ts';

const PURGE_TOKEN = 'purge-secret-123';

interface H2Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  text: string;
}

function h2(
  session: http2.ClientHttp2Session,
  method: string,
  path: string,
  fields: Record<string, string> = {},
): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': method, ':path': path, ...fields }, { endStream: true });
    let headers: http2.IncomingHttpHeaders = {};
    let text = '';
    stream.setEncoding('utf8');
    stream.on('response', (h) => {
      headers = h;
    });
    stream.on('data', (chunk: string) => {
      text += chunk;
    });
    stream.on('error', reject);
    stream.on('end', () => resolve({ status: Number(headers[':status']), headers, text }));
  });
}

describe('methods over HTTP/2', () => {
  let backend: FakeBackend;
  let on: RunningServer;
  let off: RunningServer;
  let onSession: http2.ClientHttp2Session;
  let offSession: http2.ClientHttp2Session;
  let origin = 0;

  before(async () => {
    setLogSink(() => {});
    backend = await startFakeBackend({
      handler: (_req, res) => {
        origin++;
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'max-age=600' });
        res.end('from the backend\n');
        return true;
      },
    });
    const config = (purge: boolean) => ({
      plugins: ['cache', 'proxy'],
      server: { listen: [{ port: 0, http2: true }] },
      cache: purge ? { purge_method: { enabled: true, token: PURGE_TOKEN } } : {},
      proxy: { routes: [{ match: '^/', backends: [backend.url], cache: true }] },
    });
    on = await startServer({ inProcess: true, config: config(true) });
    off = await startServer({ inProcess: true, config: config(false) });
    onSession = http2.connect(on.urls[0]!);
    offSession = http2.connect(off.urls[0]!);
  });

  after(async () => {
    onSession?.close();
    offSession?.close();
    await on?.close();
    await off?.close();
    await backend?.stop();
    setLogSink(null);
  });

  it('an unknown method is 501 and never reaches the plugins (nor the origin)', async () => {
    const before = origin;
    for (const session of [onSession, offSession]) {
      const brew = await h2(session, 'BREW', '/pot');
      assert.equal(brew.status, 501);
      assert.match(brew.text, /501 Not Implemented/);
    }
    assert.equal(origin, before, 'the proxy never forwarded it');
    // A method llhttp knows still goes through.
    assert.equal((await h2(onSession, 'GET', '/known')).status, 200);
  });

  it('BAN is 501 where the purge method is off', async () => {
    const res = await h2(offSession, 'BAN', '/', { 'x-ban': 'req.url ~ ^/' });
    assert.equal(res.status, 501);
  });

  it('BAN over HTTP/2 removes the matching entries before the answer, counted', async () => {
    await h2(onSession, 'GET', '/b/1');
    await h2(onSession, 'GET', '/c/1');
    const hit = await h2(onSession, 'GET', '/b/1');
    assert.match(String(hit.headers['cache-status']), /hit/, 'stored');
    const denied = await h2(onSession, 'BAN', '/', { 'x-ban': 'req.url ~ ^/b/' });
    assert.equal(denied.status, 403, 'the purge token applies over HTTP/2 too');
    const res = await h2(onSession, 'BAN', '/', { 'x-ban': 'req.url ~ ^/b/', 'x-purge-token': PURGE_TOKEN });
    assert.equal(res.status, 200, res.text);
    assert.equal(JSON.parse(res.text).banned, 1);
    const before = origin;
    const again = await h2(onSession, 'GET', '/b/1');
    assert.doesNotMatch(String(again.headers['cache-status']), /hit/, 'banned: fetched again');
    assert.equal(origin, before + 1);
    assert.match(String((await h2(onSession, 'GET', '/c/1')).headers['cache-status']), /hit/, 'kept');
  });
});
