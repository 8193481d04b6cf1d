/**
 * HTTP/2 over TLS (ALPN h2) and h2c with prior knowledge, through the same plugin stages as HTTP/1.1:
 * static files, cache hits served from the stored entry, conditional requests, HSTS; and the limits
 * against the known HTTP/2 attacks, each bounded in time: rapid reset, too many streams, oversized
 * header lists and CONTINUATION floods (node:http2 or raw frames as the attacking client).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { scratchLent } from '../src/http/scratch-bodies.ts';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';
import { createTestCa, type TestCa } from './helpers/certs.ts';

interface H2Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
}

function request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: Buffer,
): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let head: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      head = h;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () =>
      resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks) }),
    );
    stream.on('error', reject);
    if (body !== undefined) stream.end(body);
  });
}

// ---- raw frames, for clients node:http2 refuses to be ----

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const HEADERS = 1;
const RST_STREAM = 3;
const SETTINGS = 4;
const GOAWAY = 7;
const CONTINUATION = 9;

function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK integer with a 7-bit prefix (RFC 7541 §5.1), first byte ORed with `mask`. */
function hpackInt(value: number, mask = 0): Buffer {
  if (value < 127) return Buffer.from([mask | value]);
  const out = [mask | 127];
  value -= 127;
  while (value >= 128) {
    out.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return Buffer.from(out);
}

/** A literal field without indexing, new name (RFC 7541 §6.2.2). */
function literal(name: string, value: string): Buffer {
  return Buffer.concat([
    Buffer.from([0]),
    hpackInt(name.length),
    Buffer.from(name),
    hpackInt(value.length),
    Buffer.from(value),
  ]);
}

/** GET / with :scheme http and :authority localhost. */
const GET_ROOT = Buffer.concat([
  Buffer.from([0x82, 0x86, 0x84]),
  Buffer.from([0x01]),
  hpackInt(9),
  Buffer.from('localhost'),
]);

/** Connect raw, send the preface and empty SETTINGS; collect frames the server sends. */
function rawSession(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  const frames: Array<{ type: number; flags: number; stream: number; payload: Buffer }> = [];
  let buffer = Buffer.alloc(0);
  let closed = false;
  socket.on('data', (c: Buffer) => {
    buffer = Buffer.concat([buffer, c]);
    while (buffer.length >= 9) {
      const length = buffer.readUIntBE(0, 3);
      if (buffer.length < 9 + length) break;
      frames.push({
        type: buffer[3]!,
        flags: buffer[4]!,
        stream: buffer.readUInt32BE(5) & 0x7fffffff,
        payload: buffer.subarray(9, 9 + length),
      });
      buffer = buffer.subarray(9 + length);
    }
  });
  const closedPromise = new Promise<void>((resolve) =>
    socket.on('close', () => {
      closed = true;
      resolve();
    }),
  );
  socket.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0)]));
  return {
    socket,
    frames,
    closed: closedPromise,
    get isClosed() {
      return closed;
    },
    write: (b: Buffer) => {
      if (!socket.destroyed) socket.write(b);
    },
  };
}

const within = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([
    promise,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)),
  ]);

/** Medium files (64-256 KiB: read at once into memory the cache or the scratch pool lends), each its own bytes. */
const MEDIUM_FILES = 6;
const mediumBody = (i: number) => Buffer.alloc(70_000 + i * 30_000, `file ${i} `);

describe('HTTP/2', () => {
  let ca: TestCa;
  let server: RunningServer;
  let root: string;
  let tlsUrl: string;
  let h2cPort: number;

  let echo: http.Server;

  before(async () => {
    setLogSink(() => {});
    // A backend that answers with what it received.
    echo = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.setHeader('content-type', 'text/plain');
        if (req.url?.startsWith('/cached')) res.setHeader('cache-control', 'max-age=60');
        res.end(
          `${req.method} ${req.url} host=${req.headers.host} te=${req.headers['transfer-encoding'] ?? '-'} body=${Buffer.concat(chunks).toString()}`,
        );
      });
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', () => resolve()));
    const echoPort = (echo.address() as net.AddressInfo).port;
    ca = createTestCa();
    const cert = ca.issue('h2', ['localhost']);
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-h2-root-'));
    fs.writeFileSync(path.join(root, 'index.html'), '<h1>hello h2</h1>\n');
    fs.writeFileSync(path.join(root, 'a.txt'), 'a'.repeat(1024));
    fs.writeFileSync(path.join(root, 'big.bin'), Buffer.alloc(200_000, 7));
    for (let i = 0; i < MEDIUM_FILES; i++) fs.writeFileSync(path.join(root, `m${i}.bin`), mediumBody(i));
    server = await startServer({
      inProcess: true,
      config: {
        plugins: ['cache', 'proxy', 'static'],
        static: { root },
        proxy: {
          routes: [
            { match: '^/echo', backends: [`http://127.0.0.1:${echoPort}`] },
            { match: '^/cached', backends: [`http://127.0.0.1:${echoPort}`], cache: true },
          ],
        },
        server: {
          listen: [
            { port: 0, tls: true },
            { port: 0, http2: true },
          ],
          body_timeout: '400ms',
        },
        tls: { cert: cert.cert, key: cert.key, hsts: 'max-age=600' },
        http2: { max_concurrent_streams: 8, max_resets: 50, max_header_list_size: '4KiB' },
      },
    });
    tlsUrl = server.urls[0]!.replace('127.0.0.1', 'localhost');
    h2cPort = Number(new URL(server.urls[1]!).port);
  });

  after(async () => {
    await server?.close();
    echo?.closeAllConnections();
    echo?.close();
    ca?.cleanup();
    fs.rmSync(root, { recursive: true, force: true });
    setLogSink(null);
  });

  const connectTls = () =>
    http2.connect(tlsUrl, { ca: ca.caPem, host: '127.0.0.1' } as http2.SecureClientSessionOptions);

  it('serves static files over h2 (ALPN) with HSTS, and cache hits from the stored entry', async () => {
    const session = connectTls();
    try {
      const first = await request(session, { ':path': '/a.txt' });
      assert.equal(first.status, 200);
      assert.equal(first.body.toString(), 'a'.repeat(1024));
      assert.equal(first.headers['strict-transport-security'], 'max-age=600');
      assert.equal(first.headers['content-length'], '1024');
      const [before] = await server.control('cache', 'stats');
      const hitsBefore = (before!.result as { hits: number }).hits;
      const answers = await Promise.all([1, 2, 3].map(() => request(session, { ':path': '/a.txt' })));
      for (const a of answers) {
        assert.equal(a.status, 200);
        assert.equal(a.body.length, 1024);
        assert.equal(a.headers['strict-transport-security'], 'max-age=600');
        assert.equal(a.headers.connection, undefined);
        assert.ok(a.headers.date);
      }
      const [later] = await server.control('cache', 'stats');
      assert.equal((later!.result as { hits: number }).hits, hitsBefore + 3, 'served as cache hits');
      const head = await request(session, { ':path': '/a.txt', ':method': 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0);
      const big = await request(session, { ':path': '/big.bin' });
      assert.equal(big.body.length, 200_000);
      const bigAgain = await request(session, { ':path': '/big.bin' });
      assert.deepEqual(bigAgain.body, Buffer.alloc(200_000, 7));
    } finally {
      session.close();
    }
  });

  it('medium files read into lent memory arrive intact, from disk and then from the cache', async () => {
    const session = connectTls();
    try {
      for (let pass = 0; pass < 2; pass++) {
        const answers = await Promise.all(
          Array.from({ length: MEDIUM_FILES }, (_, i) => request(session, { ':path': `/m${i}.bin` })),
        );
        answers.forEach((answer, i) => {
          assert.equal(answer.status, 200);
          assert.ok(answer.body.equals(mediumBody(i)), `pass ${pass}, file ${i}`);
        });
      }
      const ranged = await request(session, { ':path': '/m1.bin', range: 'bytes=10-19' });
      assert.equal(ranged.status, 206);
      assert.ok(ranged.body.equals(mediumBody(1).subarray(10, 20)));
    } finally {
      session.close();
    }
  });

  it('runs conditional requests and errors through the same stages', async () => {
    const session = connectTls();
    try {
      const first = await request(session, { ':path': '/index.html' });
      const etag = String(first.headers.etag);
      const notModified = await request(session, { ':path': '/index.html', 'if-none-match': etag });
      assert.equal(notModified.status, 304);
      assert.equal(notModified.body.length, 0);
      const missing = await request(session, { ':path': '/nope' });
      assert.equal(missing.status, 404);
      const post = await request(session, { ':path': '/a.txt', ':method': 'POST' }, Buffer.from('x=1'));
      assert.equal(post.status, 405);
    } finally {
      session.close();
    }
  });

  it('proxies h2 requests to an HTTP/1.1 backend, bodies with and without content-length', async () => {
    const session = connectTls();
    try {
      const get = await request(session, { ':path': '/echo/a?b=1' });
      assert.equal(get.status, 200);
      // host_header "pass" sends the normalised host (no port), as for HTTP/1.1 clients.
      assert.equal(get.body.toString(), 'GET /echo/a?b=1 host=localhost te=- body=');
      const sized = await request(
        session,
        { ':path': '/echo/p', ':method': 'POST', 'content-length': '5' },
        Buffer.from('hello'),
      );
      assert.match(sized.body.toString(), /^POST \/echo\/p .* body=hello$/);
      const streamed = await request(
        session,
        { ':path': '/echo/s', ':method': 'POST' },
        Buffer.from('streamed body'),
      );
      assert.match(streamed.body.toString(), /^POST \/echo\/s .* te=chunked body=streamed body$/);
    } finally {
      session.close();
    }
  });

  it('serves proxied cache hits over h2 with the origin Date and a current Age', async () => {
    const session = connectTls();
    try {
      const first = await request(session, { ':path': '/cached/x' });
      assert.equal(first.status, 200);
      await new Promise((r) => setTimeout(r, 1100));
      const hit = await request(session, { ':path': '/cached/x' });
      assert.equal(hit.status, 200);
      assert.equal(hit.body.toString(), first.body.toString());
      assert.equal(hit.headers.date, first.headers.date, "the origin's Date is kept");
      assert.ok(Number(hit.headers.age) >= 1, `Age ${hit.headers.age}`);
      const later = await request(session, { ':path': '/cached/x' });
      assert.ok(Number(later.headers.age) >= Number(hit.headers.age));
    } finally {
      session.close();
    }
  });

  it('speaks h2c with prior knowledge on a plain listener that still serves HTTP/1.1', async () => {
    const session = http2.connect(`http://127.0.0.1:${h2cPort}`);
    try {
      const res = await request(session, { ':path': '/index.html' });
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), '<h1>hello h2</h1>\n');
      assert.equal(res.headers['strict-transport-security'], undefined, 'no HSTS on plain HTTP');
    } finally {
      session.close();
    }
    const h1 = await new Promise<string>((resolve) => {
      const socket = net.connect(h2cPort, '127.0.0.1', () =>
        socket.end('GET /index.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'),
      );
      let text = '';
      socket.on('data', (c: Buffer) => {
        text += c.toString('latin1');
      });
      socket.on('close', () => resolve(text));
    });
    assert.match(h1, /^HTTP\/1\.1 200 OK\r\n/);
  });

  it('ends a connection that resets streams rapidly (GOAWAY ENHANCE_YOUR_CALM)', async () => {
    // The CVE-2023-44487 pattern: HEADERS then RST_STREAM at once, stream after stream, never waiting for
    // an answer (node:http2's own client queues streams over the server's concurrency limit, so it cannot
    // be this client: raw frames it is).
    const raw = rawSession(h2cPort);
    try {
      const cancel = Buffer.alloc(4);
      cancel.writeUInt32BE(http2.constants.NGHTTP2_CANCEL);
      let sent = 0;
      while (!raw.isClosed && sent < 5000 && !raw.frames.some((f) => f.type === GOAWAY)) {
        const id = 1 + 2 * sent;
        raw.write(
          Buffer.concat([
            frame(HEADERS, 0x5 /* END_HEADERS | END_STREAM */, id, GET_ROOT),
            frame(RST_STREAM, 0, id, cancel),
          ]),
        );
        sent++;
        if (sent % 10 === 0) await new Promise((r) => setTimeout(r, 1));
      }
      await within(
        (async () => {
          while (!raw.frames.some((f) => f.type === GOAWAY)) await new Promise((r) => setTimeout(r, 10));
        })(),
        5000,
        'GOAWAY',
      );
      const goaway = raw.frames.find((f) => f.type === GOAWAY)!;
      assert.equal(goaway.payload.readUInt32BE(4), http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      assert.ok(sent < 5000, `the server took ${sent} resets`);
      await within(raw.closed, 5000, 'connection closed');
      const [row] = await server.control('tls', 'stats');
      assert.ok((row!.result as { h2Goaways: number }).h2Goaways >= 1);
    } finally {
      raw.socket.destroy();
    }
  });

  it('refuses streams beyond max_concurrent_streams', async () => {
    const raw = rawSession(h2cPort);
    try {
      // 20 requests that never end their side: only 8 may be open at once.
      for (let i = 0; i < 20; i++) raw.write(frame(HEADERS, 0x4 /* END_HEADERS */, 1 + 2 * i, GET_ROOT));
      await within(
        (async () => {
          while (!raw.frames.some((f) => f.type === RST_STREAM) && !raw.isClosed)
            await new Promise((r) => setTimeout(r, 20));
        })(),
        5000,
        'RST_STREAM',
      );
      const refused = raw.frames.filter(
        (f) => f.type === RST_STREAM && f.payload.readUInt32BE(0) === http2.constants.NGHTTP2_REFUSED_STREAM,
      );
      assert.ok(refused.length >= 1, 'streams over the limit are refused');
      assert.ok(
        refused.every((f) => f.stream > 1 + 2 * 7),
        'the first 8 streams were accepted',
      );
    } finally {
      raw.socket.destroy();
    }
  });

  it('does not accept a header list over max_header_list_size', async () => {
    const session = http2.connect(`http://127.0.0.1:${h2cPort}`);
    session.on('error', () => {});
    try {
      const outcome = await within(
        request(session, { ':path': '/index.html', 'x-big': 'b'.repeat(8000) }).then(
          (a) => `status ${a.status}`,
          (e: NodeJS.ErrnoException) => `error ${e.code}`,
        ),
        5000,
        'an answer to the oversized header list',
      );
      assert.notEqual(outcome, 'status 200');
      assert.match(outcome, /^(status 431|error ERR_HTTP2_STREAM_ERROR|error ERR_HTTP2_SESSION_ERROR)/);
    } finally {
      session.destroy();
    }
  });

  it('answers 408 to a request whose body stops arriving (server.body_timeout)', async () => {
    const session = http2.connect(`http://127.0.0.1:${h2cPort}`);
    session.on('error', () => {});
    try {
      const started = Date.now();
      // Proxied, so the handler waits for the body; the client never sends it nor ends its side.
      const stream = session.request({ ':path': '/echo/stall', ':method': 'POST' }, { endStream: false });
      stream.on('error', () => {});
      const status = await within(
        new Promise<number>((resolve) => stream.on('response', (h) => resolve(Number(h[':status'])))),
        5000,
        'an answer to the stalled body',
      );
      assert.equal(status, 408);
      assert.ok(Date.now() - started >= 350, 'not before body_timeout');
    } finally {
      session.destroy();
    }
  });

  it('ends a CONTINUATION flood before it grows without bound', async () => {
    const raw = rawSession(h2cPort);
    try {
      raw.write(frame(HEADERS, 0 /* no END_HEADERS */, 1, GET_ROOT));
      let sent = 0;
      // Up to 10 MB of CONTINUATION frames, 1 KB each; the server must end the connection long before.
      while (!raw.isClosed && sent < 10_000) {
        raw.write(frame(CONTINUATION, 0, 1, literal(`x-flood-${sent}`, 'f'.repeat(1000))));
        sent++;
        if (sent % 50 === 0) await new Promise((r) => setImmediate(r));
      }
      await within(raw.closed, 5000, 'connection closed');
      assert.ok(sent < 10_000, `server read ${sent} frames`);
      assert.ok(raw.frames.some((f) => f.type === GOAWAY) || raw.isClosed);
    } finally {
      raw.socket.destroy();
    }
  });

  it('counts h2 connections and streams', async () => {
    const [row] = await server.control('tls', 'stats');
    const stats = row!.result as { connections: { h2: number }; h2Streams: number };
    assert.ok(stats.connections.h2 >= 3);
    assert.ok(stats.h2Streams >= 8);
  });
});

describe('HTTP/2 without a cache: medium files from scratch memory', () => {
  let server: RunningServer;
  let root: string;

  before(async () => {
    setLogSink(() => {});
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-h2-scratch-'));
    for (let i = 0; i < MEDIUM_FILES; i++) fs.writeFileSync(path.join(root, `m${i}.bin`), mediumBody(i));
    server = await startServer({
      inProcess: true,
      config: { plugins: ['static'], static: { root }, server: { listen: [{ port: 0, http2: true }] } },
    });
  });

  after(async () => {
    await server?.close();
    fs.rmSync(root, { recursive: true, force: true });
    setLogSink(null);
  });

  it('a buffer goes back to the pool only once its stream closed: concurrent streams get their own bytes', async () => {
    // A small window makes the server hold each body while the client reads the others.
    const session = http2.connect(server.url, { settings: { initialWindowSize: 16 * 1024 } });
    try {
      for (let round = 0; round < 3; round++) {
        const answers = await Promise.all(
          Array.from({ length: MEDIUM_FILES * 2 }, (_, n) =>
            request(session, { ':path': `/m${(n + round) % MEDIUM_FILES}.bin` }),
          ),
        );
        answers.forEach((answer, n) => {
          const i = (n + round) % MEDIUM_FILES;
          assert.equal(answer.status, 200);
          assert.ok(answer.body.equals(mediumBody(i)), `round ${round}, request ${n} (file ${i})`);
        });
      }
      // Every buffer comes back once its stream closed (a leak would send later bodies down the slow path).
      for (let i = 0; i < 200 && scratchLent() > 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(scratchLent(), 0, 'no scratch memory left lent');
    } finally {
      session.close();
    }
  });
});

describe('HTTP/2 idle connections', () => {
  let server: RunningServer;
  let port: number;

  before(async () => {
    setLogSink(() => {});
    server = await startServer({
      inProcess: true,
      config: {
        plugins: [],
        server: { listen: [{ port: 0, http2: true }] },
        http2: { idle_timeout: '100ms' },
      },
    });
    port = Number(new URL(server.urls[0]!).port);
  });

  after(async () => {
    await server?.close();
    setLogSink(null);
  });

  it('closes a connection without open streams after http2.idle_timeout (GOAWAY, then close)', async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    try {
      const goaway = new Promise<number>((resolve) => session.on('goaway', (code) => resolve(code)));
      const closed = new Promise<void>((resolve) => session.on('close', () => resolve()));
      const answer = await request(session, { ':path': '/' });
      assert.equal(answer.status, 404);
      assert.equal(
        await within(goaway, 5000, 'GOAWAY of an idle connection'),
        http2.constants.NGHTTP2_NO_ERROR,
      );
      await within(closed, 5000, 'idle connection closed');
    } finally {
      session.destroy();
    }
  });
});
