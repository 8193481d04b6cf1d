/**
 * Scenarios 3 and 4: reverse proxying 1 KiB responses from a fast local origin, pass-through (Tamarin,
 * nginx proxy_pass, http-proxy, @fastify/http-proxy) and cache hits (Tamarin, nginx proxy_cache, Varnish).
 *
 * The origin (bench/peers/raw-backend.ts: one pre-built response per request) runs by default on the load
 * core with wrk, so the proxy under test has core 0 to itself (`--backend-core 0` puts it beside the proxy
 * instead; see bench/README.md for the trade-off).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  type BenchContext,
  type Contender,
  cellMedian,
  renderMatrix,
  runMatrix,
  type Section,
} from './harness.ts';
import { freePort, type ServerProcess, startProcess, stopProcess, waitForHttp } from './procs.ts';
import { nginxContender, peerContender, tamarinContender } from './scenarios-static.ts';
import { ratio } from './stats.ts';
import { tamarinProxyCacheConfig, tamarinProxyConfig } from './tamarin.ts';
import { startVarnish, VARNISHD_PATH, varnishVersion } from './varnish.ts';

const BODY_BYTES = 1024;
const TARGET = { label: '1 KiB', path: '/bench/1k', bytes: BODY_BYTES };

/** Starts the raw origin on `core`; `cacheControl` is sent on every response when set. */
async function startBackend(
  core: number,
  cacheControl: string,
): Promise<{ url: string; proc: ServerProcess }> {
  const port = await freePort();
  const proc = startProcess(
    'raw-backend',
    process.execPath,
    [
      join(import.meta.dirname, '..', 'peers', 'raw-backend.ts'),
      '--port',
      String(port),
      '--size',
      String(BODY_BYTES),
      '--cache-control',
      cacheControl,
    ],
    { core },
  );
  await waitForHttp(proc, `http://127.0.0.1:${port}/`, 15_000);
  return { url: `http://127.0.0.1:${port}`, proc };
}

function nginxProxyContender(ctx: BenchContext, name: string, backend: string, cache: boolean): Contender {
  return nginxContender(ctx, name, { kind: cache ? 'proxy-cache' : 'proxy', backend });
}

function originNote(ctx: BenchContext): string {
  const where = ctx.backendCore === 1 ? 'beside the load generator' : 'beside the proxy under test';
  return `- Origin: bench/peers/raw-backend.ts (one pre-built response per request) on core ${ctx.backendCore}, ${where}`;
}

/** Runs `body` with an origin running, and always stops it. */
async function withBackend<T>(
  ctx: BenchContext,
  cacheControl: string,
  body: (url: string) => Promise<T>,
): Promise<T> {
  const backend = await startBackend(ctx.backendCore, cacheControl);
  try {
    return await body(backend.url);
  } finally {
    await stopProcess(backend.proc);
  }
}

/** An empty document root for Tamarin (it proxies every path). */
function proxyRoot(ctx: BenchContext): string {
  const root = join(ctx.tmp, 'proxy-root');
  mkdirSync(root, { recursive: true });
  return root;
}

/**
 * Measures `contenders` on the 1 KiB target and reports the table against `baseline`. The first contender
 * is Tamarin; each goal is its ratio to the contender named `vs`.
 */
async function proxySection(
  ctx: BenchContext,
  title: string,
  contenders: Contender[],
  baseline: string,
  goals: ReadonlyArray<{ label: string; vs: string; goal: number }>,
): Promise<Section> {
  const result = await runMatrix(ctx, contenders, [TARGET]);
  const tamarin = cellMedian(result, contenders[0]!.name, TARGET.path);
  return {
    title,
    body: [renderMatrix(result, baseline), '', originNote(ctx)].join('\n'),
    targets: goals.map(({ label, vs, goal }) => ({
      label,
      measured: ratio(tamarin, cellMedian(result, vs, TARGET.path)),
      goal,
    })),
  };
}

/** Scenario 3: pass-through, no caching anywhere (the origin sends no Cache-Control). */
export async function proxyPass(ctx: BenchContext): Promise<Section> {
  return withBackend(ctx, '', (backend) =>
    proxySection(
      ctx,
      'proxy-pass: 1 KiB from a local origin, keep-alive upstreams',
      [
        tamarinContender(ctx, 'tamarin proxy', proxyRoot(ctx), tamarinProxyConfig(backend)),
        nginxProxyContender(ctx, 'nginx', backend, false),
        peerContender(ctx, 'http-proxy', 'http-proxy.ts', 'upstream', backend),
        peerContender(ctx, '@fastify/http-proxy', 'fastify-http-proxy.ts', 'upstream', backend),
      ],
      'nginx',
      [
        { label: 'proxy-pass: Tamarin vs nginx proxy_pass', vs: 'nginx', goal: 0.5 },
        { label: 'proxy-pass: Tamarin vs @fastify/http-proxy', vs: '@fastify/http-proxy', goal: 5 },
      ],
    ),
  );
}

/** Scenario 4: cache hits of a 1 KiB response the origin marks `max-age=3600` (warm-up fills the caches). */
export async function proxyCacheHit(ctx: BenchContext): Promise<Section> {
  return withBackend(ctx, 'public, max-age=3600', (backend) =>
    proxySection(
      ctx,
      'proxy-cache-hit: 1 KiB cached responses (Cache-Control: max-age=3600)',
      [
        tamarinContender(ctx, 'tamarin proxy cache', proxyRoot(ctx), tamarinProxyCacheConfig(backend)),
        nginxProxyContender(ctx, 'nginx proxy_cache', backend, true),
        {
          name: 'varnish',
          role: 'reference',
          unavailable: varnishVersion()
            ? undefined
            : `${VARNISHD_PATH} not installed (apt-get install varnish)`,
          async start(port) {
            return [await startVarnish(port, backend, join(ctx.tmp, `varnish-${port}`))];
          },
        },
        nginxProxyContender(ctx, 'nginx proxy_pass (no cache, context)', backend, false),
      ],
      'nginx proxy_cache',
      [
        {
          label: 'proxy-cache-hit: Tamarin vs nginx proxy_cache hit',
          vs: 'nginx proxy_cache',
          goal: 1.3,
        },
        { label: 'proxy-cache-hit: Tamarin vs Varnish hit', vs: 'varnish', goal: 2 },
      ],
    ),
  );
}
