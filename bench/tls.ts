/**
 * The tls scenario of `npm run bench` on its own: a 1 KiB cache hit over HTTPS/1.1 (wrk, 50 connections)
 * and HTTP/2 (h2load, 10 connections × 10 streams), Tamarin against nginx with the same certificate and
 * against Node's own floor (bench/peers/tls-floor.ts), one worker each, pinned to the server core, the
 * load on the other. Same as `npm run bench -- --only tls`, with the same flags.
 *
 *   node bench/tls.ts [--rounds 5] [--duration 5] [--warmup 2]
 *
 * Targets (issue): HTTPS >= 0.8x nginx, HTTP/2 >= 0.7x nginx.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseBenchArgs } from './lib/args.ts';
import { findLoadTool } from './lib/load.ts';
import { installCleanup, stopAll } from './lib/procs.ts';
import { tlsHttp2 } from './lib/scenario-tls.ts';
import { formatTarget } from './lib/stats.ts';

const options = parseBenchArgs([...process.argv.slice(2), '--only', 'tls']);
const repoRoot = join(import.meta.dirname, '..');
const tool = findLoadTool(repoRoot, 'wrk');
if (tool === undefined) {
  process.stderr.write('bench/tls.ts: wrk is not installed (apt-get install wrk)\n');
  process.exit(1);
}
installCleanup();
const tmp = mkdtempSync(join(tmpdir(), 'tamarin-bench-tls-'));
try {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const section = await tlsHttp2({ repoRoot, tmp, tool, ...options, log });
  process.stdout.write(`\n### ${section.title}\n\n${section.body}\n\n`);
  for (const target of section.targets ?? []) process.stdout.write(`${formatTarget(target)}\n`);
} finally {
  await stopAll();
  rmSync(tmp, { recursive: true, force: true });
}
