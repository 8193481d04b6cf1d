import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isOwnListener, viaContains } from './loop.ts';

test('viaContains finds our pseudonym as a received-by entry only', () => {
  const cases: Array<[string, boolean]> = [
    ['1.1 tamarin', true],
    ['1.0 fred, 1.1 Tamarin', true],
    ['HTTP/1.1 tamarin (Tamarin/0.1)', true],
    ['1.1 varnish (tamarin, v1), 1.1 nginx', false], // only mentioned in a comment
    ['1.1 tamarin-edge', false],
    ['1.1 nottamarin', false],
    ['1.1 proxy, 1.1   tamarin  ', true],
    ['', false],
  ];
  for (const [via, expected] of cases) assert.equal(viaContains(via, 'tamarin'), expected, via);
});

test('isOwnListener: same port and the same or an equivalent address', () => {
  assert.equal(isOwnListener('127.0.0.1', 8080, '127.0.0.1', 8080), true);
  assert.equal(isOwnListener('localhost', 8080, '127.0.0.1', 8080), true);
  assert.equal(isOwnListener('127.0.0.1', 8080, '0.0.0.0', 8080), true);
  assert.equal(isOwnListener('127.0.0.1', 8081, '127.0.0.1', 8080), false);
  assert.equal(isOwnListener('192.0.2.55', 8080, '127.0.0.1', 8080), false);
  assert.equal(isOwnListener('127.0.0.1', 0, '127.0.0.1', 0), false);
});
