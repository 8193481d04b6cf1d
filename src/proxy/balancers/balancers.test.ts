import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Backend } from '../backend.ts';
import { type BackendPool, type BalanceRequest, type Balancer, selectBackend } from '../balancer.ts';
import { BALANCER_NAMES } from '../options.ts';
import { FirstAliveBalancer } from './first-alive.ts';
import { HashIpBalancer } from './hash-ip.ts';
import { HashUrlBalancer } from './hash-url.ts';
import { createBalancer } from './index.ts';
import { LeastConnectionsBalancer } from './least-connections.ts';
import { NaiveBalancer } from './naive.ts';
import { RoundRobinBalancer } from './round-robin.ts';
import { TwoChoicesBalancer } from './two-choices.ts';
import { WeightedRoundRobinBalancer } from './weighted-round-robin.ts';

const POLICY = { maxFails: 1, failWindow: 10_000, cooldown: 1000 };

/** A scripted pool: backends named a, b, c…; `down(i)` puts one into cooldown at the pool's clock. */
function pool(weights: number[]): BackendPool & { clock: number; down(i: number): void; names: string[] } {
  const backends = weights.map(
    (weight, i) =>
      new Backend({ url: `http://10.0.0.${i}:80`, host: `10.0.0.${i}`, port: 80, weight }, i, POLICY, null),
  );
  const result = {
    backends,
    clock: 0,
    now: () => result.clock,
    panic: false,
    names: 'abcdefghij'.split(''),
    down(i: number) {
      backends[i]!.recordFailure(result.clock, 'scripted');
    },
  };
  return result;
}

const REQ: BalanceRequest = { target: '/x', host: 'h', connection: { remoteAddress: '192.0.2.1' } };

function picks(balancer: Balancer, p: ReturnType<typeof pool>, n: number, req = REQ): string {
  let out = '';
  for (let i = 0; i < n; i++) {
    const b = balancer.select(p, req, null);
    out += b === undefined ? '-' : p.names[b.index];
  }
  return out;
}

describe('balancer contract (every policy)', () => {
  for (const name of BALANCER_NAMES) {
    test(`${name}: never picks an unavailable or excluded backend; undefined when none is left`, () => {
      const p = pool([1, 1, 1]);
      const balancer = createBalancer(name);
      p.down(1);
      for (let i = 0; i < 30; i++) {
        const b = balancer.select(p, { ...REQ, target: `/k${i}` }, [p.backends[0]!]);
        assert.equal(b, p.backends[2]);
      }
      p.down(2);
      assert.equal(balancer.select(p, REQ, [p.backends[0]!]), undefined);
      // Cooldown over: the backend is eligible again.
      p.clock += 1000;
      assert.notEqual(balancer.select(p, REQ, [p.backends[0]!]), undefined);
    });
  }
});

describe('panic mode: selectBackend (every policy)', () => {
  for (const name of BALANCER_NAMES) {
    test(`${name}: cooling backends only when none is available; never a down or excluded one`, () => {
      const p = pool([1, 1, 1]);
      const balancer = createBalancer(name);
      p.down(0);
      p.down(1);
      // One backend left: the cooling ones stay out.
      for (let i = 0; i < 10; i++) {
        assert.equal(selectBackend(p, balancer, { ...REQ, target: `/k${i}` }, null), p.backends[2]);
      }
      p.down(2);
      assert.equal(balancer.select(p, REQ, null), undefined, 'a policy alone never panics');
      // Every backend cooling: one of them is chosen, never the excluded one.
      for (let i = 0; i < 30; i++) {
        const b = selectBackend(p, balancer, { ...REQ, target: `/k${i}` }, [p.backends[1]!]);
        assert.ok(b !== undefined && b !== p.backends[1]);
      }
      assert.equal(p.panic, false, 'panic lasts one choice');
      assert.equal(selectBackend(p, balancer, REQ, [...p.backends]), undefined);
      // Down by active health checks is a verdict, not a blip: never chosen in panic mode.
      p.backends[0]!.setHealthy(false, 'check');
      p.backends[2]!.setHealthy(false, 'check');
      assert.equal(selectBackend(p, balancer, REQ, null), p.backends[1]);
      p.backends[1]!.setHealthy(false, 'check');
      assert.equal(selectBackend(p, balancer, REQ, null), undefined);
    });
  }

  test('round-robin spreads panic picks over every cooling backend', () => {
    const p = pool([1, 1, 1]);
    const balancer = new RoundRobinBalancer();
    for (let i = 0; i < 3; i++) p.down(i);
    let out = '';
    for (let i = 0; i < 6; i++) out += p.names[selectBackend(p, balancer, REQ, null)!.index];
    assert.equal(out, 'abcabc');
  });
});

describe('seed policies', () => {
  test('first-alive: primary while up, first fallback when it is down, back when it recovers', () => {
    const p = pool([1, 1, 1]);
    const b = new FirstAliveBalancer();
    assert.equal(picks(b, p, 3), 'aaa');
    p.down(0);
    assert.equal(picks(b, p, 3), 'bbb');
    p.clock += 1000;
    assert.equal(picks(b, p, 2), 'aa');
  });

  test('round-robin: even rotation; a down backend is skipped and its share spread', () => {
    const p = pool([1, 1, 1]);
    const b = new RoundRobinBalancer();
    assert.equal(picks(b, p, 6), 'abcabc');
    p.down(1);
    assert.equal(picks(b, p, 4), 'acac');
  });

  test('naive: rotating start offset; a down backend hands its turn to the next one', () => {
    const p = pool([1, 1, 1]);
    const b = new NaiveBalancer();
    assert.equal(picks(b, p, 6), 'abcabc');
    p.down(1);
    // Offsets a, b, c: b is down so c takes its turn (c gets two thirds), unlike round-robin.
    assert.equal(picks(b, p, 6), 'accacc');
  });

  test('least-connections: fewest in-flight per weight, ties rotate', () => {
    const p = pool([1, 1, 2]);
    const b = new LeastConnectionsBalancer();
    p.backends[0]!.inFlight = 3;
    p.backends[1]!.inFlight = 1;
    p.backends[2]!.inFlight = 4; // 4/2 = 2 per weight
    assert.equal(picks(b, p, 2), 'bb');
    p.backends[1]!.inFlight = 5;
    assert.equal(picks(b, p, 1), 'c');
    for (const x of p.backends) x.inFlight = 0;
    const spread = picks(b, p, 6);
    assert.deepEqual([...new Set(spread)].sort(), ['a', 'b', 'c']);
  });
});

describe('newer policies', () => {
  test('weighted-round-robin is smooth: 5:1:1 interleaves (nginx sequence)', () => {
    const p = pool([5, 1, 1]);
    const b = new WeightedRoundRobinBalancer();
    assert.equal(picks(b, p, 7), 'aabacaa');
    assert.equal(picks(b, p, 7), 'aabacaa');
  });

  test('weighted-round-robin: shares follow weights, and a down backend is left out', () => {
    const p = pool([3, 2, 1]);
    const b = new WeightedRoundRobinBalancer();
    const seq = picks(b, p, 600);
    assert.equal(seq.split('a').length - 1, 300);
    assert.equal(seq.split('b').length - 1, 200);
    p.down(0);
    const after = picks(b, p, 300);
    assert.equal(after.split('a').length - 1, 0);
    assert.equal(after.split('b').length - 1, 200);
  });

  test('two-choices: of two distinct random picks, the less loaded one wins', () => {
    const p = pool([1, 1, 1, 1]);
    const script = [0.1, 0.5]; // i = 0 (a), j = 1 + floor(0.5 * 3) = 2 → c
    let k = 0;
    const b = new TwoChoicesBalancer(() => script[k++ % script.length]!);
    p.backends[0]!.inFlight = 5;
    p.backends[2]!.inFlight = 1;
    assert.equal(picks(b, p, 1), 'c');
    p.backends[2]!.inFlight = 9;
    assert.equal(picks(b, p, 1), 'a');
    // Never the same backend twice, whatever the random source says.
    const same = new TwoChoicesBalancer(() => 0);
    p.backends[0]!.inFlight = 9;
    p.backends[1]!.inFlight = 0;
    assert.equal(picks(same, p, 1), 'b');
  });

  test('two-choices with Math.random spreads load', () => {
    const p = pool([1, 1, 1]);
    const b = new TwoChoicesBalancer();
    const counts = [0, 0, 0];
    for (let i = 0; i < 300; i++) {
      const x = b.select(p, REQ, null)!;
      counts[x.index]!++;
      x.inFlight++; // requests pile up: the least loaded must keep winning
    }
    for (const c of counts) assert.ok(c >= 90 && c <= 110, `uneven: ${counts}`);
  });

  test('hash-url: one URL → one backend; removing a backend moves only its own keys', () => {
    const p = pool([1, 1, 1, 1, 1]);
    const b = new HashUrlBalancer();
    const keys = Array.from({ length: 2000 }, (_, i) => `/object/${i}`);
    const before = keys.map((target) => b.select(p, { ...REQ, target }, null)!.index);
    const again = keys.map((target) => b.select(p, { ...REQ, target }, null)!.index);
    assert.deepEqual(again, before);
    const counts = [0, 0, 0, 0, 0];
    for (const i of before) counts[i]!++;
    for (const c of counts) assert.ok(c > 300 && c < 500, `uneven: ${counts}`);
    p.down(2);
    const after = keys.map((target) => b.select(p, { ...REQ, target }, null)!.index);
    for (let i = 0; i < keys.length; i++) {
      if (before[i] !== 2) assert.equal(after[i], before[i], `${keys[i]} moved although its backend stayed`);
      else assert.notEqual(after[i], 2);
    }
    // Back up: every key returns to where it was.
    p.clock += 1000;
    assert.deepEqual(
      keys.map((target) => b.select(p, { ...REQ, target }, null)!.index),
      before,
    );
  });

  test('hash-url honours weights', () => {
    const p = pool([3, 1]);
    const b = new HashUrlBalancer();
    let heavy = 0;
    for (let i = 0; i < 4000; i++) if (b.select(p, { ...REQ, target: `/w/${i}` }, null)!.index === 0) heavy++;
    assert.ok(heavy > 2800 && heavy < 3200, `weight 3 of 4 got ${heavy}/4000`);
  });

  test('hash-ip: one client → one backend; failover is stable', () => {
    const p = pool([1, 1, 1]);
    const b = new HashIpBalancer();
    const client = (ip: string): BalanceRequest => ({ ...REQ, connection: { remoteAddress: ip } });
    const first = b.select(p, client('198.51.100.7'), null)!;
    for (let i = 0; i < 5; i++)
      assert.equal(b.select(p, { ...client('198.51.100.7'), target: `/${i}` }, null), first);
    const second = b.select(p, client('198.51.100.7'), [first])!;
    assert.notEqual(second, first);
    assert.equal(b.select(p, client('198.51.100.7'), [first]), second);
    const seen = new Set<number>();
    for (let i = 0; i < 50; i++) seen.add(b.select(p, client(`203.0.113.${i}`), null)!.index);
    assert.equal(seen.size, 3);
  });
});

test('the registry is the one list: every name builds a balancer, and options are checked by its schema', () => {
  for (const name of BALANCER_NAMES) assert.equal(typeof createBalancer(name).select, 'function');
  assert.throws(() => createBalancer('round-robin', { sample: 2 }), /sample/);
});
