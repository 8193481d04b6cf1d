import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  parseCacheControl,
  parseRequestDirectives,
  parseTargetedCacheControl,
  splitDirectives,
} from './cache-control.ts';

test('§5.2 parsing: case, whitespace, quotes, commas inside quotes', () => {
  assert.deepEqual(splitDirectives(' Max-Age = 60 ,no-cache="Set-Cookie, X" , ,public'), [
    { name: 'max-age', value: '60' },
    { name: 'no-cache', value: 'Set-Cookie, X' },
    { name: 'public', value: null },
  ]);
  assert.deepEqual(splitDirectives('private="a\\"b"'), [{ name: 'private', value: 'a"b' }]);
});

const cases: Array<[string, string | undefined, Partial<ReturnType<typeof parseCacheControl>>]> = [
  ['absent', undefined, { maxAge: undefined, noStore: false }],
  ['plain max-age', 'max-age=60', { maxAge: 60 }],
  ['upper case', 'MAX-AGE=60, PUBLIC', { maxAge: 60, public: true }],
  ['quoted value accepted', 'max-age="30"', { maxAge: 30 }],
  ['§4.2.1 invalid value → stale', 'max-age=abc', { maxAge: 0 }],
  ['negative → stale', 'max-age=-5', { maxAge: 0 }],
  ['§4.2.1 conflicting duplicates → stale', 'max-age=60, max-age=120', { maxAge: 0 }],
  ['identical duplicates kept', 'max-age=60, max-age=60', { maxAge: 60 }],
  ['§1.2.2 capped at 2^31', 's-maxage=99999999999', { sMaxage: 2147483648 }],
  [
    'qualified private keeps fields',
    'private="Set-Cookie, X-User"',
    { private: false, privateFields: ['set-cookie', 'x-user'] },
  ],
  ['unqualified private', 'private', { private: true }],
  ['qualified no-cache = no-cache', 'no-cache="x"', { noCache: true }],
  [
    'RFC 5861 windows',
    'max-age=1, stale-while-revalidate=30, stale-if-error=60',
    { staleWhileRevalidate: 30, staleIfError: 60 },
  ],
  [
    'invalid swr dropped (never stale on doubt)',
    'stale-while-revalidate=x',
    { staleWhileRevalidate: undefined },
  ],
  ['unknown directives ignored', 'foo=bar, must-revalidate', { mustRevalidate: true }],
  ['max-stale without value', 'max-stale', { maxStale: Number.POSITIVE_INFINITY }],
  ['max-stale invalid → none', 'max-stale=x', { maxStale: 0 }],
  [
    'request directives',
    'min-fresh=10, only-if-cached, no-store',
    { minFresh: 10, onlyIfCached: true, noStore: true },
  ],
  ['must-understand', 'must-understand, no-store', { mustUnderstand: true, noStore: true }],
];

for (const [name, value, expected] of cases) {
  test(`Cache-Control: ${name}`, () => {
    const d = parseCacheControl(value);
    for (const [key, want] of Object.entries(expected)) {
      assert.deepEqual(d[key as keyof typeof d], want, `${key} of "${value}"`);
    }
  });
}

test('§5.4 Pragma: no-cache counts only without Cache-Control', () => {
  assert.equal(parseRequestDirectives(undefined, 'no-cache').noCache, true);
  assert.equal(parseRequestDirectives('max-age=5', 'no-cache').noCache, false);
  assert.equal(parseRequestDirectives(undefined, 'x-no-cache').noCache, false);
});

test('RFC 9213 targeted field: a valid Dictionary gives directives', () => {
  const d = parseTargetedCacheControl('max-age=30, stale-if-error=60, must-revalidate, private="set-cookie"');
  assert.equal(d?.maxAge, 30);
  assert.equal(d?.staleIfError, 60);
  assert.equal(d?.mustRevalidate, true);
  assert.equal(d?.private, false);
  assert.deepEqual(d?.privateFields, ['set-cookie']);
  assert.equal(parseTargetedCacheControl('no-store')?.noStore, true);
  assert.equal(parseTargetedCacheControl('no-store=?0, max-age=5')?.noStore, false);
  assert.equal(parseTargetedCacheControl('max-age=5, x-vendor="anything", y=(1 2)')?.maxAge, 5);
});

test('RFC 9213 targeted field: invalid or mistyped fields are ignored as a whole', () => {
  for (const value of [
    undefined,
    '',
    'max-age=10000, &&&&&',
    'max-age="10000"',
    'max-age=10000.5',
    'max-age=-1',
    'max-age=token',
    'no-store="yes"',
    'public=1',
    'private=tok',
    'max-age=60,',
  ]) {
    assert.equal(parseTargetedCacheControl(value), null, String(value));
  }
});
