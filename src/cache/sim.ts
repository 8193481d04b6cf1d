/**
 * `tamarin sim <trace>... [--policy p|all] [--size 1%|64MiB|1000]`: replays traces through the real
 * eviction policies, as the cache store drives them (every request counts; a hit is `hit`, a miss is
 * `insert`), and prints markdown tables of the request and byte hit ratios per policy and capacity, and of
 * each policy's gap to the best fixed policy per point (every policy but `adaptive` is fixed).
 */
import { parseByteSize } from '../server/units.ts';
import { createPolicy, isPolicyName, POLICY_NAMES } from './policies/index.ts';
import type { PolicyName } from './policy.ts';
import { loadTrace, type Trace, TraceError } from './trace.ts';

const USAGE = `usage: tamarin sim <trace>... [--policy lru|lfu|s3fifo|w-tinylfu|arc|adaptive|all] [--size 0.1%,1%,10%]

  <trace>     text file, one request per line: "key size" (gzip-compressed or not)
  --policy    one policy, a comma-separated list, or "all" (default: all)
  --size      capacity, comma-separated for several:
                N%        of the trace's unique keys (traces without sizes) or unique bytes
                64MiB     bytes (units B, KB, KiB, MB, MiB, GB, GiB)
                1000      a number of entries
              (default: 0.1%,1%,10%)`;

/** A capacity as written on the command line. */
export interface SizeSpec {
  text: string;
  kind: 'percent' | 'bytes' | 'entries';
  value: number;
}

/** The outcome of one replay. */
export interface SimResult {
  requests: number;
  hits: number;
  bytes: number;
  hitBytes: number;
  maxBytes: number;
  maxEntries: number;
}

/** Parses one `--size` value; `undefined` if malformed. */
export function parseSizeSpec(text: string): SizeSpec | undefined {
  const trimmed = text.trim();
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(trimmed);
  if (percent) {
    const value = Number(percent[1]);
    return value > 0 && value <= 100 ? { text: trimmed, kind: 'percent', value } : undefined;
  }
  if (/^\d+$/.test(trimmed)) {
    const value = Number(trimmed);
    return value >= 1 ? { text: trimmed, kind: 'entries', value } : undefined;
  }
  const bytes = parseByteSize(trimmed);
  return bytes !== undefined && bytes > 0 ? { text: trimmed, kind: 'bytes', value: bytes } : undefined;
}

/** The `maxBytes`/`maxEntries` a size means for a trace: count-bounded when the trace has no sizes. */
export function capacityFor(spec: SizeSpec, trace: Trace): { maxBytes: number; maxEntries: number } {
  const inf = Number.POSITIVE_INFINITY;
  if (spec.kind === 'bytes') return { maxBytes: spec.value, maxEntries: inf };
  if (spec.kind === 'entries') return { maxBytes: inf, maxEntries: spec.value };
  if (trace.unitSizes) {
    return { maxBytes: inf, maxEntries: Math.max(1, Math.round((trace.uniqueKeys * spec.value) / 100)) };
  }
  return { maxBytes: Math.max(1, Math.round((trace.uniqueBytes * spec.value) / 100)), maxEntries: inf };
}

/** Replays `trace` through a fresh policy: a hit counts and refreshes, a miss inserts. */
export function replay(trace: Trace, name: PolicyName, maxBytes: number, maxEntries: number): SimResult {
  const policy = createPolicy(name, { maxBytes, maxEntries, onEvict: () => {} });
  const { keys, sizes } = trace;
  let hits = 0;
  let bytes = 0;
  let hitBytes = 0;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const size = sizes[i]!;
    bytes += size;
    if (policy.has(key)) {
      policy.hit(key);
      hits++;
      hitBytes += size;
    } else policy.insert(key, size);
  }
  return { requests: keys.length, hits, bytes, hitBytes, maxBytes, maxEntries };
}

interface Row {
  trace: string;
  size: string;
  capacity: string;
  results: SimResult[];
}

/** Where `runSim` writes; tests pass their own. */
export interface SimOutput {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/**
 * Runs the `sim` command (`argv` is what follows `tamarin sim`); resolves to the process exit code
 * (0 ok, 1 unreadable trace, 2 usage error).
 */
export async function runSim(argv: string[], io: SimOutput = process): Promise<number> {
  const paths: string[] = [];
  let policies: PolicyName[] = [...POLICY_NAMES];
  let specs: SizeSpec[] | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? arg.split('=', 2) : [arg, undefined];
    if (flag === '--help' || flag === '-h') {
      io.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (flag === '--policy' || flag === '--size') {
      const value = inline ?? argv[++i];
      if (value === undefined) return usage(io, `${flag} needs a value`);
      if (flag === '--policy') {
        if (value === 'all') policies = [...POLICY_NAMES];
        else {
          policies = [];
          for (const name of value.split(',')) {
            if (!isPolicyName(name))
              return usage(io, `unknown policy "${name}" (expected ${POLICY_NAMES.join(', ')} or all)`);
            policies.push(name);
          }
        }
      } else {
        specs = [];
        for (const part of value.split(',')) {
          const spec = parseSizeSpec(part);
          if (!spec) return usage(io, `bad --size "${part}" (expected e.g. 1%, 64MiB or 1000)`);
          specs.push(spec);
        }
      }
      continue;
    }
    if (arg.startsWith('-')) return usage(io, `unknown option ${arg}`);
    paths.push(arg);
  }
  if (paths.length === 0) return usage(io, 'no trace given');
  specs ??= ['0.1%', '1%', '10%'].map((text) => parseSizeSpec(text)!);

  const rows: Row[] = [];
  const started = performance.now();
  let replayed = 0;
  for (const path of paths) {
    let trace: Trace;
    try {
      trace = await loadTrace(path);
    } catch (error) {
      if (!(error instanceof TraceError)) throw error;
      io.stderr.write(`tamarin sim: ${error.message}\n`);
      return 1;
    }
    const label = (path.split('/').pop() ?? path).replace(/\.tr(\.gz)?$|\.gz$/, '');
    for (const spec of specs) {
      const { maxBytes, maxEntries } = capacityFor(spec, trace);
      const results = policies.map((name) => replay(trace, name, maxBytes, maxEntries));
      replayed += trace.keys.length * policies.length;
      rows.push({ trace: label, size: spec.text, capacity: describeCapacity(maxBytes, maxEntries), results });
    }
  }
  const seconds = (performance.now() - started) / 1000;
  io.stdout.write(formatTables(rows, policies, specs, paths.length > 1));
  io.stdout.write(`\n${replayed.toLocaleString('en')} requests replayed in ${seconds.toFixed(1)} s\n`);
  return 0;
}

function usage(io: SimOutput, message: string): number {
  io.stderr.write(`tamarin sim: ${message}\n\n${USAGE}\n`);
  return 2;
}

function describeCapacity(maxBytes: number, maxEntries: number): string {
  if (Number.isFinite(maxEntries) && !Number.isFinite(maxBytes))
    return `${maxEntries.toLocaleString('en')} keys`;
  const mib = maxBytes / 1024 ** 2;
  const bytes = mib >= 1 ? `${mib.toFixed(1)} MiB` : `${(maxBytes / 1024).toFixed(1)} KiB`;
  return Number.isFinite(maxEntries) ? `${bytes}, ${maxEntries} keys` : bytes;
}

function percent(part: number, whole: number): number {
  return whole === 0 ? 0 : (100 * part) / whole;
}

/** Two markdown tables (request, then byte hit ratio); the best policy per row in bold; mean rows. */
export function formatTables(
  rows: Row[],
  policies: PolicyName[],
  specs: SizeSpec[],
  withMean: boolean,
): string {
  let out = '';
  const metrics: Array<[string, (r: SimResult) => number]> = [
    ['Request hit ratio (%)', (r) => percent(r.hits, r.requests)],
    ['Byte hit ratio (%)', (r) => percent(r.hitBytes, r.bytes)],
  ];
  for (const [title, metric] of metrics) {
    out += `\n${title}\n\n| trace | size | capacity | ${policies.join(' | ')} |\n`;
    out += `|---|---|---|${policies.map(() => '---:').join('|')}|\n`;
    for (const row of rows) out += line(row.trace, row.size, row.capacity, row.results.map(metric));
    if (withMean) {
      for (const spec of specs) {
        const same = rows.filter((row) => row.size === spec.text);
        const means = policies.map(
          (_, p) => same.reduce((sum, row) => sum + metric(row.results[p]!), 0) / same.length,
        );
        out += line('**mean**', spec.text, '', means);
      }
    }
  }
  if (policies.length > 1) out += formatGaps(rows, policies);
  return out;
}

/**
 * Each policy's gap to the best fixed policy of its row, in points of request hit ratio (0 for the best;
 * negative when the adaptive policy beats every fixed one), then the mean and largest gap per policy and
 * the worst point against LRU.
 */
function formatGaps(rows: Row[], policies: PolicyName[]): string {
  const fixed = policies.map((name) => name !== 'adaptive');
  if (!fixed.includes(true)) return '';
  const ratio = (r: SimResult): number => percent(r.hits, r.requests);
  const lru = policies.indexOf('lru');
  let out = '\nGap to the best fixed policy (points of request hit ratio; lower is better)\n\n';
  out += `| trace | size | best fixed | ${policies.join(' | ')} |\n|---|---|---|${policies.map(() => '---:').join('|')}|\n`;
  const sums = policies.map(() => 0);
  const worst = policies.map(() => Number.NEGATIVE_INFINITY);
  const belowLru = policies.map(() => Number.NEGATIVE_INFINITY);
  for (const row of rows) {
    const values = row.results.map(ratio);
    let best = -1;
    for (let p = 0; p < policies.length; p++)
      if (fixed[p] && (best < 0 || values[p]! > values[best]!)) best = p;
    const gaps = values.map((v) => values[best]! - v);
    gaps.forEach((gap, p) => {
      sums[p]! += gap;
      worst[p] = Math.max(worst[p]!, gap);
      if (lru >= 0) belowLru[p] = Math.max(belowLru[p]!, values[lru]! - values[p]!);
    });
    out += `| ${row.trace} | ${row.size} | ${policies[best]} | ${gaps.map((g) => g.toFixed(2)).join(' | ')} |\n`;
  }
  const cells = (values: number[]): string => values.map((v) => v.toFixed(2)).join(' | ');
  out += `| **mean gap** | | | ${cells(sums.map((sum) => sum / rows.length))} |\n`;
  out += `| **largest gap** | | | ${cells(worst)} |\n`;
  if (lru >= 0) out += `| **most below lru** | | | ${cells(belowLru)} |\n`;
  return out;
}

function line(trace: string, size: string, capacity: string, values: number[]): string {
  const best = Math.max(...values);
  const cells = values.map((v) => (v === best && values.length > 1 ? `**${v.toFixed(2)}**` : v.toFixed(2)));
  return `| ${trace} | ${size} | ${capacity} | ${cells.join(' | ')} |\n`;
}
