/**
 * A configuration reload (what SIGHUP, `tamarin reload` and `POST /api/reload` run) on a server with TLS
 * and HTTP/2 listeners: the listening sockets stay, an open HTTP/1.1 keep-alive connection over TLS gets
 * the new configuration on its next request, an HTTP/2 session is sent a GOAWAY so that the client's next
 * streams open a new connection under the new configuration, the certificate files are loaded again, and
 * the listener list and the `[tls]` table are refused with a message naming the key.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';
import { createTestCa, type TestCa } from './helpers/certs.ts';

/** Fingerprint of the certificate the server presents. */
function presented(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      resolve(fp);
    });
    socket.on('error', reject);
  });
}

/** A keep-alive HTTP/1.1 connection over TLS that sends `GET /` one at a time and returns the body. */
function keepAlive(port: number, ca: string) {
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    ca,
    servername: 'localhost',
    ALPNProtocols: ['http/1.1'],
  });
  socket.on('error', () => {});
  let buffer = '';
  let waiting: ((body: string) => void) | null = null;
  socket.on('data', (c: Buffer) => {
    buffer += c.toString('latin1');
    const end = buffer.indexOf('\r\n\r\n');
    const length = /\r\nContent-Length: (\d+)\r\n/i.exec(buffer.slice(0, end + 2))?.[1];
    if (end !== -1 && length !== undefined && buffer.length >= end + 4 + Number(length) && waiting !== null) {
      const done = waiting;
      waiting = null;
      const body = buffer.slice(end + 4, end + 4 + Number(length));
      buffer = '';
      done(body);
    }
  });
  return {
    get(): Promise<string> {
      return new Promise((resolve) => {
        waiting = resolve;
        socket.write('GET /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n');
      });
    },
    close: () => socket.destroy(),
  };
}

/** GET /index.html on an HTTP/2 session; resolves with the body. */
function h2Get(session: http2.ClientHttp2Session): Promise<string> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': '/index.html' });
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString()));
    stream.on('error', reject);
  });
}

describe('configuration reload with TLS and HTTP/2 listeners', () => {
  let ca: TestCa;
  let dir: string;
  let server: RunningServer;
  let port: number;
  let certFile: string;
  let keyFile: string;
  let next: Record<string, unknown>;
  const logged: string[] = [];

  const configWith = (root: string, extra: Record<string, unknown> = {}) => ({
    plugins: ['static'],
    server: { listen: [{ port: 0, tls: true }] },
    tls: { cert: certFile, key: keyFile, watch_interval: '0s' },
    static: { root },
    ...extra,
  });

  before(async () => {
    setLogSink((line) => logged.push(line));
    ca = createTestCa();
    const first = ca.issue('first', ['localhost']);
    certFile = first.cert;
    keyFile = first.key;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-tls-reload-'));
    for (const name of ['a', 'b', 'c']) {
      fs.mkdirSync(path.join(dir, name));
      fs.writeFileSync(path.join(dir, name, 'index.html'), `site ${name}`);
    }
    next = configWith(path.join(dir, 'a'));
    server = await startServer({
      inProcess: true,
      config: configWith(path.join(dir, 'a')),
      reloadConfig: async () => structuredClone(next),
    });
    port = Number(new URL(server.url).port);
  });

  after(async () => {
    await server?.close();
    ca?.cleanup();
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
    setLogSink(null);
  });

  it('keeps the TLS listener; an open h1 connection and new ones get the new configuration', async () => {
    const open = keepAlive(port, ca.caPem);
    try {
      assert.equal(await open.get(), 'site a');
      next = configWith(path.join(dir, 'b'));
      await server.reload();
      assert.equal(Number(new URL(server.url).port), port, 'same port');
      assert.equal(await open.get(), 'site b', 'the open connection was handed over');
      const fresh = keepAlive(port, ca.caPem);
      try {
        assert.equal(await fresh.get(), 'site b');
      } finally {
        fresh.close();
      }
    } finally {
      open.close();
    }
  });

  it('ends an HTTP/2 session with GOAWAY; the next session serves the new configuration', async () => {
    const url = `https://localhost:${port}`;
    const connect = () =>
      http2.connect(url, { ca: ca.caPem, host: '127.0.0.1' } as http2.SecureClientSessionOptions);
    const old = connect();
    old.on('error', () => {});
    try {
      assert.equal(await h2Get(old), 'site b');
      const goaway = new Promise<void>((resolve) => old.once('goaway', () => resolve()));
      next = configWith(path.join(dir, 'c'));
      await server.reload();
      await goaway;
      const fresh = connect();
      try {
        assert.equal(await h2Get(fresh), 'site c');
      } finally {
        fresh.close();
      }
    } finally {
      old.close();
    }
  });

  it('loads the certificate files again on reload', async () => {
    const served = await presented(port, ca.caPem);
    const second = ca.issue('second', ['localhost']);
    fs.copyFileSync(second.key, keyFile);
    fs.copyFileSync(second.cert, certFile);
    assert.equal(await presented(port, ca.caPem), served, 'no watcher: nothing changes by itself');
    await server.reload();
    assert.notEqual(await presented(port, ca.caPem), served);
  });

  it('refuses a changed listener list, [tls] table or [http2] table, naming the key', async () => {
    const root = path.join(dir, 'c');
    next = { ...configWith(root), server: { listen: [{ port: 0, tls: true }, { port: 0 }] } };
    await assert.rejects(server.reload(), /server\.listen: cannot change on reload/m);
    next = configWith(root, {
      tls: { cert: certFile, key: keyFile, watch_interval: '0s', hsts: 'max-age=60' },
    });
    await assert.rejects(server.reload(), /\btls: cannot change on reload/m);
    next = configWith(root, { http2: { max_concurrent_streams: 10 } });
    await assert.rejects(server.reload(), /\bhttp2: cannot change on reload/m);
    // Still serving the last applied configuration.
    const open = keepAlive(port, ca.caPem);
    try {
      assert.equal(await open.get(), 'site c');
    } finally {
      open.close();
    }
  });
});
