/**
 * The dashboard's live stream stays small with many backends: 100 proxy backends (10 routes of 10, one
 * loopback origin listening on 100 ports), traffic on every one of them, and the bytes of `/api/events`
 * counted per second of data (the seconds the frames carry, not the wall clock, so a loaded machine
 * cannot make it flaky). The budget is 10 KiB per second of stream after the one-off history frame.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';
import { type EventFrame, eventFrameReader } from './admin-client.ts';

const BACKENDS = 100;
const PER_ROUTE = 10;
const BUDGET = 10 * 1024;

let server: RunningServer;
const origins: http.Server[] = [];

before(async () => {
  setLogSink(() => {});
  const urls: string[] = [];
  for (let i = 0; i < BACKENDS; i++) {
    const origin = http.createServer((_req, res) => res.end('ok\n'));
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    origins.push(origin);
    urls.push(`http://127.0.0.1:${(origin.address() as { port: number }).port}`);
  }
  const routes = [];
  for (let r = 0; r < BACKENDS / PER_ROUTE; r++) {
    routes.push({ match: `^/r${r}/`, backends: urls.slice(r * PER_ROUTE, (r + 1) * PER_ROUTE) });
  }
  server = await startServer({
    config: {
      plugins: ['cache', 'proxy', 'static'],
      server: { port: 0, workers: 2 },
      static: { root: 'test/fixtures/static' },
      proxy: { routes },
      admin: { port: 0 },
    },
  });
});

after(async () => {
  await server?.close();
  for (const origin of origins) origin.close();
  setLogSink(null);
});

/** Read `/api/events` until `stats` frames have arrived; frames with their size on the wire. */
function readFrames(stats: number, onStats: () => void): Promise<EventFrame[]> {
  const frames: EventFrame[] = [];
  return new Promise((resolve, reject) => {
    const req = http.get(new URL('/api/events', server.admin!.url), { agent: false }, (res) => {
      assert.equal(res.statusCode, 200);
      res.setEncoding('utf8');
      const read = eventFrameReader((frame) => {
        frames.push(frame);
        if (frame.event === 'stats') onStats();
      });
      res.on('data', (chunk: string) => {
        read(chunk);
        if (frames.filter((f) => f.event === 'stats').length >= stats) {
          req.destroy();
          resolve(frames);
        }
      });
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`fewer than ${stats} stats events in 30 s`)));
  });
}

/** One request to every backend (round-robin over each route's ten). */
async function traffic(): Promise<void> {
  const requests: Array<Promise<unknown>> = [];
  for (let r = 0; r < BACKENDS / PER_ROUTE; r++) {
    for (let i = 0; i < PER_ROUTE; i++) {
      requests.push(fetch(`${server.url}/r${r}/${i}`).then((res) => res.arrayBuffer()));
    }
  }
  await Promise.all(requests);
}

describe('the live stream with 100 backends', { timeout: 60_000 }, () => {
  it('lists every backend once, then sends under 10 KiB per second of data', async () => {
    let pending = Promise.resolve();
    // Traffic on every backend between frames, so the per-second figures are not all zeros.
    const frames = await readFrames(8, () => {
      pending = pending.then(traffic);
    });
    await pending;
    const [history, ...rest] = frames;
    assert.equal(history!.event, 'history');
    assert.equal(history!.data.backends.list.flatMap((r: { urls: string[] }) => r.urls).length, BACKENDS);
    const stats = rest.filter((f) => f.event === 'stats');
    // The first stats frame after connecting is the latest snapshot; count from the one after.
    const measured = stats.slice(1);
    const first = measured[0]!.data.points.at(-1).t;
    const last = measured.at(-1)!.data.points.at(-1).t;
    assert.ok(last > first, 'the frames span seconds');
    // Frames are one per second; a skipped second (a slow tick) only lowers the rate.
    const bytes = measured.slice(1).reduce((n, f) => n + f.bytes, 0);
    const perSecond = bytes / (last - first);
    const largest = Math.max(...measured.map((f) => f.bytes));
    console.log(
      `# SSE: ${Math.round(perSecond)} bytes/s with ${BACKENDS} backends (largest frame ${largest}, ` +
        `history frame ${history!.bytes})`,
    );
    assert.ok(perSecond < BUDGET, `${Math.round(perSecond)} bytes/s (budget ${BUDGET})`);
    // The second after a reload that changed the backends carries the list once more: still in budget.
    const list = Buffer.byteLength(JSON.stringify(history!.data.backends.list));
    assert.ok(largest + list < BUDGET, `a frame with the list: ${largest + list} bytes (budget ${BUDGET})`);
    // Every second carries every backend's figures, and the traffic shows in them.
    for (const f of measured) assert.equal(f.data.backends.now.r.length, BACKENDS);
    const sent = measured.reduce(
      (n, f) => n + f.data.backends.now.r.reduce((a: number, b: number) => a + b, 0),
      0,
    );
    assert.ok(sent > 0, 'backend requests counted per second');

    // The eviction policy's state and the protocol counters travel only when they changed: the history
    // frame has them (and the policy's choices over the window), a frame repeats none.
    assert.equal(typeof history!.data.policy.now.running, 'string');
    assert.ok(history!.data.policy.changes.length >= 1, 'the choice the window starts with');
    assert.ok(history!.data.protocols.connections.h1 >= 0);
    let policy = JSON.stringify(history!.data.policy.now);
    let protocols = JSON.stringify(history!.data.protocols);
    // (The first stats frame is the latest snapshot as it was, which may carry what changed then.)
    for (const f of stats) assert.equal(f.data.cache.policyState, undefined);
    for (const f of measured) {
      assert.equal(f.data.cache.policyState, undefined, 'not inside the cache counters every second');
      if (f.data.policy !== undefined) {
        assert.notEqual(JSON.stringify(f.data.policy), policy, 'sent again only when changed');
        policy = JSON.stringify(f.data.policy);
      }
      if (f.data.protocols !== undefined) {
        assert.notEqual(JSON.stringify(f.data.protocols), protocols, 'sent again only when changed');
        protocols = JSON.stringify(f.data.protocols);
      }
    }
  });
});
