/**
 * The RFC 9111 behaviour suites again, with every rig's entries in a shared arena (its owner in the same
 * thread: `TAMARIN_RIG_SHARED=1`, test/helpers/fake-origin.ts) instead of a worker's own store: the
 * proxy's cache must answer the same whichever store holds its entries. Tests of what only a per-worker
 * store has (its request-target index, the ban sweep, several rigs broadcasting to each other) skip
 * themselves there, and the tag-purge slices file is left out.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

const SUITES = [
  'test/http-cache.test.ts',
  'test/http-cache-collapsing.test.ts',
  'test/http-cache-soft-purge.test.ts',
  'test/http-cache-ttl-rules.test.ts',
  'test/http-cache-query-key.test.ts',
  'test/http-cache-hardening.test.ts',
  'test/http-cache-stale.test.ts',
  'test/http-cache-bans.test.ts',
];

test('the RFC 9111 suites pass with the entries in the shared store', { timeout: 170_000 }, () => {
  // Without the runner's own variables: a child that sees them skips running its files.
  const env: NodeJS.ProcessEnv = { TAMARIN_RIG_SHARED: '1' };
  for (const [name, value] of Object.entries(process.env))
    if (!name.startsWith('NODE_TEST')) env[name] = value;
  const run = spawnSync(
    process.execPath,
    ['--conditions=tamarin-source', '--test', '--test-reporter=dot', ...SUITES],
    { env, encoding: 'utf8', timeout: 160_000 },
  );
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  assert.doesNotMatch(run.stderr, /skipping running files/);
});
