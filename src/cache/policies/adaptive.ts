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
 * Costs. Sampled requests run four small policies. The rate is chosen so that a miniature holds about
 * `MINI_ENTRIES` keys, and never less than `MIN_RATE`: a cache of 10,000 entries samples 1 key in 39.
 * Caches below `MINI_ENTRIES` keys simulate every request at full size (the miniatures are then as small
 * as the cache, and a sample would be too small to tell policies apart). That would make small caches
 * several times slower, so once the choice is stable the miniatures pause (duty cycle, `settle`): pauses
 * double up to the length that keeps the simulated share near `DUTY_SHARE`, each resume warms up one epoch
 * unscored, and a move of the real cache's own hit ratio (`watch`) wakes them early. They also rest while
 * the real cache misses less than the switching margin (no candidate could then win). While paused a
 * request costs the real policy's operation, a dispatch and a counter; keys are hashed only when the
 * miniatures run (a slot's hash is 0 until then), and whether a key is in the sample is kept as a mark
 * beside its slot in the real arena's index, so that a hit on a key outside it reads nothing more. A switch is O(resident keys) and happens at most once
 * per as many requests as there are resident keys, so it is amortised O(1). Nothing is allocated per
 * request; switching allocates the new policy. Everything is counted in requests, never in time.
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
 * A rival this close (a share of `MARGIN`) still counts as calm: two candidates that tie on the traffic
 * trade the lead from epoch to epoch, and the miniatures would otherwise never pause.
 */
const NEAR = 0.5;
/** Scored epochs in a row with the running candidate ahead (or `NEAR`) before the miniatures first pause. */
const CALM_EPOCHS = 4;
/**
 * Sampled requests (in epochs) the miniatures must have simulated before they first pause: a miniature
 * that has seen little traffic is young (S3-FIFO's main queue and W-TinyLFU's sketch still learning) and
 * ranks the policies by how fast they learn rather than by how well they hold. 64 epochs of 512 is 128
 * times a miniature's size; half as many paused small caches before workloads that alternate every
 * 40,000 requests had made them switch.
 */
const HISTORY_EPOCHS = 64;
/**
 * Once the choice is stable, the miniatures pause for longer and longer (doubling from one epoch) until
 * they simulate about this share of the requests: the budget that keeps their cost within a few percent
 * of the real policy's at any sample rate (docs/cache-policies.md, "Duty cycle").
 */
const DUTY_SHARE = 1 / 2048;
/**
 * Epochs the longest pause lasts at least, whatever the sample rate. In a large cache the miniatures
 * simulate less than `DUTY_SHARE` of the requests even while they run, but every hit still pays the sample
 * test (the key's stored hash): pausing is what removes it.
 */
const LONGEST_PAUSE = 8;
/**
 * A rival that beats the running candidate within a single epoch by this share of its requests ends the
 * back-off (a workload shift); smaller leads only count through the decayed scores. Well above the noise
 * of one epoch's paired difference (about 1 point at 512 sampled requests).
 */
const SHIFT = 0.03;
/**
 * While the miniatures pause, the real cache's own hit ratio is watched over windows of this many
 * requests; a window that differs from the last one before the pause by `HIT_SHIFT` (3 points, about
 * four standard deviations of the difference at a 50 % hit ratio) wakes them up early.
 */
const WINDOW = 8192;
const HIT_SHIFT = 0.03;
/** A key's mark in the real arena (`SlotArena.markOf`): not yet tested, outside the sample, in it. */
const UNMARKED = 0;
const UNSAMPLED = 1;
const SAMPLED = 2;
/** The miniatures' phases: scoring, paused (counting requests down), or warming up (one epoch, unscored). */
const SCORING = 0;
const PAUSED = 1;
const WARMING = 2;
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

/** The key hash kept in `slot`, computed now if the slot has none yet (0: see `SlotArena.alloc`). */
function hashOf(a: SlotArena, slot: number, key: string): number {
  let hash = a.hash[slot]!;
  if (hash === 0) {
    hash = hashKey(key);
    a.hash[slot] = hash;
  }
  return hash;
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
  /** `real` again, in the field of its class (the others null): see `has`. */
  private realLru: LruPolicy | null = null;
  private realS3: S3FifoPolicy | null = null;
  private realW: WTinyLfuPolicy | null = null;
  private realArc: ArcPolicy | null = null;
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
  /** `threshold` while the miniatures simulate, 0 while they pause: the one field a request tests. */
  private active = 0;
  private epochLength = MIN_EPOCH;
  private readonly epochHits = new Float64Array(CANDIDATES.length);
  private readonly scores = new Float64Array(CANDIDATES.length);
  private epochRequests = 0;
  private scoredRequests = 0;
  /** Requests since the last switch (a switch needs at least as many as there are resident keys). */
  private sinceSwitch = 0;
  /** Number of switches so far. */
  switches = 0;
  /** SCORING, PAUSED or WARMING. */
  private phase = SCORING;
  /** Paused because the real cache hardly misses (`rest`), rather than by the back-off. */
  private resting = false;
  /** Scored epochs in a row without a switch, a rival ahead, or a shift. */
  private calm = 0;
  /** Epochs the next pause lasts, and the most it may (set with the sample rate). */
  private pauseEpochs = 1;
  private maxPause = 0;
  /** Requests left until the pause ends (its epochs of sampled requests, divided by the sample rate). */
  private skip = 0;
  /**
   * Requests until the next `tick`, counted down from `chunk`: the request counters (since the last
   * switch, in the window, left in a pause) are brought up to date only then, so that a request pays one
   * decrement for all of them (see `fold`).
   */
  private countdown = WINDOW;
  private chunk = WINDOW;
  /** Requests and real misses (inserts) in the current window, and the hit ratio of the last window not paused. */
  private windowRequests = 0;
  private windowMisses = 0;
  private reference = -1;
  /** Sampled requests run through the miniatures, pauses taken, pauses cut short by a hit-ratio change. */
  simulated = 0;
  pauses = 0;
  wakes = 0;
  /** Rests taken because the real cache hardly missed (see `rest`). */
  rests = 0;
  /** Work counted by policies this one has discarded (see `moves`). */
  private pastMoves = 0;

  constructor(options: PolicyOptions) {
    checkCapacity(options.maxBytes, options.maxEntries);
    this.options = options;
    this.byBytes = Number.isFinite(options.maxBytes);
    this.real = build(INITIAL, options);
    this.setReal(this.real);
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

  // `has`, `hit` and `insert` reach the real policy through a field of its own class, so that each call
  // site sees one class and V8 inlines it (a call through `real` turns polymorphic at the first switch).
  has(key: string): boolean {
    switch (this.current) {
      case S3FIFO:
        return this.realS3!.has(key);
      case WTINYLFU:
        return this.realW!.has(key);
      case LRU:
        return this.realLru!.has(key);
      default:
        return this.realArc!.has(key);
    }
  }

  hit(key: string): void {
    // Each real policy's `hit` returns the slot it found (-1 if absent): one lookup, as the policy alone.
    let slot: number;
    switch (this.current) {
      case S3FIFO:
        slot = this.realS3!.hit(key);
        break;
      case WTINYLFU:
        slot = this.realW!.hit(key);
        break;
      case LRU:
        slot = this.realLru!.hit(key);
        break;
      default:
        slot = this.realArc!.hit(key);
    }
    if (slot < 0) return;
    // Read before the tick, which may end a pause: the request that ends it is not simulated.
    const threshold = this.active;
    if (--this.countdown === 0) this.tick();
    if (threshold === 0) return;
    // Whether the key is in the sample is kept beside its slot in the real arena's index (`markOf`):
    // testing it touches no per-slot array, so unsampled hits cost no more memory traffic than alone.
    const a = this.real.arena;
    const mark = a.lastMark;
    if (mark !== UNSAMPLED) this.sampleHit(a, key, slot, mark);
  }

  /** A hit on a key in the sample, or not yet tested (out of line: most hits are on neither). */
  private sampleHit(a: SlotArena, key: string, slot: number, mark: number): void {
    if (mark === UNMARKED) {
      mark = sampleBits(hashOf(a, slot, key)) < this.threshold ? SAMPLED : UNSAMPLED;
      a.setMark(key, slot, mark);
    }
    if (mark === SAMPLED) this.simulate(key, a.size[slot]!);
  }

  insert(key: string, size: number): boolean {
    const real = this.real;
    let admitted: boolean;
    switch (this.current) {
      case S3FIFO:
        admitted = this.realS3!.insert(key, size);
        break;
      case WTINYLFU:
        admitted = this.realW!.insert(key, size);
        break;
      case LRU:
        admitted = this.realLru!.insert(key, size);
        break;
      default:
        admitted = this.realArc!.insert(key, size);
    }
    this.windowMisses++;
    const threshold = this.active;
    if (--this.countdown === 0) this.tick();
    // While the miniatures pause nothing needs the key's hash: it is computed when first needed.
    if (threshold === 0) {
      if (this.threshold === 0 && this.byBytes && real.bytes >= this.options.maxBytes / 2 && real.count > 0) {
        this.startSampling(real.count * (this.options.maxBytes / real.bytes));
      }
      return admitted;
    }
    // W-TinyLFU has just hashed the key (same function) and kept it in its arena: hashOf reuses it.
    const a = real.arena;
    const hash = admitted ? hashOf(a, a.find(key), key) : hashKey(key);
    if (sampleBits(hash) < threshold) this.simulate(key, size);
    return admitted;
  }

  remove(key: string): void {
    const real = this.real;
    if (!real.has(key)) return;
    const a = real.arena;
    // Paused or not, so that a miniature never holds a key the store has dropped.
    const sampled = this.threshold !== 0 && sampleBits(hashOf(a, a.find(key), key)) < this.threshold;
    real.remove(key);
    if (sampled) {
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
    this.phase = SCORING;
    this.resting = false;
    this.calm = 0;
    this.pauseEpochs = 1;
    this.skip = 0;
    this.active = this.threshold;
    this.countdown = this.chunk = WINDOW;
    this.windowRequests = 0;
    this.windowMisses = 0;
    this.reference = -1;
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

  /**
   * Closes a window of real requests: while the miniatures pause, a hit ratio that moved by `HIT_SHIFT`
   * since the last window before the pause wakes them (warm-up first, and the back-off goes on unless
   * the next scored epoch finds a rival ahead); outside pauses each window becomes the reference.
   */
  private watch(): void {
    const missRatio = this.windowMisses / WINDOW;
    const ratio = 1 - missRatio;
    this.windowMisses = 0;
    this.windowRequests = 0;
    if (this.phase !== PAUSED) {
      this.reference = ratio;
      // No candidate can beat a cache that misses less than the margin by more than the margin: nothing
      // the miniatures find could make it switch, so they rest until the cache misses more.
      if (missRatio < MARGIN && this.threshold !== 0) this.rest();
    } else if (this.resting ? missRatio >= MARGIN : Math.abs(ratio - this.reference) > HIT_SHIFT) {
      if (!this.resting) this.wakes++;
      this.reference = ratio;
      this.skip = 0;
      this.resume();
    }
  }

  /**
   * Pauses the miniatures until a window misses at least `MARGIN` of its requests (see `watch`). Not a
   * step of the back-off: the epoch under way is dropped, and the back-off resumes where it was.
   */
  private rest(): void {
    this.epochHits.fill(0);
    this.epochRequests = 0;
    this.phase = PAUSED;
    this.resting = true;
    this.rests++;
    this.active = 0;
    this.skip = Number.POSITIVE_INFINITY;
  }

  /** The countdown reached 0: brings the counters up to date, ends a pause or a window that is due. */
  private tick(): void {
    this.fold();
    if (this.windowRequests === WINDOW) this.watch();
    if (this.phase === PAUSED && this.skip === 0) this.resume();
    this.rearm();
  }

  /** Counts the requests since the countdown last started (since the last switch, in the window, in the pause). */
  private fold(): void {
    const elapsed = this.chunk - this.countdown;
    this.chunk = this.countdown;
    this.sinceSwitch += elapsed;
    this.windowRequests += elapsed;
    if (this.phase === PAUSED) this.skip -= elapsed;
  }

  /** Restarts the countdown to the next event: the end of the window, or of the pause if sooner. */
  private rearm(): void {
    const left = WINDOW - this.windowRequests;
    this.countdown = this.chunk = this.phase === PAUSED ? Math.min(left, this.skip) : left;
  }

  /** Ends a pause: the miniatures warm up for one epoch, then score again. */
  private resume(): void {
    this.resting = false;
    this.phase = WARMING;
    this.active = this.threshold;
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
    // A paused cycle is one warm-up and one scored epoch, then the pause: r × 2 / (2 + pause) ≤ DUTY_SHARE.
    this.maxPause = Math.max(LONGEST_PAUSE, Math.ceil(2 * (r / DUTY_SHARE - 1)));
    this.phase = SCORING;
    this.resting = false;
    this.active = this.threshold;
    this.calm = 0;
    this.pauseEpochs = 1;
    this.skip = 0;
    this.fold();
    this.rearm();
  }

  /** One sampled request through every miniature (or skipped, while they pause). */
  private simulate(key: string, size: number): void {
    this.simulated++;
    const hits = this.epochHits;
    // A miniature's `hit` says whether the key was resident (its slot, or -1): one lookup, not two.
    const lru = this.miniLru!;
    if (lru.hit(key) >= 0) hits[LRU]!++;
    else lru.insert(key, size);
    const s3 = this.miniS3!;
    if (s3.hit(key) >= 0) hits[S3FIFO]!++;
    else s3.insert(key, size);
    const w = this.miniW!;
    if (w.hit(key) >= 0) hits[WTINYLFU]!++;
    else w.insert(key, size);
    const arc = this.miniArc!;
    if (arc.hit(key) >= 0) hits[ARC]!++;
    else arc.insert(key, size);
    if (++this.epochRequests >= this.epochLength) this.decide();
  }

  /**
   * Folds the epoch into the scores and switches the real cache if a rival clearly wins; once the running
   * candidate has led for `CALM_EPOCHS`, pauses the miniatures (see `DUTY_SHARE`).
   */
  private decide(): void {
    const hits = this.epochHits;
    if (this.phase === WARMING) {
      // The miniatures missed the paused requests: this epoch refreshes their contents and is not scored.
      hits.fill(0);
      this.epochRequests = 0;
      this.phase = SCORING;
      return;
    }
    let best = -1;
    let shift = 0;
    for (let i = 0; i < CANDIDATES.length; i++) {
      this.scores[i] = this.scores[i]! * DECAY + hits[i]!;
      if (i !== this.current) {
        shift = Math.max(shift, hits[i]! - hits[this.current]!);
        if (best < 0 || this.scores[i]! > this.scores[best]!) best = i;
      }
    }
    shift /= this.epochRequests;
    hits.fill(0);
    this.scoredRequests = this.scoredRequests * DECAY + this.epochRequests;
    this.epochRequests = 0;
    const current = this.scores[this.current]!;
    const sinceSwitch = this.sinceSwitch + (this.chunk - this.countdown);
    if (this.scores[best]! - current > MARGIN * this.scoredRequests && sinceSwitch >= this.real.count) {
      this.switchTo(best);
      this.settle(false);
    } else this.settle(this.scores[best]! - current <= NEAR * MARGIN * this.scoredRequests && shift <= SHIFT);
  }

  /**
   * Counts calm epochs and pauses after enough of them, each pause twice as long as the last up to
   * `maxPause`; anything else (a switch, a rival ahead, a shift) ends the back-off.
   */
  private settle(calm: boolean): void {
    if (!calm) {
      this.calm = 0;
      this.pauseEpochs = 1;
      return;
    }
    if (++this.calm < CALM_EPOCHS || this.maxPause === 0) return;
    if (this.simulated < HISTORY_EPOCHS * this.epochLength) return;
    // From now on, one calm epoch after each warm-up is enough to pause again.
    this.calm = CALM_EPOCHS;
    this.fold();
    this.skip = Math.ceil((this.pauseEpochs * this.epochLength * SAMPLE_SCALE) / this.threshold);
    this.pauseEpochs = Math.min(this.maxPause, this.pauseEpochs * 2);
    this.phase = PAUSED;
    this.active = 0;
    this.rearm();
    this.pauses++;
  }

  private setReal(real: ArenaCandidate): void {
    this.realLru = real instanceof LruPolicy ? real : null;
    this.realS3 = real instanceof S3FifoPolicy ? real : null;
    this.realW = real instanceof WTinyLfuPolicy ? real : null;
    this.realArc = real instanceof ArcPolicy ? real : null;
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
        // W-TinyLFU has hashed the key itself; the others keep the hash if there is one.
        if (!(next instanceof WTinyLfuPolicy)) next.arena.hash[next.arena.find(key)] = a.hash[slot]!;
        const reads = Math.min(2, old instanceof WTinyLfuPolicy ? old.readsOf(slot) : a.hits[slot]!);
        for (let i = 0; i < reads; i++) next.hit(key);
      }
    }
    this.pastMoves += workOf(old) + old.count;
    this.real = next;
    this.setReal(next);
    this.current = candidate;
    this.fold();
    this.sinceSwitch = 0;
    this.switches++;
  }
}
