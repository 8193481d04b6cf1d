/**
 * Synthetic cache traces with known shapes, for measuring eviction policies beyond the recorded traces:
 * Zipf popularity of several skews, scans mixed into Zipf, a working set that moves, a loop mixed into
 * Zipf, recency-heavy (temporal locality without lasting popularity) and Zipf with object sizes. Every
 * generator is deterministic (seeded PRNG), so a trace is named by its shape and seed and never needs to be
 * stored. `bench/traces/generate.ts` writes them in the trace format (`key size` per line, gzip).
 */

/** Deterministic PRNG (mulberry32): uniform in [0, 1). */
export function prng(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Draws ranks 0..n-1 with probability ∝ 1 / (rank + 1)^alpha (inverse CDF by binary search). */
export function zipf(n: number, alpha: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let r = 0; r < n; r++) cdf[r] = total += 1 / (r + 1) ** alpha;
  return () => {
    const u = random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** A generated trace: parallel arrays of key numbers and sizes (1 when the trace has no sizes). */
export interface GeneratedTrace {
  name: string;
  keys: Int32Array;
  sizes: Float64Array;
}

/** The shapes `generate` knows, with what each one models. */
export const SHAPES: Record<string, string> = {
  'zipf-0.6': 'Zipf popularity, alpha 0.6 (flat: a big cache helps little)',
  'zipf-0.8': 'Zipf popularity, alpha 0.8',
  'zipf-1.0': 'Zipf popularity, alpha 1.0',
  'zipf-1.2': 'Zipf popularity, alpha 1.2 (a few very hot keys)',
  'zipf-scan': 'Zipf 0.9 with one-off sequential scans (20% of requests)',
  shifting: 'Zipf 0.9 over a working set that moves to new keys every 40,000 requests',
  'loop-zipf': 'a loop over 4,000 keys (60%) mixed with Zipf 0.9 (40%)',
  recency: 'temporal locality without lasting popularity: re-reads of recent requests, 30% new keys',
  'zipf-sized': 'Zipf 0.9 with log-uniform object sizes from 1 KiB to 1 MiB (byte-bounded)',
};

/** Requests per generated trace, and keys in the Zipf universe. */
const REQUESTS = 400_000;
const UNIVERSE = 50_000;

/** Generates the trace of a named shape (see `SHAPES`); throws a RangeError for an unknown shape. */
export function generate(shape: string, seed = 1): GeneratedTrace {
  const random = prng(seed);
  const keys = new Int32Array(REQUESTS);
  const sizes = new Float64Array(REQUESTS).fill(1);
  const alphaMatch = /^zipf-(\d\.\d)$/.exec(shape);
  if (alphaMatch) {
    const draw = zipf(UNIVERSE, Number(alphaMatch[1]), random);
    for (let i = 0; i < REQUESTS; i++) keys[i] = draw();
  } else if (shape === 'zipf-scan') {
    const draw = zipf(UNIVERSE, 0.9, random);
    let next = UNIVERSE;
    let scanLeft = 0;
    for (let i = 0; i < REQUESTS; i++) {
      if (scanLeft === 0 && random() < 0.0001) scanLeft = 2000;
      if (scanLeft > 0) {
        keys[i] = next++;
        scanLeft--;
      } else keys[i] = draw();
    }
  } else if (shape === 'shifting') {
    const draw = zipf(UNIVERSE / 2, 0.9, random);
    for (let i = 0; i < REQUESTS; i++) {
      const phase = Math.floor(i / 40_000);
      // Each phase keeps half of the previous working set's keys (the colder half becomes the hot one).
      keys[i] = ((draw() + phase * (UNIVERSE / 4)) % (UNIVERSE * 3)) | 0;
    }
  } else if (shape === 'loop-zipf') {
    const draw = zipf(UNIVERSE, 0.9, random);
    let position = 0;
    for (let i = 0; i < REQUESTS; i++) {
      if (random() < 0.6) {
        keys[i] = UNIVERSE + position;
        position = (position + 1) % 4000;
      } else keys[i] = draw();
    }
  } else if (shape === 'recency') {
    let fresh = 0;
    for (let i = 0; i < REQUESTS; i++) {
      if (i === 0 || random() < 0.3) keys[i] = fresh++;
      else {
        // Re-read the request made `back` requests ago; `back` is heavy-tailed (Pareto, shape 0.8).
        const back = Math.min(i, Math.ceil(1 / (1 - random()) ** (1 / 0.8)));
        keys[i] = keys[i - back]!;
      }
    }
  } else if (shape === 'zipf-sized') {
    const draw = zipf(UNIVERSE, 0.9, random);
    const sizeOf = new Float64Array(UNIVERSE);
    for (let k = 0; k < UNIVERSE; k++) sizeOf[k] = Math.round(1024 * 1024 ** random());
    for (let i = 0; i < REQUESTS; i++) {
      const k = draw();
      keys[i] = k;
      sizes[i] = sizeOf[k]!;
    }
  } else {
    throw new RangeError(
      `unknown trace shape "${shape}" (expected one of ${Object.keys(SHAPES).join(', ')})`,
    );
  }
  return { name: shape, keys, sizes };
}

/** The trace as text in the trace format: one `key size` line per request. */
export function* traceLines(trace: GeneratedTrace): Generator<string> {
  const { keys, sizes } = trace;
  const chunk = 4096;
  for (let start = 0; start < keys.length; start += chunk) {
    let text = '';
    const end = Math.min(keys.length, start + chunk);
    for (let i = start; i < end; i++) text += `k${keys[i]!.toString(36)} ${sizes[i]!}\n`;
    yield text;
  }
}
