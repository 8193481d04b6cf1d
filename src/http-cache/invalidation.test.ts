import assert from 'node:assert/strict';
import { test } from 'node:test';
import { invalidationTargets } from './invalidation.ts';

test('§4.4 unsafe methods with a non-error status invalidate target, Location and Content-Location on the same host', () => {
  assert.deepEqual(
    invalidationTargets('POST', 201, 'a.test', '/items', '/items/7', 'http://a.test/items/7?v=1'),
    [
      { host: 'a.test', target: '/items' },
      { host: 'a.test', target: '/items/7' },
      { host: 'a.test', target: '/items/7?v=1' },
    ],
  );
  assert.deepEqual(invalidationTargets('DELETE', 204, 'a.test', '/x', 'http://evil.test/y', undefined), [
    { host: 'a.test', target: '/x' },
  ]);
  assert.deepEqual(invalidationTargets('PATCH', 303, 'a.test', '/x', '../z', undefined), [
    { host: 'a.test', target: '/x' },
    { host: 'a.test', target: '/z' },
  ]);
  assert.deepEqual(invalidationTargets('FOO', 200, 'a.test', '/x', undefined, undefined), [
    { host: 'a.test', target: '/x' },
  ]);
});

test('§4.4 errors and safe methods invalidate nothing', () => {
  assert.deepEqual(invalidationTargets('POST', 500, 'a.test', '/x', undefined, undefined), []);
  assert.deepEqual(invalidationTargets('POST', 404, 'a.test', '/x', undefined, undefined), []);
  assert.deepEqual(invalidationTargets('GET', 200, 'a.test', '/x', undefined, undefined), []);
  assert.deepEqual(invalidationTargets('OPTIONS', 200, 'a.test', '/x', undefined, undefined), []);
});

test('§4.4 Location and Content-Location are compared in the normal form cache keys use', () => {
  assert.deepEqual(invalidationTargets('POST', 201, 'a.test', '/items', '/%69tems//7', '/items/./8'), [
    { host: 'a.test', target: '/items' },
    { host: 'a.test', target: '/items/7' },
    { host: 'a.test', target: '/items/8' },
  ]);
});
