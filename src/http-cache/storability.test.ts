import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCacheControl } from './cache-control.ts';
import { decideStorage, keepField, type StorageInput, type StorageOptions } from './storability.ts';

const base: StorageInput = {
  method: 'GET',
  authorization: false,
  cookie: false,
  target: '/a',
  status: 200,
  response: parseCacheControl('max-age=60'),
  requestNoStore: false,
  lifetime: { ms: 60_000, source: 'explicit' },
  hasValidator: false,
  hasSetCookie: false,
  vary: undefined,
  contentLocation: undefined,
};
const options: StorageOptions = {
  allowPost: false,
  setCookie: 'bypass',
  cookieImplicitFreshness: false,
};

const cases: Array<[string, Partial<StorageInput>, string | true, Partial<typeof options>?]> = [
  ['§3 a fresh GET 200 is stored', {}, true],
  ['HEAD is not stored as a full response', { method: 'HEAD' }, 'method'],
  ['PUT is not stored', { method: 'PUT' }, 'method'],
  ['POST only when allowed', { method: 'POST', contentLocation: '/a' }, 'method'],
  [
    'POST allowed with matching Content-Location',
    { method: 'POST', contentLocation: '/a' },
    true,
    { allowPost: true },
  ],
  ['POST without Content-Location', { method: 'POST' }, 'content-location', { allowPost: true }],
  ['1xx is not final', { status: 103 }, 'status'],
  ['206 is not a full response', { status: 206 }, 'partial'],
  ['§5.2.2.5 no-store', { response: parseCacheControl('no-store, max-age=60') }, 'no-store'],
  [
    '§5.2.2.3 must-understand with a known status overrides no-store',
    { response: parseCacheControl('must-understand, no-store, max-age=60') },
    true,
  ],
  [
    'must-understand with an unknown status',
    { status: 299, response: parseCacheControl('must-understand, no-store, max-age=60') },
    'status',
  ],
  ['§5.2.1.5 request no-store', { requestNoStore: true }, 'no-store'],
  ['§5.2.2.7 private (shared cache)', { response: parseCacheControl('private, max-age=60') }, 'private'],
  ['§3.5 Authorization without permission', { authorization: true }, 'authorization'],
  [
    'Authorization with public',
    { authorization: true, response: parseCacheControl('public, max-age=60') },
    true,
  ],
  ['Authorization with s-maxage', { authorization: true, response: parseCacheControl('s-maxage=60') }, true],
  ['Set-Cookie bypassed by default', { hasSetCookie: true }, 'set-cookie'],
  ['Set-Cookie stripped when configured', { hasSetCookie: true }, true, { setCookie: 'strip' }],
  ['Cookie request with explicit freshness', { cookie: true }, true],
  [
    'Cookie request with heuristic freshness',
    { cookie: true, response: parseCacheControl(undefined), lifetime: { ms: 9_000, source: 'heuristic' } },
    'cookie-implicit-freshness',
  ],
  [
    'Cookie request with default_ttl',
    { cookie: true, response: parseCacheControl(undefined), lifetime: { ms: 9_000, source: 'default' } },
    'cookie-implicit-freshness',
  ],
  [
    'Cookie request, stale at once but validatable',
    {
      cookie: true,
      response: parseCacheControl(undefined),
      lifetime: { ms: 0, source: 'none' },
      hasValidator: true,
    },
    'cookie-implicit-freshness',
  ],
  [
    'Cookie request with public',
    { cookie: true, response: parseCacheControl('public'), lifetime: { ms: 9_000, source: 'heuristic' } },
    true,
  ],
  [
    'Cookie request with heuristic freshness when allowed',
    { cookie: true, response: parseCacheControl(undefined), lifetime: { ms: 9_000, source: 'heuristic' } },
    true,
    { cookieImplicitFreshness: true },
  ],
  ['§4.1 Vary: * never matches', { vary: 'Accept, *' }, 'vary-star'],
  [
    '302 without explicit freshness',
    { status: 302, response: parseCacheControl(undefined), lifetime: { ms: 0, source: 'none' } },
    'status',
  ],
  [
    'stale at once and no validator: useless',
    { response: parseCacheControl(undefined), lifetime: { ms: 0, source: 'none' } },
    'no-freshness',
  ],
  [
    'stale at once but validatable: stored',
    { response: parseCacheControl(undefined), lifetime: { ms: 0, source: 'none' }, hasValidator: true },
    true,
  ],
];

for (const [name, input, expected, extra] of cases) {
  test(`storage: ${name}`, () => {
    const decision = decideStorage({ ...base, ...input }, { ...options, ...extra });
    if (expected === true) assert.deepEqual(decision, { store: true });
    else assert.deepEqual(decision, { store: false, reason: expected });
  });
}

test('§3.1 hop-by-hop, Connection-named, private and stripped fields are not stored', () => {
  assert.equal(keepField('content-type', null, null, false), true);
  assert.equal(keepField('keep-alive', null, null, false), false);
  assert.equal(keepField('age', null, null, false), false);
  assert.equal(keepField('x-hop', null, ['x-hop'], false), false);
  assert.equal(keepField('x-user', ['x-user'], null, false), false);
  assert.equal(keepField('set-cookie', null, null, true), false);
});
