/**
 * Tamarin as the contender under test: one small config generator per scenario (adjust the keys HERE when
 * the server's schema changes), and a starter that runs `node src/cli.ts serve` pinned to the server core
 * with one worker. A Tamarin that cannot start is reported as "not available", never a hang.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { httpGet, type ServerProcess, startProcess, waitForHttp } from './procs.ts';

/** Scenario static-uncached: every request goes to the file system. */
export function tamarinStaticConfig(): string {
  return ['[cache]', 'enabled = false', '', '[access_log]', 'enabled = false', ''].join('\n');
}

/** Scenario static-cached: the content cache on, large enough for every benchmark file. */
export function tamarinCachedConfig(): string {
  return ['[cache]', 'enabled = true', 'max_size = "256MiB"', '', '[access_log]', 'enabled = false', ''].join(
    '\n',
  );
}

/** Scenario proxy-pass: every path proxied to `backend`, no caching. */
export function tamarinProxyConfig(backend: string): string {
  return [
    '[cache]',
    'enabled = false',
    '',
    '[access_log]',
    'enabled = false',
    '',
    '[[proxy.routes]]',
    'match = ["^/"]',
    `backends = ["${backend}"]`,
    'cache = false',
    '',
  ].join('\n');
}

/** Scenario proxy-cache-hit: every path proxied to `backend`, responses cached (the origin allows 1 h). */
export function tamarinProxyCacheConfig(backend: string): string {
  return [
    '[cache]',
    'enabled = true',
    'max_size = "256MiB"',
    '',
    '[access_log]',
    'enabled = false',
    '',
    '[[proxy.routes]]',
    'match = ["^/"]',
    `backends = ["${backend}"]`,
    'cache = true',
    '',
  ].join('\n');
}

/** Scenario cache-memory: a cache of `maxSize` bytes, the admin API on `adminPort` for the stats. */
export function tamarinMemoryConfig(maxSize: number, adminPort: number): string {
  return [
    '[cache]',
    'enabled = true',
    `max_size = ${maxSize}`,
    '',
    '[access_log]',
    'enabled = false',
    '',
    '[admin]',
    'enabled = true',
    'host = "127.0.0.1"',
    `port = ${adminPort}`,
    '',
  ].join('\n');
}

/** Where the admin API may publish cache stats; the first that answers JSON wins. */
const STATS_PATHS = ['/api/cache/stats', '/api/cache', '/api/stats'];

/** Cache statistics as far as the benchmark needs them (field names vary; see `readCacheStats`). */
export interface CacheStats {
  readonly entries?: number;
  readonly bytes?: number;
}

/** Best-effort read of entries and bytes from Tamarin's admin API; `undefined` when it is not there. */
export async function readCacheStats(adminPort: number): Promise<CacheStats | undefined> {
  for (const path of STATS_PATHS) {
    try {
      const res = await httpGet(`http://127.0.0.1:${adminPort}${path}`, 2000);
      if (res.status !== 200) continue;
      const json = JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
      const source = (typeof json.cache === 'object' && json.cache ? json.cache : json) as Record<
        string,
        unknown
      >;
      const pick = (...keys: string[]) => {
        for (const key of keys) if (typeof source[key] === 'number') return source[key] as number;
        return undefined;
      };
      return {
        entries: pick('entries', 'entryCount', 'count', 'size'),
        bytes: pick('bytes', 'bytesUsed', 'usedBytes', 'used'),
      };
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
}

/** Whether Tamarin's CLI exists yet (it is being written alongside the harness). */
export function tamarinPresent(repoRoot: string): boolean {
  return existsSync(join(repoRoot, 'src', 'cli.ts'));
}

/** Starts Tamarin with one worker pinned to the server core; rejects with its output if it fails. */
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
    '1',
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
