/**
 * Requests the engine answers by itself (parser rejections, header timeout, connection limit) over real
 * sockets against a real in-process server: each is one access-log line and one response in the server
 * counters, as nginx logs and counts the 400s it sends; normal requests are still logged once.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import type { ServerStatsSnapshot } from '../src/server/counters.ts';
import { setLogSink } from '../src/server/logger.ts';
import { Client } from './http-engine-helpers.ts';

const FIXTURES = path.resolve('test/fixtures/static');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-engine-answers-'));

/** Start a server that logs to `name` (combined format unless told) with these `[server]` settings. */
async function start(name: string, server: Record<string, unknown>, format = 'combined') {
  const file = path.join(dir, name);
  const running = await startServer({
    config: {
      plugins: ['access_log', 'static'],
      server: { port: 0, ...server },
      static: { root: FIXTURES },
      access_log: { format, path: file },
    },
    inProcess: true,
  });
  return { server: running, file };
}

/**
 * The log's lines once `count` of them are written (the plugin batches: flush, then wait for the file),
 * trying `tries` times 10 ms apart.
 */
async function logLines(server: RunningServer, file: string, count: number, tries = 300): Promise<string[]> {
  let lines: string[] = [];
  for (let i = 0; i < tries; i++) {
    await server.control('access_log', 'flush');
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    lines = text.split('\n').filter((line) => line !== '');
    if (lines.length >= count) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return lines;
}

/** Send `bytes` on a fresh connection and return what came back once the server closed it. */
async function exchange(port: number, bytes: string): Promise<string> {
  const client = await Client.open(port);
  client.send(bytes);
  await client.waitClosed(3000);
  return client.data.toString('latin1');
}

async function stats(server: RunningServer): Promise<ServerStatsSnapshot> {
  const [first] = await server.control('server', 'stats');
  return first!.result as ServerStatsSnapshot;
}

before(() => setLogSink(() => {}));
after(() => {
  setLogSink(null);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('engine-made answers in the access log and the counters', () => {
  let server: RunningServer;
  let file: string;
  before(async () => ({ server, file } = await start('combined.log', { max_head_size: 1024 })));
  after(() => server.close());

  it('a bad request line: 400 to the client, one line with "-" as the request, counted as 4xx', async () => {
    const before = await stats(server);
    const reply = await exchange(server.port, 'GARBAGE\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 400 /);
    const lines = await logLines(server, file, 1);
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0]!, /^127\.0\.0\.1 - - \[[^\]]+\] "-" 400 \d+ "-" "-"$/);
    const now = await stats(server);
    assert.equal(now.statusClasses[3] - before.statusClasses[3], 1);
    assert.equal(now.requests - before.requests, 1);
  });

  it('an over-long header: 431, logged with its request line and the bytes sent', async () => {
    const reply = await exchange(
      server.port,
      `GET /big?q=1 HTTP/1.1\r\nHost: a\r\nX-Long: ${'a'.repeat(2000)}\r\n\r\n`,
    );
    assert.match(reply, /^HTTP\/1\.1 431 /);
    const body = reply.slice(reply.indexOf('\r\n\r\n') + 4);
    const lines = await logLines(server, file, 2);
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(lines[1]!, new RegExp(`"GET /big\\?q=1 HTTP/1\\.1" 431 ${body.length} "-" "-"$`));
  });

  it('a path above the root: 400 with the reason, logged with the target as the client sent it', async () => {
    const reply = await exchange(server.port, 'GET /a/%2e%2e/../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 400 [\s\S]*above the root/);
    const lines = await logLines(server, file, 3);
    assert.equal(lines.length, 3, lines.join('\n'));
    assert.match(lines[2]!, /"GET \/a\/%2e%2e\/\.\.\/etc\/passwd HTTP\/1\.1" 400 /);
  });

  it('a normal request is still logged once, and pipelined good + bad gives two lines', async () => {
    const before = await stats(server);
    const reply = await exchange(
      server.port,
      'GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\nBad Header\r\n\r\n',
    );
    assert.match(reply, /^HTTP\/1\.1 200 OK[\s\S]*HTTP\/1\.1 400 /);
    const lines = await logLines(server, file, 5);
    assert.equal(lines.length, 5, lines.join('\n'));
    assert.match(lines[3]!, /"GET \/hello\.txt HTTP\/1\.1" 200 /);
    assert.match(lines[4]!, /"GET \/next HTTP\/1\.1" 400 /);
    const now = await stats(server);
    assert.equal(now.statusClasses[1] - before.statusClasses[1], 1, '2xx');
    assert.equal(now.statusClasses[3] - before.statusClasses[3], 1, '4xx');
    // Nothing else is logged for these connections later (no second line when they close).
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal((await logLines(server, file, 6, 10)).length, 5);
  });
});

describe('engine-made answers: timeouts, the connection limit, JSON lines', () => {
  it('a head that times out: 408, logged with the time since the head began', async () => {
    const { server, file } = await start('timeout.log', { header_timeout: '150ms' }, 'json');
    try {
      const client = await Client.open(server.port);
      client.send('GET /slow HTTP/1.1\r\nHost: a\r\n');
      await client.waitClosed(3000);
      assert.match(client.data.toString('latin1'), /^HTTP\/1\.1 408 /);
      const lines = await logLines(server, file, 1);
      assert.equal(lines.length, 1);
      const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
      assert.equal(entry.status, 408);
      assert.equal(entry.method, 'GET');
      assert.equal(entry.target, '/slow');
      assert.ok((entry.duration_ms as number) >= 140, `duration ${String(entry.duration_ms)}`);
      assert.equal((await stats(server)).statusClasses[3], 1);
    } finally {
      await server.close();
    }
  });

  it('JSON lines: an unreadable request line has null method, target and version', async () => {
    const { server, file } = await start('json.log', {}, 'json');
    try {
      assert.match(await exchange(server.port, 'GET / HTTP/9.9\r\n\r\n'), /^HTTP\/1\.1 505 /);
      const [line] = await logLines(server, file, 1);
      const entry = JSON.parse(line!) as Record<string, unknown>;
      assert.equal(entry.status, 505);
      assert.equal(entry.method, null);
      assert.equal(entry.target, null);
      assert.equal(entry.version, null);
      assert.equal(entry.remote, '127.0.0.1');
      assert.equal((await stats(server)).statusClasses[4], 1);
    } finally {
      await server.close();
    }
  });

  it('over max_connections: the 503 is logged and counted', async () => {
    const { server, file } = await start('busy.log', { max_connections: 1 });
    const holder = await Client.open(server.port);
    try {
      // The held connection is in the engine's set once it answered a request.
      holder.send('GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n');
      await holder.responses(1);
      assert.match(await exchange(server.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n'), /^HTTP\/1\.1 503 /);
      const lines = await logLines(server, file, 2);
      assert.equal(lines.length, 2, lines.join('\n'));
      assert.match(lines[1]!, /^127\.0\.0\.1 - - \[[^\]]+\] "-" 503 30 "-" "-"$/);
      assert.equal((await stats(server)).statusClasses[4], 1);
    } finally {
      holder.destroy();
      await server.close();
    }
  });
});
