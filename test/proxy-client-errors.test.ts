/**
 * A client's broken request body is the client's fault, never the backend's. Whether the bad chunk comes
 * in the same packet as the head, right behind `Expect: 100-continue`, or the body stalls while the
 * upstream connection is still being opened: the client gets 400 / 408 from the engine, the upstream
 * exchange is dropped at once (its connection closed, never reused), no failure is counted against the
 * backend, and the next good request is answered. Before, each such request held an upstream connection
 * until `response_timeout` and then counted as a backend failure: eight of them put a route's only backend
 * into cooldown.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { parseResponses } from '../src/http/test-client.ts';
import { startServer } from '../src/server/start.ts';
import {
  captureLogs,
  type FakeBackend,
  fetchText,
  sleep,
  startFakeBackend,
  startProxy,
} from './helpers/fake-backend.ts';

const started: FakeBackend[] = [];

async function backend(options: Parameters<typeof startFakeBackend>[0] = {}): Promise<FakeBackend> {
  const b = await startFakeBackend(options);
  started.push(b);
  return b;
}

after(async () => {
  await Promise.all(started.map((b) => b.stop()));
});

type Control = Awaited<ReturnType<typeof startProxy>>['control'];

interface BackendView {
  url: string;
  state: string;
  failures: number;
  inFlight: number;
  openConnections: number;
  idleConnections: number;
}

async function backendViews(control: Control): Promise<BackendView[]> {
  const [first] = await control('proxy', 'backends');
  return (first!.result as Array<{ backends: BackendView[] }>)[0]!.backends;
}

/** Poll `check` every 20 ms for up to `ms`; true as soon as it holds. */
async function until(check: () => boolean | Promise<boolean>, ms = 1000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(20);
  }
}

/** A raw client connection that collects everything until the server closes it (at most 3 s). */
class Client {
  readonly socket: Socket;
  readonly closed: Promise<Buffer>;

  constructor(port: number) {
    const chunks: Buffer[] = [];
    this.socket = connect(port, '127.0.0.1');
    this.closed = new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.socket.destroy();
        resolve(Buffer.concat(chunks));
      };
      const timer = setTimeout(finish, 3000);
      this.socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      this.socket.on('close', finish);
      this.socket.on('error', () => {});
    });
  }

  send(bytes: string): void {
    this.socket.write(bytes);
  }

  /** Status of the only response, or 0 when the connection closed without one. */
  async status(): Promise<number> {
    const responses = parseResponses(await this.closed);
    assert.ok(responses.length <= 1, 'one answer, then the connection closes');
    return responses[0]?.status ?? 0;
  }
}

const BAD_CHUNKED_POST = 'POST /api/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n';

/** No upstream request is left hanging: nothing in flight, the backend holds only pooled connections. */
async function assertNothingDangling(control: Control, backends: FakeBackend[]): Promise<void> {
  const settled = await until(async () => {
    const views = await backendViews(control);
    return views.every((v, i) => v.inFlight === 0 && backends[i]!.openConnections === v.idleConnections);
  }, 500);
  const views = await backendViews(control);
  assert.ok(
    settled,
    `upstream exchanges dropped at once: ${JSON.stringify(
      views.map((v, i) => ({
        inFlight: v.inFlight,
        idle: v.idleConnections,
        open: backends[i]!.openConnections,
      })),
    )}`,
  );
}

describe('a malformed or stalled request body never counts against the backend', () => {
  test('bad chunk in the same packet as the head: 400 each, the upstream request aborted at once', async () => {
    const b = await backend();
    const logs = captureLogs();
    const server = await startProxy({
      routes: [{ match: '^/api/', backends: [b.url], response_timeout: '1s' }],
    });
    try {
      // A pooled connection exists, which a dangling exchange would take.
      assert.equal((await fetchText(`${server.url}/api/warm`)).status, 200);
      const clients = Array.from({ length: 10 }, () => new Client(server.port));
      for (const client of clients) client.send(`${BAD_CHUNKED_POST}ZZ\r\n`);
      for (const client of clients) assert.equal(await client.status(), 400);
      await assertNothingDangling(server.control, [b]);
      // Past response_timeout: nothing timed out upstream and was blamed on the backend.
      await sleep(1300);
      const [view] = await backendViews(server.control);
      assert.equal(view!.state, 'up');
      assert.equal(view!.failures, 0);
      assert.equal((await fetchText(`${server.url}/api/after`)).status, 200);
    } finally {
      logs.restore();
      await server.close();
    }
  });

  test('bad chunk right behind Expect: 100-continue: 400 each, the upstream request aborted at once', async () => {
    // Answers GETs; a POST waits for its body (and sends no 100 Continue): the proxy is still holding the
    // client's body back when the bad chunk arrives.
    const b = await backend({
      raw: (socket, head) => {
        if (head.startsWith('GET ')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      },
    });
    const logs = captureLogs();
    const server = await startProxy({
      routes: [{ match: '^/api/', backends: [b.url], response_timeout: '1s' }],
    });
    try {
      for (let i = 0; i < 8; i++) {
        const client = new Client(server.port);
        const posts = b.seen.length;
        client.send(BAD_CHUNKED_POST.replace('\r\n\r\n', '\r\nExpect: 100-continue\r\n\r\n'));
        assert.ok(await until(() => b.seen.length > posts), 'the head went upstream');
        client.send('ZZ\r\n');
        assert.equal(await client.status(), 400);
      }
      await assertNothingDangling(server.control, [b]);
      await sleep(1300);
      const [view] = await backendViews(server.control);
      assert.equal(view!.state, 'up');
      assert.equal(view!.failures, 0);
      assert.equal((await fetchText(`${server.url}/api/after`)).status, 200);
    } finally {
      logs.restore();
      await server.close();
    }
  });

  test('body timeout while streaming upstream: 408 each, the upstream request aborted at once', async () => {
    const b = await backend();
    const logs = captureLogs();
    const server = await startProxy(
      { routes: [{ match: '^/api/', backends: [b.url], response_timeout: '1s' }] },
      { body_timeout: '200ms' },
    );
    try {
      const clients = Array.from({ length: 8 }, () => new Client(server.port));
      for (const client of clients) client.send(`${BAD_CHUNKED_POST}5\r\nab`);
      for (const client of clients) assert.equal(await client.status(), 408);
      await assertNothingDangling(server.control, [b]);
      await sleep(1300);
      const [view] = await backendViews(server.control);
      assert.equal(view!.state, 'up');
      assert.equal(view!.failures, 0);
      assert.equal((await fetchText(`${server.url}/api/after`)).status, 200);
    } finally {
      logs.restore();
      await server.close();
    }
  });

  test('a client pausing mid-upload for longer than response_timeout: the backend is not blamed', async () => {
    const b = await backend();
    const logs = captureLogs();
    const server = await startProxy(
      { routes: [{ match: '^/api/', backends: [b.url], response_timeout: '300ms', max_fails: 1 }] },
      { body_timeout: '3s' },
    );
    try {
      const client = new Client(server.port);
      client.send(`${BAD_CHUNKED_POST.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')}5\r\nhello\r\n`);
      // The backend is waiting for the rest of the body: its silence is the client's doing.
      await sleep(900);
      client.send('6\r\n world\r\n0\r\n\r\n');
      assert.equal(await client.status(), 200);
      assert.equal(b.seen.at(-1)!.bodyBytes, 11);
      const [view] = await backendViews(server.control);
      assert.deepEqual([view!.state, view!.failures], ['up', 0]);
    } finally {
      logs.restore();
      await server.close();
    }
  });

  test('on a cached route too (the RFC 9111 cache forwards a POST): 400 / 408, nothing dangling', async () => {
    const b = await backend();
    const logs = captureLogs();
    const server = await startServer({
      inProcess: true,
      config: {
        plugins: ['cache', 'proxy'],
        server: { host: '127.0.0.1', port: 0, body_timeout: '200ms' },
        proxy: { routes: [{ match: '^/api/', backends: [b.url], cache: true, response_timeout: '1s' }] },
      },
    });
    try {
      for (const [method, body, status] of [
        ['POST', 'ZZ\r\n', 400],
        ['GET', 'ZZ\r\n', 400],
        ['POST', '5\r\nab', 408],
        ['GET', '5\r\nab', 408],
      ] as const) {
        const client = new Client(server.port);
        client.send(`${BAD_CHUNKED_POST.replace('POST', method)}${body}`);
        assert.equal(await client.status(), status, `${method} ${JSON.stringify(body)}`);
      }
      await assertNothingDangling(server.control, [b]);
      await sleep(1300);
      const [view] = await backendViews(server.control);
      assert.deepEqual([view!.state, view!.failures], ['up', 0]);
      assert.equal((await fetchText(`${server.url}/api/after`)).status, 200);
    } finally {
      logs.restore();
      await server.close();
    }
  });

  test('body timeout while the upstream connects: 408, the connect abandoned, nothing retried elsewhere', async () => {
    const hole = await unacceptingListener();
    const good = await backend({ name: 'good' });
    const logs = captureLogs();
    const server = await startProxy(
      {
        routes: [
          {
            match: '^/api/',
            balancer: 'first-alive',
            backends: [hole.url, good.url],
            connect_timeout: '1s',
            max_fails: 1,
          },
        ],
      },
      { body_timeout: '200ms' },
    );
    try {
      const clients = Array.from({ length: 4 }, () => new Client(server.port));
      for (const client of clients) client.send(`${BAD_CHUNKED_POST}5\r\nab`);
      for (const client of clients) assert.equal(await client.status(), 408);
      assert.ok(
        await until(async () => (await backendViews(server.control))[0]!.inFlight === 0, 500),
        'the pending connect was dropped with its client',
      );
      // Past connect_timeout: no connect failure was blamed on the first backend, and the broken
      // request was not sent on to the second one.
      await sleep(1200);
      const views = await backendViews(server.control);
      assert.deepEqual(
        views.map((v) => [v.state, v.failures]),
        [
          ['up', 0],
          ['up', 0],
        ],
      );
      assert.equal(good.seen.length, 0);
    } finally {
      logs.restore();
      await server.close();
      hole.close();
    }
  });
});

/**
 * A TCP listener whose process never accepts: once its backlog is full, a new connection stays in
 * SYN-SENT (the kernel drops its SYN), so connecting to it hangs until the connect timeout.
 */
async function unacceptingListener(): Promise<{ url: string; close(): void }> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '-e',
      `const s = require('node:net').createServer();
       s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
         process.stdout.write(s.address().port + '\\n');
         // Block the event loop: nothing is accepted any more (bounded: the test kills it sooner).
         setTimeout(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30000), 20);
       });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve) =>
    child.stdout!.once('data', (data: Buffer) => resolve(Number(String(data).trim()))),
  );
  await sleep(100);
  // Fill the accept queue (backlog 1 holds two completed handshakes).
  const fillers: Socket[] = [];
  for (;;) {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    fillers.push(socket);
    const connected = await Promise.race([
      new Promise<boolean>((resolve) => socket.once('connect', () => resolve(true))),
      sleep(300).then(() => false),
    ]);
    if (!connected || fillers.length > 8) break;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    close() {
      for (const socket of fillers) socket.destroy();
      child.kill('SIGKILL');
    },
  };
}
