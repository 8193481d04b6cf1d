/**
 * The shared content cache gives the hits of one cache, whatever worker a request lands on: a real trace
 * prefix replayed through 4 workers, one request per fresh connection, has the hit ratio `tamarin sim`
 * computes for one cache of the same bounds and policy, and reads the disk once per simulated miss.
 * (bench/lib/scenario-workers-hits.ts measures a longer prefix in `npm run bench`.)
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  replayOverFreshConnections,
  simulate,
  tracePrefix,
  writeReplayFiles,
} from '../bench/lib/workers-hits.ts';
import { DEFAULT_POLICY } from '../src/cache/policies/index.ts';
import type { CacheStatsSnapshot } from '../src/cache/stats.ts';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';

// The team's shared traces sit beside the checkout (../shared), as on every developer machine and in CI.
const TRACE = path.join(import.meta.dirname, '..', '..', 'shared', 'traces', 'web_cache2k_web07.tr.gz');
const REQUESTS = 3000;
const FILE_BYTES = 512;

describe('shared cache: a trace through 4 workers hits like one cache', {
  skip: !fs.existsSync(TRACE) && `${TRACE} not found`,
}, () => {
  let dir: string;
  let server: RunningServer;
  let files: ReturnType<typeof writeReplayFiles>;
  let maxSize = 0;
  let maxEntries = 0;

  const totals = async () => {
    const rows = (await server.control('cache', 'stats')).map((r) => r.result as CacheStatsSnapshot);
    const sum = (key: 'originFetches' | 'hits') => rows.reduce((total, row) => total + row[key], 0);
    return {
      reads: sum('originFetches'),
      hits: sum('hits'),
      entries: rows[0]!.entries,
      bytes: rows[0]!.bytes,
    };
  };

  before(async () => {
    setLogSink(() => {});
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-replay-'));
    files = writeReplayFiles(path.join(dir, 'site'), await tracePrefix(TRACE, REQUESTS), FILE_BYTES);
    // About 10 % of the distinct keys (the charge per entry is measured below); slots never bind.
    maxSize = Math.round(files.unique * 0.1) * 1152;
    maxEntries = files.unique;
    server = await startServer({
      config: {
        plugins: ['cache', 'static'],
        server: { port: 0, workers: 4, shutdown_timeout: '2s' },
        static: { root: path.join(dir, 'site') },
        cache: { max_size: maxSize, max_entries: maxEntries },
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

  it('hit ratio within 1 point of tamarin sim, and one disk read per simulated miss (±1 %)', async () => {
    const before = await totals();
    const ok = await replayOverFreshConnections(server.port, files.paths, files.bytes);
    assert.equal(ok, files.paths.length, 'every request answered 200 with the whole file');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const after = await totals();
    assert.ok(after.entries > 0);
    const entryBytes = after.bytes / after.entries;
    assert.ok(Number.isInteger(entryBytes), 'every entry charged the same bytes (the sim assumes it)');
    const sim = simulate(files.paths, DEFAULT_POLICY, maxSize, maxEntries, entryBytes);
    const reads = after.reads - before.reads;
    const serverRatio = (100 * (files.paths.length - reads)) / files.paths.length;
    const simRatio = (100 * sim.hits) / files.paths.length;
    assert.ok(
      Math.abs(serverRatio - simRatio) <= 1,
      `server ${serverRatio.toFixed(2)} % vs sim ${simRatio.toFixed(2)} %`,
    );
    // Exact in practice; a store the owner applies just after the next request's lookup may shift one.
    assert.ok(
      Math.abs(reads - sim.misses) <= Math.ceil(sim.misses / 100),
      `${reads} disk reads for ${sim.misses} simulated misses (per-worker stores would read far more)`,
    );
  });
});
