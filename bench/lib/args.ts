/**
 * `npm run bench` flags. Parsed into a plain options object; bad flags give an error that names the flag.
 */
import { parseArgs } from 'node:util';

/**
 * Every scenario, in run order. The last three run only when asked for (`--memory`, `--churn`,
 * `--workers-hits` or `--only`).
 */
export const SCENARIOS = [
  'static-uncached',
  'static-cached',
  'proxy-pass',
  'proxy-cache-hit',
  'tls',
  'cache-memory',
  'cache-churn',
  'cache-workers-hits',
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/** Options of one benchmark run. */
export interface BenchOptions {
  /** Measured rounds per contender (round-robin). @default 5 (3 with --quick) */
  readonly rounds: number;
  /** Seconds per measured run. @default 5 (1 with --quick) */
  readonly duration: number;
  /** Seconds of warm-up per contender and URL before the first round (0 = none). @default 2 (1 with --quick) */
  readonly warmup: number;
  /** Keep-alive connections of the load generator. @default 50 */
  readonly connections: number;
  /** Scenarios to run, in order. @default all but the opt-in ones */
  readonly scenarios: readonly ScenarioName[];
  /** Core of the proxy scenarios' origin: 1 shares the load generator's core, 0 the proxy's. @default 1 */
  readonly backendCore: number;
  /**
   * The proxy scenarios' origin: `nginx` (`return 200` of a fixed body; the cheapest origin, so the load
   * side leaves the most room for the proxies), `node` (bench/peers/raw-backend.ts) or `auto`: nginx
   * when installed, else node. @default 'auto'
   */
  readonly origin: 'auto' | 'nginx' | 'node';
  /** Cache capacity for the cache-memory scenario, in bytes. @default 256 MiB */
  readonly memorySize: number;
  /** Requests of the trace prefix replayed by cache-workers-hits. @default 50000 */
  readonly traceRequests: number;
  /** Force a load generator ('wrk' or 'autocannon'); by default wrk when installed. */
  readonly load: 'wrk' | 'autocannon' | undefined;
  readonly help: boolean;
}

export const USAGE = `Usage: npm run bench -- [options]

  --rounds <n>       measured rounds per contender, round-robin (default 5; --quick: 3)
  --duration <s>     seconds per measured run (default 5; --quick: 1)
  --warmup <s>       warm-up seconds per contender and URL before round 1 (default 2; --quick: 1)
  --connections <n>  keep-alive connections (default 50)
  --only <names>     comma-separated scenarios: ${SCENARIOS.join(', ')}
  --backend-core <c> core of the proxy scenarios' origin: 1 (with wrk, default) or 0 (with the proxy)
  --origin <kind>    the proxy scenarios' origin: nginx, node (bench/peers/raw-backend.ts) or auto
                     (default: nginx when installed, else node)
  --memory           also run cache-memory (fills a 256 MiB cache; slow)
  --memory-size <n>  cache capacity for cache-memory in MiB (default 256)
  --churn            also run cache-churn (3,000 × 64 KiB at random through a 64 MiB cache)
  --workers-hits     also run cache-workers-hits (a trace through 4 workers against tamarin sim)
  --trace-requests <n>  requests of the trace replayed by cache-workers-hits (default 50000)
  --load <tool>      wrk (default when installed) or autocannon
  --quick            short rounds for checking the harness, not for publishing
  --help             this text
`;

function positiveInt(flag: string, text: string | undefined, fallback: number, allowZero = false): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
    throw new Error(
      `--${flag}: expected ${allowZero ? 'a whole number ≥ 0' : 'a whole number ≥ 1'}, got "${text}"`,
    );
  }
  return value;
}

function loadTool(text: string | undefined): 'wrk' | 'autocannon' | undefined {
  if (text === undefined || text === 'wrk' || text === 'autocannon') return text;
  throw new Error(`--load: expected wrk or autocannon, got "${text}"`);
}

function originKind(text: string | undefined): 'auto' | 'nginx' | 'node' {
  if (text === undefined || text === 'auto' || text === 'nginx' || text === 'node') return text ?? 'auto';
  throw new Error(`--origin: expected nginx, node or auto, got "${text}"`);
}

function coreNumber(text: string | undefined): number {
  if (text === undefined) return 1;
  if (text !== '0' && text !== '1') throw new Error(`--backend-core: expected 0 or 1, got "${text}"`);
  return Number(text);
}

/** Parses the flags after `npm run bench --`; throws an Error naming the flag on bad input. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      only: { type: 'string' },
      'backend-core': { type: 'string' },
      origin: { type: 'string' },
      memory: { type: 'boolean', default: false },
      'memory-size': { type: 'string' },
      churn: { type: 'boolean', default: false },
      'workers-hits': { type: 'boolean', default: false },
      'trace-requests': { type: 'string' },
      load: { type: 'string' },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const quick = values.quick;
  const optIn: Partial<Record<ScenarioName, boolean>> = {
    'cache-memory': values.memory,
    'cache-churn': values.churn,
    'cache-workers-hits': values['workers-hits'],
  };
  let scenarios: ScenarioName[] = SCENARIOS.filter((name) => optIn[name] ?? true);
  if (values.only !== undefined) {
    scenarios = [];
    for (const name of values.only.split(',').map((s) => s.trim())) {
      if (!(SCENARIOS as readonly string[]).includes(name)) {
        throw new Error(`--only: unknown scenario "${name}" (expected one of ${SCENARIOS.join(', ')})`);
      }
      if (!scenarios.includes(name as ScenarioName)) scenarios.push(name as ScenarioName);
    }
  }
  return {
    rounds: positiveInt('rounds', values.rounds, quick ? 3 : 5),
    duration: positiveInt('duration', values.duration, quick ? 1 : 5),
    warmup: positiveInt('warmup', values.warmup, quick ? 1 : 2, true),
    connections: positiveInt('connections', values.connections, 50),
    scenarios,
    backendCore: coreNumber(values['backend-core']),
    origin: originKind(values.origin),
    memorySize: positiveInt('memory-size', values['memory-size'], 256) * 1024 * 1024,
    traceRequests: positiveInt('trace-requests', values['trace-requests'], 50_000),
    load: loadTool(values.load),
    help: values.help,
  };
}
