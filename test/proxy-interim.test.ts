/**
 * Interim 1xx responses through the proxy, passed through without breaking the exchange: a backend's 103 Early Hints reaches a raw client before the final response, with its
 * end-to-end fields only; on a cached route the 103 of the miss reaches the client and is never stored
 * (the hit has none); a pipelined response's 103 waits behind the earlier answer.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Server as NetServer } from 'node:net';
import { after, describe, test } from 'node:test';
import { parseResponses, rawRequest } from '../src/http/test-client.ts';
import type { RunningServer } from '../src/main/compose.ts';
import { startProxy } from './helpers/fake-backend.ts';
import { Clock, FakeOrigin, startRig } from './helpers/fake-origin.ts';

const LINK = '</a.css>; rel=preload';

const servers: Array<Server | NetServer> = [];
after(async () => {
  for (const server of servers) {
    if ('closeAllConnections' in server) server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

/** A node:http backend: `/slow` answers after 150 ms; other paths send 103 Early Hints, then 200. */
async function hintingBackend(): Promise<string> {
  const server = createServer((req, res) => {
    if (req.url === '/slow') {
      setTimeout(() => res.end('slow'), 150);
      return;
    }
    res.writeEarlyHints({ link: LINK });
    setTimeout(() => res.writeHead(200, { 'Content-Type': 'text/plain' }).end('body'), 10);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A raw backend sending exactly `bytes` for every request (enough control to send hop-by-hop fields). */
async function rawBackend(bytes: string): Promise<string> {
  const server = createNetServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => socket.end(bytes));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function withProxy(backend: string, run: (proxy: RunningServer) => Promise<void>): Promise<void> {
  const proxy = await startProxy({ routes: [{ match: '^/', backends: [backend] }] });
  try {
    await run(proxy);
  } finally {
    await proxy.close();
  }
}

describe('proxy relays interim responses', () => {
  test('a backend’s 103 Early Hints reaches the client before the 200 and its body', async () => {
    await withProxy(await hintingBackend(), async (proxy) => {
      const bytes = await rawRequest(
        proxy.port,
        'GET /page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      );
      const text = bytes.toString('latin1');
      assert.ok(text.startsWith('HTTP/1.1 103 Early Hints\r\n'), text);
      const [hints, final, ...rest] = parseResponses(bytes);
      assert.equal(hints?.status, 103);
      assert.equal(hints?.headers.link, LINK);
      assert.match(hints?.headers.via ?? '', /^1\.1 /, 'the proxy adds its Via entry (RFC 9110 §7.6.3)');
      assert.equal(final?.status, 200);
      assert.equal(final?.body.toString(), 'body');
      assert.equal(rest.length, 0);
    });
  });

  test('an HTTP/1.0 client gets the final response only (RFC 9110 §15.2)', async () => {
    await withProxy(await hintingBackend(), async (proxy) => {
      const bytes = await rawRequest(proxy.port, 'GET /page HTTP/1.0\r\nHost: x\r\n\r\n');
      const responses = parseResponses(bytes);
      assert.deepEqual(
        responses.map((r) => r.status),
        [200],
      );
      assert.equal(responses[0]?.body.toString(), 'body');
    });
  });

  test('hop-by-hop fields of the interim response are not relayed; 102 passes too', async () => {
    const backend = await rawBackend(
      'HTTP/1.1 102 Processing\r\n\r\n' +
        'HTTP/1.1 103 Early Hints\r\nLink: </x.js>; rel=preload\r\nConnection: x-secret\r\nX-Secret: 1\r\n' +
        'Keep-Alive: timeout=5\r\nX-Hint: kept\r\n\r\n' +
        'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok',
    );
    await withProxy(backend, async (proxy) => {
      const bytes = await rawRequest(proxy.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      const responses = parseResponses(bytes);
      assert.deepEqual(
        responses.map((r) => r.status),
        [102, 103, 200],
      );
      const hints = responses[1]!;
      assert.equal(hints.headers.link, '</x.js>; rel=preload');
      assert.equal(hints.headers['x-hint'], 'kept');
      for (const name of ['connection', 'x-secret', 'keep-alive'])
        assert.equal(hints.headers[name], undefined);
      assert.equal(responses[2]?.body.toString(), 'ok');
    });
  });

  test('a backend looping on 102 gets 16 relayed, then the final response', async () => {
    const backend = await rawBackend(
      `${'HTTP/1.1 102 Processing\r\n\r\n'.repeat(40)}HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`,
    );
    await withProxy(backend, async (proxy) => {
      const bytes = await rawRequest(proxy.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      const statuses = parseResponses(bytes).map((r) => r.status);
      assert.deepEqual(statuses, [...Array<number>(16).fill(102), 200]);
    });
  });

  test('pipelined: the second response’s 103 waits until the slow first response is out', async () => {
    await withProxy(await hintingBackend(), async (proxy) => {
      const bytes = await rawRequest(
        proxy.port,
        'GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      );
      const responses = parseResponses(bytes);
      assert.deepEqual(
        responses.map((r) => r.status),
        [200, 103, 200],
      );
      assert.equal(responses[0]?.body.toString(), 'slow');
      assert.equal(responses[1]?.headers.link, LINK);
      assert.equal(responses[2]?.body.toString(), 'body');
    });
  });

  test('cached route: the miss relays the 103, the stored response has none, the hit sends none', async () => {
    const clock = new Clock();
    const origin = await new FakeOrigin(clock, (_req, res) => {
      res.writeEarlyHints({ link: LINK });
      res.writeHead(200, { 'Cache-Control': 'max-age=60', 'Content-Type': 'text/plain' });
      res.end('stored body');
    }).start();
    const rig = await startRig(clock, [origin.url]);
    try {
      const request = 'GET /cached HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
      const miss = parseResponses(await rawRequest(rig.port, request));
      assert.deepEqual(
        miss.map((r) => r.status),
        [103, 200],
      );
      assert.equal(miss[0]?.headers.link, LINK);
      assert.match(miss[1]?.headers['cache-status'] ?? '', /fwd=uri-miss; fwd-status=200; stored/);
      assert.equal(miss[1]?.body.toString(), 'stored body');
      const hit = parseResponses(await rawRequest(rig.port, request));
      assert.deepEqual(
        hit.map((r) => r.status),
        [200],
        'no 103 from the store (RFC 9111 §3 stores final responses only)',
      );
      assert.match(hit[0]?.headers['cache-status'] ?? '', /^tamarin; hit/);
      assert.equal(hit[0]?.body.toString(), 'stored body');
      assert.equal(origin.hits, 1);
    } finally {
      await rig.close();
      await origin.stop();
    }
  });
});
