/**
 * https:// backends: the certificate is verified by default (an unknown CA or a wrong name is a 502, not
 * a silent downgrade), `ca` and `servername` per backend make an internal CA work, connections are pooled
 * like plain ones, and a request that came over TLS is forwarded with X-Forwarded-Proto: https.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import type net from 'node:net';
import { connect as netConnect } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';
import { createTestCa, type TestCa } from './helpers/certs.ts';

function get(url: string, target: string, ca?: string): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = (
      u.protocol === 'https:'
        ? tls.connect({ host: u.hostname, port: Number(u.port), ca, servername: 'localhost' })
        : netConnect(Number(u.port), u.hostname)
    ) as net.Socket;
    socket.on(u.protocol === 'https:' ? 'secureConnect' : 'connect', () =>
      socket.write(`GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`),
    );
    let text = '';
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
    });
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', body = ''] = text.split('\r\n\r\n');
      resolve({ status: Number(head.split(' ')[1]), body });
    });
  });
}

describe('https backends', () => {
  let ca: TestCa;
  let backend: https.Server;
  let server: RunningServer;
  let handshakes = 0;
  let caFile: string;

  before(async () => {
    setLogSink(() => {});
    ca = createTestCa();
    caFile = path.join(ca.dir, 'ca.pem');
    const backendCert = ca.issue('backend', ['backend.test']);
    const front = ca.issue('front', ['localhost']);
    backend = https.createServer(
      { cert: fs.readFileSync(backendCert.cert), key: fs.readFileSync(backendCert.key) },
      (req, res) => {
        res.setHeader('content-type', 'text/plain');
        res.end(`backend saw ${req.url} proto=${req.headers['x-forwarded-proto']}`);
      },
    );
    backend.on('secureConnection', () => handshakes++);
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', () => resolve()));
    const port = (backend.address() as net.AddressInfo).port;
    const url = `https://127.0.0.1:${port}`;
    server = await startServer({
      inProcess: true,
      config: {
        plugins: ['proxy'],
        server: { listen: [{ port: 0 }, { port: 0, tls: true }] },
        tls: { cert: front.cert, key: front.key },
        proxy: {
          routes: [
            { match: '^/good/', backends: [{ url, ca: caFile, servername: 'backend.test' }], attempts: 1 },
            { match: '^/unknown-ca/', backends: [url], attempts: 1 },
            {
              match: '^/wrong-name/',
              backends: [{ url, ca: caFile, servername: 'other.test' }],
              attempts: 1,
            },
          ],
        },
      },
    });
  });

  after(async () => {
    await server?.close();
    backend?.closeAllConnections();
    backend?.close();
    ca?.cleanup();
    setLogSink(null);
  });

  it('forwards to an https backend verified with its CA file and servername, pooled', async () => {
    handshakes = 0;
    for (let i = 0; i < 5; i++) {
      const res = await get(server.urls[0]!, `/good/${i}`);
      assert.equal(res.status, 200);
      assert.equal(res.body, `backend saw /good/${i} proto=http`);
    }
    assert.equal(handshakes, 1, 'one upstream TLS connection, kept alive and reused');
  });

  it('tells the backend the client came over TLS', async () => {
    const res = await get(server.urls[1]!, '/good/tls', ca.caPem);
    assert.equal(res.status, 200);
    assert.equal(res.body, 'backend saw /good/tls proto=https');
  });

  it('refuses a backend certificate from an unknown CA (verification is on by default)', async () => {
    const res = await get(server.urls[0]!, '/unknown-ca/x');
    assert.equal(res.status, 502);
  });

  it('refuses a backend certificate for another name', async () => {
    const res = await get(server.urls[0]!, '/wrong-name/x');
    assert.equal(res.status, 502);
  });

  it('rejects a ca on an http:// backend and an unreadable ca file at start-up', async () => {
    await assert.rejects(
      startServer({
        inProcess: true,
        config: {
          plugins: ['proxy'],
          server: { port: 0 },
          proxy: { routes: [{ match: '^/', backends: [{ url: 'http://127.0.0.1:1', ca: caFile }] }] },
        },
      }),
      /proxy\.routes\[0\]\.backends\[0\]: ca and servername apply to https:\/\/ backends only/,
    );
    await assert.rejects(
      startServer({
        inProcess: true,
        config: {
          plugins: ['proxy'],
          server: { port: 0 },
          proxy: {
            routes: [{ match: '^/', backends: [{ url: 'https://127.0.0.1:1', ca: '/nonexistent/ca.pem' }] }],
          },
        },
      }),
      /proxy\.routes\[0\]\.backends\[0\]\.ca: cannot read "\/nonexistent\/ca\.pem": ENOENT/,
    );
  });
});
