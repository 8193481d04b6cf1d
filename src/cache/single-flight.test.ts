import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SingleFlight } from './single-flight.ts';

test('one leader, waiters woken when it finishes', async () => {
  const c = new SingleFlight(1000, 5000);
  assert.equal(c.lead('k', 0), true);
  assert.equal(c.lead('k', 0), false);
  const waits = [c.wait('k'), c.wait('k')];
  c.finish('k', true, 0);
  assert.deepEqual(await Promise.all(waits), ['done', 'done']);
  assert.equal(c.size, 0);
});

test('bounded wait', async () => {
  const c = new SingleFlight(20, 5000);
  c.lead('k', 0);
  assert.equal(await c.wait('k'), 'timeout');
  c.finish('k', true, 0);
});

test('a non-storable result makes the key pass (no queueing) for a while', () => {
  const c = new SingleFlight(1000, 5000);
  c.lead('k', 0);
  c.finish('k', false, 0);
  assert.equal(c.lead('k', 100), true);
  assert.equal(c.lead('k', 100), true, 'pass: everyone goes upstream');
  assert.equal(c.size, 0);
  assert.equal(c.lead('k', 6000), true);
  assert.equal(c.lead('k', 6000), false, 'pass expired: collapsing again');
  c.clear();
});
