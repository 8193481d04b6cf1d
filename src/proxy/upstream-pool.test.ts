import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { test } from 'node:test';
import { Backend } from './backend.ts';
import type { UpstreamError } from './errors.ts';
import type { UpstreamConnection, UpstreamUser } from './upstream-client.ts';
import { sweepPeriod, UPSTREAM_LIMITS, UpstreamPool } from './upstream-pool.ts';

function backendAt(port: number): Backend {
  return new Backend(
    { url: `http://127.0.0.1:${port}`, host: '127.0.0.1', port, weight: 1 },
    0,
    { maxFails: 3, failWindow: 1000, cooldown: 1000 },
    null,
  );
}

/** A user that records what the connection tells it. */
function recorder(): UpstreamUser & { events: string[] } {
  const events: string[] = [];
  return {
    events,
    onUpstreamConnect: () => events.push('connect'),
    onUpstreamHead: () => events.push('head'),
    onUpstreamBody: () => events.push('body'),
    onUpstreamComplete: () => true,
    onUpstreamError: (error: UpstreamError) => events.push(error.code),
    onUpstreamDrain: () => {},
    onUpstreamReadDone: () => {},
  };
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
}

test('the sweep period is an eighth of the shortest timeout, within 5 ms .. 1 s; none without timeouts', () => {
  assert.equal(sweepPeriod({ connectTimeout: 2000, responseTimeout: 30_000, idleTimeout: 4000 }), 250);
  assert.equal(sweepPeriod({ connectTimeout: 0, responseTimeout: 400, idleTimeout: 0 }), 50);
  assert.equal(sweepPeriod({ connectTimeout: 20, responseTimeout: 0, idleTimeout: 0 }), 5);
  assert.equal(sweepPeriod({ connectTimeout: 60_000, responseTimeout: 60_000, idleTimeout: 60_000 }), 1000);
  assert.equal(sweepPeriod({ connectTimeout: 0, responseTimeout: 0, idleTimeout: 0 }), 0);
});

test('a connection still connecting after connect_timeout fails with ERR_PROXY_CONNECT_TIMEOUT', async () => {
  const server = createServer((socket) => socket.destroy());
  const port = await listen(server);
  const settings = { connectTimeout: 30, responseTimeout: 1000, idleTimeout: 1000, keepalive: 4 };
  const pool = new UpstreamPool(backendAt(port), { ...settings, limits: UPSTREAM_LIMITS });
  try {
    const user = recorder();
    const conn: UpstreamConnection = pool.acquire(user);
    assert.equal(conn.ready, false);
    // The socket cannot have connected yet (no event-loop turn since acquire). Sweeps of 10 ms: three
    // later, at least 20 ms of silence are certain (the sweep in progress is not counted); four, 30.
    conn.checkTimeout(pool.ticks + 3, 10);
    assert.deepEqual(user.events, []);
    conn.checkTimeout(pool.ticks + 4, 10);
    assert.deepEqual(user.events, ['ERR_PROXY_CONNECT_TIMEOUT']);
    assert.equal(conn.usable, false);
  } finally {
    pool.close();
    server.close();
  }
});

test('the pool sweeps only while it has connections, and idle ones close after idle_timeout', async () => {
  const server = createServer((socket) => {
    socket.on('data', () => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
  });
  const port = await listen(server);
  const backend = backendAt(port);
  const settings = { connectTimeout: 1000, responseTimeout: 1000, idleTimeout: 80, keepalive: 4 };
  const pool = new UpstreamPool(backend, { ...settings, limits: UPSTREAM_LIMITS });
  try {
    const user = recorder();
    const done = new Promise<void>((resolve) => {
      user.onUpstreamComplete = () => {
        resolve();
        return true;
      };
    });
    user.onUpstreamConnect = (conn) => conn.send('GET', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    pool.acquire(user);
    await done;
    assert.equal(backend.idleConnections, 1);
    const ticks = pool.ticks;
    await new Promise((resolve) => setTimeout(resolve, 250));
    assert.equal(backend.idleConnections, 0, 'closed after idle_timeout');
    assert.ok(pool.ticks > ticks, 'swept meanwhile');
    await new Promise((resolve) => setTimeout(resolve, 60));
    const stopped = pool.ticks;
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(pool.ticks, stopped, 'no sweeps without connections');
  } finally {
    pool.close();
    server.close();
  }
});
