/**
 * Warm restart across two server starts: the first run saves its index on close, the second reloads the
 * files in the background and answers them as hits without reading them per request. A file changed in
 * between, and a corrupt state file, are skipped with a warning and never served stale.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CacheStatsSnapshot } from '../src/cache/stats.ts';
import { rawRequest } from '../src/http/test-client.ts';
import { type RunningServer, startServer } from '../src/main/compose.ts';

const root = mkdtempSync(join(tmpdir(), 'tamarin-warm-'));
const stateFile = join(root, 'state', 'cache.json');
after(() => rmSync(root, { recursive: true, force: true }));

const site = join(root, 'site');
mkdirSync(site);

function start(): Promise<RunningServer> {
  return startServer({
    config: {
      plugins: ['cache', 'static'],
      server: { host: '127.0.0.1', port: 0 },
      static: { root: site },
      cache: { warm_restart: true, state_file: stateFile },
    },
    inProcess: true,
  });
}

async function get(server: RunningServer, path: string): Promise<string> {
  const bytes = await rawRequest(server.port, `GET ${path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`);
  return bytes.toString('latin1');
}

async function stats(server: RunningServer): Promise<CacheStatsSnapshot> {
  return (await server.control('cache', 'stats'))[0]!.result as CacheStatsSnapshot;
}

/** Poll until the background reload has added `count` entries (bounded). */
async function waitForWarm(server: RunningServer, count: number): Promise<CacheStatsSnapshot> {
  for (let i = 0; i < 100; i++) {
    const s = await stats(server);
    if (s.warmLoaded >= count) return s;
    await sleep(20);
  }
  return stats(server);
}

test('the hottest entries survive a restart; changed files are skipped, never served stale', async () => {
  writeFileSync(join(site, 'a.txt'), 'alpha\n');
  writeFileSync(join(site, 'b.txt'), 'bravo\n');
  writeFileSync(join(site, 'c.txt'), 'charlie\n');

  const first = await start();
  for (const path of ['/a.txt', '/a.txt', '/b.txt', '/c.txt']) await get(first, path);
  const original = await get(first, '/a.txt');
  await first.close();
  const saved = JSON.parse(readFileSync(stateFile, 'utf8')) as { entries: Array<{ key: string }> };
  assert.deepEqual(saved.entries.map((e) => e.key).sort(), ['/a.txt', '/b.txt', '/c.txt']);
  assert.ok(!readFileSync(stateFile, 'utf8').includes('alpha'), 'bodies are not saved');

  writeFileSync(join(site, 'c.txt'), 'charlie, edited\n'); // changed while the server was down

  const second = await start();
  try {
    const warmed = await waitForWarm(second, 2);
    assert.equal(warmed.warmLoaded, 2);
    assert.equal(warmed.entries, 2);
    const again = await get(second, '/a.txt');
    assert.equal(again.replace(/Date: [^\r]*/, ''), original.replace(/Date: [^\r]*/, ''));
    await get(second, '/b.txt');
    assert.match(await get(second, '/c.txt'), /charlie, edited/);
    const s = await stats(second);
    assert.equal(s.hits, 2, 'a.txt and b.txt were hits at once');
    assert.equal(s.misses, 1, 'c.txt was read fresh');
  } finally {
    await second.close();
  }
});

test('a corrupt state file is ignored: the server starts cold and works', async () => {
  writeFileSync(stateFile, '{"version":1,"entries":[{"key":');
  writeFileSync(join(site, 'a.txt'), 'alpha\n');
  const server = await start();
  try {
    await sleep(50);
    assert.match(await get(server, '/a.txt'), /^HTTP\/1\.1 200 OK[\s\S]*alpha/);
    const s = await stats(server);
    assert.equal(s.warmLoaded, 0);
    assert.equal(s.misses, 1);
  } finally {
    await server.close();
  }
});
