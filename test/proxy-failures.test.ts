/**
 * Failure handling over real sockets: failover, passive health (cooldown and recovery), active health
 * checks, 502 / 504, a backend dying mid-body, a client going away, retries only when safe.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, describe, test } from 'node:test';
import { rawRequest } from '../src/http/test-client.ts';
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

/** A port nothing listens on (connection refused). */
async function deadUrl(): Promise<string> {
  const b = await startFakeBackend();
  await b.stop();
  return b.url;
}

type Control = Awaited<ReturnType<typeof startProxy>>['control'];

async function states(control: Control): Promise<string[]> {
  const [first] = await control('proxy', 'backends');
  const routes = first!.result as Array<{ backends: Array<{ state: string }> }>;
  return routes[0]!.backends.map((b) => b.state);
}

/** The backends' states once they are `wanted`, or as they are after 5 s. */
async function statesBecome(control: Control, wanted: string[]): Promise<string[]> {
  let seen = await states(control);
  for (let i = 0; i < 100 && seen.join() !== wanted.join(); i++) {
    await sleep(50);
    seen = await states(control);
  }
  return seen;
}

describe('failover and passive health', () => {
  test('a backend stopped mid-test: no request fails, it cools down, and comes back after cooldown', async () => {
    const a = await backend({ name: 'a' });
    const b = await backend({ name: 'b' });
    const logs = captureLogs();
    const server = await startProxy({
      // A cooldown the ten failover requests below surely fit in, even on a loaded machine.
      routes: [
        { match: '^/', backends: [a.url, b.url], max_fails: 2, cooldown: '1500ms', fail_window: '5s' },
      ],
    });
    try {
      const firstRound = new Set<string>();
      for (let i = 0; i < 4; i++)
        firstRound.add(String((await fetchText(`${server.url}/${i}`)).headers['x-backend']));
      assert.deepEqual([...firstRound].sort(), ['a', 'b']);

      await a.stop();
      for (let i = 0; i < 10; i++) {
        const res = await fetchText(`${server.url}/during/${i}`);
        assert.equal(res.status, 200, 'failover hides the dead backend');
        assert.equal(res.headers['x-backend'], 'b');
      }
      assert.deepEqual(await states(server.control), ['cooling', 'up']);
      assert.ok(
        logs.lines.some((l) => l.includes(`backend ${a.url} up -> cooling`)),
        logs.lines.join('\n'),
      );

      await a.start();
      await sleep(1550);
      const after = new Set<string>();
      for (let i = 0; i < 4; i++)
        after.add(String((await fetchText(`${server.url}/after/${i}`)).headers['x-backend']));
      assert.deepEqual([...after].sort(), ['a', 'b'], 'the recovered backend gets traffic again');
      assert.deepEqual(await states(server.control), ['up', 'up']);
      assert.ok(logs.lines.some((l) => l.includes(`backend ${a.url} cooling -> up`)));
      const [snapshot] = await server.control('proxy', 'backends');
      const stats = (
        snapshot!.result as Array<{ backends: Array<{ failures: number; requests: number }> }>
      )[0]!;
      assert.ok(stats.backends[0]!.failures >= 2);
    } finally {
      logs.restore();
      await server.close();
    }
  });

  test('all backends down → 502 with a short reason', async () => {
    const logs = captureLogs();
    const server = await startProxy({
      routes: [{ match: '^/', backends: [await deadUrl(), await deadUrl()] }],
    });
    try {
      const res = await fetchText(`${server.url}/x`);
      assert.equal(res.status, 502);
      assert.match(res.body, /^502 could not connect to a backend/);
      // One failure each is below max_fails (3): both are tried again.
      const again = await fetchText(`${server.url}/y`);
      assert.equal(again.status, 502);
    } finally {
      logs.restore();
      await server.close();
    }
  });

  test('once every backend is cooling they are tried anyway (panic mode): a dead one answers with its own error', async () => {
    const logs = captureLogs();
    const server = await startProxy({ routes: [{ match: '^/', backends: [await deadUrl()], max_fails: 1 }] });
    try {
      assert.equal((await fetchText(`${server.url}/1`)).status, 502);
      assert.deepEqual(await states(server.control), ['cooling']);
      const res = await fetchText(`${server.url}/2`);
      assert.equal(res.status, 502);
      assert.match(res.body, /could not connect/);
    } finally {
      logs.restore();
      await server.close();
    }
  });

  test('a lone backend that dropped connections and recovered answers the next request, before its cooldown ends', async () => {
    let drop = false;
    const lone = await backend({
      name: 'lone',
      handler: (req) => {
        if (!drop) return false;
        req.socket.destroy();
        return true;
      },
    });
    const logs = captureLogs();
    const server = await startProxy({
      routes: [{ match: '^/', backends: [lone.url], max_fails: 3, fail_window: '10s', cooldown: '10s' }],
    });
    try {
      // Warm keep-alive connections: the first dropped request fails on a pooled one (not the backend's
      // fault: retried on a fresh connection) and then on a fresh one, one failure for that request.
      await Promise.all([1, 2, 3].map((i) => fetchText(`${server.url}/warm/${i}`)));
      drop = true;
      for (let i = 1; i <= 3; i++) {
        assert.equal((await fetchText(`${server.url}/dropped/${i}`)).status, 502);
        const [snapshot] = await server.control('proxy', 'backends');
        const view = (snapshot!.result as Array<{ backends: Array<{ failures: number }> }>)[0]!.backends[0]!;
        assert.equal(view.failures, i, 'one failure per request, however many connections it tried');
      }
      assert.deepEqual(await states(server.control), ['cooling']);
      drop = false;
      const res = await fetchText(`${server.url}/recovered`);
      assert.equal(res.status, 200, 'tried although cooling: it is the only backend');
      assert.deepEqual(await states(server.control), ['up'], 'its answer ended the cooldown');
      assert.ok(
        logs.lines.some((l) =>
          l.includes(`backend ${lone.url} cooling -> up: answered while every backend was cooling`),
        ),
        logs.lines.join('\n'),
      );
    } finally {
      logs.restore();
      await server.close();
    }
  });

  test('every backend cooling, one recovers: requests fail over to it, it comes back up, the other stays out', async () => {
    const dead = await deadUrl();
    let drop = true;
    const flaky = await backend({
      name: 'flaky',
      handler: (req) => {
        if (!drop) return false;
        req.socket.destroy();
        return true;
      },
    });
    const logs = captureLogs();
    const server = await startProxy({
      routes: [
        { match: '^/', balancer: 'round-robin', backends: [dead, flaky.url], max_fails: 1, cooldown: '10s' },
      ],
    });
    try {
      assert.equal((await fetchText(`${server.url}/a`)).status, 502);
      assert.deepEqual(await states(server.control), ['cooling', 'cooling']);
      drop = false;
      for (let i = 0; i < 6; i++) {
        const res = await fetchText(`${server.url}/after/${i}`);
        assert.equal(res.status, 200);
        assert.equal(res.headers['x-backend'], 'flaky');
      }
      assert.deepEqual(await states(server.control), ['cooling', 'up']);
    } finally {
      logs.restore();
      await server.close();
    }
  });

  test('active health checks take a backend down after `fall` failures and up after `rise` successes', async () => {
    let healthy = true;
    const a = await backend({
      name: 'a',
      handler: (req, res) => {
        if (req.url !== '/health') return false;
        res.writeHead(healthy ? 200 : 503).end();
        return true;
      },
    });
    const b = await backend({ name: 'b' });
    const logs = captureLogs();
    const server = await startProxy({
      routes: [
        {
          match: '^/',
          balancer: 'first-alive',
          backends: [a.url, b.url],
          health: { path: '/health', interval: '50ms', timeout: '200ms', rise: 2, fall: 2 },
        },
      ],
    });
    try {
      assert.equal((await fetchText(`${server.url}/`)).headers['x-backend'], 'a');
      healthy = false;
      // Checks run every 50 ms; a loaded machine may take longer than a fixed sleep to run `fall` of them.
      assert.deepEqual(await statesBecome(server.control, ['down', 'up']), ['down', 'up']);
      assert.equal((await fetchText(`${server.url}/`)).headers['x-backend'], 'b');
      healthy = true;
      assert.deepEqual(await statesBecome(server.control, ['up', 'up']), ['up', 'up']);
      assert.equal((await fetchText(`${server.url}/`)).headers['x-backend'], 'a');
      assert.ok(
        logs.lines.some((l) => /up -> down: health check \/health answered 503/.test(l)),
        logs.lines.join('\n'),
      );
    } finally {
      logs.restore();
      await server.close();
    }
  });
});

describe('bad responses and timeouts', () => {
  const cases: Array<[string, string]> = [
    [
      'Content-Length with Transfer-Encoding',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    ],
    ['differing Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'],
    ['not HTTP at all', 'SSH-2.0-OpenSSH_9.6\r\n'],
    [
      'a head larger than the limit',
      `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70_000)}\r\nContent-Length: 0\r\n\r\n`,
    ],
  ];
  for (const [name, bytes] of cases) {
    test(`${name} → 502, never forwarded`, async () => {
      const raw = await backend({ raw: (socket) => socket.write(bytes) });
      const logs = captureLogs();
      const server = await startProxy({ routes: [{ match: '^/', backends: [raw.url] }] });
      try {
        const res = await fetchText(`${server.url}/x`);
        assert.equal(res.status, 502);
        assert.match(res.body, /invalid response/);
        assert.doesNotMatch(res.body, /hello|SSH/);
        // The misbehaving connection was closed: the next request opens a new one.
        await fetchText(`${server.url}/y`);
        assert.equal(raw.connections, 2);
      } finally {
        logs.restore();
        await server.close();
      }
    });
  }

  test('slow response head → 504 after response_timeout; a slow but steady body is streamed', async () => {
    const slow = await backend({
      handler: (req, res) => {
        if (req.url === '/steady') {
          res.writeHead(200, { 'Content-Type': 'text/plain' });
          let n = 0;
          const timer = setInterval(() => {
            res.write(`tick ${n}\n`);
            if (++n === 6) {
              clearInterval(timer);
              res.end();
            }
          }, 60);
          return true;
        }
        setTimeout(() => res.end('late'), 1000);
        return true;
      },
    });
    const logs = captureLogs();
    const server = await startProxy({
      routes: [{ match: '^/', backends: [slow.url], response_timeout: '200ms' }],
    });
    try {
      const startedAt = Date.now();
      const res = await fetchText(`${server.url}/slow`);
      assert.equal(res.status, 504);
      assert.ok(Date.now() - startedAt < 900, 'answered at the timeout, not when the backend finished');
      const steady = await fetchText(`${server.url}/steady`);
      assert.equal(steady.status, 200);
      assert.equal(
        steady.body.split('\n').length,
        7,
        '360 ms of body with 60 ms gaps passes a 200 ms read timeout',
      );
    } finally {
      logs.restore();
      await server.close();
    }
  });

  test('a backend dying mid-body → the client connection is closed without a clean end', async () => {
    const dying = await backend({
      raw: (socket) => {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n');
        socket.write(Buffer.alloc(30_000, 'x'));
        setTimeout(() => socket.destroy(), 50);
      },
    });
    const logs = captureLogs();
    const server = await startProxy({ routes: [{ match: '^/', backends: [dying.url] }] });
    try {
      const bytes = await rawRequest(server.port, 'GET /big HTTP/1.1\r\nHost: x\r\n\r\n', {
        timeoutMs: 1500,
      });
      const text = bytes.toString('latin1');
      assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(text, /\r\nContent-Length: 100000\r\n/);
      const body = text.slice(text.indexOf('\r\n\r\n') + 4);
      assert.ok(body.length < 100_000, 'never presented as complete');
      // Same with a chunked body: no last-chunk, and the connection closes instead of hanging.
      const chunkedDying = await backend({
        raw: (socket) => {
          socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
          setTimeout(() => socket.destroy(), 50);
        },
      });
      const server2 = await startProxy({ routes: [{ match: '^/', backends: [chunkedDying.url] }] });
      try {
        const t0 = Date.now();
        const chunked = (
          await rawRequest(server2.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 2000 })
        ).toString();
        assert.ok(Date.now() - t0 < 1000, 'the client connection was closed, not left hanging');
        assert.match(chunked, /hello/);
        assert.doesNotMatch(
          chunked,
          /\r\n0\r\n\r\n$/,
          'no last-chunk: the client knows the body is truncated',
        );
      } finally {
        await server2.close();
      }
    } finally {
      logs.restore();
      await server.close();
    }
  });

  test('an HTTP/1.0 client can tell a cut body: Content-Length when the backend sent one, else a reset', async () => {
    const sized = await backend({
      raw: (socket) => {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n');
        socket.write(Buffer.alloc(30_000, 'x'));
        setTimeout(() => socket.destroy(), 50);
      },
    });
    const chunked = await backend({
      raw: (socket) => {
        socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
        setTimeout(() => socket.destroy(), 50);
      },
    });
    const whole = await backend({
      raw: (socket) => {
        socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
        setTimeout(() => socket.write('0\r\n\r\n'), 50);
      },
    });
    const logs = captureLogs();
    const server = await startProxy({
      routes: [
        { match: '^/sized', backends: [sized.url] },
        { match: '^/chunked', backends: [chunked.url] },
        { match: '^/whole', backends: [whole.url] },
      ],
    });
    /** What an HTTP/1.0 client sees: the bytes, and whether the connection ended cleanly or was reset. */
    const get10 = (path: string) =>
      new Promise<{ text: string; ending: string }>((resolve) => {
        const chunks: Buffer[] = [];
        let ending = 'clean end';
        const socket = connect(server.port, '127.0.0.1');
        socket.on('data', (chunk: Buffer) => chunks.push(chunk));
        socket.on('error', (error: NodeJS.ErrnoException) => {
          ending = error.code ?? 'error';
        });
        socket.on('close', () => resolve({ text: Buffer.concat(chunks).toString('latin1'), ending }));
        socket.write(`GET ${path} HTTP/1.0\r\nHost: x\r\n\r\n`);
      });
    try {
      const cutSized = await get10('/sized');
      assert.match(cutSized.text, /\r\nContent-Length: 100000\r\n/);
      assert.ok(cutSized.text.length - cutSized.text.indexOf('\r\n\r\n') - 4 < 100_000);
      // Close-delimited (no chunked coding in HTTP/1.0): a plain close would look like the end of the body.
      const cutChunked = await get10('/chunked');
      assert.equal(cutChunked.ending, 'ECONNRESET', 'a cut close-delimited body ends with a reset');
      const complete = await get10('/whole');
      assert.equal(complete.ending, 'clean end');
      assert.match(complete.text, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nhello$/);
      assert.doesNotMatch(complete.text, /Content-Length|Transfer-Encoding/i);
    } finally {
      logs.restore();
      await server.close();
    }
  });

  test('a client going away aborts the upstream request', async () => {
    let upstreamClosed: () => void;
    const closed = new Promise<void>((resolve) => {
      upstreamClosed = resolve;
    });
    const slow = await backend({
      handler: (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write('first part\n');
        res.on('close', () => upstreamClosed());
        return true; // never ends on its own
      },
    });
    const server = await startProxy({ routes: [{ match: '^/', backends: [slow.url] }] });
    try {
      const socket = connect(server.port, '127.0.0.1');
      socket.write('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n');
      await new Promise<void>((resolve) => socket.once('data', () => resolve()));
      socket.destroy();
      const outcome = await Promise.race([closed.then(() => 'closed'), sleep(2000).then(() => 'still open')]);
      assert.equal(outcome, 'closed');
      const [snapshot] = await server.control('proxy', 'backends');
      const b = (snapshot!.result as Array<{ backends: Array<{ inFlight: number }> }>)[0]!.backends[0]!;
      assert.equal(b.inFlight, 0);
    } finally {
      await server.close();
    }
  });

  test('retries: a reset GET goes to the next backend; a reset POST with a body is not replayed', async () => {
    const resetting = await backend({ name: 'r', raw: (socket) => socket.destroy() });
    const good = await backend({ name: 'good' });
    const logs = captureLogs();
    const server = await startProxy({
      routes: [{ match: '^/', balancer: 'first-alive', backends: [resetting.url, good.url], max_fails: 100 }],
    });
    try {
      const get = await fetchText(`${server.url}/g`);
      assert.equal(get.status, 200);
      assert.equal(get.headers['x-backend'], 'good');
      const post = await fetchText(`${server.url}/p`, { method: 'POST', body: 'payload' });
      assert.equal(post.status, 502);
      assert.equal(good.seen.filter((r) => r.method === 'POST').length, 0, 'not replayed');
    } finally {
      logs.restore();
      await server.close();
    }
  });

  test('a pooled connection that dies when reused is retried on a fresh one, without blaming the backend', async () => {
    // Each connection answers its first request and is cut when a second one arrives: the race of a
    // backend closing an idle keep-alive connection just as the proxy reuses it.
    const perSocket = new WeakMap<object, number>();
    const flaky = await backend({
      raw: (socket) => {
        const n = (perSocket.get(socket) ?? 0) + 1;
        perSocket.set(socket, n);
        if (n === 1) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        else socket.destroy();
      },
    });
    const server = await startProxy({ routes: [{ match: '^/', backends: [flaky.url], max_fails: 1 }] });
    try {
      for (let i = 0; i < 5; i++) {
        const res = await fetchText(`${server.url}/${i}`);
        assert.equal(res.status, 200);
        assert.equal(res.body, 'ok');
      }
      assert.ok(flaky.connections >= 5);
      assert.deepEqual(await states(server.control), ['up'], 'stale connections are not backend failures');
    } finally {
      await server.close();
    }
  });
});
