/**
 * Every upstream connection reads into one shared buffer (upstream-client.ts): body bytes must come out
 * exactly as the backend sent them, also when several responses are in flight at once, when the client
 * reads slowly (chunks wait in write queues while later reads reuse the buffer) and for chunked bodies.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import type { RunningServer } from '../src/main/compose.ts';
import { type FakeBackend, sleep, startFakeBackend, startProxy } from './helpers/fake-backend.ts';

/** Random content per path, so that bytes from another response or an older read would show. */
const bodies = new Map<string, Buffer>();
for (let i = 0; i < 6; i++) bodies.set(`/b${i}`, randomBytes(512 * 1024 + i * 977));

let backend: FakeBackend;
let server: RunningServer;

before(async () => {
  backend = await startFakeBackend({
    handler: (req, res) => {
      const body = bodies.get(req.url!.replace('/chunked', ''));
      if (body === undefined) return false;
      const chunked = req.url!.startsWith('/chunked');
      res.writeHead(200, chunked ? {} : { 'Content-Length': body.length });
      // Uneven writes so that reads end mid-chunk and mid-line.
      let off = 0;
      const step = (): void => {
        if (off >= body.length) {
          res.end();
          return;
        }
        const n = 1 + ((off * 7919) % 40000);
        res.write(body.subarray(off, off + n));
        off += n;
        setImmediate(step);
      };
      step();
      return true;
    },
  });
  server = await startProxy({ routes: [{ match: '^/', backends: [backend.url] }] });
});

after(async () => {
  await server.close();
  await backend.stop();
});

function digest(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A raw client that sends its request and reads nothing for `stallMs`; resolves to the body's digest. */
function stalledDigest(path: string, stallMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const { port } = new URL(server.url);
    const socket = connect({ host: '127.0.0.1', port: Number(port) });
    const parts: Buffer[] = [];
    socket.pause();
    socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    void sleep(stallMs).then(() => socket.resume());
    socket.on('data', (chunk: Buffer) => parts.push(chunk));
    socket.on('end', () => {
      const all = Buffer.concat(parts);
      resolve(digest(all.subarray(all.indexOf('\r\n\r\n') + 4)));
    });
    socket.on('error', reject);
  });
}

/** Fetch `path`, pausing now and then when `slow`; resolves to the body's digest. */
function fetchDigest(path: string, slow: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`${server.url}${path}`, (res) => {
      assert.equal(res.statusCode, 200);
      const hash = createHash('sha256');
      let n = 0;
      res.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        if (slow && ++n % 8 === 0) {
          res.pause();
          void sleep(2).then(() => res.resume());
        }
      });
      res.on('end', () => resolve(hash.digest('hex')));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

test('concurrent proxied bodies arrive byte for byte (sized and chunked, fast and slow clients)', async () => {
  // A client that stops reading: its response waits in the proxy's write queue (the kernel buffers are
  // full) while the other downloads keep reading into the shared buffer.
  const big = randomBytes(12 * 1024 * 1024);
  bodies.set('/big', big);
  const stalled = stalledDigest('/big', 400);
  await sleep(50);
  const jobs: Promise<void>[] = [stalled.then((got) => assert.equal(got, digest(big), 'stalled client'))];
  for (const [path, body] of bodies) {
    if (path === '/big') continue;
    const expected = digest(body);
    for (const [prefix, slow] of [
      ['', false],
      ['/chunked', true],
    ] as const) {
      jobs.push(
        fetchDigest(`${prefix}${path}`, slow).then((got) => assert.equal(got, expected, prefix + path)),
      );
    }
  }
  await Promise.all(jobs);
});
