/**
 * The benchmark's parsing and statistics helpers: what ends up in the README table must come from the
 * numbers wrk printed, with medians and ratios computed the way the report says.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseBenchArgs } from '../bench/lib/args.ts';
import { coreBusy, parseCoreTimes } from '../bench/lib/cpu.ts';
import { parseAutocannonOutput, parseWrkOutput, parseWrkTime } from '../bench/lib/load.ts';
import { nginxConfig } from '../bench/lib/nginx.ts';
import { churnScript } from '../bench/lib/scenario-churn.ts';
import { parseH2load, tlsScenarioMissing } from '../bench/lib/scenario-tls.ts';
import {
  formatBytes,
  formatRate,
  formatRatio,
  formatTarget,
  markdownTable,
  median,
  pickReference,
  ratio,
  spread,
  targetTable,
} from '../bench/lib/stats.ts';
import { parseCpuModel } from '../bench/lib/system-info.ts';
import { findCacheStats } from '../bench/lib/tamarin.ts';

const WRK_OK = `Running 5s test @ http://127.0.0.1:8080/1k.bin
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   812.40us  101.22us   4.84ms   87.39%
    Req/Sec    61.58k     1.02k   63.10k    70.00%
  Latency Distribution
     50%  798.00us
     75%  850.00us
     90%    0.92ms
     99%    1.21ms
  306412 requests in 5.00s, 375.20MB read
Requests/sec:  61282.40
Transfer/sec:     75.04MB
`;

const WRK_ERRORS = `Running 1s test @ http://127.0.0.1:8080/nope
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.88ms  210.56us   4.84ms   87.39%
    Req/Sec     2.58k    33.11     2.62k    54.55%
  2819 requests in 1.10s, 1.40MB read
  Socket errors: connect 0, read 3, write 1, timeout 2
  Non-2xx or 3xx responses: 2819
Requests/sec:   2562.00
Transfer/sec:      1.27MB
`;

describe('wrk output', () => {
  it('reads req/s, request count and latency percentiles', () => {
    const result = parseWrkOutput(WRK_OK);
    assert.ok(result);
    assert.equal(result.rps, 61282.4);
    assert.equal(result.requests, 306412);
    assert.equal(result.non2xx, 0);
    assert.equal(result.socketErrors, 0);
    assert.equal(result.p50Ms, 0.798);
    assert.equal(result.p99Ms, 1.21);
  });

  it('counts non-2xx responses and every kind of socket error', () => {
    const result = parseWrkOutput(WRK_ERRORS);
    assert.ok(result);
    assert.equal(result.non2xx, 2819);
    assert.equal(result.socketErrors, 6);
    assert.equal(result.p50Ms, undefined);
  });

  it('gives undefined for output without a result (wrk failed to connect)', () => {
    assert.equal(parseWrkOutput('unable to connect to 127.0.0.1:1 Connection refused\n'), undefined);
  });

  it('converts wrk time units to milliseconds', () => {
    assert.equal(parseWrkTime('250.00us'), 0.25);
    assert.equal(parseWrkTime('1.5ms'), 1.5);
    assert.equal(parseWrkTime('2.00s'), 2000);
    assert.equal(parseWrkTime('fast'), undefined);
  });
});

describe('autocannon output', () => {
  it('reads the JSON summary line', () => {
    const json = JSON.stringify({
      requests: { average: 12000.5, total: 60003 },
      non2xx: 4,
      errors: 1,
      timeouts: 2,
      latency: { p50: 3, p99: 9 },
    });
    const result = parseAutocannonOutput(`Running 5s test\n${json}\n`);
    assert.deepEqual(result, {
      rps: 12000.5,
      requests: 60003,
      non2xx: 4,
      socketErrors: 3,
      p50Ms: 3,
      p99Ms: 9,
    });
  });

  it('gives undefined for broken or missing JSON', () => {
    assert.equal(parseAutocannonOutput('{"requests": '), undefined);
    assert.equal(parseAutocannonOutput('no json here'), undefined);
  });
});

describe('statistics', () => {
  it('takes the median of odd and even counts without reordering the input', () => {
    const rounds = [30, 10, 20];
    assert.equal(median(rounds), 20);
    assert.deepEqual(rounds, [30, 10, 20]);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([]), undefined);
  });

  it('is robust to one outlier round, unlike a mean', () => {
    assert.equal(median([100, 101, 99, 5, 100]), 100);
  });

  it('measures spread relative to the median', () => {
    assert.equal(spread([90, 100, 110]), 0.2);
    assert.equal(spread([]), undefined);
  });

  it('computes ratios only when both sides are measured', () => {
    assert.equal(ratio(150, 100), 1.5);
    assert.equal(ratio(undefined, 100), undefined);
    assert.equal(ratio(100, 0), undefined);
  });

  it('prefers nginx as the reference, else the best peer', () => {
    const medians = new Map<string, number | undefined>([
      ['tamarin', 50_000],
      ['nginx', 40_000],
      ['sirv', 4_000],
      ['express.static', 3_000],
    ]);
    assert.equal(pickReference(medians, 'nginx', ['sirv', 'express.static']), 'nginx');
    medians.set('nginx', undefined);
    assert.equal(pickReference(medians, 'nginx', ['sirv', 'express.static']), 'sirv');
    assert.equal(pickReference(new Map(), 'nginx', ['sirv']), undefined);
  });
});

describe('formatting', () => {
  it('formats rates, ratios and sizes for the table', () => {
    assert.equal(formatRate(61282.4), '61,282');
    assert.equal(formatRate(undefined), '—');
    assert.equal(formatRatio(1.234), '1.23x');
    assert.equal(formatRatio(undefined), '—');
    assert.equal(formatBytes(1024), '1 KiB');
    assert.equal(formatBytes(256 * 1024 * 1024), '256 MiB');
    assert.equal(formatBytes(1536), '1.5 KiB');
  });

  it('renders a markdown table with right-aligned numbers and escaped pipes', () => {
    const table = markdownTable(['server', 'req/s'], [['a|b', '1']]);
    assert.equal(table, '| server | req/s |\n|---|---:|\n| a\\|b | 1 |');
  });

  it('says whether a target is met, for floors and ceilings', () => {
    assert.match(formatTarget({ label: 'x', measured: 3.2, goal: 3 }), /≥ 3x\): 3\.20x — met$/);
    assert.match(formatTarget({ label: 'x', measured: 2.9, goal: 3 }), /NOT met$/);
    assert.match(
      formatTarget({ label: 'm', measured: 1.2, goal: 1.15, kind: 'max' }),
      /≤ 1\.15x\): 1\.20x — NOT met$/,
    );
    assert.match(formatTarget({ label: 'x', measured: undefined, goal: 3 }), /not measured$/);
  });

  it('summarises targets in one table', () => {
    const table = targetTable([
      { label: 'hit vs nginx', measured: 1.05, goal: 1 },
      { label: 'rss', measured: undefined, goal: 1.15, kind: 'max' },
    ]);
    assert.equal(
      table,
      '| target | goal | measured | verdict |\n|---|---:|---:|---:|\n' +
        '| hit vs nginx | ≥ 1x | 1.05x | met |\n| rss | ≤ 1.15x | — | not measured |',
    );
  });
});

describe('bench flags', () => {
  it('defaults to 5 rounds of 5 s over every scenario but cache-memory', () => {
    const options = parseBenchArgs([]);
    assert.equal(options.rounds, 5);
    assert.equal(options.duration, 5);
    assert.equal(options.connections, 50);
    assert.deepEqual(options.scenarios, [
      'static-uncached',
      'static-cached',
      'proxy-pass',
      'proxy-cache-hit',
      'tls',
    ]);
  });

  it('--quick shortens rounds; explicit flags win', () => {
    const options = parseBenchArgs(['--quick', '--rounds', '2']);
    assert.equal(options.rounds, 2);
    assert.equal(options.duration, 1);
  });

  it('--only selects scenarios and --memory adds cache-memory', () => {
    assert.deepEqual(parseBenchArgs(['--only', 'proxy-pass,static-cached']).scenarios, [
      'proxy-pass',
      'static-cached',
    ]);
    assert.ok(parseBenchArgs(['--memory']).scenarios.includes('cache-memory'));
    assert.equal(parseBenchArgs(['--memory-size', '64']).memorySize, 64 * 1024 * 1024);
    assert.equal(parseBenchArgs(['--load', 'autocannon']).load, 'autocannon');
  });

  it('--churn and --workers-hits add the opt-in cache scenarios, in run order', () => {
    const { scenarios } = parseBenchArgs(['--workers-hits', '--churn']);
    assert.deepEqual(scenarios.slice(-2), ['cache-churn', 'cache-workers-hits']);
    assert.ok(!scenarios.includes('cache-memory'));
    assert.equal(parseBenchArgs([]).traceRequests, 50_000);
    assert.equal(parseBenchArgs(['--trace-requests', '3000']).traceRequests, 3000);
    assert.throws(() => parseBenchArgs(['--trace-requests', '0']), /--trace-requests/);
  });

  it("cache-churn's wrk script picks one of the files per request from a fixed seed", () => {
    const script = churnScript(3000, 7);
    assert.match(script, /local count = 3000/);
    assert.match(script, /math\.randomseed\(7\)/);
    assert.match(script, /request = function\(\)/);
    assert.match(script, /paths\[math\.random\(0, count - 1\)\]/);
  });

  it('names the flag in errors', () => {
    assert.throws(() => parseBenchArgs(['--only', 'nope']), /--only: unknown scenario "nope"/);
    assert.throws(() => parseBenchArgs(['--rounds', '0']), /--rounds/);
    assert.throws(() => parseBenchArgs(['--duration', '1.5']), /--duration/);
    assert.throws(() => parseBenchArgs(['--backend-core', '2']), /--backend-core/);
    assert.throws(() => parseBenchArgs(['--load', 'ab']), /--load: expected wrk or autocannon/);
    assert.throws(() => parseBenchArgs(['--bogus']), /bogus/);
  });
});

describe('machine facts', () => {
  it('reads the CPU model from /proc/cpuinfo text', () => {
    assert.equal(
      parseCpuModel('processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t: fpu\n'),
      'AMD EPYC 7B13',
    );
    assert.equal(parseCpuModel('processor\t: 0\n'), undefined);
  });

  it('computes per-core busy share from two /proc/stat readings', () => {
    const before = parseCoreTimes(
      'cpu  1 1 1 1\ncpu0 100 0 100 700 100 0 0 0 0 0\ncpu1 0 0 0 1000 0 0 0 0 0 0\n',
    );
    const after = parseCoreTimes(
      'cpu  1 1 1 1\ncpu0 550 0 150 700 100 0 0 0 0 0\ncpu1 0 0 0 1500 0 0 0 0 0 0\n',
    );
    assert.equal(coreBusy(before, after, 0), 1);
    assert.equal(coreBusy(before, after, 1), 0);
    assert.equal(coreBusy(before, after, 2), undefined);
  });
});

describe('nginx config', () => {
  it('pins the tuning the comparison promises and keeps all state in the prefix', () => {
    const conf = nginxConfig({ kind: 'static', root: '/tmp/site' }, 8081, '/tmp/prefix');
    for (const line of [
      'worker_processes 1;',
      'daemon off;',
      'master_process off;',
      'sendfile on;',
      'open_file_cache max=1000',
      'access_log off;',
      'listen 127.0.0.1:8081;',
      'pid /tmp/prefix/nginx.pid;',
      'root /tmp/site;',
    ]) {
      assert.ok(conf.includes(line), line);
    }
  });

  it('proxies with upstream keep-alive, and caches only in proxy-cache mode', () => {
    const pass = nginxConfig({ kind: 'proxy', backend: 'http://127.0.0.1:9000' }, 8081, '/tmp/p');
    assert.match(pass, /server 127\.0\.0\.1:9000;\s+keepalive 128;\s+keepalive_requests 1000000;/);
    assert.ok(pass.includes('proxy_http_version 1.1;'));
    assert.ok(pass.includes('proxy_set_header Connection "";'));
    assert.ok(!pass.includes('proxy_cache '));
    const cached = nginxConfig({ kind: 'proxy-cache', backend: 'http://127.0.0.1:9000' }, 8081, '/tmp/p');
    assert.ok(cached.includes('proxy_cache_path /tmp/p/cache'));
    assert.ok(cached.includes('proxy_cache bench;'));
  });
});

describe('cache stats from the admin API', () => {
  it('finds entries and bytes wherever the answer nests them', () => {
    assert.deepEqual(findCacheStats({ entries: 3, bytes: 300 }), { entries: 3, bytes: 300 });
    assert.deepEqual(
      findCacheStats({ server: { entries: 9 }, cache: { hits: 1, entries: 4096, bytes: 270e6 } }),
      {
        entries: 4096,
        bytes: 270e6,
      },
    );
    assert.equal(findCacheStats({ cache: { hits: 1 } }), undefined);
    assert.equal(findCacheStats(null), undefined);
  });
});

describe('tls scenario', () => {
  it("parses h2load's report", () => {
    const out = [
      'finished in 5.00s, 41234.50 req/s, 44.10MB/s',
      'requests: 206272 total, 206372 started, 206172 done, 206172 succeeded, 100 failed, 0 errored, 0 timeout',
    ].join('\n');
    assert.deepEqual(parseH2load(out), { rps: 41234.5, requests: 206172, failed: 100 });
    assert.equal(parseH2load('connect: Connection refused'), undefined);
  });

  it('names what is missing instead of measuring without wrk', () => {
    const missing = tlsScenarioMissing({ tool: { kind: 'autocannon', path: '/x/autocannon' } });
    assert.match(missing ?? '', /not installed|needs wrk/);
  });
});
