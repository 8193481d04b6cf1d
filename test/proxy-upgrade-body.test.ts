/**
 * An upgrade request that announces a body is not an upgrade (RFC 9110 §7.8 lets a server ignore Upgrade;
 * nginx does so here): `curl --http2 -d data` sends `POST` with `Upgrade: h2c` and a 4-byte body. Over real
 * sockets: through the proxy the backend gets a plain POST with the body and without Upgrade, the client
 * gets the backend's answer and its connection keeps serving requests; on a cached route such a POST still
 * invalidates the stored URL (RFC 9111 §4.4); a static path answers it as any POST; the engine's
 * `takeOver` refuses it; a body-less upgrade (or `Content-Length: 0`) is still tunnelled.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createEngine, DEFAULT_LIMITS, DEFAULT_TIMEOUTS } from '../src/http/engine.ts';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { captureLogs, startProxy } from './helpers/fake-backend.ts';

const H2C =
  'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n';

/** As `curl --http2 -d data URL` sends it (with the body framed by `framing`). */
function h2cPost(path: string, framing: 'length' | 'chunked' = 'length'): string {
  const head = `POST ${path} HTTP/1.1\r\nHost: example.test\r\nUser-Agent: curl/8.5.0\r\n${H2C}`;
  return framing === 'length'
    ? `${head}Content-Length: 4\r\n\r\ndata`
    : `${head}Transfer-Encoding: chunked\r\n\r\n2\r\nda\r\n2\r\nta\r\n0\r\n\r\n`;
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A raw keep-alive client that reads responses framed by Content-Length or chunked, one at a time. */
class Client {
  readonly socket: net.Socket;
  private buffered = '';
  closed = false;
  private wake: (() => void) | null = null;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffered += chunk;
      this.wake?.();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  static async open(port: number): Promise<Client> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new Client(socket);
  }

  /** Send `text` and read one response (3 s at most: a hang fails here, not at the suite's bound). */
  async request(text: string): Promise<Answer> {
    this.socket.write(text, 'latin1');
    const deadline = Date.now() + 3000;
    for (;;) {
      const answer = this.take();
      if (answer !== null) return answer;
      if (this.closed) assert.fail(`connection closed; got ${JSON.stringify(this.buffered)}`);
      const left = deadline - Date.now();
      if (left <= 0) assert.fail(`no complete response in 3 s; got ${JSON.stringify(this.buffered)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** One complete response off the front of the buffer, or null. */
  private take(): Answer | null {
    const end = this.buffered.indexOf('\r\n\r\n');
    if (end === -1) return null;
    const lines = this.buffered.slice(0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    let rest = this.buffered.slice(end + 4);
    let body = '';
    if (headers['transfer-encoding'] === 'chunked') {
      for (;;) {
        const nl = rest.indexOf('\r\n');
        if (nl === -1) return null;
        const size = Number.parseInt(rest.slice(0, nl), 16);
        if (rest.length < nl + 2 + size + 2) return null;
        body += rest.slice(nl + 2, nl + 2 + size);
        rest = rest.slice(nl + 2 + size + 2);
        if (size === 0) break;
      }
    } else {
      const length = Number(headers['content-length'] ?? 0);
      if (rest.length < length) return null;
      body = rest.slice(0, length);
      rest = rest.slice(length);
    }
    this.buffered = rest;
    return { status: Number(lines[0]!.split(' ')[1]), headers, body };
  }
}

/** What the Node backend saw of one request. */
interface Seen {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A `node:http` backend echoing each request's body (`echo:` + body) and recording what it saw. */
async function echoBackend(extra?: (seen: Seen) => Record<string, string>): Promise<{
  url: string;
  seen: Seen[];
  upgrades: number;
  close(): Promise<void>;
}> {
  const seen: Seen[] = [];
  const state = { upgrades: 0 };
  const server: HttpServer = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const entry = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('latin1'),
      };
      seen.push(entry);
      res.writeHead(200, { 'Content-Type': 'text/plain', ...extra?.(entry) });
      res.end(`echo:${entry.body}`);
    });
  });
  // Node hands a request with Upgrade to this event, not to the request handler: count them.
  server.on('upgrade', (_req, socket: net.Socket) => {
    state.upgrades++;
    socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    seen,
    get upgrades() {
      return state.upgrades;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('proxy: an Upgrade request with a body is forwarded as a plain request', { timeout: 30_000 }, () => {
  let backend: Awaited<ReturnType<typeof echoBackend>>;
  let server: RunningServer;
  let logs: ReturnType<typeof captureLogs>;

  before(async () => {
    logs = captureLogs();
    backend = await echoBackend();
    // websocket = true (the default): the route tunnels real upgrades.
    server = await startProxy({
      routes: [{ match: '^/', backends: [backend.url], response_timeout: '10s' }],
    });
  });

  after(async () => {
    await server.close();
    await backend.close();
    logs.restore();
  });

  for (const framing of ['length', 'chunked'] as const) {
    test(`curl --http2 -d (${framing === 'length' ? 'Content-Length' : 'chunked'}): the backend's 200 with the body, then the connection keeps working`, async () => {
      const client = await Client.open(server.port);
      try {
        const started = Date.now();
        const first = await client.request(h2cPost('/submit', framing));
        assert.equal(first.status, 200);
        assert.equal(first.body, 'echo:data');
        assert.ok(Date.now() - started < 2000, 'answered at once, not after a response timeout');
        assert.notEqual(first.headers.connection?.toLowerCase(), 'close', 'the connection stays HTTP/1.1');
        assert.equal(first.headers.upgrade, undefined);
        const seen = backend.seen.at(-1)!;
        assert.equal(seen.method, 'POST');
        assert.equal(seen.body, 'data');
        assert.equal(seen.headers.upgrade, undefined, 'Upgrade is hop-by-hop (RFC 9110 §7.6.1)');
        assert.equal(seen.headers['http2-settings'], undefined, 'fields named in Connection are dropped');
        assert.equal(backend.upgrades, 0);

        const second = await client.request('GET /again HTTP/1.1\r\nHost: example.test\r\n\r\n');
        assert.equal(second.status, 200);
        assert.equal(second.body, 'echo:');
        assert.equal(backend.seen.at(-1)!.url, '/again');
        assert.equal(client.closed, false);
      } finally {
        client.socket.destroy();
      }
    });
  }

  test('pipelined behind the body: the next request is parsed as HTTP/1.1 and answered', async () => {
    const client = await Client.open(server.port);
    try {
      client.socket.write(h2cPost('/one') + 'GET /two HTTP/1.1\r\nHost: example.test\r\n\r\n', 'latin1');
      const one = await client.request('');
      const two = await client.request('');
      assert.deepEqual([one.status, one.body, two.status, two.body], [200, 'echo:data', 200, 'echo:']);
      assert.equal(backend.seen.at(-1)!.url, '/two');
    } finally {
      client.socket.destroy();
    }
  });
});

describe('an Upgrade request with a body elsewhere', { timeout: 30_000 }, () => {
  let logs: ReturnType<typeof captureLogs>;
  before(() => {
    logs = captureLogs();
  });
  after(() => logs.restore());

  test('static path (not proxied): answered as the same POST without Upgrade is; the connection stays open', async () => {
    const root = mkdtempSync(join(tmpdir(), 'tamarin-h2c-'));
    writeFileSync(join(root, 'page.txt'), 'static page\n');
    const server = await startServer({
      inProcess: true,
      config: { plugins: ['static'], server: { host: '127.0.0.1', port: 0 }, static: { root } },
    });
    try {
      const plainClient = await Client.open(server.port);
      const plain = await plainClient.request(
        'POST /page.txt HTTP/1.1\r\nHost: example.test\r\nContent-Length: 4\r\n\r\ndata',
      );
      plainClient.socket.destroy();

      const client = await Client.open(server.port);
      const started = Date.now();
      const answer = await client.request(h2cPost('/page.txt'));
      assert.ok(Date.now() - started < 2000);
      assert.equal(answer.status, plain.status);
      assert.equal(answer.body, plain.body);
      assert.notEqual(answer.headers.connection?.toLowerCase(), 'close');
      const next = await client.request('GET /page.txt HTTP/1.1\r\nHost: example.test\r\n\r\n');
      assert.equal(next.status, 200);
      assert.equal(next.body, 'static page\n');
      client.socket.destroy();
    } finally {
      await server.close();
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('cached route: the POST reaches the backend and invalidates the stored URL (RFC 9111 §4.4)', async () => {
    const backend = await echoBackend(
      (seen): Record<string, string> =>
        seen.method === 'GET' ? { 'Cache-Control': 'public, max-age=60' } : {},
    );
    const server = await startServer({
      inProcess: true,
      config: {
        plugins: ['cache', 'proxy'],
        server: { host: '127.0.0.1', port: 0 },
        proxy: { routes: [{ match: '^/', backends: [backend.url], cache: true }] },
      },
    });
    try {
      const client = await Client.open(server.port);
      const get = 'GET /doc HTTP/1.1\r\nHost: example.test\r\n\r\n';
      await client.request(get);
      assert.match((await client.request(get)).headers['cache-status'] ?? '', /; hit/);
      const post = await client.request(h2cPost('/doc'));
      assert.equal(post.status, 200);
      assert.equal(post.body, 'echo:data');
      assert.equal(backend.seen.at(-1)!.method, 'POST');
      const after = await client.request(get);
      assert.doesNotMatch(after.headers['cache-status'] ?? '', /; hit/, 'the POST invalidated /doc');
      assert.equal(backend.seen.length, 3);
      client.socket.destroy();
    } finally {
      await server.close();
      await backend.close();
    }
  });

  test('engine: takeOver refuses it, the body is readable and the connection stays open', async () => {
    const results: Array<{ taken: boolean; body: string }> = [];
    const engine = createEngine(
      {
        limits: DEFAULT_LIMITS,
        timeouts: DEFAULT_TIMEOUTS,
        maxConnections: 10,
        maxRequestsPerConnection: 100,
        sharedReads: true,
      },
      {
        onRequest(req, res) {
          const taken = res.takeOver?.() !== undefined;
          const chunks: Buffer[] = [];
          if (req.body === null) {
            results.push({ taken, body: '' });
            if (!taken) res.end('no body\n');
            return;
          }
          req.body.on('data', (chunk: Buffer) => chunks.push(chunk));
          req.body.on('end', () => {
            results.push({ taken, body: Buffer.concat(chunks).toString() });
            res.end('got body\n');
          });
        },
      },
    );
    const sockets: net.Socket[] = [];
    const listener = net.createServer((socket) => {
      sockets.push(socket);
      engine.handleSocket(socket);
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    try {
      const client = await Client.open((listener.address() as net.AddressInfo).port);
      for (const framing of ['length', 'chunked'] as const) {
        const answer = await client.request(h2cPost('/', framing));
        assert.equal(answer.body, 'got body\n');
      }
      assert.deepEqual(results, [
        { taken: false, body: 'data' },
        { taken: false, body: 'data' },
      ]);
      assert.equal(client.closed, false);
      client.socket.destroy();
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    }
  });
});

describe('proxy: a body-less upgrade is still tunnelled', { timeout: 30_000 }, () => {
  test('Content-Length: 0 counts as no body: the backend gets Upgrade and its 101 switches the connection', async () => {
    const logs = captureLogs();
    const heads: string[] = [];
    const backend = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', (chunk: Buffer) => {
        heads.push(chunk.toString('latin1'));
        socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n');
        socket.pipe(socket);
      });
    });
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    const server = await startProxy({
      routes: [
        { match: '^/', backends: [`http://127.0.0.1:${(backend.address() as net.AddressInfo).port}`] },
      ],
    });
    try {
      const client = await Client.open(server.port);
      const head = await client.request(
        `GET / HTTP/1.1\r\nHost: example.test\r\n${H2C}Content-Length: 0\r\n\r\n`,
      );
      assert.equal(head.status, 101);
      assert.match(heads[0] ?? '', /\r\nUpgrade: h2c\r\n/);
      assert.doesNotMatch(heads[0] ?? '', /content-length/i, 'the tunnel announces no body it never sends');
      client.socket.destroy();
    } finally {
      await server.close();
      await new Promise<void>((resolve) => backend.close(() => resolve()));
      logs.restore();
    }
  });
});
