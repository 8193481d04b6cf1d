/**
 * An eviction policy that picks, and keeps picking, whichever of LRU, S3-FIFO, W-TinyLFU and ARC suits
 * the live workload, by miniature simulation (SHARDS: Waldspurger, Park, Garthwaite, Smith, Ahmad, "Cache
 * Modeling and Optimization using Miniature Simulations", USENIX ATC 2017).
 *
 * The real cache is one candidate policy at full size. Beside it, each candidate also runs as a miniature
 * cache fed only the requests whose key hash falls in a fixed sample (`hash mod 2^16 < T`, rate
 * R = T / 2^16), with its capacity scaled by R. Spatial sampling keeps every request of a sampled key, so a
 * miniature sees the same reuse pattern as the whole cache, at R of the cost. Every `epoch` sampled
 * requests the miniatures' hit counts are folded into decayed scores; when another candidate beats the one
 * the real cache runs by more than `MARGIN` of the (decayed) sampled requests, the real cache switches:
 * a new policy of the winning kind is built and the resident keys move into it, coldest first, each
 * re-read as often as it was (at most twice) so that recency and "seen twice" survive the move.
 *
 * Costs. Hits and misses of unsampled keys cost one extra call and a hash test (the key's hash is kept in
 * the real policy's arena, computed once per insert). Sampled requests run four small policies. The rate
 * is chosen so that a miniature holds about `MINI_ENTRIES` keys, and never less than `MIN_RATE`: a cache of
 * 10,000 entries samples 1 key in 39. Caches below `MINI_ENTRIES` keys simulate every request at full size
 * (the miniatures are then as small as the cache, and a sample would be too small to tell policies apart).
 * A switch is O(resident keys) and happens at most once per as many requests as there are resident keys,
 * so it is amortised O(1). Nothing is allocated per request; switching allocates the new policy.
 *
 * Bounds and `onEvict` are the real policy's: it is built with the store's bounds and callback, and a
 * switch moves keys into a policy of the same capacity, which has room for all of them (no eviction, no
 * refusal). Miniatures hold keys of their own and never call the store.
 */
import type { EvictionPolicy, PolicyOptions, PolicyState } from '../policy.ts';
import { ArcPolicy } from './arc.ts';
import { checkCapacity } from './bounded-policy.ts';
import { hashKey } from './count-min-sketch.ts';
import { LruPolicy } from './lru.ts';
import { S3FifoPolicy } from './s3fifo.ts';
import type { SlotArena } from './slots.ts';
import { WTinyLfuPolicy } from './w-tinylfu.ts';

/** The candidates, in the order `state().estimates` lists them. */
export const CANDIDATES = ['lru', 's3fifo', 'w-tinylfu', 'arc'] as const;
export type Candidate = (typeof CANDIDATES)[number];
const LRU = 0;
const S3FIFO = 1;
const WTINYLFU = 2;
const ARC = 3;
/** Keys a miniature aims to hold: enough for its hit ratio to rank policies. */
const MINI_ENTRIES = 256;
/** The lowest sampling rate (SHARDS finds a few thousand sampled keys enough at any cache size). */
const MIN_RATE = 1 / 1024;
/** 2^16: sampling thresholds are in 1/65536ths. */
const SAMPLE_SCALE = 65536;
/** Sampled requests per decision, at least; otherwise one per miniature key. */
const MIN_EPOCH = 512;
/** Weight the scores keep per epoch (about the last 1 / (1 - DECAY) epochs count). */
const DECAY = 0.75;
/** A rival must win by this share of the sampled requests (here 0.5 point of hit ratio) to cause a switch. */
const MARGIN = 0.005;
/**
 * The candidate the real cache starts as. S3-FIFO: never far from LRU on recency-heavy traffic, best on
 * most Zipf-like traffic; W-TinyLFU starts with a 1% window and can fall far below LRU until its hill
 * climber catches up, which a miniature of a few hundred keys does not reproduce (docs/cache-policies.md).
 */
const INITIAL = S3FIFO;

type ArenaCandidate = LruPolicy | S3FifoPolicy | WTinyLfuPolicy | ArcPolicy;

/**
 * The order a switch moves each candidate's lists in, coldest first (later keys are newer in the new
 * policy): the list numbers of `lru.ts`, `s3fifo.ts` (small, main), `w-tinylfu.ts` (probation, window,
 * protected) and `arc.ts` (T1, T2).
 */
const MOVE_ORDER: readonly (readonly number[])[] = [[0], [0, 1], [1, 0, 2], [0, 1]];

function build(candidate: number, options: PolicyOptions): ArenaCandidate {
  if (candidate === LRU) return new LruPolicy(options);
  if (candidate === S3FIFO) return new S3FifoPolicy(options);
  if (candidate === WTINYLFU) return new WTinyLfuPolicy(options);
  return new ArcPolicy(options);
}

function ignore(_key: string): void {}

function workOf(policy: ArenaCandidate): number {
  return policy.arena.moves + (policy instanceof WTinyLfuPolicy ? policy.sketch.work : 0);
}

/** Mixes the stored key hash so that the sample does not line up with the sketch's own indexes. */
function sampleBits(hash: number): number {
  return Math.imul(hash ^ (hash >>> 15), 0x2c1b3c6d) >>> 16;
}

/** Creates the adaptive policy bounded by `options.maxBytes` and `options.maxEntries`. */
export function createAdaptive(options: PolicyOptions): EvictionPolicy {
  return new AdaptivePolicy(options);
}

export class AdaptivePolicy implements EvictionPolicy {
  readonly name = 'adaptive' as const;
  private real: ArenaCandidate;
  private current = INITIAL;
  private readonly options: PolicyOptions;
  private readonly byBytes: boolean;
  /** The miniatures, one field each so that every call site sees one class. */
  private miniLru: LruPolicy | null = null;
  private miniS3: S3FifoPolicy | null = null;
  private miniW: WTinyLfuPolicy | null = null;
  private miniArc: ArcPolicy | null = null;
  /** A key is sampled when `sampleBits(hash) < threshold` (0 until the miniatures exist). */
  private threshold = 0;
  private epochLength = MIN_EPOCH;
  private readonly epochHits = new Float64Array(CANDIDATES.length);
  private readonly scores = new Float64Array(CANDIDATES.length);
  private epochRequests = 0;
  private scoredRequests = 0;
  /** Requests since the last switch (a switch needs at least as many as there are resident keys). */
  private sinceSwitch = 0;
  /** Number of switches so far. */
  switches = 0;
  /** Work counted by policies this one has discarded (see `moves`). */
  private pastMoves = 0;

  constructor(options: PolicyOptions) {
    checkCapacity(options.maxBytes, options.maxEntries);
    this.options = options;
    this.byBytes = Number.isFinite(options.maxBytes);
    this.real = build(INITIAL, options);
    // Entry-bounded caches know their size now; byte-bounded ones learn it when they first fill.
    if (!this.byBytes) this.startSampling(options.maxEntries);
  }

  get bytes(): number {
    return this.real.bytes;
  }

  get count(): number {
    return this.real.count;
  }

  /**
   * List links rewritten and sketch words reset so far, by the real cache and the miniatures together
   * (the contract suite checks the work per operation does not grow with the cache).
   */
  get moves(): number {
    let work = this.pastMoves + workOf(this.real);
    if (this.miniLru)
      work += workOf(this.miniLru) + workOf(this.miniS3!) + workOf(this.miniW!) + workOf(this.miniArc!);
    return work;
  }

  /** The policy the real cache runs now. */
  get running(): Candidate {
    return CANDIDATES[this.current]!;
  }

  has(key: string): boolean {
    return this.real.has(key);
  }

  hit(key: string): void {
    const real = this.real;
    if (!real.has(key)) return;
    real.hit(key);
    this.sinceSwitch++;
    if (this.threshold === 0) return;
    const a = real.arena;
    const slot = a.find(key);
    if (sampleBits(a.hash[slot]!) < this.threshold) this.simulate(key, a.size[slot]!);
  }

  insert(key: string, size: number): boolean {
    const real = this.real;
    const admitted = real.insert(key, size);
    let hash: number;
    // W-TinyLFU has just hashed the key (same function) and kept it in its arena: reuse it.
    if (admitted && real instanceof WTinyLfuPolicy) hash = real.arena.hash[real.arena.find(key)]!;
    else {
      hash = hashKey(key);
      if (admitted) real.arena.hash[real.arena.find(key)] = hash;
    }
    this.sinceSwitch++;
    if (this.threshold === 0) {
      if (this.byBytes && real.bytes >= this.options.maxBytes / 2 && real.count > 0) {
        this.startSampling(real.count * (this.options.maxBytes / real.bytes));
      }
      return admitted;
    }
    if (sampleBits(hash) < this.threshold) this.simulate(key, size);
    return admitted;
  }

  remove(key: string): void {
    const real = this.real;
    if (!real.has(key)) return;
    const hash = real.arena.hash[real.arena.find(key)]!;
    real.remove(key);
    if (this.threshold !== 0 && sampleBits(hash) < this.threshold) {
      this.miniLru!.remove(key);
      this.miniS3!.remove(key);
      this.miniW!.remove(key);
      this.miniArc!.remove(key);
    }
  }

  clear(): void {
    this.real.clear();
    this.miniLru?.clear();
    this.miniS3?.clear();
    this.miniW?.clear();
    this.miniArc?.clear();
    this.scores.fill(0);
    this.epochHits.fill(0);
    this.epochRequests = 0;
    this.scoredRequests = 0;
  }

  hottest(limit: number): Array<{ key: string; frequency: number }> {
    return this.real.hottest(limit);
  }

  /** What the cache runs now and why: the candidate, its window if W-TinyLFU, the sampled hit ratios. */
  state(): PolicyState {
    const estimates: Record<string, number> = {};
    for (let i = 0; i < CANDIDATES.length; i++) {
      estimates[CANDIDATES[i]!] = this.scoredRequests === 0 ? 0 : this.scores[i]! / this.scoredRequests;
    }
    const real = this.real;
    return {
      running: this.running,
      ...(real instanceof WTinyLfuPolicy ? { window: real.state().window } : {}),
      sampleRate: this.threshold / SAMPLE_SCALE,
      estimates,
      switches: this.switches,
    };
  }

  /** Builds the miniatures for a cache of about `entries` keys. */
  private startSampling(entries: number): void {
    const rate = Math.min(1, Math.max(MIN_RATE, MINI_ENTRIES / Math.max(1, entries)));
    this.threshold = Math.max(1, Math.round(rate * SAMPLE_SCALE));
    const r = this.threshold / SAMPLE_SCALE;
    const { maxBytes, maxEntries } = this.options;
    const mini: PolicyOptions = {
      maxBytes: Number.isFinite(maxBytes) ? maxBytes * r : maxBytes,
      maxEntries: Number.isFinite(maxEntries) ? Math.max(1, Math.round(maxEntries * r)) : maxEntries,
      onEvict: ignore,
    };
    if (this.miniLru)
      this.pastMoves +=
        workOf(this.miniLru) + workOf(this.miniS3!) + workOf(this.miniW!) + workOf(this.miniArc!);
    this.miniLru = new LruPolicy(mini);
    this.miniS3 = new S3FifoPolicy(mini);
    this.miniW = new WTinyLfuPolicy(mini);
    this.miniArc = new ArcPolicy(mini);
    this.epochLength = Math.max(MIN_EPOCH, Math.round(entries * r));
  }

  /** One sampled request through every miniature. */
  private simulate(key: string, size: number): void {
    const hits = this.epochHits;
    const lru = this.miniLru!;
    if (lru.has(key)) {
      lru.hit(key);
      hits[LRU]!++;
    } else lru.insert(key, size);
    const s3 = this.miniS3!;
    if (s3.has(key)) {
      s3.hit(key);
      hits[S3FIFO]!++;
    } else s3.insert(key, size);
    const w = this.miniW!;
    if (w.has(key)) {
      w.hit(key);
      hits[WTINYLFU]!++;
    } else w.insert(key, size);
    const arc = this.miniArc!;
    if (arc.has(key)) {
      arc.hit(key);
      hits[ARC]!++;
    } else arc.insert(key, size);
    if (++this.epochRequests >= this.epochLength) this.decide();
  }

  /** Folds the epoch into the scores and switches the real cache if a rival clearly wins. */
  private decide(): void {
    let best = -1;
    for (let i = 0; i < CANDIDATES.length; i++) {
      this.scores[i] = this.scores[i]! * DECAY + this.epochHits[i]!;
      this.epochHits[i] = 0;
      if (i !== this.current && (best < 0 || this.scores[i]! > this.scores[best]!)) best = i;
    }
    this.scoredRequests = this.scoredRequests * DECAY + this.epochRequests;
    this.epochRequests = 0;
    const current = this.scores[this.current]!;
    if (this.scores[best]! - current <= MARGIN * this.scoredRequests) return;
    if (this.sinceSwitch < this.real.count) return;
    this.switchTo(best);
  }

  /** Rebuilds the real cache as `candidate`, moving the resident keys over, coldest first. */
  private switchTo(candidate: number): void {
    const old = this.real;
    const next = build(candidate, this.options);
    // Hand over what the miniature learned (W-TinyLFU's window, ARC's target), so that the real cache does
    // not start its own tuning over.
    if (next instanceof WTinyLfuPolicy) next.tuneLike(this.miniW!);
    else if (next instanceof ArcPolicy) next.tuneLike(this.miniArc!);
    const a: SlotArena = old.arena;
    for (const list of MOVE_ORDER[this.current]!) {
      for (let slot = a.first(list); slot !== list; slot = a.next[slot]!) {
        const key = a.keys[slot]!;
        if (!next.insert(key, a.size[slot]!)) continue;
        const b = next.arena;
        b.hash[b.find(key)] = a.hash[slot]!;
        const reads = Math.min(2, old instanceof WTinyLfuPolicy ? old.readsOf(slot) : a.hits[slot]!);
        for (let i = 0; i < reads; i++) next.hit(key);
      }
    }
    this.pastMoves += workOf(old) + old.count;
    this.real = next;
    this.current = candidate;
    this.sinceSwitch = 0;
    this.switches++;
  }
}
