/**
 * Scenario 5 (optional, `--memory`): fill Tamarin's cache with distinct 64 KiB files and compare the
 * process's RSS growth with the configured capacity (target ≤ 1.15x), and estimate the overhead bytes
 * per entry (from the admin API's cache stats when available, else from RSS arithmetic).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeManyFiles } from './fixtures.ts';
import type { BenchContext, Section } from './harness.ts';
import { freePort, stopProcess, treeRss } from './procs.ts';
import { formatBytes, markdownTable } from './stats.ts';
import { readCacheStats, startTamarin, tamarinMemoryConfig, tamarinPresent } from './tamarin.ts';

const OBJECT_BYTES = 64 * 1024;
/** Requests in flight while filling. */
const CONCURRENCY = 16;

/** GETs every path `passes` times with bounded concurrency; returns how many answered 200. */
async function fetchAll(base: string, paths: readonly string[], passes: number): Promise<number> {
  let ok = 0;
  let next = 0;
  const total = paths.length * passes;
  const worker = async () => {
    while (next < total) {
      const path = paths[next++ % paths.length]!;
      try {
        const res = await fetch(base + path, { signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        if (res.status === 200) ok++;
      } catch {
        // counted as not ok
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return ok;
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 2000));

/** Scenario 5: RSS growth of a full cache against its capacity. */
export async function cacheMemory(ctx: BenchContext, capacity: number): Promise<Section> {
  const title = `cache-memory: ${formatBytes(capacity)} cache filled with 64 KiB objects`;
  if (!tamarinPresent(ctx.repoRoot)) return { title, body: '- not available: src/cli.ts does not exist yet' };
  // 25% more objects than fit, so the cache is full and evicting when measured.
  const count = Math.ceil((capacity / OBJECT_BYTES) * 1.25);
  const root = join(ctx.tmp, 'memory');
  const tmp = join(ctx.tmp, 'tamarin-memory');
  mkdirSync(tmp, { recursive: true });
  ctx.log(`  writing ${count} files of 64 KiB`);
  const paths = writeManyFiles(root, count, OBJECT_BYTES);
  const port = await freePort();
  const adminPort = await freePort();
  let proc: Awaited<ReturnType<typeof startTamarin>>;
  try {
    proc = await startTamarin({
      repoRoot: ctx.repoRoot,
      root,
      port,
      config: tamarinMemoryConfig(capacity, adminPort),
      tmp,
    });
  } catch (error) {
    return { title, body: `- not available: ${String((error as Error).message).split('\n')[0]}` };
  }
  try {
    const base = `http://127.0.0.1:${port}`;
    await fetchAll(base, paths.slice(0, 50), 2); // JIT and buffers warm before the baseline
    await settle();
    const before = treeRss(proc.child.pid!);
    // Two passes: admission policies (TinyLFU, S3-FIFO) may only keep an object seen twice.
    ctx.log(`  filling: ${paths.length * 2} requests`);
    const ok = await fetchAll(base, paths, 2);
    await settle();
    const after = treeRss(proc.child.pid!);
    const growth = after - before;
    const stats = await readCacheStats(adminPort);
    const entries = stats?.entries ?? Math.floor(capacity / OBJECT_BYTES);
    const payload = entries * OBJECT_BYTES;
    // Real cost per entry beyond its body (RSS), and what the cache charges itself for it (its stats).
    const rssPerEntry = (growth - payload) / entries;
    const chargedPerEntry = stats?.bytes !== undefined ? (stats.bytes - payload) / entries : undefined;
    return {
      title,
      body: [
        markdownTable(
          ['measure', 'value'],
          [
            ['capacity (max_size)', formatBytes(capacity)],
            ['requests answered 200', `${ok} / ${paths.length * 2}`],
            ['RSS before / after', `${formatBytes(before)} / ${formatBytes(after)}`],
            ['RSS growth', formatBytes(growth)],
            ['entries', `${entries}${stats?.entries === undefined ? ' (assumed: capacity / 64 KiB)' : ''}`],
            ['cache bytes used', stats?.bytes !== undefined ? formatBytes(stats.bytes) : 'n/a'],
            ['overhead per entry beyond the body, from RSS', `${Math.round(rssPerEntry)} B`],
            [
              'overhead per entry beyond the body, as the cache charges it',
              chargedPerEntry === undefined ? 'n/a (no admin stats)' : `${Math.round(chargedPerEntry)} B`,
            ],
          ],
        ),
      ].join('\n'),
      targets: [
        {
          label: 'cache-memory: RSS growth / capacity',
          measured: growth / capacity,
          goal: 1.15,
          kind: 'max',
        },
      ],
    };
  } finally {
    await stopProcess(proc);
  }
}
