/**
 * Scenario cache-workers-hits (opt-in): a real trace prefix replayed through `tamarin serve` with
 * `workers = 4`, one request per fresh connection (SO_REUSEPORT spreads them over the workers), against
 * `tamarin sim`'s replay of the same requests with one cache of the same bounds and policy. With one
 * shared store the hit ratios agree (target ±1 point) and the disk is read once per sim miss.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_POLICY } from '../../src/cache/policies/index.ts';
import type { BenchContext, Section } from './harness.ts';
import { freePort, httpGet, stopProcess } from './procs.ts';
import { markdownTable } from './stats.ts';
import { startTamarin, tamarinHitsConfig, tamarinPresent } from './tamarin.ts';
import {
  replayOverFreshConnections,
  type ServerCounters,
  simulate,
  tracePrefix,
  writeReplayFiles,
} from './workers-hits.ts';

/** The team's shared traces, beside the checkout. */
const TRACE = join(import.meta.dirname, '..', '..', '..', 'shared', 'traces', 'web_cache2k_web07.tr.gz');
const WORKERS = 4;
/** Body of every file: the trace has no sizes. */
const FILE_BYTES = 512;
/** Capacity: this share of the prefix's distinct keys. */
const SHARE = 0.1;
/**
 * What the shared store charges one entry of this scenario (key + head + body + metadata, in 64-byte
 * granules), used only to size `max_size`; the comparison uses the charge the server reports.
 */
const ENTRY_ESTIMATE = 1152;

/** Cache counters from `/api/stats` (summed over workers). */
async function counters(adminPort: number): Promise<ServerCounters> {
  const res = await httpGet(`http://127.0.0.1:${adminPort}/api/stats`, 5000);
  const cache = (JSON.parse(res.body.toString('utf8')) as { cache: ServerCounters | null }).cache;
  if (cache === null) throw new Error('/api/stats has no cache section');
  return cache;
}

const pct = (part: number, whole: number) => (whole === 0 ? 0 : (100 * part) / whole);

/** Scenario cache-workers-hits. */
export async function cacheWorkersHits(ctx: BenchContext, requests: number): Promise<Section> {
  const title = `cache-workers-hits: ${TRACE.split('/').pop()} through ${WORKERS} workers vs tamarin sim (one cache)`;
  if (!tamarinPresent(ctx.repoRoot)) return { title, body: '- not available: src/cli.ts does not exist yet' };
  if (!existsSync(TRACE)) return { title, body: `- not run: ${TRACE} not found` };
  const keys = await tracePrefix(TRACE, requests);
  const root = join(ctx.tmp, 'trace-files');
  const files = writeReplayFiles(root, keys, FILE_BYTES);
  const capacityEntries = Math.max(1, Math.round(files.unique * SHARE));
  const maxSize = capacityEntries * ENTRY_ESTIMATE;
  // Slots never bind (bytes do): the sim gets the same number, which W-TinyLFU's sketch depends on.
  const maxEntries = files.unique;
  ctx.log(`  ${keys.length} requests, ${files.unique} distinct keys, max_size ${maxSize} B`);
  const tmp = join(ctx.tmp, 'tamarin-hits');
  mkdirSync(tmp, { recursive: true });
  const port = await freePort();
  const adminPort = await freePort();
  let proc: Awaited<ReturnType<typeof startTamarin>>;
  try {
    proc = await startTamarin({
      repoRoot: ctx.repoRoot,
      root,
      port,
      config: tamarinHitsConfig(maxSize, maxEntries, adminPort),
      tmp,
      workers: WORKERS,
    });
  } catch (error) {
    return { title, body: `- not available: ${String((error as Error).message).split('\n')[0]}` };
  }
  try {
    let before: ServerCounters | undefined;
    // The admin listener may come up a moment after the server's port.
    for (let i = 0; i < 100 && before === undefined; i++) {
      before = await counters(adminPort).catch(() => undefined);
      if (before === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    if (before === undefined) throw new Error(`the admin API on :${adminPort} did not answer`);
    const started = performance.now();
    const ok = await replayOverFreshConnections(port, files.paths, files.bytes);
    const seconds = (performance.now() - started) / 1000;
    // The owner stores a miss just after its answer left: let the last one land.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const after = await counters(adminPort);
    const reads = after.originFetches - before.originFetches;
    const served = keys.length;
    const serverHits = served - reads;
    const entryBytes = after.entries > 0 ? after.bytes / after.entries : ENTRY_ESTIMATE;
    const sim = simulate(files.paths, DEFAULT_POLICY, maxSize, maxEntries, entryBytes);
    const serverRatio = pct(serverHits, served);
    const simRatio = pct(sim.hits, served);
    const diff = serverRatio - simRatio;
    const table = markdownTable(
      ['measure', 'value'],
      [
        ['requests (trace prefix), distinct keys', `${served}, ${files.unique}`],
        ['answered 200 with the right length', `${ok} / ${served}`],
        [
          'capacity',
          `max_size = ${maxSize} B (${Math.floor(maxSize / entryBytes)} entries of ${entryBytes} B charged each; ${SHARE * 100}% of distinct keys targeted), policy ${DEFAULT_POLICY}`,
        ],
        ['server hit ratio (requests not read from disk)', `${serverRatio.toFixed(2)} %`],
        [
          'server hit ratio (its hits / (hits + misses))',
          `${pct(after.hits - before.hits, after.hits - before.hits + after.misses - before.misses).toFixed(2)} %`,
        ],
        ['sim hit ratio (one cache, same bounds)', `${simRatio.toFixed(2)} %`],
        ['difference', `${diff >= 0 ? '+' : ''}${diff.toFixed(2)} points`],
        [
          'disk reads (server) / misses (sim)',
          `${reads} / ${sim.misses} (${reads - sim.misses >= 0 ? '+' : ''}${reads - sim.misses})`,
        ],
        ['collapsed misses (waited for another worker)', String(after.collapsed - before.collapsed)],
        [
          'replay time',
          `${seconds.toFixed(1)} s (${Math.round(served / seconds)} req/s, one request in flight)`,
        ],
      ],
    );
    const uniform = Number.isInteger(entryBytes);
    return {
      title,
      body: [
        table,
        '',
        `- ${WORKERS} workers, one request per fresh connection, one at a time, in trace order. Files of ${FILE_BYTES} B (the trace has no sizes), one mtime, fixed-width names: every entry is charged the same bytes, and the sim (src/cache/sim.ts \`replay\`) charges each request that size against the same \`max_size\` and \`max_entries\`.`,
        ...(uniform ? [] : ['- ⚠ entries are not all charged the same bytes: the sim used their mean.']),
        "- Disk reads are the cache's `originFetches` (bodies the static plugin read for it), summed over workers; not counted per key.",
      ].join('\n'),
      targets: [
        {
          label: 'cache-workers-hits: |server − sim| hit ratio, points (as x)',
          measured: Math.abs(diff),
          goal: 1,
          kind: 'max',
        },
        {
          label: 'cache-workers-hits: disk reads / sim misses',
          measured: sim.misses === 0 ? undefined : reads / sim.misses,
          goal: 1.01,
          kind: 'max',
        },
      ],
    };
  } finally {
    await stopProcess(proc);
  }
}
