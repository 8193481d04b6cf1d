/**
 * Scenarios 1 and 2: static files from disk (Tamarin with its cache off against nginx and the Node.js
 * static-file middlewares) and from Tamarin's content cache (against nginx, plus the cache on/off ratio).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeStaticFixtures } from './fixtures.ts';
import {
  type BenchContext,
  type Contender,
  cellMedian,
  renderMatrix,
  runMatrix,
  type Section,
} from './harness.ts';
import { NGINX_PATH, type NginxSite, nginxVersion, startNginx } from './nginx.ts';
import { startProcess, waitForHttp } from './procs.ts';
import { formatRatio, ratio } from './stats.ts';
import { startTamarin, tamarinCachedConfig, tamarinPresent, tamarinStaticConfig } from './tamarin.ts';

/** A Node.js peer from bench/peers, pinned to the server core. */
export function peerContender(
  ctx: BenchContext,
  name: string,
  file: string,
  arg: string,
  value: string,
): Contender {
  return {
    name,
    role: 'peer',
    async start(port) {
      const proc = startProcess(
        name,
        process.execPath,
        [join(ctx.repoRoot, 'bench', 'peers', file), '--port', String(port), `--${arg}`, value],
        { env: { ...process.env, NODE_ENV: 'production' } },
      );
      await waitForHttp(proc, `http://127.0.0.1:${port}/`, 15_000);
      return [proc];
    },
  };
}

/** Tamarin with a generated config, in its own temp subdir. */
export function tamarinContender(
  ctx: BenchContext,
  name: string,
  root: string,
  config: string,
  workers = 1,
): Contender {
  return {
    name,
    role: 'tamarin',
    unavailable: tamarinPresent(ctx.repoRoot) ? undefined : 'not available: src/cli.ts does not exist yet',
    async start(port) {
      const tmp = join(ctx.tmp, `tamarin-${port}`);
      mkdirSync(tmp, { recursive: true });
      return [await startTamarin({ repoRoot: ctx.repoRoot, root, port, config, tmp, workers })];
    },
  };
}

/** nginx as the reference contender `name`, serving `site`. */
export function nginxContender(ctx: BenchContext, name: string, site: NginxSite): Contender {
  return {
    name,
    role: 'reference',
    unavailable: nginxVersion() ? undefined : `${NGINX_PATH} not installed (apt-get install nginx)`,
    async start(port) {
      return [await startNginx(site, port, join(ctx.tmp, `nginx-${port}`))];
    },
  };
}

/** nginx serving `root` as a static site. */
export function nginxStaticContender(ctx: BenchContext, root: string): Contender {
  return nginxContender(ctx, 'nginx', { kind: 'static', root });
}

const NODE_PEERS = ['@fastify/static', 'sirv', 'express.static'];

/** Scenario 1: every request touches the file system. */
export async function staticUncached(ctx: BenchContext): Promise<Section> {
  const root = join(ctx.tmp, 'static');
  const targets = writeStaticFixtures(root);
  const result = await runMatrix(
    ctx,
    [
      tamarinContender(ctx, 'tamarin (cache off)', root, tamarinStaticConfig()),
      nginxStaticContender(ctx, root),
      peerContender(ctx, '@fastify/static', 'fastify-static.ts', 'root', root),
      peerContender(ctx, 'sirv', 'sirv.ts', 'root', root),
      peerContender(ctx, 'express.static', 'express-static.ts', 'root', root),
    ],
    targets,
  );
  const oneK = targets[0]!.path;
  const bestPeer = Math.max(...NODE_PEERS.map((name) => cellMedian(result, name, oneK) ?? 0));
  const tamarin = cellMedian(result, 'tamarin (cache off)', oneK);
  return {
    title: 'static-uncached: files from disk (Tamarin cache off)',
    body: renderMatrix(result, 'nginx'),
    targets: [
      {
        label: 'static-uncached: Tamarin vs best Node.js peer, 1 KiB',
        measured: ratio(tamarin, bestPeer || undefined),
        goal: 3,
      },
    ],
  };
}

/** Scenario 2: hot files from Tamarin's content cache (warmed by the warm-up runs) against nginx. */
export async function staticCached(ctx: BenchContext): Promise<Section> {
  const root = join(ctx.tmp, 'static');
  const targets = writeStaticFixtures(root);
  const result = await runMatrix(
    ctx,
    [
      tamarinContender(ctx, 'tamarin (cache on)', root, tamarinCachedConfig()),
      tamarinContender(ctx, 'tamarin (cache off)', root, tamarinStaticConfig()),
      nginxStaticContender(ctx, root),
    ],
    targets,
  );
  const lines = [renderMatrix(result, 'nginx'), ''];
  for (const target of targets) {
    const on = cellMedian(result, 'tamarin (cache on)', target.path);
    const off = cellMedian(result, 'tamarin (cache off)', target.path);
    lines.push(`- Tamarin cache on / off, ${target.label}: ${formatRatio(ratio(on, off))}`);
  }
  const nginx = (path: string) => cellMedian(result, 'nginx', path);
  const cached = (path: string) => cellMedian(result, 'tamarin (cache on)', path);
  const first = targets[0]!.path;
  const last = targets[targets.length - 1]!.path;
  return {
    title: 'static-cached: hot files from memory (Tamarin cache on)',
    body: lines.join('\n'),
    targets: [
      {
        label: 'static-cached: Tamarin cache hit vs nginx, 1 KiB',
        measured: ratio(cached(first), nginx(first)),
        goal: 1,
      },
      {
        label: 'static-cached: Tamarin cache hit vs nginx, 1 MiB',
        measured: ratio(cached(last), nginx(last)),
        goal: 0.9,
      },
    ],
  };
}
