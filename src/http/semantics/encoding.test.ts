import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acceptedEncodings, Negotiator } from './encoding.ts';

test('Accept-Encoding → accepted codings, best first, ties in the server order', () => {
  const cases: Array<[string | undefined, string[]]> = [
    [undefined, []],
    ['', []],
    ['identity', []],
    ['gzip, deflate, br, zstd', ['zstd', 'br', 'gzip']],
    ['gzip, deflate, br', ['br', 'gzip']],
    ['gzip;q=1, br;q=0.5', ['gzip', 'br']],
    ['br;q=0, gzip', ['gzip']],
    ['*', ['zstd', 'br', 'gzip']],
    ['*;q=0', []],
    ['*;q=0.1, gzip', ['gzip', 'zstd', 'br']],
    ['x-gzip', ['gzip']],
    ['GZIP;Q=0.5', ['gzip']],
    ['gzip;q=2, br;q=-1, zstd;q=abc', []],
    ['gzip;q=0.5, gzip;q=0', ['gzip']],
  ];
  for (const [header, expected] of cases)
    assert.deepEqual(acceptedEncodings(header), expected, String(header));
});

test('the preference order breaks ties and names the cache-key class', () => {
  const gzipFirst = new Negotiator(['gzip', 'br']);
  assert.deepEqual(gzipFirst.accepted('br, gzip, zstd').order, ['gzip', 'br']);
  assert.equal(gzipFirst.accepted('br, gzip, zstd').suffix, ' gzip,br');
  assert.equal(gzipFirst.accepted('deflate').suffix, '');
});

test('an absurd header is read only so far, and not remembered', () => {
  const negotiator = new Negotiator();
  const long = `${'a, '.repeat(100)}gzip`;
  assert.deepEqual(negotiator.accepted(long).order, [], 'members after the 64th are not read');
  assert.deepEqual(negotiator.accepted(`gzip, ${'x'.repeat(10_000)}`).order, ['gzip']);
});
