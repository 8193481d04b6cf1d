/**
 * `npm run bench`: Tamarin side by side with nginx, Varnish and Node.js peers. Contenders alternate
 * round-robin over several rounds; the report quotes medians and ratios as a markdown table (stdout and
 * bench/results/latest.md). See bench/README.md for the method and the flags.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type BenchOptions, parseBenchArgs, type ScenarioName, USAGE } from './lib/args.ts';
import type { BenchContext, Section } from './lib/harness.ts';
import { findLoadTool } from './lib/load.ts';
import { installCleanup, onExitCleanup, stopAll } from './lib/procs.ts';
import { cacheChurn } from './lib/scenario-churn.ts';
import { cacheMemory } from './lib/scenario-memory.ts';
import { tlsHttp2 } from './lib/scenario-tls.ts';
import { cacheWorkersHits } from './lib/scenario-workers-hits.ts';
import { proxyCacheHit, proxyPass } from './lib/scenarios-proxy.ts';
import { staticCached, staticUncached } from './lib/scenarios-static.ts';
import { formatTarget, type TargetCheck, targetTable } from './lib/stats.ts';
import { systemInfo } from './lib/system-info.ts';

const repoRoot = dirname(import.meta.dirname);

function scenario(name: ScenarioName, ctx: BenchContext, options: BenchOptions): Promise<Section> {
  switch (name) {
    case 'static-uncached':
      return staticUncached(ctx);
    case 'static-cached':
      return staticCached(ctx);
    case 'proxy-pass':
      return proxyPass(ctx);
    case 'proxy-cache-hit':
      return proxyCacheHit(ctx);
    case 'tls':
      return tlsHttp2(ctx);
    case 'cache-memory':
      return cacheMemory(ctx, options.memorySize);
    case 'cache-churn':
      return cacheChurn(ctx);
    case 'cache-workers-hits':
      return cacheWorkersHits(ctx, options.traceRequests);
  }
}

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const tool = findLoadTool(repoRoot, options.load);
  if (!tool) {
    process.stderr.write('bench: no load generator: install wrk (`apt-get install wrk`) or run `npm ci`\n');
    return 1;
  }
  if (tool.kind === 'autocannon' && options.load !== 'autocannon') {
    process.stderr.write(
      'bench: /usr/bin/wrk not found, falling back to autocannon (slower; install wrk: `apt-get install wrk`)\n',
    );
  }
  installCleanup();
  const tmp = mkdtempSync(join(tmpdir(), 'tamarin-bench-'));
  onExitCleanup(() => rmSync(tmp, { recursive: true, force: true }));
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const ctx: BenchContext = { repoRoot, tmp, tool, ...options, log };
  const perRun = options.rounds * options.duration;
  log(
    `bench: ${options.scenarios.join(', ')}; ${options.rounds} rounds × ${options.duration} s (${perRun} s per cell)`,
  );
  const sections: string[] = [];
  const targets: TargetCheck[] = [];
  try {
    for (const name of options.scenarios) {
      log(`\n== ${name}`);
      let section: Section;
      try {
        section = await scenario(name, ctx, options);
      } catch (error) {
        section = { title: name, body: `- failed: ${(error as Error).message.split('\n')[0]}` };
      }
      targets.push(...(section.targets ?? []));
      const checks = (section.targets ?? []).map(formatTarget);
      sections.push(
        `### ${section.title}\n\n${section.body}${checks.length > 0 ? `\n\n${checks.join('\n')}` : ''}`,
      );
    }
  } finally {
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
  const report = [
    '## Benchmark',
    '',
    ...systemInfo(tool, options.connections),
    `- Method: ${options.rounds} rounds × ${options.duration} s per contender, round-robin, after ${options.warmup} s warm-up;` +
      ' median req/s (± half the min–max spread), ratios against the reference named in each column.' +
      (options.duration < 3 ? ' QUICK RUN: for checking the harness, not for publishing.' : ''),
    '',
    ...(targets.length > 0 ? ['### Targets from the issues', '', targetTable(targets), ''] : []),
    ...sections.flatMap((s) => [s, '']),
  ].join('\n');
  process.stdout.write(`\n${report}`);
  const out = join(repoRoot, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'latest.md'), report);
  log(`bench: written to ${join(out, 'latest.md')}`);
  return 0;
}

process.exitCode = await main();
