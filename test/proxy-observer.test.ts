/**
 * The seam for a response cache: a cache matches a route, forwards through the proxy
 * with an observer, captures the body from the head on, and learns whether the body ended cleanly.
 */

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { test } from 'node:test';
import { createEngine, DEFAULT_LIMITS, DEFAULT_TIMEOUTS } from '../src/http/engine.ts';
import { rawRequest } from '../src/http/test-client.ts';
import { proxyOptionsSchema } from '../src/proxy/options.ts';
import { createProxy } from '../src/proxy/plugin.ts';
import type { PluginContext } from '../src/server/plugin.ts';
import { testContext } from '../src/server/test-context.ts';
import { startFakeBackend } from './helpers/fake-backend.ts';

const quiet = { info() {}, warn() {}, error() {} };
const context: PluginContext = testContext({ logger: quiet });

test('observer sees the head before the body, then a clean or an abnormal end', async () => {
  const backend = await startFakeBackend({
    raw: (socket, head) => {
      if (head.startsWith('GET /ok '))
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: "1"\r\n\r\nhello');
      else {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial');
        setTimeout(() => socket.destroy(), 30);
      }
    },
  });
  const proxy = createProxy(
    proxyOptionsSchema.parse({ routes: [{ match: '^/', backends: [backend.url] }] }),
    context,
  );
  const events: string[] = [];
  const engine = createEngine(
    {
      limits: DEFAULT_LIMITS,
      timeouts: DEFAULT_TIMEOUTS,
      maxConnections: 100,
      maxRequestsPerConnection: 100,
    },
    {
      onRequest(req, res) {
        const route = proxy.match(req);
        assert.ok(route);
        proxy.forward(req, res, route, {
          onHead(head, r) {
            events.push(`head ${head.status} ${head.headers.get('etag')}`);
            r.captureBody(1024);
          },
          onEnd(complete, r) {
            events.push(`end ${complete} ${r.capturedBody?.toString() ?? 'null'}`);
          },
        });
      },
    },
  );
  const server: Server = createServer((socket) => engine.handleSocket(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  try {
    const ok = await rawRequest(port, 'GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(ok.toString(), /\r\n\r\nhello$/);
    await rawRequest(port, 'GET /dies HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.deepEqual(events, ['head 200 "1"', 'end true hello', 'head 200 undefined', 'end false null']);
  } finally {
    await proxy.close?.();
    await engine.drain(100);
    await new Promise((resolve) => server.close(resolve));
    await backend.stop();
  }
});
