/**
 * PROXY protocol listeners over real sockets: v1 and v2 headers (whole, split byte by byte), on plain,
 * h2c and TLS listeners; the client they name is what the access log, the access rules and the backend's
 * X-Forwarded-For see. Bad input closes the connection without an answer: malformed, oversized and slow
 * headers, a peer not in `proxy_protocol_trusted`, and bounded random bytes.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { resolveConfig } from '../src/server/config.ts';
import { setLogSink } from '../src/server/logger.ts';
import { inet, v2 } from '../src/tls/test-proxy-header.ts';
import { createTestCa, type TestCa } from './helpers/certs.ts';
import { type FakeBackend, startFakeBackend } from './helpers/fake-backend.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Write `parts` one after another (a pause between, so each is its own TCP segment), then collect the
 * answer until the server closes; `end` half-closes after the last part. */
function exchange(port: number, parts: Buffer[], end = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', async () => {
      for (const [i, part] of parts.entries()) {
        if (i > 0) await sleep(5);
        if (!socket.destroyed) socket.write(part);
      }
      if (end && !socket.destroyed) socket.end();
    });
    socket.setNoDelay(true);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {});
    const guard = setTimeout(() => {
      socket.destroy();
      reject(new Error('the server did not close the connection'));
    }, 10_000);
    socket.on('close', () => {
      clearTimeout(guard);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
  });
}

const get = (target: string) =>
  Buffer.from(`GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
const v1 = (address: string, port: number) => Buffer.from(`PROXY TCP4 ${address} 10.0.0.1 ${port} 80\r\n`);
const status = (answer: string) => Number(answer.split(' ')[1]);

describe('PROXY protocol listeners', () => {
  let ca: TestCa;
  let root: string;
  let logFile: string;
  let backend: FakeBackend;
  let server: RunningServer;
  let plainPort: number;
  let tlsPort: number;
  let untrustedPort: number;
  let h2cPort: number;

  /** Log lines once one contains `marker` (the file is written through the thread pool). */
  async function logLine(marker: string): Promise<string> {
    for (let i = 0; i < 500; i++) {
      const text = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
      const line = text.split('\n').find((l) => l.includes(marker));
      if (line !== undefined) return line;
      await sleep(10);
    }
    throw new Error(`no access log line with ${marker}`);
  }

  before(async () => {
    setLogSink(() => {});
    ca = createTestCa();
    const cert = ca.issue('main', ['localhost']);
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-proxy-protocol-'));
    fs.writeFileSync(path.join(root, 'index.html'), 'home\n');
    fs.mkdirSync(path.join(root, 'blocked'));
    fs.writeFileSync(path.join(root, 'blocked', 'index.html'), 'secret\n');
    logFile = path.join(root, 'access.log');
    backend = await startFakeBackend();
    const trusted = { proxy_protocol: true, proxy_protocol_trusted: ['127.0.0.0/8'] };
    server = await startServer({
      inProcess: true,
      config: {
        plugins: ['access_log', 'access', 'proxy', 'static'],
        server: {
          // Long enough that a header sent a byte per segment on a loaded machine completes in time.
          header_timeout: '2s',
          listen: [
            { port: 0, ...trusted },
            { port: 0, tls: true, ...trusted },
            { port: 0, proxy_protocol: true, proxy_protocol_trusted: ['10.0.0.0/8'] },
            { port: 0, http2: true, ...trusted },
          ],
        },
        tls: { cert: cert.cert, key: cert.key },
        static: { root },
        proxy: { routes: [{ match: '^/api/', backends: [backend.url] }] },
        access: { rules: [{ match: '^/blocked', deny: ['192.0.2.0/24'] }] },
        access_log: {
          path: logFile,
          format: '$remote_addr $remote_port $realip_remote_addr "$request" $status',
        },
      },
    });
    [plainPort, tlsPort, untrustedPort, h2cPort] = server.urls.map((u) => Number(new URL(u).port)) as [
      number,
      number,
      number,
      number,
    ];
  });

  after(async () => {
    await server?.close();
    await backend?.stop();
    ca?.cleanup();
    fs.rmSync(root, { recursive: true, force: true });
    setLogSink(null);
  });

  it('v1: the client it names is the access log address and port; the balancer is $realip_remote_addr', async () => {
    const answer = await exchange(plainPort, [Buffer.concat([v1('192.0.2.7', 56324), get('/?v1')])]);
    assert.equal(status(answer), 200);
    assert.match(answer, /\r\n\r\nhome\n$/);
    assert.equal(await logLine('/?v1'), '192.0.2.7 56324 127.0.0.1 "GET /?v1 HTTP/1.1" 200');
  });

  it('v2 delivered one byte per segment, then the request in two', async () => {
    const header = v2(1, 0x11, inet('198.51.100.23', '10.0.0.1', 40001, 80), Buffer.from([4, 0, 1, 0]));
    const request = get('/?v2split');
    const parts = [...header].map((b) => Buffer.from([b]));
    parts.push(request.subarray(0, 7), request.subarray(7));
    const answer = await exchange(plainPort, parts);
    assert.equal(status(answer), 200);
    assert.equal(await logLine('/?v2split'), '198.51.100.23 40001 127.0.0.1 "GET /?v2split HTTP/1.1" 200');
  });

  it('v2 LOCAL (a health check) keeps the balancer as the client', async () => {
    const answer = await exchange(plainPort, [Buffer.concat([v2(0, 0x00, Buffer.alloc(0)), get('/?local')])]);
    assert.equal(status(answer), 200);
    assert.match(await logLine('/?local'), /^127\.0\.0\.1 \d+ 127\.0\.0\.1 /);
  });

  it('access rules see the proxied client', async () => {
    const denied = await exchange(plainPort, [Buffer.concat([v1('192.0.2.7', 1000), get('/blocked/')])]);
    assert.equal(status(denied), 403);
    const allowed = await exchange(plainPort, [Buffer.concat([v1('198.51.100.1', 1000), get('/blocked/')])]);
    assert.equal(status(allowed), 200);
  });

  it('the backend gets the proxied client in X-Forwarded-For', async () => {
    const answer = await exchange(plainPort, [Buffer.concat([v1('203.0.113.9', 1000), get('/api/who')])]);
    assert.equal(status(answer), 200);
    const seen = backend.seen.find((r) => r.url === '/api/who');
    assert.equal(seen?.headers['x-forwarded-for'], '203.0.113.9');
  });

  it('TLS: the header comes before the ClientHello (in its own segment or the same one)', async () => {
    for (const [name, together] of [
      ['separate', false],
      ['together', true],
    ] as const) {
      const body = await new Promise<string>((resolve, reject) => {
        const raw = net.connect(tlsPort, '127.0.0.1', () => {
          const header = v1('192.0.2.99', 4431);
          // Together: the header goes in front of the TLS client's first write (the ClientHello).
          let transport: net.Socket | Duplex = raw;
          if (!together) raw.write(header);
          else {
            let first = true;
            transport = new Duplex({
              write(chunk: Buffer, _encoding, callback) {
                raw.write(first ? Buffer.concat([header, chunk]) : chunk, callback);
                first = false;
              },
              read() {},
            });
            const duplex = transport;
            raw.on('data', (c: Buffer) => duplex.push(c));
            raw.on('end', () => duplex.push(null));
          }
          const socket = tls.connect({ socket: transport, ca: ca.caPem, servername: 'localhost' }, () =>
            socket.write(get(`/?tls-${name}`)),
          );
          const chunks: Buffer[] = [];
          socket.on('data', (c: Buffer) => chunks.push(c));
          socket.on('error', reject);
          socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
        });
        raw.on('error', reject);
      });
      assert.equal(status(body), 200, name);
      assert.equal(
        await logLine(`/?tls-${name}`),
        `192.0.2.99 4431 127.0.0.1 "GET /?tls-${name} HTTP/1.1" 200`,
      );
    }
  });

  it('HTTP/2 (h2c with prior knowledge) after a v2 header', async () => {
    const raw = net.connect(h2cPort, '127.0.0.1');
    await new Promise((resolve) => raw.once('connect', resolve));
    raw.write(v2(1, 0x11, inet('192.0.2.50', '10.0.0.1', 5050, 80)));
    const session = http2.connect(`http://127.0.0.1:${h2cPort}`, { createConnection: () => raw });
    try {
      const code = await new Promise<number>((resolve, reject) => {
        const stream = session.request({ ':path': '/?h2c' });
        stream.on('response', (headers) => resolve(Number(headers[':status'])));
        stream.on('error', reject);
        stream.resume();
      });
      assert.equal(code, 200);
      assert.equal(await logLine('/?h2c'), '192.0.2.50 5050 127.0.0.1 "GET /?h2c HTTP/1.1" 200');
    } finally {
      session.close();
    }
  });

  it('HTTP/2 over TLS (ALPN h2) after a v1 header', async () => {
    const raw = net.connect(tlsPort, '127.0.0.1');
    await new Promise((resolve) => raw.once('connect', resolve));
    raw.write(v1('192.0.2.60', 6060));
    const session = http2.connect(`https://localhost:${tlsPort}`, {
      createConnection: () =>
        tls.connect({ socket: raw, ca: ca.caPem, servername: 'localhost', ALPNProtocols: ['h2'] }),
    });
    try {
      const code = await new Promise<number>((resolve, reject) => {
        const stream = session.request({ ':path': '/?h2tls' });
        stream.on('response', (headers) => resolve(Number(headers[':status'])));
        stream.on('error', reject);
        stream.resume();
      });
      assert.equal(code, 200);
      assert.equal(await logLine('/?h2tls'), '192.0.2.60 6060 127.0.0.1 "GET /?h2tls HTTP/1.1" 200');
    } finally {
      session.close();
    }
  });

  it('closes without an answer: no header, malformed, oversized, truncated by the peer', async () => {
    const cases: Array<[string, Buffer[]]> = [
      ['plain request', [get('/')]],
      ['bad v1', [Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\n'), get('/')]],
      ['oversized v1', [Buffer.from(`PROXY UNKNOWN ${'x'.repeat(200)}\r\n`)]],
      [
        'oversized v2',
        [Buffer.concat([v2(1, 0x11, Buffer.alloc(12)).subarray(0, 14), Buffer.from([0xff, 0xff])])],
      ],
      ['bad v2 version', [Buffer.concat([v2(1, 0x11, Buffer.alloc(12))]).fill(0x31, 12, 13)]],
    ];
    for (const [name, parts] of cases) assert.equal(await exchange(plainPort, parts), '', name);
    // The peer ends before the header is complete: closed at once.
    assert.equal(await exchange(plainPort, [Buffer.from('PROXY TCP4 1.2.3.4')], true), '');
  });

  it('a header that never completes is dropped at the header timeout', async () => {
    const answers = await Promise.all([
      exchange(plainPort, [Buffer.from('PROXY TCP4 192.0.2.1 ')]),
      exchange(plainPort, [v2(1, 0x11, Buffer.alloc(12)).subarray(0, 20)]),
    ]);
    assert.deepEqual(answers, ['', '']);
  });

  it('a peer not in proxy_protocol_trusted is disconnected, even with a valid header', async () => {
    assert.equal(await exchange(untrustedPort, [Buffer.concat([v1('192.0.2.7', 1), get('/')])]), '');
    assert.equal(await exchange(untrustedPort, [get('/')]), '');
  });

  it('random bytes (bounded): every connection ends, and the listener still serves', async () => {
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const prefixes = [Buffer.from('PROXY '), v2(1, 0x11, Buffer.alloc(12)).subarray(0, 12), Buffer.alloc(0)];
    const runs: Array<Promise<string>> = [];
    for (let i = 0; i < 60; i++) {
      const noise = Buffer.alloc(rand() % 300);
      for (let j = 0; j < noise.length; j++) noise[j] = rand() & 0xff;
      runs.push(exchange(plainPort, [Buffer.concat([prefixes[i % 3]!, noise])], true));
    }
    for (const answer of await Promise.all(runs))
      assert.ok(answer === '' || /^HTTP\/1\.1 4\d\d /.test(answer));
    assert.equal(
      status(await exchange(plainPort, [Buffer.concat([v1('192.0.2.8', 1), get('/?after')])])),
      200,
    );
  });

  it('config: proxy_protocol needs proxy_protocol_trusted, with valid CIDRs', async () => {
    await assert.rejects(
      resolveConfig({ server: { listen: [{ port: 0, proxy_protocol: true }] } }),
      /server\.listen\[0\]\.proxy_protocol_trusted: a listener with proxy_protocol = true needs/,
    );
    await assert.rejects(
      resolveConfig({
        server: { listen: [{ port: 0, proxy_protocol: true, proxy_protocol_trusted: ['10.0.0.0/33'] }] },
      }),
      /server\.listen\[0\]\.proxy_protocol_trusted\[0\]: expected an IP address or CIDR/,
    );
  });
});
