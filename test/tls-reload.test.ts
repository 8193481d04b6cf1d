/**
 * Certificates reloaded while serving: a changed file is picked up by the watcher (new handshakes get the
 * new certificate, an open keep-alive connection keeps working), `reloadCertificates()` reloads on demand
 * (what SIGHUP calls), and a broken replacement keeps the previous certificate in use.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';
import { reloadCertificates } from '../src/tls/reload.ts';
import { createTestCa, type TestCa } from './helpers/certs.ts';

/** Fingerprint of the certificate the server presents for `servername`. */
function presented(port: number, ca: string, servername = 'localhost'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername }, () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      resolve(fp);
    });
    socket.on('error', reject);
  });
}

/** A keep-alive TLS connection that sends requests one at a time. */
function keepAlive(port: number, ca: string) {
  const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
  socket.on('error', () => {});
  let buffer = '';
  let waiting: ((text: string) => void) | null = null;
  socket.on('data', (c: Buffer) => {
    buffer += c.toString('latin1');
    const end = buffer.indexOf('\r\n\r\n');
    const length = /\r\nContent-Length: (\d+)\r\n/i.exec(buffer.slice(0, end + 2))?.[1];
    if (end !== -1 && length !== undefined && buffer.length >= end + 4 + Number(length) && waiting !== null) {
      const done = waiting;
      waiting = null;
      const text = buffer;
      buffer = '';
      done(text);
    }
  });
  return {
    get(): Promise<string> {
      return new Promise((resolve) => {
        waiting = resolve;
        socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
      });
    },
    close: () => socket.destroy(),
  };
}

const until = async (check: () => Promise<boolean>, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe('certificate reload', () => {
  let ca: TestCa;
  let server: RunningServer;
  let port: number;
  let certFile: string;
  let keyFile: string;
  const warnings: string[] = [];

  before(async () => {
    setLogSink((line) => warnings.push(line));
    ca = createTestCa();
    const first = ca.issue('first', ['localhost']);
    certFile = first.cert;
    keyFile = first.key;
    server = await startServer({
      inProcess: true,
      config: {
        plugins: [],
        server: { listen: [{ port: 0, tls: true }] },
        tls: { cert: certFile, key: keyFile, watch_interval: '100ms' },
      },
    });
    port = Number(new URL(server.url).port);
  });

  after(async () => {
    await server?.close();
    ca?.cleanup();
    setLogSink(null);
  });

  it('serves a changed certificate to new connections without dropping open ones', async () => {
    const before = await presented(port, ca.caPem);
    const open = keepAlive(port, ca.caPem);
    assert.match(await open.get(), /^HTTP\/1\.1 404 /);
    const second = ca.issue('second', ['localhost']);
    // Written over the served files, as certbot's deploy hooks or a `cp` do.
    fs.copyFileSync(second.key, keyFile);
    fs.copyFileSync(second.cert, certFile);
    await until(async () => (await presented(port, ca.caPem)) !== before);
    assert.match(await open.get(), /^HTTP\/1\.1 404 /, 'the open connection still answers');
    open.close();
  });

  it('reloads on demand (SIGHUP) and keeps the previous certificate when the new one is broken', async () => {
    await server.close();
    const third = ca.issue('third', ['localhost']);
    server = await startServer({
      inProcess: true,
      config: {
        plugins: [],
        server: { listen: [{ port: 0, tls: true }] },
        tls: { cert: third.cert, key: third.key, watch_interval: '0s' },
      },
    });
    port = Number(new URL(server.url).port);
    const served = await presented(port, ca.caPem);
    const fourth = ca.issue('fourth', ['localhost']);
    fs.copyFileSync(fourth.cert, third.cert);
    fs.copyFileSync(fourth.key, third.key);
    assert.equal(await presented(port, ca.caPem), served, 'no watcher: nothing changes by itself');
    const result = await reloadCertificates(server);
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.reloaded, [third.cert]);
    const now = await presented(port, ca.caPem);
    assert.notEqual(now, served);
    // A key that matches nothing: refused, the fourth certificate stays.
    fs.copyFileSync(ca.strayKey('stray'), third.key);
    const failed = await reloadCertificates(server);
    assert.equal(failed.reloaded.length, 0);
    assert.match(failed.errors[0]!, /tls: ".*third\.key": the key does not match the certificate/);
    assert.equal(await presented(port, ca.caPem), now);
  });
});
