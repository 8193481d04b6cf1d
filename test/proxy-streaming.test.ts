/**
 * 100 MiB through the proxy in each direction, with a slow reader on the far end, in bounded memory:
 * backpressure must reach from one socket to the other instead of piling bytes up in the proxy.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { RunningServer } from '../src/main/compose.ts';
import { type FakeBackend, sleep, startFakeBackend, startProxy } from './helpers/fake-backend.ts';

const SIZE = 100 * 1024 * 1024;
/**
 * Growth with backpressure is a fixed amount whatever the size moved (10-29 MiB measured: the client, the
 * proxy and the fake backend all run in this process, so their socket buffers and in-flight chunks all
 * count; the same ~28 MiB for 50 and for 100 MiB on an idle machine). A proxy that buffered whole bodies
 * grows with the size (37-39 MiB of 50 MiB measured without backpressure), far past this bound at 100 MiB.
 */
const MEMORY_BOUND = 40 * 1024 * 1024;

let backend: FakeBackend;
let server: RunningServer;

before(async () => {
  backend = await startFakeBackend({
    handler: (req, res) => {
      if (req.url !== '/slow-upload') return false;
      // A backend that reads slowly: pauses 5 ms after every 1 MiB.
      let received = 0;
      let sincePause = 0;
      req.on('data', (chunk: Buffer) => {
        received += chunk.length;
        sincePause += chunk.length;
        if (sincePause >= 1024 * 1024) {
          sincePause = 0;
          req.pause();
          setTimeout(() => req.resume(), 5);
        }
      });
      req.on('end', () => res.end(String(received)));
      return true;
    },
  });
  server = await startProxy(
    { routes: [{ match: '^/', backends: [backend.url] }] },
    { max_body_size: '1GiB' },
  );
});

after(async () => {
  await server.close();
  await backend.stop();
});

// A full GC before each sample, so that what is measured is what is still referenced (buffered), not
// garbage the collector has not got round to.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Sample live memory while `work` runs; returns the peak growth of Buffers + JS heap. */
async function peakGrowth(work: () => Promise<void>): Promise<number> {
  gc();
  const base = process.memoryUsage();
  const baseline = base.arrayBuffers + base.heapUsed;
  let peak = 0;
  const timer = setInterval(() => {
    gc();
    const m = process.memoryUsage();
    peak = Math.max(peak, m.arrayBuffers + m.heapUsed - baseline);
  }, 100);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return peak;
}

test('100 MiB download to a slow client: streamed with bounded memory', { timeout: 60_000 }, async () => {
  let received = 0;
  const peak = await peakGrowth(
    () =>
      new Promise<void>((resolve, reject) => {
        const req = request(`${server.url}/bytes/${SIZE}`, { agent: false }, (res) => {
          assert.equal(res.statusCode, 200);
          assert.equal(res.headers['content-length'], String(SIZE));
          let sincePause = 0;
          res.on('data', (chunk: Buffer) => {
            received += chunk.length;
            sincePause += chunk.length;
            if (sincePause >= 1024 * 1024) {
              sincePause = 0;
              res.pause();
              void sleep(10).then(() => res.resume());
            }
          });
          res.on('end', resolve);
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      }),
  );
  assert.equal(received, SIZE);
  assert.ok(peak < MEMORY_BOUND, `memory grew by ${(peak / 1048576).toFixed(1)} MiB`);
});

test('100 MiB upload (sized and chunked) to a slow backend: streamed with bounded memory', {
  timeout: 60_000,
}, async () => {
  for (const chunked of [false, true]) {
    let answer = '';
    const peak = await peakGrowth(
      () =>
        new Promise<void>((resolve, reject) => {
          const headers: Record<string, string> = chunked
            ? { 'Transfer-Encoding': 'chunked' }
            : { 'Content-Length': String(SIZE) };
          const req = request(
            `${server.url}/slow-upload`,
            { method: 'PUT', agent: false, headers },
            (res) => {
              res.setEncoding('utf8');
              res.on('data', (d: string) => {
                answer += d;
              });
              res.on('end', resolve);
            },
          );
          req.on('error', reject);
          const piece = Buffer.alloc(64 * 1024, 'u');
          let left = SIZE;
          const pump = () => {
            while (left > 0) {
              left -= piece.length;
              if (!req.write(piece)) {
                req.once('drain', pump);
                return;
              }
            }
            req.end();
          };
          pump();
        }),
    );
    assert.equal(answer, String(SIZE), chunked ? 'chunked' : 'sized');
    assert.ok(peak < MEMORY_BOUND, `memory grew by ${(peak / 1048576).toFixed(1)} MiB (chunked: ${chunked})`);
  }
});
