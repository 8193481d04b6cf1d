import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backend, type BackendState } from './backend.ts';

function make(policy = { maxFails: 3, failWindow: 1000, cooldown: 5000 }) {
  const changes: string[] = [];
  const backend = new Backend(
    { url: 'http://127.0.0.1:1', host: '127.0.0.1', port: 1, weight: 1 },
    0,
    policy,
    (_b, from: BackendState, to: BackendState) => changes.push(`${from}->${to}`),
  );
  return { backend, changes };
}

test('max_fails failures within fail_window start a cooldown; it ends by itself', () => {
  const { backend, changes } = make();
  backend.recordFailure(0, 'refused');
  backend.recordFailure(100, 'refused');
  assert.equal(backend.available(200), true);
  backend.recordFailure(200, 'refused');
  assert.equal(backend.state(300), 'cooling');
  assert.equal(backend.available(5199), false);
  assert.equal(backend.available(5200), true);
  assert.deepEqual(changes, ['up->cooling', 'cooling->up']);
  // One log line per change: asking again changes nothing.
  backend.available(6000);
  assert.equal(changes.length, 2);
});

test('failures spread wider than fail_window never trip the cooldown', () => {
  const { backend } = make();
  for (let t = 0; t < 10_000; t += 600) backend.recordFailure(t, 'reset');
  assert.equal(backend.state(10_000), 'up');
  assert.equal(backend.failures, 17);
});

test('active health: down until healthy again, whatever the cooldown says', () => {
  const { backend, changes } = make();
  backend.setHealthy(false, 'check failed');
  assert.equal(backend.available(0), false);
  assert.equal(backend.available(1e9), false);
  backend.setHealthy(true, 'check ok');
  assert.equal(backend.available(1e9), true);
  assert.deepEqual(changes, ['up->down', 'down->up']);
});

test('snapshot is plain data with latency statistics', () => {
  const { backend } = make();
  backend.recordSuccess(10);
  backend.recordSuccess(20);
  const snap = backend.snapshot(0);
  assert.equal(snap.latencyMs, 15);
  assert.equal(snap.latencyEwmaMs, 12);
  assert.deepEqual(structuredClone(snap), snap);
});

test('a probe answered while cooling (panic mode) ends the cooldown; it cannot bring a down backend up', () => {
  const { backend, changes } = make({ maxFails: 1, failWindow: 1000, cooldown: 5000 });
  backend.recordFailure(0, 'reset');
  assert.equal(backend.cooling, true);
  backend.recordProbeSuccess();
  assert.equal(backend.state(1), 'up');
  assert.equal(backend.cooling, false);
  backend.setHealthy(false, 'check failed');
  backend.recordProbeSuccess();
  assert.equal(backend.state(2), 'down');
  assert.deepEqual(changes, ['up->cooling', 'cooling->up', 'up->down']);
});

test('a drained or disabled backend is never available, not even cooling in panic mode; health goes on', () => {
  const { backend } = make({ maxFails: 1, failWindow: 1000, cooldown: 5000 });
  backend.admin = 'draining';
  assert.equal(backend.available(0), false);
  backend.recordFailure(0, 'refused');
  assert.equal(backend.cooling, false, 'panic mode may not pick it');
  backend.inFlight = 1;
  assert.equal(backend.snapshot(1).state, 'draining');
  assert.equal(backend.snapshot(1).health, 'cooling');
  backend.inFlight = 0;
  assert.equal(backend.snapshot(1).state, 'drained');
  backend.admin = 'disabled';
  assert.equal(backend.snapshot(6000).state, 'disabled');
  assert.equal(backend.snapshot(6000).health, 'up', 'the cooldown still ends');
  backend.admin = 'enabled';
  assert.equal(backend.available(6000), true);
});
