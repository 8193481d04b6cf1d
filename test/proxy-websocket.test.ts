/**
 * WebSocket / Upgrade pass-through over real sockets: the engine's `Response.takeOver` (shared reads on
 * and off, taken over inside the read or later), and the proxy's tunnel: the 101 handshake with the
 * right Sec-WebSocket-Accept (RFC 6455 §4.2.2), bytes both ways (first bytes in the same write as each
 * head, 1 MiB intact), closes in either direction, refusals, failover, `websocket = false`, idle timeout,
 * shutdown, upgrades to static paths, and Node's own WebSocket client through the proxy.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createEngine, DEFAULT_LIMITS, DEFAULT_TIMEOUTS, type Engine } from '../src/http/engine.ts';
import type { Request, Response } from '../src/http/types.ts';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { captureLogs, startProxy } from './helpers/fake-backend.ts';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** RFC 6455 §4.2.2: base64(SHA-1(key + GUID)). */
function acceptFor(key: string): string {
  return createHash('sha1')
    .update(key + GUID)
    .digest('base64');
}

function handshake(path: string, key: string, extra = ''): string {
  return (
    `GET ${path} HTTP/1.1\r\nHost: example.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n${extra}\r\n`
  );
}

/** A raw client connection: everything it received, and ways to wait for more. */
class RawClient {
  readonly socket: net.Socket;
  received = Buffer.alloc(0);
  ended = false;
  closed = false;
  private waiters: Array<() => void> = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static async open(port: number): Promise<RawClient> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawClient(socket);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Wait until `done()` holds (checked on every event), at most `ms`. */
  async until(done: () => boolean, what: string, ms = 3000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0)
        assert.fail(`timed out waiting for ${what}; got ${JSON.stringify(this.text().slice(0, 300))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  text(): string {
    return this.received.toString('latin1');
  }

  /** The response head (status + lower-cased fields) and what followed it. */
  async head(): Promise<{ status: number; headers: Record<string, string>; rest: Buffer }> {
    await this.until(() => this.received.includes('\r\n\r\n'), 'a response head');
    const end = this.received.indexOf('\r\n\r\n');
    const lines = this.received.subarray(0, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    return { status: Number(lines[0]!.split(' ')[1]), headers, rest: this.received.subarray(end + 4) };
  }
}

/** What the WebSocket backend saw of one handshake. */
interface Seen {
  head: string;
  socket: net.Socket;
}

/**
 * A backend speaking just enough of RFC 6455: answers handshakes on `/ws*` with 101 (plus `hello` right
 * after the head on `/ws-hello`), then echoes raw bytes; `/refuse` gets 400, `/old` gets 426.
 */
class WsBackend {
  readonly seen: Seen[] = [];
  readonly server: net.Server;
  port = 0;
  /** Sockets whose client side ended or closed. */
  closedSockets = 0;
  private readonly sockets = new Set<net.Socket>();

  constructor() {
    this.server = net.createServer((socket) => {
      this.sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        this.sockets.delete(socket);
        this.closedSockets++;
      });
      let buffered = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) return;
        socket.off('data', onData);
        const head = buffered.subarray(0, end).toString('latin1');
        const rest = buffered.subarray(end + 4);
        this.seen.push({ head, socket });
        this.answer(socket, head, rest);
      };
      socket.on('data', onData);
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private answer(socket: net.Socket, head: string, rest: Buffer): void {
    const path = head.split(' ')[1] ?? '';
    if (path === '/refuse') {
      socket.end(
        'HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\nrefused\n',
      );
      return;
    }
    if (path === '/old') {
      socket.end('HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nContent-Length: 4\r\n\r\nold\n');
      return;
    }
    if (!/^upgrade:/im.test(head)) {
      // A plain GET: a cacheable answer (for the test that an upgrade never gets a stored response).
      socket.end(
        'HTTP/1.1 200 OK\r\nCache-Control: public, max-age=60\r\nContent-Length: 6\r\nConnection: close\r\n\r\nplain\n',
      );
      return;
    }
    const key = /sec-websocket-key: *(\S+)/i.exec(head)?.[1] ?? '';
    const hello = path === '/ws-hello' ? 'hello' : '';
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${acceptFor(key)}\r\nX-Backend: ws\r\n\r\n${hello}`,
    );
    if (path === '/frames') {
      echoFrames(socket, rest);
      return;
    }
    if (rest.length > 0) socket.write(rest);
    socket.pipe(socket);
  }
}

/**
 * Minimal RFC 6455 server side (§5.2): unmask each client frame and send its payload back unmasked with
 * the same opcode; a Close frame is answered with a Close frame and the connection ends (§5.5.1).
 */
function echoFrames(socket: net.Socket, first: Buffer): void {
  let buffered = first;
  const drain = () => {
    for (;;) {
      if (buffered.length < 2) return;
      const opcode = buffered[0]! & 0x0f;
      let length = buffered[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffered.length < 4) return;
        length = buffered.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffered.length < 10) return;
        length = Number(buffered.readBigUInt64BE(2));
        offset = 10;
      }
      if (buffered.length < offset + 4 + length) return;
      const mask = buffered.subarray(offset, offset + 4);
      const payload = Buffer.from(buffered.subarray(offset + 4, offset + 4 + length));
      for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
      buffered = buffered.subarray(offset + 4 + length);
      const header =
        length < 126
          ? Buffer.from([0x80 | opcode, length])
          : Buffer.from([0x80 | opcode, 126, length >> 8, length & 0xff]);
      socket.write(Buffer.concat([header, payload]));
      if (opcode === 8) {
        socket.end();
        return;
      }
    }
  };
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    drain();
  });
  drain();
}

const backends: WsBackend[] = [];
async function wsBackend(): Promise<WsBackend> {
  const b = await new WsBackend().start();
  backends.push(b);
  return b;
}

after(async () => {
  await Promise.all(backends.map((b) => b.stop()));
});

describe('engine: Response.takeOver', { timeout: 30_000 }, () => {
  async function engineServer(
    sharedReads: boolean,
    onRequest: (req: Request, res: Response) => void,
  ): Promise<{ port: number; engine: Engine; close(): Promise<void> }> {
    const engine = createEngine(
      {
        limits: DEFAULT_LIMITS,
        timeouts: { ...DEFAULT_TIMEOUTS, keepAliveTimeout: 200, headerTimeout: 200 },
        maxConnections: 100,
        maxRequestsPerConnection: 100,
        sharedReads,
      },
      { onRequest },
    );
    const sockets: net.Socket[] = [];
    const server = net.createServer((socket) => {
      sockets.push(socket);
      engine.handleSocket(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      port: (server.address() as net.AddressInfo).port,
      engine,
      async close() {
        for (const s of sockets) s.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }

  /** A handler that switches to an echo protocol, at once (inside the read) or after `delay` ms. */
  function echoHandler(delay: number | null): (req: Request, res: Response) => void {
    return (req, res) => {
      if (req.path !== '/echo') {
        // A request without Upgrade cannot be taken over; one with it is answered plainly here.
        if (!req.headers.has('upgrade')) assert.equal(res.takeOver?.(), undefined);
        res.end('plain\n');
        return;
      }
      const take = () => {
        res.statusCode = 101;
        const taken = res.takeOver!();
        assert.ok(taken !== undefined, 'an upgrade request can be taken over');
        assert.equal(res.takeOver!(), undefined, 'only once');
        const { socket, head } = taken;
        socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n');
        if (head.length > 0) socket.write(head);
        socket.on('data', (chunk: Buffer) => socket.write(chunk));
        socket.on('end', () => socket.end());
      };
      if (delay === null) take();
      else setTimeout(take, delay);
    };
  }

  for (const sharedReads of [true, false]) {
    for (const delay of [null, 50]) {
      const when = delay === null ? 'inside the read' : `${delay} ms later`;
      test(`shared reads ${sharedReads ? 'on' : 'off'}, taken over ${when}: bytes flow both ways`, async () => {
        const server = await engineServer(sharedReads, echoHandler(delay));
        try {
          const client = await RawClient.open(server.port);
          // The first bytes of the new protocol in the same write as the request head.
          client.socket.write(
            'GET /echo HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\nfirst-bytes|',
          );
          const { status } = await client.head();
          assert.equal(status, 101);
          await client.until(() => client.text().endsWith('first-bytes|'), 'the early bytes echoed');
          // Longer than the engine's idle and header timeouts (200 ms): they no longer apply.
          await new Promise((resolve) => setTimeout(resolve, 450));
          assert.equal(client.closed, false, 'the engine no longer times the connection out');
          const big = randomBytes(300 * 1024);
          client.socket.write(big);
          await client.until(() => client.received.includes(big), '300 KiB echoed intact');
          assert.equal(server.engine.connectionCount, 1, 'still counted as an open connection');
          client.socket.end();
          await client.until(() => client.closed, 'close after FIN both ways');
          await new Promise((resolve) => setTimeout(resolve, 20));
          assert.equal(server.engine.connectionCount, 0);
        } finally {
          await server.close();
        }
      });
    }
  }

  test('a request that is not an upgrade cannot be taken over; an upgrade not taken is answered and closed', async () => {
    const server = await engineServer(true, echoHandler(null));
    try {
      const keepAlive = await RawClient.open(server.port);
      keepAlive.socket.write('GET /plain HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal((await keepAlive.head()).status, 200);
      await keepAlive.until(() => keepAlive.text().endsWith('plain\n'), 'the plain answer');
      keepAlive.socket.destroy();

      const client = await RawClient.open(server.port);
      client.socket.write(
        'GET /plain HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\nxyz',
      );
      const { status, headers } = await client.head();
      assert.equal(status, 200);
      await client.until(() => client.closed, 'the connection closed after the answer');
      assert.ok(client.text().endsWith('plain\n'), 'the bytes after the head are not answered');
      assert.equal(headers.connection, 'close');
    } finally {
      await server.close();
    }
  });

  test('graceful drain closes a taken-over connection', async () => {
    const server = await engineServer(true, echoHandler(null));
    try {
      const client = await RawClient.open(server.port);
      client.socket.write('GET /echo HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n');
      assert.equal((await client.head()).status, 101);
      const started = Date.now();
      await server.engine.drain(5000);
      await client.until(() => client.closed, 'closed by the drain');
      assert.ok(Date.now() - started < 2000, 'without waiting for the drain deadline');
    } finally {
      await server.close();
    }
  });
});

describe('proxy: WebSocket pass-through', { timeout: 30_000 }, () => {
  let backend: WsBackend;
  let server: RunningServer;
  let logs: ReturnType<typeof captureLogs>;

  before(async () => {
    logs = captureLogs();
    backend = await wsBackend();
    server = await startProxy({ routes: [{ match: '^/', backends: [backend.url] }] });
  });

  after(async () => {
    await server.close();
    logs.restore();
  });

  test('101 with the right Sec-WebSocket-Accept; first bytes of both sides arrive; headers as a proxy sends them', async () => {
    const key = randomBytes(16).toString('base64');
    const client = await RawClient.open(server.port);
    // The client's first frame in the same write as its handshake.
    client.socket.write(handshake('/ws-hello', key, 'Keep-Alive: timeout=5\r\n') + 'ping-1|');
    const { status, headers, rest } = await client.head();
    assert.equal(status, 101);
    assert.equal(headers['sec-websocket-accept'], acceptFor(key));
    assert.equal(headers.upgrade, 'websocket');
    assert.equal(headers.connection?.toLowerCase(), 'upgrade');
    assert.equal(headers['x-backend'], 'ws');
    assert.match(headers.via ?? '', /1\.1 tamarin/);
    // The backend's bytes right after its 101 come first, then the echo of ours.
    await client.until(() => client.text().endsWith('hello' + 'ping-1|'), 'hello then the echo', 3000);
    assert.ok(rest.length > 0 || client.text().includes('hello'));
    client.socket.write('ping-2|');
    await client.until(() => client.text().endsWith('ping-2|'), 'a later echo');
    const seen = backend.seen.at(-1)!.head;
    assert.match(seen, /^GET \/ws-hello HTTP\/1\.1\r\n/);
    assert.match(seen, /\r\nConnection: upgrade(\r\n|$)/i);
    assert.match(seen, /\r\nUpgrade: websocket(\r\n|$)/i);
    assert.match(seen, /\r\nSec-WebSocket-Key: /);
    assert.match(seen, /\r\nVia: 1\.1 tamarin\r\n/);
    assert.match(seen, /\r\nX-Forwarded-For: 127\.0\.0\.1\r\n/);
    assert.doesNotMatch(seen, /keep-alive: timeout/i, 'other hop-by-hop fields dropped');
    client.socket.destroy();
  });

  test('1 MiB each way arrives intact (backpressure through both sockets)', async () => {
    const client = await RawClient.open(server.port);
    client.socket.write(handshake('/ws', randomBytes(16).toString('base64')));
    const { rest } = await client.head();
    assert.equal(rest.length, 0);
    const payload = randomBytes(1024 * 1024);
    client.socket.write(payload);
    const headLength = client.received.indexOf('\r\n\r\n') + 4;
    await client.until(() => client.received.length >= headLength + payload.length, '1 MiB echoed', 8000);
    assert.ok(client.received.subarray(headLength).equals(payload), 'the same bytes in the same order');
    client.socket.destroy();
  });

  test('the client closing closes the backend connection, and the other way round', async () => {
    const client = await RawClient.open(server.port);
    client.socket.write(handshake('/ws', randomBytes(16).toString('base64')));
    assert.equal((await client.head()).status, 101);
    const closedBefore = backend.closedSockets;
    client.socket.end();
    await client.until(() => client.closed, 'the client connection closed');
    const deadline = Date.now() + 3000;
    while (backend.closedSockets === closedBefore && Date.now() < deadline) await sleep(10);
    assert.equal(backend.closedSockets, closedBefore + 1, 'the backend connection closed');

    const second = await RawClient.open(server.port);
    second.socket.write(handshake('/ws', randomBytes(16).toString('base64')));
    assert.equal((await second.head()).status, 101);
    backend.seen.at(-1)!.socket.destroy();
    await second.until(() => second.closed, 'the client connection closed after the backend went');
  });

  test("Node's WebSocket client through the proxy: handshake checked, text messages echoed, clean close", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/frames`);
    const received: string[] = [];
    const closed = new Promise<{ code: number; wasClean: boolean }>((resolve) =>
      ws.addEventListener('close', (event) => resolve({ code: event.code, wasClean: event.wasClean })),
    );
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => resolve());
      ws.addEventListener('error', () => reject(new Error('WebSocket error before open')));
    });
    const long = 'x'.repeat(1000);
    ws.addEventListener('message', (event) => {
      received.push(String(event.data));
      if (received.length === 2) ws.close(1000, 'done');
    });
    ws.send('hello tamarin');
    ws.send(long);
    const result = await Promise.race([
      closed,
      sleep(3000).then(() => assert.fail(`no close; received ${JSON.stringify(received)}`)),
    ]);
    assert.deepEqual(received, ['hello tamarin', long]);
    assert.equal(result.code, 1000);
    assert.equal(result.wasClean, true);
  });

  test('loop protection applies to upgrade requests (508)', async () => {
    const client = await RawClient.open(server.port);
    client.socket.write(handshake('/ws', randomBytes(16).toString('base64'), 'Via: 1.1 tamarin\r\n'));
    assert.equal((await client.head()).status, 508);
    await client.until(() => client.closed, 'closed after the 508');
  });

  for (const [path, status, body] of [
    ['/refuse', 400, 'refused\n'],
    ['/old', 426, 'old\n'],
  ] as const) {
    test(`a backend answering ${status} is forwarded as a normal response, and the connection closes`, async () => {
      const client = await RawClient.open(server.port);
      client.socket.write(handshake(path, randomBytes(16).toString('base64')) + 'frame');
      const head = await client.head();
      assert.equal(head.status, status);
      await client.until(() => client.closed, 'the connection closed');
      assert.ok(client.text().endsWith(body), client.text());
      assert.equal(head.headers.connection, 'close');
    });
  }
});

describe('proxy: tunnel failover, options, timeouts, shutdown', { timeout: 30_000 }, () => {
  let logs: ReturnType<typeof captureLogs>;
  before(() => {
    logs = captureLogs();
  });
  after(() => logs.restore());

  async function deadUrl(): Promise<string> {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    return `http://127.0.0.1:${port}`;
  }

  test('a dead backend fails over to the next; all dead is 502', async () => {
    const live = await wsBackend();
    const dead = await deadUrl();
    const server = await startProxy({
      routes: [
        { match: '^/ws', backends: [dead, live.url], balancer: 'first-alive' },
        { match: '^/none', backends: [dead] },
      ],
    });
    try {
      const client = await RawClient.open(server.port);
      client.socket.write(handshake('/ws', randomBytes(16).toString('base64')));
      assert.equal((await client.head()).status, 101);
      client.socket.write('after-failover');
      await client.until(() => client.text().endsWith('after-failover'), 'echo through the second backend');
      const [result] = await server.control('proxy', 'backends');
      const route = (
        result!.result as Array<{ backends: Array<{ inFlight: number; failures: number }> }>
      )[0]!;
      assert.equal(route.backends[0]!.failures, 1);
      assert.equal(route.backends[1]!.inFlight, 1, 'an open tunnel is a request in flight');
      client.socket.destroy();
      await client.until(() => client.closed, 'closed');
      let inFlight = -1;
      for (let i = 0; i < 100 && inFlight !== 0; i++) {
        await sleep(10);
        const [again] = await server.control('proxy', 'backends');
        inFlight = (again!.result as Array<{ backends: Array<{ inFlight: number }> }>)[0]!.backends[1]!
          .inFlight;
      }
      assert.equal(inFlight, 0, 'released when the tunnel closes');

      const none = await RawClient.open(server.port);
      none.socket.write(handshake('/none', randomBytes(16).toString('base64')));
      const head = await none.head();
      assert.equal(head.status, 502);
      await none.until(() => none.closed, 'closed after the 502');
    } finally {
      await server.close();
    }
  });

  test('websocket = false: the upgrade is ignored and the request forwarded as a plain one', async () => {
    let seenUpgrade: string | undefined = 'unset';
    const plain: HttpServer = createHttpServer((req, res) => {
      seenUpgrade = req.headers.upgrade;
      res.end('plain answer\n');
    });
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    const port = (plain.address() as net.AddressInfo).port;
    const server = await startProxy({
      routes: [{ match: '^/', backends: [`http://127.0.0.1:${port}`], websocket: false }],
    });
    try {
      const client = await RawClient.open(server.port);
      client.socket.write(handshake('/ws', randomBytes(16).toString('base64')));
      const head = await client.head();
      assert.equal(head.status, 200);
      await client.until(() => client.closed, 'closed after the answer');
      assert.ok(client.text().endsWith('plain answer\n'));
      assert.equal(seenUpgrade, undefined, 'the backend never saw Upgrade');
    } finally {
      await server.close();
      plain.closeAllConnections();
      await new Promise<void>((resolve) => plain.close(() => resolve()));
    }
  });

  test('tunnel_idle_timeout closes a silent tunnel; traffic keeps it open', async () => {
    const backend = await wsBackend();
    const server = await startProxy({
      routes: [{ match: '^/', backends: [backend.url], tunnel_idle_timeout: '300ms' }],
    });
    try {
      const client = await RawClient.open(server.port);
      client.socket.write(handshake('/ws', randomBytes(16).toString('base64')));
      assert.equal((await client.head()).status, 101);
      for (let i = 0; i < 4; i++) {
        await sleep(150);
        client.socket.write(`tick${i}`);
      }
      assert.equal(client.closed, false, 'open while bytes flow');
      const quietFrom = Date.now();
      await client.until(() => client.closed, 'closed when idle', 3000);
      const took = Date.now() - quietFrom;
      assert.ok(took >= 250 && took < 2000, `closed after ${took} ms of silence`);
    } finally {
      await server.close();
    }
  });

  test('shutting the server down closes open tunnels', async () => {
    const backend = await wsBackend();
    const server = await startProxy({ routes: [{ match: '^/', backends: [backend.url] }] });
    const client = await RawClient.open(server.port);
    client.socket.write(handshake('/ws', randomBytes(16).toString('base64')));
    assert.equal((await client.head()).status, 101);
    const started = Date.now();
    await server.close();
    await client.until(() => client.closed, 'the tunnel closed by the shutdown');
    assert.ok(Date.now() - started < 3000);
  });

  test('on a cached route an upgrade request bypasses the cache and is tunnelled', async () => {
    const backend = await wsBackend();
    const server = await startServer({
      inProcess: true,
      config: {
        plugins: ['cache', 'proxy'],
        server: { host: '127.0.0.1', port: 0 },
        proxy: { routes: [{ match: '^/', backends: [backend.url], cache: true }] },
      },
    });
    try {
      for (let i = 0; i < 2; i++) {
        const client = await RawClient.open(server.port);
        // As browsers send it.
        client.socket.write(
          handshake('/ws', randomBytes(16).toString('base64'), 'Cache-Control: no-cache\r\n') + `round${i}`,
        );
        const head = await client.head();
        assert.equal(head.status, 101);
        assert.equal(head.headers['cache-status'], undefined);
        await client.until(() => client.text().endsWith(`round${i}`), 'the echo');
        client.socket.destroy();
      }
      assert.equal(backend.seen.length, 2, 'every handshake reached the backend');
      // A stored, fresh response for the same URL, then a handshake without Cache-Control (not a
      // browser's): still tunnelled, never answered from the store.
      for (let i = 0; i < 2; i++) {
        const plain = await RawClient.open(server.port);
        plain.socket.write('GET /ws HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n');
        const answer = await plain.head();
        assert.equal(answer.status, 200);
        if (i === 1) assert.match(answer.headers['cache-status'] ?? '', /; hit/, 'the plain GET is stored');
        plain.socket.destroy();
      }
      const client = await RawClient.open(server.port);
      client.socket.write(handshake('/ws', randomBytes(16).toString('base64')) + 'bare');
      const head = await client.head();
      assert.equal(head.status, 101);
      await client.until(() => client.text().endsWith('bare'), 'the echo');
      client.socket.destroy();
    } finally {
      await server.close();
    }
  });

  test('an upgrade to a static (not proxied) path is answered as a plain request', async () => {
    const backend = await wsBackend();
    const root = mkdtempSync(join(tmpdir(), 'tamarin-ws-'));
    writeFileSync(join(root, 'page.txt'), 'static page\n');
    const server = await startServer({
      inProcess: true,
      config: {
        plugins: ['proxy', 'static'],
        server: { host: '127.0.0.1', port: 0 },
        static: { root },
        proxy: { routes: [{ match: '^/ws', backends: [backend.url] }] },
      },
    });
    try {
      const client = await RawClient.open(server.port);
      client.socket.write(handshake('/page.txt', randomBytes(16).toString('base64')) + 'not-http');
      const head = await client.head();
      assert.equal(head.status, 200);
      await client.until(() => client.closed, 'closed after the answer');
      assert.ok(client.text().endsWith('static page\n'));
      assert.equal(backend.seen.length, 0);
    } finally {
      await server.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
