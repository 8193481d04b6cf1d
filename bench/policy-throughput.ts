/**
 * Eviction-policy throughput: get-or-set operations per second (`has(k) ? hit(k) : insert(k, size)`) over
 * a pre-generated Zipf-distributed key stream, so the loop measures the policy and nothing else.
 * For comparison, npm's lru-cache does 3.2-3.9 M get-or-set/s on the project's benchmark machine.
 *
 *   node bench/policy-throughput.ts [--keys 100000] [--capacity 10000] [--ops 1000000] [--repeat 3] [--bytes]
 *                                   [--policy p1,p2] [--memory] [--versus [--pairs 7] [--warm 1] [--against p]]
 *
 * `--bytes` bounds the cache in bytes (sizes 1-64 KiB) instead of entries. Each policy replays the stream
 * once to warm up, then `--repeat` times measured; the best run is reported (the machine is shared, and
 * the best run is the one least disturbed by other work). The last column is the candidate an adaptive
 * policy runs at the end (compare its speed with that policy's). `--memory` (run node with `--expose-gc`)
 * reports instead the heap each policy holds once the stream has filled it. `--versus` measures the
 * adaptive policy's overhead in one process: the policy adaptive runs after `--warm` passes (and more
 * until two passes in a row end on the same policy) is built and replays the stream `--warm` times too;
 * then both replay it in alternation, each through its own copy of the loop, 3 warm-up pairs and
 * `--pairs` measured pairs, each pair in the other order than the last. The ratio printed is the median
 * over pairs of the fixed policy's CPU time over adaptive's (1.00 = no overhead; "quartiles" shows the
 * spread), with the policy adaptive ran after each measured pass; "(switched)" when it ran another policy
 * at the end (`--against NAME` picks the fixed side instead).
 */
import { parseArgs } from 'node:util';
import { createPolicy, POLICY_NAMES } from '../src/cache/policies/index.ts';
import type { EvictionPolicy, PolicyName } from '../src/cache/policy.ts';

const { values } = parseArgs({
  options: {
    keys: { type: 'string', default: '100000' },
    capacity: { type: 'string', default: '10000' },
    ops: { type: 'string', default: '1000000' },
    repeat: { type: 'string', default: '3' },
    alpha: { type: 'string', default: '0.99' },
    bytes: { type: 'boolean', default: false },
    policy: { type: 'string' },
    memory: { type: 'boolean', default: false },
    versus: { type: 'boolean', default: false },
    pairs: { type: 'string', default: '7' },
    warm: { type: 'string', default: '1' },
    against: { type: 'string' },
  },
});
const universe = Number(values.keys);
const capacity = Number(values.capacity);
const ops = Number(values.ops);
const alpha = Number(values.alpha);

/** Deterministic PRNG (mulberry32) so every run replays the same stream. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A stream of `ops` indexes into `universe` keys, rank r drawn with probability ∝ 1 / r^alpha. */
function zipfStream(): Int32Array {
  const cdf = new Float64Array(universe);
  let total = 0;
  for (let r = 0; r < universe; r++) cdf[r] = total += 1 / (r + 1) ** alpha;
  const next = random(42);
  const stream = new Int32Array(ops);
  for (let i = 0; i < ops; i++) {
    const u = next() * total;
    let lo = 0;
    let hi = universe - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    stream[i] = lo;
  }
  return stream;
}

const names = Array.from({ length: universe }, (_, r) => `/site/assets/item-${r.toString(36)}.html`);
const sizeOf = Array.from({ length: universe }, (_, r) => 1024 + ((r * 2654435761) % (63 * 1024)));
const indexes = zipfStream();
const keys = Array.from(indexes, (i) => names[i]!);
const sizes = Float64Array.from(indexes, (i) => (values.bytes ? sizeOf[i]! : 1));
const averageSize = values.bytes ? sizes.reduce((a, b) => a + b, 0) / sizes.length : 1;

function build(name: PolicyName): EvictionPolicy {
  return createPolicy(name, {
    maxBytes: values.bytes ? capacity * averageSize : Number.POSITIVE_INFINITY,
    maxEntries: values.bytes ? Number.POSITIVE_INFINITY : capacity,
    onEvict: () => {},
  });
}

/**
 * Heap bytes a policy holds after replaying the stream once (keys are shared with the stream): the mean
 * over `COPIES` live copies, so that the collector's noise is small beside what is measured.
 */
function heldBytes(name: PolicyName): number {
  const COPIES = 6;
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('--memory needs node --expose-gc');
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const live: EvictionPolicy[] = [];
  for (let copy = 0; copy < COPIES; copy++) {
    const policy = build(name);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      if (policy.has(key)) policy.hit(key);
      else policy.insert(key, sizes[i]!);
    }
    live.push(policy);
  }
  gc();
  gc();
  const held = (process.memoryUsage().heapUsed - before) / live.length;
  live.length = 0;
  return held;
}

function run(name: PolicyName): {
  opsPerSecond: number;
  opsPerCpuSecond: number;
  hitRatio: number;
  running: string;
} {
  const policy = build(name);
  let hits = 0;
  // Warm-up pass (JIT and a full cache), then the measured pass.
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (policy.has(key)) policy.hit(key);
    else policy.insert(key, sizes[i]!);
  }
  let best = Number.POSITIVE_INFINITY;
  let bestCpu = Number.POSITIVE_INFINITY;
  for (let run = 0; run < Number(values.repeat); run++) {
    hits = 0;
    const cpu = process.cpuUsage();
    const start = process.hrtime.bigint();
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      if (policy.has(key)) {
        policy.hit(key);
        hits++;
      } else policy.insert(key, sizes[i]!);
    }
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
    const used = process.cpuUsage(cpu);
    bestCpu = Math.min(bestCpu, (used.user + used.system) / 1e6);
  }
  return {
    opsPerSecond: keys.length / best,
    opsPerCpuSecond: keys.length / bestCpu,
    hitRatio: hits / keys.length,
    running: policy.state?.().running ?? '',
  };
}

const selected = values.policy ? (values.policy.split(',') as PolicyName[]) : [...POLICY_NAMES];
console.log(
  `${ops.toLocaleString('en')} get-or-set ops, ${universe.toLocaleString('en')} keys (Zipf ${alpha}), ` +
    `capacity ${capacity.toLocaleString('en')} ${values.bytes ? 'average-size objects (byte-bounded)' : 'entries'}`,
);
/**
 * One pass of the stream through `policy`: CPU seconds. `--versus` gives each side its own copy of this
 * loop (`passFor`), so that each side's call sites see one class, as the store's do in the server: a loop
 * shared by both sides is polymorphic, which slows both, by different amounts.
 */
const lastHitRatio = new Float64Array(1);
/** Requests per call of a side's loop: many calls per pass, so that the loop is optimized as a function. */
const CHUNK = 8192;
function passFor(): (policy: EvictionPolicy) => number {
  // A function compiled apart has feedback of its own (closures of one literal would share it). It runs
  // a chunk of the stream per call: a single call per pass ran on on-stack replacement, and the code after
  // the loop, never run before, deoptimized the pass at every exit, so each pass began unoptimized.
  const replay = new Function(
    'keys',
    'sizes',
    `return function replay(policy, from, to) {
      let hits = 0;
      for (let i = from; i < to; i++) {
        const key = keys[i];
        if (policy.has(key)) {
          policy.hit(key);
          hits++;
        } else policy.insert(key, sizes[i]);
      }
      return hits;
    };`,
  )(keys, sizes) as (policy: EvictionPolicy, from: number, to: number) => number;
  return (policy) => {
    let hits = 0;
    const cpu = process.cpuUsage();
    for (let i = 0; i < keys.length; i += CHUNK) hits += replay(policy, i, Math.min(keys.length, i + CHUNK));
    const used = process.cpuUsage(cpu);
    lastHitRatio[0] = hits / keys.length;
    return (used.user + used.system) / 1e6;
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

if (values.versus) {
  // Both sides replay the same stream the same number of times before measuring (`--warm`, then 3 pairs),
  // each through its own loop; pairs alternate which side goes first, so that drift on a shared machine
  // and the other side's cache footprint fall on both alike.
  const passAdaptive = passFor();
  const passFixed = passFor();
  const adaptive = build('adaptive');
  for (let i = 0; i < Number(values.warm); i++) passAdaptive(adaptive);
  // Two near-tied candidates can still trade places after the warm-up: replay until a pass ends on the
  // policy the previous one ended on (at most 8 more), and compare with that one.
  for (let i = 0, last = ''; i < 8 && adaptive.state!().running !== last; i++) {
    last = adaptive.state!().running;
    passAdaptive(adaptive);
  }
  const running = (values.against ?? adaptive.state!().running) as PolicyName;
  const fixed = build(running);
  for (let i = 0; i < Number(values.warm); i++) passFixed(fixed);
  const times: [number[], number[]] = [[], []];
  const pairs = Number(values.pairs);
  /** The policy adaptive ran at the end of each measured pass, and how often. */
  const ran = new Map<string, number>();
  /** Each side's hit ratio in its last pass (a policy that misses more also spends more per request). */
  const hitRatios = [0, 0];
  for (let pair = 0; pair < 3 + pairs; pair++) {
    let a: number;
    let b: number;
    if (pair % 2 === 0) {
      a = passAdaptive(adaptive);
      hitRatios[0] = lastHitRatio[0]!;
      b = passFixed(fixed);
      hitRatios[1] = lastHitRatio[0]!;
    } else {
      b = passFixed(fixed);
      hitRatios[1] = lastHitRatio[0]!;
      a = passAdaptive(adaptive);
      hitRatios[0] = lastHitRatio[0]!;
    }
    if (pair >= 3) {
      times[0].push(a);
      times[1].push(b);
      const now = adaptive.state!().running;
      ran.set(now, (ran.get(now) ?? 0) + 1);
    }
  }
  const state = adaptive.state!();
  const { pauses = 0, rests = 0 } = adaptive as unknown as { pauses?: number; rests?: number };
  console.log(
    '| adaptive, M ops/s (CPU) | its running policy | ratio | quartiles | adaptive ran (after each pass) | sample rate | pauses, rests, switches | hit ratio, adaptive / fixed |',
  );
  console.log('|---:|---:|---:|---:|---|---:|---:|---:|');
  const [ta, tb] = [median(times[0]), median(times[1])];
  // The ratio within each pair: the two passes ran back to back, under the same load.
  const ratios = times[0].map((a, i) => times[1][i]! / a).sort((x, y) => x - y);
  const quartile = (q: number): string => ratios[Math.round(q * (ratios.length - 1))]!.toFixed(2);
  console.log(
    `| ${(ops / ta / 1e6).toFixed(2)} | ${(ops / tb / 1e6).toFixed(2)} (${running}) | ${median(ratios).toFixed(3)} | ${quartile(0.25)}-${quartile(0.75)} | ` +
      `${[...ran].map(([name, n]) => `${name} ×${n}`).join(', ')}${state.running === running ? '' : ' (switched)'} | ${((state.sampleRate ?? 0) * 100).toFixed(2)}% | ${pauses}, ${rests}, ${state.switches ?? 0} | ${(hitRatios[0]! * 100).toFixed(1)}% / ${(hitRatios[1]! * 100).toFixed(1)}% |`,
  );
} else if (values.memory) {
  console.log('| policy | heap held, KiB |\n|---|---:|');
  for (const name of selected) console.log(`| ${name} | ${(heldBytes(name) / 1024).toFixed(0)} |`);
} else {
  // CPU time is reported beside wall time: on a shared machine it is the steadier of the two.
  console.log(
    '| policy | M ops/s (wall) | M ops/s (CPU time) | hit ratio | running |\n|---|---:|---:|---:|---|',
  );
  for (const name of selected) {
    const { opsPerSecond, opsPerCpuSecond, hitRatio, running } = run(name);
    const mops = (n: number): string => (n / 1e6).toFixed(2);
    console.log(
      `| ${name} | ${mops(opsPerSecond)} | ${mops(opsPerCpuSecond)} | ${(hitRatio * 100).toFixed(1)}% | ${running} |`,
    );
  }
}
