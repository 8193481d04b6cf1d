import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cacheStatus } from './cache-status.ts';

test('RFC 9211 members', () => {
  assert.equal(cacheStatus('tamarin', { hit: true }), 'tamarin; hit');
  assert.equal(
    cacheStatus('tamarin', { fwd: 'uri-miss', fwdStatus: 200, stored: true }),
    'tamarin; fwd=uri-miss; fwd-status=200; stored',
  );
  assert.equal(
    cacheStatus('tamarin', { hit: true, ttl: -5.7, detail: 'stale-if-error' }),
    'tamarin; hit; ttl=-5; detail=stale-if-error',
  );
  assert.equal(
    cacheStatus('tamarin', { fwd: 'miss', detail: 'two words' }),
    'tamarin; fwd=miss; detail="two words"',
  );
});
