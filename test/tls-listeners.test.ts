/**
 * TLS listeners over real sockets: certificates by SNI with a default, TLS 1.2+ only, ALPN, session
 * resumption, HSTS on every response (cache hits included), the redirect listener, and bad input: plain
 * HTTP on the TLS port, a handshake that never finishes, broken certificate files at start-up.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';
import { CertificateStore, contextSettings } from '../src/tls/certificates.ts';
import { tlsSchema } from '../src/tls/options.ts';
import { call } from './admin-client.ts';
import { createTestCa, type TestCa } from './helpers/certs.ts';

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
  socket: tls.TLSSocket;
}

/** One HTTP/1.1 request over a new TLS connection (closed after the answer). */
function httpsGet(
  port: number,
  options: tls.ConnectionOptions,
  target = '/',
  host = 'localhost',
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ...options }, () => {
      socket.write(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const [head = '', body = ''] = text.split('\r\n\r\n');
      const lines = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({ status: Number(lines[0]!.split(' ')[1]), headers, body, socket });
    });
  });
}

/** Raw bytes over plain TCP; resolves with everything received until the server closes. */
function rawExchange(port: number, bytes: string, timeoutMs = 5000): Promise<{ text: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(port, '127.0.0.1', () => {
      if (bytes !== '') socket.write(bytes);
    });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {});
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('the server did not close the connection'));
    }, timeoutMs);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), ms: Date.now() - started });
    });
  });
}

const TOKEN = 'test-token-0123456789abcdef';

describe('TLS listeners', () => {
  let ca: TestCa;
  let server: RunningServer;
  let root: string;
  let tlsPort: number;
  let redirectPort: number;

  before(async () => {
    setLogSink(() => {});
    ca = createTestCa();
    const main = ca.issue('main', ['localhost', 'www.localhost']);
    const other = ca.issue('other', ['other.test', '*.wild.test']);
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-tls-root-'));
    fs.writeFileSync(path.join(root, 'index.html'), '<h1>hello over tls</h1>\n');
    fs.writeFileSync(path.join(root, 'a.txt'), 'x'.repeat(1024));
    server = await startServer({
      inProcess: true,
      config: {
        plugins: ['cache', 'static'],
        static: { root },
        server: {
          listen: [
            { port: 0, tls: true },
            { port: 0, redirect_https: true },
          ],
        },
        tls: {
          cert: main.cert,
          key: main.key,
          certificates: [{ cert: other.cert, key: other.key }],
          hsts: 'max-age=63072000',
          handshake_timeout: '300ms',
        },
        admin: { port: 0, token: TOKEN },
      },
    });
    tlsPort = Number(new URL(server.urls[0]!).port);
    redirectPort = Number(new URL(server.urls[1]!).port);
  });

  after(async () => {
    await server?.close();
    ca?.cleanup();
    fs.rmSync(root, { recursive: true, force: true });
    setLogSink(null);
  });

  it('reports an https URL for the TLS listener', () => {
    assert.match(server.urls[0]!, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(server.urls[1]!, /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('serves HTTP/1.1 over TLS 1.3 with the certificate for the SNI name, and HSTS', async () => {
    const res = await httpsGet(tlsPort, { ca: ca.caPem, servername: 'localhost' });
    assert.equal(res.status, 200);
    assert.equal(res.body, '<h1>hello over tls</h1>\n');
    assert.equal(res.headers['strict-transport-security'], 'max-age=63072000');
    assert.equal(res.socket.getProtocol(), 'TLSv1.3');
    assert.equal(res.socket.alpnProtocol, false);
  });

  it('picks another certificate by SNI, wildcards included', async () => {
    const a = await httpsGet(tlsPort, { ca: ca.caPem, servername: 'other.test' });
    assert.equal(a.status, 200);
    const b = await httpsGet(tlsPort, { ca: ca.caPem, servername: 'x.wild.test' });
    assert.equal(b.status, 200);
  });

  it('answers an unknown SNI name with the default certificate', async () => {
    let subject = '';
    const res = await httpsGet(tlsPort, {
      ca: ca.caPem,
      servername: 'unknown.example',
      checkServerIdentity: (_host, cert) => {
        subject = String(cert.subject.CN ?? '');
        return undefined;
      },
    });
    assert.equal(res.status, 200);
    assert.equal(subject, 'localhost');
  });

  it('negotiates TLS 1.2 and refuses TLS 1.1', async () => {
    const res = await httpsGet(tlsPort, { ca: ca.caPem, servername: 'localhost', maxVersion: 'TLSv1.2' });
    assert.equal(res.socket.getProtocol(), 'TLSv1.2');
    await assert.rejects(
      httpsGet(tlsPort, {
        ca: ca.caPem,
        servername: 'localhost',
        maxVersion: 'TLSv1.1',
        minVersion: 'TLSv1',
      }),
    );
  });

  it('offers http/1.1 by ALPN and resumes sessions from a ticket', async () => {
    const session = await new Promise<Buffer>((resolve, reject) => {
      const socket = tls.connect(
        {
          host: '127.0.0.1',
          port: tlsPort,
          ca: ca.caPem,
          servername: 'localhost',
          ALPNProtocols: ['http/1.1'],
        },
        () => {
          assert.equal(socket.alpnProtocol, 'http/1.1');
          socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
        },
      );
      socket.once('session', (s: Buffer) => resolve(s));
      socket.on('data', () => {});
      socket.on('error', reject);
    });
    const again = await httpsGet(tlsPort, { ca: ca.caPem, servername: 'localhost', session });
    assert.equal(again.status, 200);
    assert.equal(again.socket.isSessionReused(), true);
  });

  it('keeps HSTS on cache hits (pre-built responses)', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await httpsGet(tlsPort, { ca: ca.caPem, servername: 'localhost' }, '/a.txt');
      assert.equal(res.status, 200);
      assert.equal(res.body.length, 1024);
      assert.equal(res.headers['strict-transport-security'], 'max-age=63072000');
      assert.equal(res.headers['content-length'], '1024');
    }
    const [stats] = await server.control('cache', 'stats');
    assert.ok((stats!.result as { hits: number }).hits >= 1, 'the later requests were cache hits');
  });

  it('answers plain HTTP sent to the TLS port with 400, as nginx does', async () => {
    const { text } = await rawExchange(tlsPort, 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
    assert.match(text, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.match(text, /plain HTTP request sent to HTTPS port/);
  });

  it('closes a connection whose handshake never finishes (handshake_timeout)', async () => {
    const { text, ms } = await rawExchange(tlsPort, '', 5000);
    assert.equal(text, '');
    assert.ok(ms < 3000, `closed after ${ms} ms`);
  });

  it('redirects the plain listener to https with 308, same host and target', async () => {
    const { text } = await rawExchange(
      redirectPort,
      'POST /form?x=1 HTTP/1.1\r\nHost: Example.COM:8080\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
    );
    assert.match(text, /^HTTP\/1\.1 308 Permanent Redirect\r\n/);
    assert.match(text, new RegExp(`\r\nLocation: https://example\\.com:${tlsPort}/form\\?x=1\r\n`));
  });

  it('lists the certificates with names and expiry in the admin API, and reloads them on request', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const list = await call(server.admin!.url, 'GET', '/api/tls/certificates', auth);
    assert.equal(list.status, 200);
    const certs = list.json.certificates as Array<{ names: string[]; daysLeft: number; isDefault: boolean }>;
    assert.deepEqual(
      certs.map((c) => c.names),
      [
        ['localhost', 'www.localhost'],
        ['other.test', '*.wild.test'],
      ],
    );
    assert.equal(certs[0]!.isDefault, true);
    assert.ok(certs.every((c) => c.daysLeft >= 0 && c.daysLeft <= 2));
    // Configured files, not the ACME manager's (the dashboard shows where each comes from).
    assert.deepEqual(
      (certs as Array<{ source?: string }>).map((c) => c.source),
      ['file', 'file'],
    );
    const reload = await call(server.admin!.url, 'POST', '/api/tls/reload', auth);
    assert.equal(reload.status, 200);
    assert.equal(reload.json.reloaded.length, 2);
    assert.deepEqual(reload.json.errors, []);
    const refused = await call(server.admin!.url, 'POST', '/api/tls/reload');
    assert.equal(refused.status, 401);
  });

  it('counts connections by protocol and TLS version in /api/stats and /metrics', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const stats = await call(server.admin!.url, 'GET', '/api/stats', auth);
    assert.equal(stats.status, 200);
    const protocols = stats.json.server.protocols;
    assert.ok(protocols.connections.h1 > 5, JSON.stringify(protocols));
    assert.ok(protocols.tlsVersions['TLSv1.3'] > 3);
    assert.ok(protocols.tlsVersions['TLSv1.2'] >= 1);
    assert.ok(protocols.tlsErrors.plain_http >= 1);
    assert.ok(protocols.tlsErrors.timeout >= 1);
    const metrics = await call(server.admin!.url, 'GET', '/metrics', auth);
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /\ntamarin_tls_connections_total\{worker="0",version="TLSv1\.3"\} [1-9]/);
    assert.match(metrics.text, /\ntamarin_connections_by_protocol_total\{worker="0",protocol="h1"\} [1-9]/);
    assert.match(
      metrics.text,
      /\ntamarin_tls_handshake_errors_total\{worker="0",reason="plain_http"\} [1-9]/,
    );
  });
});

describe('TLS configuration errors at start-up', () => {
  let ca: TestCa;
  before(() => {
    ca = createTestCa();
  });
  after(() => ca.cleanup());

  const start = (tlsTable: Record<string, unknown>) =>
    startServer({
      inProcess: true,
      config: { plugins: [], server: { listen: [{ port: 0, tls: true }] }, tls: tlsTable },
    });

  it('names the key file that does not match its certificate', async () => {
    const good = ca.issue('good', ['localhost']);
    const stray = ca.strayKey('stray');
    await assert.rejects(start({ cert: good.cert, key: stray }), (error: Error) => {
      assert.equal(error.name, 'ConfigError');
      assert.match(
        error.message,
        /^tls\.key: ".*stray\.key": the key does not match the certificate ".*good\.pem"/,
      );
      return true;
    });
  });

  it('names a missing certificate file', async () => {
    const good = ca.issue('good2', ['localhost']);
    await assert.rejects(start({ cert: path.join(ca.dir, 'nope.pem'), key: good.key }), (error: Error) => {
      assert.match(error.message, /tls\.cert: ".*nope\.pem": cannot read the certificate: no such file/);
      return true;
    });
  });

  it('names a file that is not a certificate', async () => {
    const good = ca.issue('good3', ['localhost']);
    await assert.rejects(
      start({ cert: good.key, key: good.key }),
      /tls\.cert: ".*good3\.key": not a PEM certificate/,
    );
  });

  it('refuses an expired certificate', () => {
    const cert = ca.issue('short', ['localhost'], 1);
    const config = tlsSchema.parse({ cert: cert.cert, key: cert.key });
    const inThreeDays = Date.now() + 3 * 86_400_000;
    assert.throws(
      () => new CertificateStore(config, '/', contextSettings(config, null), inThreeDays),
      /tls\.cert: ".*short\.pem": the certificate expired on \d{4}-/,
    );
  });

  it('asks for a [tls] table when a listener wants TLS', async () => {
    await assert.rejects(
      startServer({ inProcess: true, config: { plugins: [], server: { listen: [{ port: 0, tls: true }] } } }),
      /server\.listen: a listener with tls = true needs a \[tls\] table/,
    );
  });
});
