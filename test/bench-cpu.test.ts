/**
 * The proxy benchmark's fairness pieces: the nginx origin every proxy talks to, the CPU time per request
 * read from the scheduler, and the table that shows it beside req/s.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseBenchArgs } from '../bench/lib/args.ts';
import { processCpuNs, sumSchedstat } from '../bench/lib/cpu.ts';
import { type Cell, type Contender, type MatrixResult, renderMatrix } from '../bench/lib/harness.ts';
import { nginxConfig } from '../bench/lib/nginx.ts';
import { processTree } from '../bench/lib/procs.ts';
import { formatMicros } from '../bench/lib/stats.ts';

describe('nginx as the proxy scenarios origin', () => {
  it('answers every path with a fixed text/plain body, without upstream or files', () => {
    const conf = nginxConfig({ kind: 'origin', bytes: 1024, cacheControl: '' }, 8081, '/tmp/p');
    assert.match(conf, /listen 127\.0\.0\.1:8081;/);
    assert.match(conf, /default_type text\/plain;/);
    const body = /return 200 "(x*)";/.exec(conf);
    assert.equal(body?.[1]?.length, 1024);
    assert.doesNotMatch(conf, /proxy_pass|upstream|Cache-Control/);
    assert.match(conf, /keepalive_requests 1000000;/);
  });

  it('adds Cache-Control for the cache-hit scenario', () => {
    const conf = nginxConfig({ kind: 'origin', bytes: 16, cacheControl: 'public, max-age=3600' }, 1, '/p');
    assert.match(conf, /add_header Cache-Control "public, max-age=3600";/);
  });

  it('--origin picks nginx, node or auto and names the flag on a typo', () => {
    assert.equal(parseBenchArgs([]).origin, 'auto');
    assert.equal(parseBenchArgs(['--origin', 'node']).origin, 'node');
    assert.equal(parseBenchArgs(['--origin', 'nginx']).origin, 'nginx');
    assert.throws(() => parseBenchArgs(['--origin', 'apache']), /--origin: expected nginx, node or auto/);
  });
});

describe('CPU time per request', () => {
  it('sums the on-CPU nanoseconds of every thread', () => {
    assert.equal(sumSchedstat(['1000 50 3\n', '2500 0 1\n']), 3500);
    assert.equal(sumSchedstat([]), 0);
  });

  it('reads this process (and its threads) from /proc, growing as it works', {
    skip: process.platform !== 'linux',
  }, () => {
    const tree = processTree(process.pid);
    assert.equal(tree[0], process.pid);
    const before = processCpuNs(tree);
    assert.ok(before !== undefined && before > 0);
    // Spin for 30 ms of this thread's own CPU time, not of wall time: on a loaded machine 30 ms of wall
    // time can hold only a few ms on a CPU.
    const start = process.cpuUsage();
    let spin = 0;
    while (process.cpuUsage(start).user < 30_000) spin++;
    assert.ok(spin > 0);
    const after = processCpuNs(tree)!;
    assert.ok(after - before >= 10e6, `${after - before} ns after 30 ms of CPU time spinning`);
    assert.equal(processCpuNs([2 ** 22 + 12345]), undefined);
  });

  it('shows µs per request and the ratio by CPU beside req/s', () => {
    const contenders: Contender[] = [
      { name: 'tamarin proxy', role: 'tamarin', start: async () => [] },
      { name: 'nginx', role: 'reference', start: async () => [] },
    ];
    const cell = (rps: number[], cpuUs: number[]): Cell => ({
      rps,
      cpuUs,
      requests: 1000,
      errors: 0,
      serverBusy: [1, 1, 1],
      p99Ms: [],
      rss: [],
    });
    const result: MatrixResult = {
      contenders,
      targets: [{ label: '1 KiB', path: '/1k', bytes: 1024 }],
      skipped: new Map(),
      cells: new Map([
        ['tamarin proxy\u0000/1k', cell([10_000, 12_000, 11_000], [40, 50, 45])],
        ['nginx\u0000/1k', cell([20_000, 20_000, 20_000], [20, 30, 22.5])],
      ]),
      evidence: new Map(),
    };
    const plain = renderMatrix(result, 'nginx');
    assert.doesNotMatch(plain, /CPU/);
    const table = renderMatrix(result, 'nginx', { cpu: true });
    assert.match(
      table,
      /\| server \| 1 KiB req\/s \| 1 KiB vs nginx \| 1 KiB CPU µs\/req \| by CPU vs nginx \|/,
    );
    assert.match(table, /\| tamarin proxy \| 11,000 ±9% \| 0\.55x \| 45\.0 \| 0\.50x \|/);
    assert.match(table, /\| nginx \| 20,000 ±0% \| 1\.00x \| 22\.5 \| 1\.00x \|/);
    assert.equal(formatMicros(undefined), '—');
  });
});
