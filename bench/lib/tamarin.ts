/**
 * Tamarin as the contender under test: one small config generator per scenario (adjust the keys HERE when
 * the server's schema changes), and a starter that runs `node src/cli.ts serve` pinned to the server core
 * with one worker. A Tamarin that cannot start is reported as "not available", never a hang.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { httpGet, type ServerProcess, startProcess, waitForHttp } from './procs.ts';

/**
 * Settings every bench config shares: keep-alive connections as long as nginx's (`keepalive_requests` is
 * raised to the same value) and no access log.
 */
const BASE = ['[server]', 'max_requests_per_connection = 1000000', '', '[access_log]', 'enabled = false', ''];

/**
 * BASE and no admin listener (several Tamarins run side by side and would all want the admin port): what
 * every scenario but cache-memory uses.
 */
const COMMON = [...BASE, '[admin]', 'enabled = false', ''];

/** A route sending every path to `backend`, with any extra route keys. */
function proxyEverything(backend: string, ...keys: string[]): string[] {
  return ['[[proxy.routes]]', 'match = ["^/"]', `backends = ["${backend}"]`, ...keys, ''];
}

/** Scenario static-uncached: every request goes to the file system. */
export function tamarinStaticConfig(): string {
  return [...COMMON, '[cache]', 'enabled = false', ''].join('\n');
}

/** Scenario static-cached: the content cache on, large enough for every benchmark file. */
export function tamarinCachedConfig(): string {
  return [...COMMON, '[cache]', 'enabled = true', 'max_size = "256MiB"', ''].join('\n');
}

/**
 * Scenario tls: the content cache on, a plain listener on `port` (what the start check polls) and a TLS
 * listener on `tlsPort` offering h2 and http/1.1.
 */
export function tamarinTlsConfig(port: number, tlsPort: number, cert: string, key: string): string {
  return [
    ...COMMON.slice(0, 2),
    `listen = [{ port = ${port} }, { port = ${tlsPort}, tls = true }]`,
    ...COMMON.slice(2),
    '[cache]',
    'enabled = true',
    'max_size = "64MiB"',
    '',
    '[tls]',
    `cert = "${cert}"`,
    `key = "${key}"`,
    '',
  ].join('\n');
}

/** Scenario proxy-pass: every path proxied to `backend`, no caching. */
export function tamarinProxyConfig(backend: string): string {
  return [...COMMON, '[cache]', 'enabled = false', '', ...proxyEverything(backend)].join('\n');
}

/** Scenario proxy-cache-hit: every path proxied to `backend`, responses cached (the origin allows 1 h). */
export function tamarinProxyCacheConfig(backend: string): string {
  return [
    ...COMMON,
    '[cache]',
    'enabled = true',
    'max_size = "256MiB"',
    '',
    ...proxyEverything(backend, 'cache = true'),
  ].join('\n');
}

/** Scenario cache-memory: a cache of `maxSize` bytes, the admin API on `adminPort` for the stats. */
export function tamarinMemoryConfig(maxSize: number, adminPort: number): string {
  return [
    ...BASE,
    '[cache]',
    'enabled = true',
    `max_size = ${maxSize}`,
    '',
    '[admin]',
    'enabled = true',
    'host = "127.0.0.1"',
    `port = ${adminPort}`,
    '',
  ].join('\n');
}

/** Scenario cache-churn: a 64 MiB cache (a third of the working set), default policy. */
export function tamarinChurnConfig(maxSize: string, minUses = 1): string {
  return [
    ...COMMON,
    '[cache]',
    'enabled = true',
    `max_size = "${maxSize}"`,
    `min_uses = ${minUses}`,
    '',
  ].join('\n');
}

/**
 * Scenario cache-workers-hits: a cache of exactly `maxSize` bytes and `maxEntries` slots (the sim
 * replays with the same bounds) and the admin API on `adminPort` for the hit and disk-read counters.
 */
export function tamarinHitsConfig(maxSize: number, maxEntries: number, adminPort: number): string {
  return [
    ...BASE,
    '[cache]',
    'enabled = true',
    `max_size = ${maxSize}`,
    `max_entries = ${maxEntries}`,
    '',
    '[admin]',
    'enabled = true',
    'host = "127.0.0.1"',
    `port = ${adminPort}`,
    '',
  ].join('\n');
}

/** Where the admin API may publish cache stats; the first that answers JSON wins. */
const STATS_PATHS = ['/api/stats', '/api/cache/stats', '/api/cache'];

/** Cache statistics as far as the benchmark needs them (field names vary; see `readCacheStats`). */
export interface CacheStats {
  readonly entries?: number;
  readonly bytes?: number;
}

/**
 * Finds cache stats in an admin API answer: the first object (breadth-first) with numeric `entries` and
 * `bytes` (the shape of the cache plugin's `stats` snapshot), wherever the API nests it.
 */
export function findCacheStats(json: unknown): CacheStats | undefined {
  const queue: unknown[] = [json];
  while (queue.length > 0) {
    const value = queue.shift();
    if (typeof value !== 'object' || value === null) continue;
    const record = value as Record<string, unknown>;
    if (typeof record.entries === 'number' && typeof record.bytes === 'number') {
      return { entries: record.entries, bytes: record.bytes };
    }
    // Prefer a `cache` member, then the rest in order.
    if (record.cache !== undefined) queue.push(record.cache);
    for (const [key, member] of Object.entries(record)) if (key !== 'cache') queue.push(member);
  }
  return undefined;
}

/** Best-effort read of entries and bytes from Tamarin's admin API; `undefined` when it is not there. */
export async function readCacheStats(adminPort: number): Promise<CacheStats | undefined> {
  for (const path of STATS_PATHS) {
    try {
      const res = await httpGet(`http://127.0.0.1:${adminPort}${path}`, 2000);
      if (res.status !== 200) continue;
      const stats = findCacheStats(JSON.parse(res.body.toString('utf8')));
      if (stats) return stats;
    } catch {
      // try the next path
    }
  }
  return undefined;
}

/** Options for starting Tamarin. */
export interface TamarinStart {
  readonly repoRoot: string;
  /** Document root (`serve <dir>`). */
  readonly root: string;
  readonly port: number;
  /** Config file contents (written to `<tmp>/tamarin.toml`). */
  readonly config: string;
  readonly tmp: string;
  /** @default 20000 */
  readonly timeoutMs?: number;
  /** Worker threads (all pinned to the server core with the primary). @default 1 */
  readonly workers?: number;
}

/** Whether Tamarin's CLI exists yet (it is being written alongside the harness). */
export function tamarinPresent(repoRoot: string): boolean {
  return existsSync(join(repoRoot, 'src', 'cli.ts'));
}

/** Starts Tamarin (one worker unless `workers` says otherwise) pinned to the server core; rejects with its output if it fails. */
export async function startTamarin(options: TamarinStart): Promise<ServerProcess> {
  const configPath = join(options.tmp, 'tamarin.toml');
  writeFileSync(configPath, options.config);
  const args = [
    join(options.repoRoot, 'src', 'cli.ts'),
    'serve',
    options.root,
    '--host',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--workers',
    String(options.workers ?? 1),
    '--config',
    configPath,
  ];
  const proc = startProcess('tamarin', process.execPath, args, {
    cwd: options.repoRoot,
    env: { ...process.env, NODE_ENV: 'production' },
  });
  await waitForHttp(proc, `http://127.0.0.1:${options.port}/`, options.timeoutMs ?? 20_000);
  return proc;
}
