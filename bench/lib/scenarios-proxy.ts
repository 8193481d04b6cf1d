/**
 * Scenarios 3 and 4: reverse proxying 1 KiB responses from a fast local origin, pass-through (Tamarin,
 * nginx proxy_pass, http-proxy, @fastify/http-proxy) and cache hits (Tamarin, nginx proxy_cache, Varnish).
 *
 * The origin (nginx `return 200` when installed, else bench/peers/raw-backend.ts: one pre-built response
 * per request) runs by default on the load core with wrk, so the proxy under test has core 0 to itself
 * (`--backend-core 0` puts it beside the proxy instead; see bench/README.md for the trade-off). Every
 * contender of a scenario talks to the same origin. Next to req/s the tables give each proxy's CPU time
 * per request, which the load side's speed does not cap.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  type BenchContext,
  type Contender,
  cellCpuMedian,
  cellMedian,
  renderMatrix,
  runMatrix,
  type Section,
} from './harness.ts';
import { NGINX_PATH, nginxVersion, startNginx } from './nginx.ts';
import { freePort, type ServerProcess, startProcess, stopProcess, waitForHttp } from './procs.ts';
import { nginxContender, peerContender, tamarinContender } from './scenarios-static.ts';
import { ratio } from './stats.ts';
import { tamarinProxyCacheConfig, tamarinProxyConfig } from './tamarin.ts';
import { startVarnish, VARNISHD_PATH, varnishVersion } from './varnish.ts';

const BODY_BYTES = 1024;
const TARGET = { label: '1 KiB', path: '/bench/1k', bytes: BODY_BYTES };

/** Which origin a run uses: nginx when asked or (auto) when installed, else the raw Node.js origin. */
function originKind(ctx: BenchContext): 'nginx' | 'node' {
  if (ctx.origin === 'node') return 'node';
  if (ctx.origin === 'nginx') {
    if (!nginxVersion())
      throw new Error(`--origin nginx: ${NGINX_PATH} not installed (apt-get install nginx)`);
    return 'nginx';
  }
  return nginxVersion() ? 'nginx' : 'node';
}

/** Starts the origin on `ctx.backendCore`; `cacheControl` is sent on every response when set. */
async function startBackend(
  ctx: BenchContext,
  cacheControl: string,
): Promise<{ url: string; proc: ServerProcess }> {
  const port = await freePort();
  const core = ctx.backendCore;
  if (originKind(ctx) === 'nginx') {
    const site = { kind: 'origin', bytes: BODY_BYTES, cacheControl } as const;
    const proc = await startNginx(site, port, join(ctx.tmp, `origin-${port}`), core);
    return { url: `http://127.0.0.1:${port}`, proc };
  }
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
  const what =
    originKind(ctx) === 'nginx'
      ? 'nginx `return 200` of a fixed 1 KiB body'
      : 'bench/peers/raw-backend.ts (one pre-built response per request)';
  return [
    `- Origin: ${what}, the same for every contender, on core ${ctx.backendCore}, ${where}`,
    "- CPU µs/req: CPU time of the proxy's own processes (all threads, user + system, from" +
      ' /proc/<pid>/task/*/schedstat) over the round divided by its requests, median of the rounds;' +
      ' "by CPU" is the reference\'s µs over the row\'s (above 1: cheaper per request). It does not depend' +
      ' on how fast the load side is, but a proxy whose core idles part of the time batches less and pays' +
      ' somewhat more per request.',
  ].join('\n');
}

/** Runs `body` with an origin running, and always stops it. */
async function withBackend<T>(
  ctx: BenchContext,
  cacheControl: string,
  body: (url: string) => Promise<T>,
): Promise<T> {
  const backend = await startBackend(ctx, cacheControl);
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
  const tamarin = contenders[0]!.name;
  const rps = (name: string) => cellMedian(result, name, TARGET.path);
  const cpu = (name: string) => cellCpuMedian(result, name, TARGET.path);
  return {
    title,
    body: [renderMatrix(result, baseline, { cpu: true }), '', originNote(ctx)].join('\n'),
    // The goals are stated in req/s; the CPU ratio is listed beside each as the load-independent view.
    targets: goals.flatMap(({ label, vs, goal }) => [
      { label, measured: ratio(rps(tamarin), rps(vs)), goal },
      { label: `${label} (by CPU µs/request)`, measured: ratio(cpu(vs), cpu(tamarin)), goal },
    ]),
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
