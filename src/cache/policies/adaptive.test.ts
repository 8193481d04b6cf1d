import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { prng, zipf } from '../trace-gen.ts';
import { AdaptivePolicy } from './adaptive.ts';

const INF = Number.POSITIVE_INFINITY;

/** A loop over `length` keys: LRU, S3-FIFO and ARC keep almost none of it once it outgrows the cache. */
function* loop(length: number, requests: number): Generator<string> {
  for (let i = 0; i < requests; i++) yield `loop${i % length}`;
}

/** Re-reads of recent requests plus 30% new keys: recency wins, frequency admission loses. */
function* recency(requests: number, seed: number): Generator<string> {
  const random = prng(seed);
  const seen: string[] = [];
  let fresh = 0;
  for (let i = 0; i < requests; i++) {
    const back = Math.ceil(1 / (1 - random()) ** 1.25);
    const key =
      seen.length === 0 || random() < 0.3 ? `new${seed}-${fresh++}` : seen[Math.max(0, seen.length - back)]!;
    seen.push(key);
    yield key;
  }
}

/** Zipf 1.0 over 20,000 keys: S3-FIFO's ground, and stationary. */
function* zipfKeys(requests: number, seed: number): Generator<string> {
  const next = zipf(20_000, 1, prng(seed));
  for (let i = 0; i < requests; i++) yield `z${next()}`;
}

function replay(policy: AdaptivePolicy, keys: Iterable<string>): number {
  let hits = 0;
  let requests = 0;
  for (const key of keys) {
    requests++;
    if (policy.has(key)) {
      policy.hit(key);
      hits++;
    } else policy.insert(key, 1);
  }
  return hits / requests;
}

describe('adaptive', () => {
  it('switches the real cache to the policy its miniatures find best, and says so', () => {
    const policy = new AdaptivePolicy({ maxBytes: INF, maxEntries: 200, onEvict() {} });
    assert.equal(policy.state().running, 's3fifo');
    let hits = 0;
    for (const key of loop(240, 60_000)) {
      if (policy.has(key)) {
        policy.hit(key);
        hits++;
      } else policy.insert(key, 1);
    }
    const state = policy.state();
    assert.equal(state.running, 'w-tinylfu');
    assert.ok(state.switches! >= 1);
    assert.equal(state.sampleRate, 1); // 200 keys: below the miniature size, every request simulated
    assert.ok(state.estimates!['w-tinylfu']! > state.estimates!.lru! + 0.2);
    assert.ok(state.window! > 0 && state.window! < 1);
    // LRU, S3-FIFO and ARC get nothing from a loop 20% larger than the cache; W-TinyLFU holds part of it.
    assert.ok(hits / 60_000 > 0.2, `hit ratio ${hits / 60_000}`);
  });

  it('keeps bounds and onEvict exact across switches (byte- and entry-bounded, with removes)', () => {
    // The loops outgrow each cache by 10-20 %, in keys or in bytes.
    for (const [maxBytes, maxEntries, loopKeys] of [
      [INF, 300, 300],
      [300 * 50, INF, 700],
      [300 * 60, 280, 300],
    ] as const) {
      const resident = new Map<string, number>();
      let inserting: string | undefined;
      const policy = new AdaptivePolicy({
        maxBytes,
        maxEntries,
        onEvict(key) {
          assert.ok(
            resident.has(key) || key === inserting,
            `onEvict(${key}) for a key that was not resident`,
          );
          resident.delete(key);
        },
      });
      const random = prng(3);
      const sizeOf = (key: string): number =>
        maxBytes === INF ? 1 : 1 + ((key.length * 37 + key.charCodeAt(key.length - 1)) % 100);
      // Phases that favour different policies, so that the real cache changes policy several times.
      const phases = [
        loop(loopKeys * 1.1, 40_000),
        recency(40_000, 1),
        loop(loopKeys * 1.2, 40_000),
        recency(40_000, 2),
      ];
      for (const phase of phases) {
        for (const key of phase) {
          if (random() < 0.01) {
            policy.remove(key);
            resident.delete(key);
          } else if (policy.has(key)) {
            assert.ok(resident.has(key));
            policy.hit(key);
          } else {
            assert.ok(!resident.has(key));
            inserting = key;
            const size = sizeOf(key);
            if (policy.insert(key, size)) resident.set(key, size);
            inserting = undefined;
          }
          assert.ok(policy.bytes <= maxBytes && policy.count <= maxEntries);
          assert.equal(policy.count, resident.size);
        }
      }
      let bytes = 0;
      for (const [key, size] of resident) {
        assert.ok(policy.has(key));
        bytes += size;
      }
      assert.equal(policy.bytes, bytes);
      assert.ok(policy.switches >= 2, `${policy.switches} switches (${maxBytes}, ${maxEntries})`);
    }
  });

  it('samples big caches so that a miniature holds about 256 keys', () => {
    const policy = new AdaptivePolicy({ maxBytes: INF, maxEntries: 25_600, onEvict() {} });
    assert.ok(Math.abs(policy.state().sampleRate! - 0.01) < 0.0001);
    // Byte-bounded: the rate is set once the cache is half full and its entry count is known.
    const sized = new AdaptivePolicy({ maxBytes: 100 * 5120, maxEntries: INF, onEvict() {} });
    assert.equal(sized.state().sampleRate, 0);
    for (let i = 0; i < 3000; i++) sized.insert(`k${i}`, 100);
    assert.ok(Math.abs(sized.state().sampleRate! - 0.05) < 0.001, `${sized.state().sampleRate}`);
  });

  it('pauses its miniatures once the choice is stable, longer each time, and resumes them', () => {
    // 200 keys: every request is sampled, so without pauses the miniatures would simulate all of them.
    const policy = new AdaptivePolicy({ maxBytes: INF, maxEntries: 200, onEvict() {} });
    replay(policy, zipfKeys(200_000, 1));
    const { simulated, pauses } = policy;
    assert.ok(pauses >= 2, `${pauses} pauses`);
    // Stable traffic: the next 400,000 requests are simulated at about the duty budget (1/128), not 100 %.
    replay(policy, zipfKeys(400_000, 2));
    const share = (policy.simulated - simulated) / 400_000;
    assert.ok(share > 0 && share < 0.03, `simulated share ${share}`);
    assert.ok(policy.pauses > pauses, 'the miniatures resumed and paused again');
    assert.equal(policy.state().running, 's3fifo');
  });

  it('pauses the miniatures of a large cache too, for up to 8 epochs', () => {
    // 40,000 entries: 1 key in 156 is sampled, so the miniatures alone cost little (the duty budget would
    // allow pauses of only 5 epochs), but every hit tests the sample while they run.
    const policy = new AdaptivePolicy({ maxBytes: INF, maxEntries: 40_000, onEvict() {} });
    const rate = policy.state().sampleRate!;
    const names = Array.from({ length: 60_000 }, (_, i) => `/k/${i}`);
    const next = zipf(names.length, 0.9, prng(7));
    let longest = 0;
    let quiet = 0;
    let simulated = 0;
    for (let i = 0; i < 10_000_000; i++) {
      const key = names[next()]!;
      if (policy.has(key)) policy.hit(key);
      else policy.insert(key, 1);
      if (policy.simulated === simulated) quiet++;
      else {
        simulated = policy.simulated;
        quiet = 0;
      }
      longest = Math.max(longest, quiet);
    }
    assert.ok(policy.pauses >= 4, `${policy.pauses} pauses`);
    // The longest stretch without a simulated request: a pause of 8 epochs of 512 sampled requests.
    assert.ok(longest * rate > 7 * 512, `longest pause ${(longest * rate) / 512} epochs`);
  });

  it('keeps pausing when a rival trails or leads by less than half the switching margin', () => {
    // Zipf 0.6 over 300 keys, 200 cached: W-TinyLFU and S3-FIFO are about a point apart and trade the lead
    // from epoch to epoch; counting only a strict lead as calm kept the miniatures running a tenth of
    // the time here, switching back and forth.
    const policy = new AdaptivePolicy({ maxBytes: INF, maxEntries: 200, onEvict() {} });
    const next = zipf(300, 0.6, prng(7));
    const keys = (requests: number): string[] => Array.from({ length: requests }, () => `/k/${next()}`);
    replay(policy, keys(300_000));
    const { simulated } = policy;
    replay(policy, keys(700_000));
    const share = (policy.simulated - simulated) / 700_000;
    assert.ok(share < 0.01, `simulated share ${share}`);
    assert.ok(policy.switches <= 2, `${policy.switches} switches`);
  });

  it('still detects a workload shift while paused and switches to the new best', () => {
    const policy = new AdaptivePolicy({ maxBytes: INF, maxEntries: 200, onEvict() {} });
    replay(policy, zipfKeys(300_000, 3));
    assert.equal(policy.state().running, 's3fifo');
    const { pauses, switches } = policy;
    assert.ok(pauses >= 2);
    // A loop 20 % larger than the cache: the real hit ratio collapses, which wakes the miniatures early
    // (the pause under way has over 30,000 requests to go), and W-TinyLFU, the only one to hold part of a
    // loop, takes over within 20,000 requests.
    const looped = replay(policy, loop(240, 20_000));
    assert.ok(policy.wakes >= 1, `${policy.wakes} wakes`);
    assert.equal(policy.state().running, 'w-tinylfu');
    assert.ok(policy.switches > switches);
    assert.ok(looped > 0.05, `hit ratio on the loop ${looped}`);
  });

  it('rests its miniatures while the cache misses less than the switching margin, and wakes when it misses', () => {
    // 2,000 keys in a 2,000-entry cache: after the first window every request hits, so no candidate could
    // do better and simulating them is wasted work.
    const policy = new AdaptivePolicy({ maxBytes: INF, maxEntries: 2000, onEvict() {} });
    const next = zipf(2000, 0.9, prng(11));
    const keys = (requests: number): string[] => Array.from({ length: requests }, () => `/r/${next()}`);
    replay(policy, keys(100_000));
    assert.ok(policy.rests >= 1, `${policy.rests} rests`);
    const { simulated } = policy;
    replay(policy, keys(200_000));
    assert.equal(policy.simulated, simulated);
    // A loop larger than the cache misses on every request: the next window wakes the miniatures, and
    // W-TinyLFU, the only candidate that holds part of a loop, takes over.
    replay(policy, loop(2400, 300_000));
    assert.ok(policy.simulated > simulated);
    assert.equal(policy.state().running, 'w-tinylfu');
  });

  it('clear() forgets keys and scores but keeps working', () => {
    const policy = new AdaptivePolicy({ maxBytes: 1000, maxEntries: INF, onEvict() {} });
    for (let i = 0; i < 100; i++) policy.insert(`k${i}`, 50);
    policy.clear();
    assert.equal(policy.count, 0);
    assert.equal(policy.bytes, 0);
    assert.equal(policy.insert('a', 10), true);
    assert.equal(policy.has('a'), true);
  });
});
