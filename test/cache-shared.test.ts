/**
 * The shared content cache through the real server with worker threads: one store for every worker (a
 * file is read from disk once, whichever worker gets the connection), bodies large and small served
 * byte-exact from shared memory, and a restarted worker finding the cache intact.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CacheStatsSnapshot } from '../src/cache/stats.ts';
import { parseResponses } from '../src/http/test-client.ts';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';
import { freshRequest } from './helpers/fresh-connection.ts';
import { pipelinedGets, slowReader } from './helpers/slow-reader.ts';

/** A plugin that crashes its worker on demand (as test/workers.test.ts's probe). */
const CRASHER = `
import { definePlugin, z } from ${JSON.stringify(path.resolve('src/index.ts'))};
export default definePlugin({
  name: 'crasher',
  options: z.strictObject({}),
  create: (_options, context) => ({
    name: 'crasher',
    control(command, args) {
      if (command === 'crash' && args === context.workerId) {
        setImmediate(() => { throw new Error('planned crash'); });
        return 'crashing';
      }
      return 'staying';
    },
  }),
});
`;

/** One GET on a fresh connection (so the kernel picks a worker each time): status and body bytes. */
const get = (port: number, target: string) => freshRequest(port, 'GET', target);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('shared content cache with worker threads', () => {
  let dir: string;
  let server: RunningServer;
  /** What the next `server.reload()` reads. */
  let reloadTo: Record<string, unknown>;
  const big = crypto.randomBytes(300_000);
  const small = Buffer.from('small file body\n');

  async function stats(): Promise<CacheStatsSnapshot[]> {
    const results = await server.control('cache', 'stats');
    return results.map((r) => r.result as CacheStatsSnapshot);
  }
  const sum = (rows: CacheStatsSnapshot[], key: 'hits' | 'originFetches') =>
    rows.reduce((total, row) => total + row[key], 0);

  async function entries(): Promise<string[]> {
    const [first] = await server.control('cache', 'entries', { limit: 100 });
    return (first!.result as { entries: Array<{ path: string }> }).entries.map((e) => e.path);
  }

  before(async () => {
    setLogSink(() => {});
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-shared-cache-'));
    fs.mkdirSync(path.join(dir, 'site'));
    fs.writeFileSync(path.join(dir, 'site', 'big.bin'), big);
    fs.writeFileSync(path.join(dir, 'site', 'small.txt'), small);
    fs.writeFileSync(path.join(dir, 'crasher.mjs'), CRASHER);
    reloadTo = {
      plugins: ['./crasher.mjs', 'cache', 'static'],
      server: { port: 0, workers: 2, shutdown_timeout: '2s' },
      static: { root: path.join(dir, 'site') },
      cache: { max_size: '8MiB' },
    };
    server = await startServer({
      config: structuredClone(reloadTo),
      configPath: path.join(dir, 'tamarin.toml'),
      reloadConfig: async () => structuredClone(reloadTo),
      admin: false,
    });
  });
  after(async () => {
    await server?.close();
    setLogSink(null);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a file asked for through many fresh connections is read from disk once, whichever worker answers', async () => {
    for (const [target, bytes] of [
      ['/small.txt', small],
      ['/big.bin', big],
    ] as const) {
      const first = await get(server.port, target);
      assert.equal(first.status, 200);
      assert.ok(first.body.equals(bytes));
      // The owner stores it just after the first answer left.
      for (let i = 0; i < 100 && !(await entries()).includes(target); i++) await sleep(10);
      for (let i = 0; i < 30; i++) {
        const { status, body, head } = await get(server.port, target);
        assert.equal(status, 200);
        assert.ok(body.equals(bytes), `${target} byte-exact from shared memory`);
        assert.match(head, new RegExp(`Content-Length: ${bytes.length}\r\n`));
      }
    }
    const rows = await stats();
    assert.equal(sum(rows, 'originFetches'), 2, 'each file read once for the whole server');
    assert.ok(sum(rows, 'hits') >= 60);
    assert.ok(
      rows.every((row) => row.hits > 0),
      'both workers answered hits from the one store',
    );
    assert.ok(rows[0]!.shared);
    assert.equal(rows[0]!.entries, 2);
    assert.equal(rows[1]!.entries, 2, 'every worker sees the same store');
  });

  it('concurrent cold misses in both workers read each file once (single flight across workers)', async () => {
    const files = 4;
    for (let f = 0; f < files; f++)
      fs.writeFileSync(path.join(dir, 'site', `cold-${f}.bin`), big.subarray(0, 50_000 + f));
    const before = sum(await stats(), 'originFetches');
    for (let f = 0; f < files; f++) {
      const answers = await Promise.all(Array.from({ length: 40 }, () => get(server.port, `/cold-${f}.bin`)));
      for (const { status, body } of answers) {
        assert.equal(status, 200);
        assert.ok(body.equals(big.subarray(0, 50_000 + f)));
      }
    }
    const rows = await stats();
    assert.equal(sum(rows, 'originFetches') - before, files, 'one disk read per file for the whole server');
  });

  it('a restarted worker finds the cache intact', async () => {
    for (const id of [0, 1]) {
      const before = (await stats())[id];
      await server.control('crasher', 'crash', id);
      // Wait for the new thread: its counters start from zero.
      for (let i = 0; i < 100; i++) {
        await sleep(50);
        const now = (await server.control('cache', 'stats'))[id];
        if (now?.result !== undefined && (now.result as CacheStatsSnapshot).hits < (before?.hits ?? 0)) break;
      }
    }
    for (let i = 0; i < 20; i++) {
      const { status, body } = await get(server.port, '/big.bin');
      assert.equal(status, 200);
      assert.ok(body.equals(big));
    }
    const rows = await stats();
    assert.equal(sum(rows, 'originFetches'), 0, 'no worker went to disk after its restart');
    assert.ok(sum(rows, 'hits') >= 20);
    const listed = await entries();
    assert.ok(listed.includes('/big.bin') && listed.includes('/small.txt'));
  });

  it('a reload keeps the shared store: cached files still hit, and a change that shapes them stores them again', async () => {
    const base = structuredClone(reloadTo);
    // Served from the store now (the previous test left both files there).
    for (let i = 0; i < 4; i++) assert.equal((await get(server.port, '/small.txt')).status, 200);
    const before = sum(await stats(), 'originFetches');
    const hitsBefore = sum(await stats(), 'hits');
    reloadTo = { ...base, server: { ...(base.server as object), keepalive_timeout: '7s' } };
    assert.deepEqual((await server.reload()).changed, ['server']);
    for (let i = 0; i < 20; i++) {
      const { status, body } = await get(server.port, i % 2 === 0 ? '/small.txt' : '/big.bin');
      assert.equal(status, 200);
      assert.ok(body.equals(i % 2 === 0 ? small : big));
    }
    let rows = await stats();
    assert.equal(sum(rows, 'originFetches'), before, 'no file read again after the reload');
    assert.ok(sum(rows, 'hits') >= hitsBefore + 20, 'every request a hit from the same store');
    assert.ok(rows.every((row) => row.shared));

    // A changed [static] shapes the stored head: the entry stored under the old one is not served.
    reloadTo = { ...base, static: { ...(base.static as object), max_age: '1m' } };
    await server.reload();
    for (let i = 0; i < 6; i++) {
      const { status, head } = await get(server.port, '/small.txt');
      assert.equal(status, 200);
      assert.match(head, /\r\nCache-Control: public, max-age=60\r\n/i);
    }
    rows = await stats();
    assert.ok(sum(rows, 'originFetches') > before, 'read again under the new configuration');

    // The arena's size is fixed at start-up: a reload changing it is refused, naming the key.
    reloadTo = { ...base, cache: { max_size: '16MiB' } };
    await assert.rejects(server.reload(), /cache\.max_size cannot change on reload/);
    assert.equal((await get(server.port, '/small.txt')).status, 200);
  });
});

describe('which store the cache runs', () => {
  /** `shared` of the cache's stats for a server in this thread with `extra` configuration. */
  async function sharedWith(extra: Record<string, unknown>): Promise<boolean> {
    const server = await startServer({
      config: { plugins: ['cache', 'proxy', 'static'], server: { port: 0 }, ...extra },
      inProcess: true,
      admin: false,
    });
    try {
      const [row] = await server.control('cache', 'stats');
      return (row!.result as CacheStatsSnapshot).shared === true;
    } finally {
      await server.close();
    }
  }
  const route = { match: '^/api/', backends: ['http://127.0.0.1:9'] };

  it('the shared store whatever uses it: static files, caching routes, the PURGE method', async () => {
    setLogSink(() => {});
    try {
      assert.equal(await sharedWith({}), true);
      assert.equal(await sharedWith({ proxy: { routes: [route] } }), true, 'a route without cache');
      assert.equal(await sharedWith({ proxy: { routes: [{ ...route, cache: true }] } }), true);
      assert.equal(await sharedWith({ cache: { purge_method: { enabled: true } } }), true);
    } finally {
      setLogSink(null);
    }
  });
});

describe('shared content cache under churn', () => {
  let dir: string;
  let server: RunningServer;
  // Mostly 64 KiB, some small ones (the static plugin's small-file path): all read into the workers'
  // staging areas.
  const files = Array.from({ length: 48 }, (_, i) =>
    crypto.randomBytes(i % 4 === 0 ? 1000 + i * 37 : 64 * 1024),
  );

  before(async () => {
    setLogSink(() => {});
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-shared-churn-'));
    for (const [i, bytes] of files.entries()) fs.writeFileSync(path.join(dir, `f${i}.bin`), bytes);
    server = await startServer({
      config: {
        plugins: ['cache', 'static'],
        server: { port: 0, workers: 2, shutdown_timeout: '2s' },
        static: { root: dir },
        // A third of the files fit: most requests miss, read into a worker's staging area, and evict.
        cache: { max_size: '1MiB' },
      },
      configPath: path.join(dir, 'tamarin.toml'),
      admin: false,
    });
  });
  after(async () => {
    await server?.close();
    setLogSink(null);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('misses read through the staging area and hits under eviction are byte-exact', async () => {
    let seed = 11;
    for (let batch = 0; batch < 20; batch++) {
      const picks = Array.from({ length: 16 }, () => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return Math.floor(seed / 65536) % files.length;
      });
      const answers = await Promise.all(picks.map((i) => get(server.port, `/f${i}.bin`)));
      for (const [n, { status, body }] of answers.entries()) {
        assert.equal(status, 200);
        assert.ok(body.equals(files[picks[n]!]!), `/f${picks[n]}.bin byte-exact`);
      }
    }
    const rows = (await server.control('cache', 'stats')).map((r) => r.result as CacheStatsSnapshot);
    assert.ok(rows[0]!.shared);
    assert.ok(rows[0]!.evictions > 0, `the cache churned: ${JSON.stringify(rows[0])}`);
    assert.ok(rows.reduce((total, row) => total + row.hits, 0) > 0);
    assert.ok(rows[0]!.bytes <= rows[0]!.maxBytes);
  });
});

describe('shared content cache with its staging area full', () => {
  let dir: string;
  let server: RunningServer;
  // 96 KiB each: the 1 MiB staging area of a small cache holds ten of them; 80 are more than the loopback
  // socket buffers take, so the reader below leaves writes (and their staged blocks) pending.
  const files = Array.from({ length: 80 }, () => crypto.randomBytes(96 * 1024));
  const sha = (bytes: Buffer) => crypto.createHash('sha256').update(bytes).digest('hex');

  before(async () => {
    setLogSink(() => {});
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-staging-full-'));
    for (const [i, bytes] of files.entries()) fs.writeFileSync(path.join(dir, `f${i}.bin`), bytes);
    server = await startServer({
      config: {
        plugins: ['cache', 'static'],
        server: { port: 0 },
        static: { root: dir },
        cache: { max_size: '8MiB' },
      },
      inProcess: true,
      admin: false,
    });
  });

  after(async () => {
    await server?.close();
    setLogSink(null);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('misses that find no room are served whole from scratch memory and not stored', {
    timeout: 60_000,
  }, async () => {
    // A reader that does not read holds its responses' staged blocks (their writes are pending).
    const targets = files.map((_, i) => `/f${i}.bin`);
    const slow = slowReader(server.port, pipelinedGets(targets));
    // Until every request was answered into the socket's queue (bounded: the test's own timeout).
    const handled = async () => {
      const [row] = await server.control('cache', 'stats');
      const stats = row!.result as CacheStatsSnapshot;
      return stats.insertions + stats.rejections['not-admitted'];
    };
    while ((await handled()) < files.length) await sleep(20);
    slow.resume();
    const responses = parseResponses(await slow.received, { methods: targets.map(() => 'GET') });
    assert.equal(responses.length, files.length);
    for (const [i, response] of responses.entries())
      assert.equal(sha(response.body), sha(files[i]!), `response ${i}`);
    const [row] = await server.control('cache', 'stats');
    const stats = row!.result as CacheStatsSnapshot;
    assert.ok(stats.rejections['not-admitted'] > 0, 'some misses found the staging area full');
    assert.equal(stats.insertions + stats.rejections['not-admitted'], files.length);
    // Every file is still right on a second pass (from the cache or the disk).
    for (const [i, bytes] of files.entries()) {
      const { status, body } = await get(server.port, `/f${i}.bin`);
      assert.equal(status, 200);
      assert.equal(sha(body), sha(bytes), `second pass, file ${i}`);
    }
  });
});
