/**
 * The upstream connection keeps one inactivity timer for both of its phases (the shorter of
 * response_timeout and idle_timeout): a response slower than idle_timeout but within response_timeout
 * must still arrive, and a silent backend must still get its 504 at response_timeout.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  captureLogs,
  type FakeBackend,
  fetchText,
  startFakeBackend,
  startProxy,
} from './helpers/fake-backend.ts';

const started: FakeBackend[] = [];

after(async () => {
  await Promise.all(started.map((b) => b.stop()));
});

async function delayed(): Promise<FakeBackend> {
  const b = await startFakeBackend({
    handler: (req, res) => {
      const delay = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('ms') ?? 0);
      setTimeout(() => res.end(`after ${delay}`), delay).unref();
      return true;
    },
  });
  started.push(b);
  return b;
}

describe('upstream timeouts', () => {
  for (const idle of ['100ms', '0ms']) {
    test(`idle_timeout ${idle}, response_timeout 400ms: slow answers pass, silence gets 504`, async () => {
      const backend = await delayed();
      const logs = captureLogs();
      const server = await startProxy({
        routes: [{ match: '^/', backends: [backend.url], response_timeout: '400ms', idle_timeout: idle }],
      });
      try {
        // Twice: the second request reuses the pooled connection and its timer.
        for (let i = 0; i < 2; i++) {
          const slow = await fetchText(`${server.url}/?ms=250`);
          assert.equal(slow.status, 200, 'slower than idle_timeout, within response_timeout');
          assert.equal(slow.body, 'after 250');
        }
        const startedAt = Date.now();
        const silent = await fetchText(`${server.url}/?ms=1500`);
        assert.equal(silent.status, 504);
        const took = Date.now() - startedAt;
        assert.ok(took >= 350 && took < 1200, `504 at response_timeout, took ${took} ms`);
      } finally {
        logs.restore();
        await server.close();
      }
    });
  }
});
